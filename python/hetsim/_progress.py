"""Progress of a run, sweep or evolution while it goes.

The compiled module calls a callback with a dict (``kind``: ``run``, ``sweep`` or ``evolve``;
``done`` of ``total`` in ``unit``s — steps, points or generations —, and what else the library
reports then: ``time_s`` for a run, ``eta_s`` for a sweep, ``best_fitness`` for an evolution).
It is called from the calling thread between polls of the job (every 50 ms at most, the newest
update only), so a callback may draw, print or raise: an exception stops the job and is raised
once it has stopped (``KeyboardInterrupt`` stops it as Ctrl-C does).

``progress=True`` (the default) draws a bar: ``tqdm.auto`` when tqdm is installed (a widget in
Jupyter), otherwise a line of text on ``sys.stderr`` (which a notebook shows in the cell) at
most every two seconds. Jobs shorter than half a second draw nothing. ``progress=False`` draws
nothing; a callable receives every update itself.
"""

import sys
import time

# Jobs that end sooner draw no bar.
DELAY_S = 0.5
# The text display's interval between lines.
TEXT_EVERY_S = 2.0


def _describe(u):
    if u["kind"] == "run":
        return f"{u['time_s']:.3g} s simulated"
    if u["kind"] == "sweep":
        eta = u.get("eta_s")
        left = f", about {eta:.0f} s left" if eta is not None else ""
        return f"ensemble {u['ensemble']} of {u['ensembles']}{left}"
    return f"best fitness {u['best_fitness']:.4g}"


class _Bar:
    """A bar for one job: tqdm's when available, else text lines on stderr."""

    def __init__(self, what):
        self.what = what
        self.started = time.monotonic()
        self.bar = None
        self.last_text = None
        self.last = None
        try:
            from tqdm.auto import tqdm
        except ImportError:
            tqdm = None
        self.tqdm = tqdm

    def __call__(self, u):
        self.last = u
        if self.tqdm is not None and self.bar is None:
            try:
                self.bar = self.tqdm(total=u["total"], unit=u["unit"], desc=self.what,
                                     unit_scale=u["kind"] == "run", delay=DELAY_S,
                                     leave=True, file=sys.stderr)
            except Exception:
                # A tqdm too old for `delay`, or a notebook bar without its widgets: text.
                self.tqdm = None
        if self.bar is not None:
            self.bar.total = u["total"]
            self.bar.set_postfix_str(_describe(u), refresh=False)
            # update (not refresh) draws only once the bar's delay has passed.
            self.bar.update(u["done"] - self.bar.n)
            return
        now = time.monotonic()
        due = (now - self.started >= DELAY_S if self.last_text is None
               else now - self.last_text >= TEXT_EVERY_S)
        if due:
            self._line(u)
            self.last_text = now

    def _line(self, u):
        share = f" ({100 * u['done'] / u['total']:.0f}%)" if u["total"] else ""
        print(f"{self.what}: {u['done']} of {u['total']} {u['unit']}s{share}, {_describe(u)}",
              file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.last_text is not None and self.last is not None:
            self._line(self.last)


class _Nothing:
    def close(self):
        pass


def reporter(progress, what):
    """The callback for ``progress=`` (None for none) and an object to ``close()`` after."""
    if progress is True:
        bar = _Bar(what)
        return bar, bar
    if progress is False or progress is None:
        return None, _Nothing()
    if callable(progress):
        return progress, _Nothing()
    raise TypeError(f"progress must be True, False or a callable, not {progress!r}")
