"""The calls: ``load_circuit``, ``run``, ``compare``, ``sweep``, ``evolve``.

Each turns its arguments into the library request the CLI builds (``hetsim run``, ``compare``,
``sweep``, ``evolve``) and runs it in-process with the GIL released; Ctrl-C stops it the way it
stops the CLI (after the current recording window, ensemble or generation) and the call returns
a result with status ``interrupted`` and everything recorded so far.

Every call shows progress (``progress=True``: a tqdm bar when tqdm is installed, else lines on
``sys.stderr``; ``False``: none; a callable: called with each update, see ``_progress``), and
issues the library's notes (a default chosen, the backend and precision it ran on) as
``HetsimNote`` warnings and the circuit checks' warnings as ``HetsimWarning``, besides keeping
them in ``Result.notes``.
"""

import os
import sys
import tempfile
import warnings
from pathlib import Path

import yaml

from . import _hetsim
from ._overrides import pairs
from ._progress import reporter
from ._units import duration_text
from .circuit import Circuit
from .results import from_memory, load


class HetsimWarning(UserWarning):
    """A warning from hetsim: a circuit check's warning (located), and the base of the notes."""


class HetsimNote(HetsimWarning):
    """Something the library noted while it prepared a job: a default it chose for you
    (``kp: using 10 × tau_w``), the backend and precision it ran on, a fallback."""


def _issue(notes, category, who, depth=1):
    """Each note as a warning, attributed to the user's call ``depth`` frames above the
    caller."""
    for note in notes:
        warnings.warn(f"{who}: {note}", category, stacklevel=2 + depth)


def _ran_on(notes, result):
    """The notes, and the backend the manifest says the job ran on."""
    backend = result.manifest.get("backend")
    return list(notes) + ([f"ran on {backend}"] if backend else [])


def _with_progress(progress, what, call):
    """``call(callback)`` with the progress display for ``progress=``, closed after."""
    callback, display = reporter(progress, what)
    try:
        return call(callback)
    finally:
        display.close()


def _is_text(source):
    return isinstance(source, str) and "\n" in source and not os.path.exists(source)


def load_circuit(source, set=None, duration=None, base_dir=None):
    """A validated circuit from a file path or YAML text.

    ``set`` is a dict (or a list of ``"path=value"``) of overrides, as ``--set`` takes them;
    ``duration`` overrides ``time.duration`` (``"20 s"``). YAML text is named ``<text>`` in
    messages and reads data paths relative to ``base_dir`` (default: the working directory).
    Raises ``CircuitError`` with every error located (file:line:column) as the CLI prints it.
    ``duration`` is a number of seconds or text with a unit. Returns a ``Circuit``, whose
    contents can be read and edited as nested dicts (see ``hetsim.Circuit``).
    """
    duration = duration_text(duration)
    if isinstance(source, Circuit):
        return source.with_overrides(set=set, duration=duration)
    if isinstance(source, dict):
        return Circuit.from_dict(source, base_dir=base_dir).with_overrides(set, duration)
    if _is_text(source):
        base = str(base_dir or os.getcwd())
        return Circuit(_hetsim.load_circuit("<text>", text=source, base_dir=base,
                                            sets=pairs(set), duration=duration), base_dir=base)
    checked = _hetsim.load_circuit(os.fspath(source), base_dir=None if base_dir is None else
                                   os.fspath(base_dir), sets=pairs(set), duration=duration)
    return Circuit(checked, base_dir=base_dir)


def _threads(threads):
    """``threads=``: None (every core) or a whole number of at least 1. PoCL's CPU device reads
    its thread count from the environment once, when OpenCL is first used in the process
    (``POCL_MAX_PTHREAD_COUNT``; ``POCL_CPU_MAX_CU_COUNT`` in later PoCL, both set here), so
    the count caps PoCL only when given before the process's first OpenCL run."""
    if threads is None:
        return None
    if isinstance(threads, bool) or not isinstance(threads, int):
        raise TypeError(f"threads must be a whole number of threads, at least 1, not {threads!r}")
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    for name in ("POCL_CPU_MAX_CU_COUNT", "POCL_MAX_PTHREAD_COUNT"):
        os.environ[name] = str(threads)
    return threads


def _command(name, args):
    return ["python:hetsim." + name] + [str(a) for a in args]


def _execute(circuit, rules, seeds, seed, backend, precision, set, duration, out, replace,
             figures, name, progress, threads, from_=None, carry=None):
    threads = _threads(threads)
    c = load_circuit(circuit, set=set, duration=duration).checked
    outcome = _with_progress(progress, f"hetsim {name}", lambda callback: _hetsim.run(
        c, rules=rules, seeds=seeds, seed=seed, backend=backend, precision=precision,
        out=None if out is None else os.fspath(out), replace=replace, figures=figures,
        command_line=_command(name, [c.path]), threads=threads, progress=callback,
        from_run=_from_text(from_), carry_activities=_carry(carry, from_)))
    # _execute is called by run or compare: the user's line is three frames above _outcome.
    return _outcome(outcome, name, depth=3)


def _from_text(from_):
    """``from_=``: a run directory (its latest saved weights) or ``"RUN_DIR@TIME"``; a
    ``Result`` of a run directory stands for its directory."""
    if from_ is None:
        return None
    if getattr(from_, "dir", None) is not None:
        return os.fspath(from_.dir)
    return os.fspath(from_)


def _carry(carry, from_):
    """``carry=``: None, or ``"activities"`` (``hetsim run --carry activities``), with
    ``from_``."""
    if carry is None:
        return False
    if carry != "activities":
        raise ValueError(f"carry= takes \"activities\", not {carry!r}")
    if from_ is None:
        raise ValueError("carry= needs from_=RUN_DIR[@TIME]: the run whose checkpoint it reads")
    return True


def _outcome(outcome, name, depth):
    """The result of a run, compare or resumption from what the extension returned; notes and
    warnings attributed to the user's call ``depth`` frames above."""
    _issue(outcome["warnings"], HetsimWarning, name, depth=depth)
    notes = list(outcome["notes"]) + [f"ran on {outcome['backend']}"]
    _issue(notes, HetsimNote, name, depth=depth)
    if outcome["dir"] is None:
        result = from_memory(outcome)
    else:
        result = load(outcome["dir"])
        result.text = outcome["summary"]
    result.notes = notes
    if outcome["interrupted"]:
        print(f"hetsim: interrupted — {result.status}, rows up to the last window kept",
              file=sys.stderr)
    return result


def run(circuit=None, seeds=1, seed=1, backend="auto", precision="auto", set=None,
        duration=None, out=None, replace=False, figures=True, progress=True, threads=None,
        resume=None, from_=None, carry=None):
    """Runs a circuit (a ``Circuit``, a dict of one, a path or YAML text): ``seeds`` instances
    with seeds ``seed``, ``seed + 1``, … in one ensemble. ``out=None`` keeps every table in
    memory; otherwise ``out`` is a run directory written as ``hetsim run --out`` writes it
    (figures unless ``figures=False``) and the result is read from it. ``duration``: seconds
    or text with a unit; ``progress``: see the module's doc; ``threads`` is ``--threads``
    (default: every core); the numbers do not depend on it.

    ``from_="RUN_DIR"`` or ``"RUN_DIR@TIME"`` (``hetsim run --from``): the plastic weights
    start from those that run saved at TIME (default: the latest), instance k from its
    instance k; with ``carry="activities"`` (``--carry activities``) the rate populations'
    activities and the traces start from that run's checkpoint too, which must be at TIME.
    ``resume=RUN_DIR`` (``hetsim run --resume``, no circuit and no other setting):
    continues that run from its newest checkpoint, in its directory."""
    if resume is not None:
        given = [k for k, v in [("circuit", circuit), ("set", set), ("duration", duration),
                                ("out", out), ("from_", from_),
                                ("carry", carry)] if v is not None]
        given += [k for k, v, d in [("seeds", seeds, 1), ("seed", seed, 1),
                                    ("backend", backend, "auto"),
                                    ("precision", precision, "auto"),
                                    ("replace", replace, False)] if v != d]
        if given:
            raise ValueError(f"resume= continues the run as its manifest records it; "
                             f"{', '.join(given)} cannot be given with it")
        threads = _threads(threads)
        outcome = _with_progress(progress, "hetsim run --resume", lambda callback: _hetsim.resume(
            os.fspath(resume), command_line=_command("run", ["--resume", resume]),
            threads=threads, progress=callback))
        return _outcome(outcome, "run", depth=2)
    if circuit is None:
        raise TypeError("run() needs a circuit (or resume=RUN_DIR)")
    return _execute(circuit, None, seeds, seed, backend, precision, set, duration, out, replace,
                    figures, "run", progress, threads, from_, carry)


def compare(circuit, rules, seeds=1, seed=1, backend="auto", precision="auto", set=None,
            duration=None, out=None, replace=False, figures=True, progress=True, threads=None,
            from_=None, carry=None):
    """``hetsim compare``: the circuit's ``learning:`` rule swapped for each of ``rules``
    (e.g. ``["sgd", "fa", "dfa", "kp"]``), every rule with the same seeds, in one ensemble.
    ``from_``, ``carry``: as for ``run`` (each rule's instance k from the saved run's
    instance k)."""
    if isinstance(rules, str):
        rules = rules.split(",")
    return _execute(circuit, list(rules), seeds, seed, backend, precision, set, duration, out,
                    replace, figures, "compare", progress, threads, from_, carry)


def _spec_text(spec, base_dir):
    """A sweep or evolution given as a dict: its YAML text, and the path it is read as
    (in ``base_dir``, which its ``circuit`` path is relative to)."""
    text = yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
    name = spec.get("name", "spec") if isinstance(spec, dict) else "spec"
    return text, Path(base_dir or os.getcwd()) / f"{name}.yaml"


def sweep(spec, out=None, resume=False, backend="auto", precision="auto", ensemble_size=None,
          figures=True, base_dir=None, progress=True, threads=None):
    """``hetsim sweep``: ``spec`` is a sweep file's path or a dict of its contents (whose
    ``circuit`` is relative to ``base_dir``, default the working directory). Returns the sweep
    directory's tables (``summary``, ``points``, ``metrics``); progress counts points."""
    if isinstance(spec, dict):
        text, path = _spec_text(spec, base_dir)
    else:
        text, path = None, Path(spec)
    outcome = _with_progress(progress, "hetsim sweep", lambda callback: _hetsim.sweep(
        os.fspath(path), text=text, out=None if out is None else os.fspath(out), resume=resume,
        backend=backend, precision=precision, ensemble_size=ensemble_size, figures=figures,
        command_line=_command("sweep", [path]), threads=_threads(threads), progress=callback))
    result = load(outcome["dir"])
    result.status = outcome["status"]
    result.notes = _ran_on(outcome["notes"], result)
    _issue(result.notes, HetsimNote, "sweep")
    return result


def evolve(spec, out=None, resume=False, backend="auto", precision="auto", generations=None,
           base_dir=None, progress=True, threads=None):
    """``hetsim evolve``: ``spec`` is an evolution file's path or a dict of its contents (its
    ``circuit`` relative to ``base_dir``, default the working directory). Returns the
    directory's tables (``generations``, ``population``); progress counts generations."""
    tmp = None
    if isinstance(spec, dict):
        spec = dict(spec)
        base = Path(base_dir or os.getcwd())
        spec["circuit"] = str((base / spec["circuit"]).resolve())
        text, _ = _spec_text(spec, base)
        tmp = tempfile.TemporaryDirectory(prefix="hetsim-evolve-")
        path = Path(tmp.name) / f"{spec.get('name', 'evolve')}.yaml"
        path.write_text(text)
    else:
        path = Path(spec)
    try:
        outcome = _with_progress(progress, "hetsim evolve", lambda callback: _hetsim.evolve(
            os.fspath(path), out=None if out is None else os.fspath(out), resume=resume,
            backend=backend, precision=precision, generations=generations,
            command_line=_command("evolve", [path]), threads=_threads(threads),
            progress=callback))
    finally:
        if tmp is not None:
            tmp.cleanup()
    result = load(outcome["dir"])
    result.status = outcome["status"]
    result.notes = _ran_on([], result)
    _issue(result.notes, HetsimNote, "evolve")
    return result
