"""Results as DataFrames: the object ``run``, ``compare``, ``sweep`` and ``evolve`` return, and
``load`` for any directory hetsim wrote (a run, a sweep or an evolution).

``Result.tables`` holds every table under its file's stem (``metrics``, ``instances``, ``weights``,
``traces``, ``probes``, ``weight_snapshots``, ``compare``; ``summary``, ``points`` for a sweep;
``generations``, ``population`` for an evolution), exactly as the files hold them. ``Result.metrics`` is ``metrics.csv`` with the
columns of ``instances.csv`` (seed, rule, every per-instance parameter) joined on ``instance``.
Files are read with ``float_precision="round_trip"``, so a table read back equals the one a run
kept in memory.
"""

import html
import json
import os
from pathlib import Path

import pandas as pd

from . import figures as _figures

_KNOWN = ("metrics", "instances", "weights", "traces", "probes", "weight_snapshots", "compare",
          "summary", "points", "generations", "population", "plasticity", "plasticity_threshold")


def _frame(columns):
    """A DataFrame from the compiled module's ``{"columns": [...], "data": {...}}``."""
    df = pd.DataFrame(columns["data"], columns=columns["columns"])
    for name in df.columns:
        if df[name].dtype == object:
            df[name] = df[name].where(df[name].notna(), float("nan"))
    return df


# pandas 3 parses floats exactly by default (and deprecates the argument); before it, ask.
_EXACT = {} if int(pd.__version__.split(".")[0]) >= 3 else {"float_precision": "round_trip"}


def read_table(path):
    """One CSV table as hetsim wrote it, every number parsed exactly."""
    return pd.read_csv(path, **_EXACT)


class Result:
    """What a run, sweep or evolution produced.

    Attributes: ``kind`` (``run``, ``compare``, ``sweep`` or ``evolve``), ``status``
    (``completed``, ``completed with failures``, ``failed``, ``interrupted``), ``manifest``
    (dict), ``dir`` (the directory, or None for a run kept in memory), ``tables`` (dict of
    DataFrames), ``figures`` (paths of the figure files), ``text`` (the table the CLI prints,
    for a run or compare made from Python), ``notes`` (what the library noted: defaults it
    chose, the backend it ran on; each was also issued as a ``hetsim.HetsimNote`` warning), and
    the tables by name. In a notebook a result shows as its table (``_repr_html_``);
    ``figure(kind)`` draws one of the CLI's figures inline.
    """

    def __init__(self, kind, tables, manifest, dir=None, status=None, figures=(), text=None,
                 notes=()):
        self.kind = kind
        self.tables = tables
        self.manifest = manifest
        self.dir = None if dir is None else Path(dir)
        self.status = status if status is not None else manifest.get("status")
        self.figures = [Path(f) for f in figures]
        self.text = text
        self.notes = list(notes)

    def _table(self, name):
        return self.tables.get(name)

    @property
    def metrics(self):
        """``metrics.csv`` (for a run, with ``instances.csv`` joined on ``instance``)."""
        m = self._table("metrics")
        inst = self._table("instances")
        if m is None or inst is None or "instance" not in m.columns:
            return m
        return m.merge(inst, on="instance", how="left")

    instances = property(lambda self: self._table("instances"), doc="instances.csv")
    weights = property(lambda self: self._table("weights"), doc="weights.csv (None if not recorded)")
    traces = property(lambda self: self._table("traces"), doc="traces.csv (None if not recorded)")
    probes = property(lambda self: self._table("probes"), doc="probes.csv (None without record.probes)")
    weight_snapshots = property(lambda self: self._table("weight_snapshots"),
                                doc="weight_snapshots.csv (None without record.weights)")
    compare = property(lambda self: self._table("compare"), doc="compare.csv (compare into a directory)")
    summary = property(lambda self: self._table("summary"), doc="a sweep's summary.csv")
    points = property(lambda self: self._table("points"), doc="a sweep's points.csv")
    generations = property(lambda self: self._table("generations"), doc="an evolution's generations.csv")
    population = property(lambda self: self._table("population"), doc="an evolution's population.csv")
    plasticity = property(lambda self: self._table("plasticity"),
                          doc="plasticity.csv: the sampled plasticity curve (None if not recorded)")
    plasticity_threshold = property(lambda self: self._table("plasticity_threshold"),
                                    doc="plasticity_threshold.csv (None if not recorded)")

    def figure(self, kind=None):
        """The figure ``kind`` (the first one hetsim draws when None) drawn by hetsim's plot code as SVG (a ``hetsim.figures.Figure``,
        shown inline in Jupyter; several for a kind drawn per projection or instance, as a
        ``Figures`` list), for a run kept in memory too. Kinds of a run:
        ``learning_curves``, ``alignment``, ``hebbian``, ``learning_strength``, ``traces``,
        ``weights``, ``plasticity``; a sweep's and an evolution's figures by their file names'
        start (``figure_kinds()`` lists what this result draws). Raises ``ValueError`` when the
        result has no such figure (its data not recorded)."""
        drawn, _ = _figures.draw(self, kind)
        if kind is None:
            drawn = drawn[:1]
        if not drawn:
            raise ValueError(f"no `{kind}` figure for this {self.kind}: its data was not "
                             f"recorded; it draws {', '.join(self.figure_kinds()) or 'none'}")
        return drawn[0] if len(drawn) == 1 else _figures.Figures(drawn)

    def figure_kinds(self):
        """The figures this result draws (file stems, as ``figure`` takes them)."""
        drawn, _ = _figures.draw(self, None)
        return [f.name for f in drawn]

    def plot(self, kind=None):
        """The figure files of the directory (all, or those whose name starts with ``kind``),
        drawn by hetsim; a result kept in memory has none (run with ``out=`` for figures)."""
        if self.dir is None:
            return []
        files = sorted((self.dir / "figures").glob("*")) if (self.dir / "figures").is_dir() else []
        return [f for f in files if kind is None or f.stem.startswith(kind)]

    def _what(self):
        """``compare of teacher-fa (sgd, fa; 2 seeds)``: what ran, in words."""
        m = self.manifest
        name = m.get("circuit") or m.get("name") or ""
        if self.kind in ("run", "compare"):
            rules = list(dict.fromkeys(m.get("rules", [])))
            seeds = len(set(m.get("seeds", [])))
            detail = f"{', '.join(rules)}; {seeds} seed{'s' if seeds != 1 else ''}"
            return f"{self.kind} of `{name}` ({detail})"
        return f"{self.kind} `{name}`" if name else self.kind

    def _ran_on(self):
        """The backend as the run described it (its precision, lanes, threads)."""
        return self.manifest.get("backend") or None

    def __repr__(self):
        where = self.dir if self.dir is not None else "memory"
        on = self._ran_on()
        on = f" on {on}" if on else ""
        shown = ", ".join(f"{k} {len(v)}×{len(v.columns)}" for k, v in self.tables.items())
        return f"<hetsim.Result: {self._what()}{on}, {self.status}, in {where}; tables {shown}>"

    def _repr_html_(self):
        """The result in a notebook: what ran and on what, its status, the table the CLI
        prints (a sweep's summary, an evolution's generations), notes, and the tables."""
        esc = html.escape
        parts = [f"<p><b>hetsim {esc(self._what())}</b> — {esc(str(self.status))}"]
        on = self._ran_on()
        if on:
            parts.append(f" · on {esc(on)}")
        parts.append(f" · {esc(str(self.dir)) if self.dir is not None else 'in memory'}</p>")
        if self.text:
            parts.append(f"<pre>{esc(self.text.rstrip())}</pre>")
        elif self.kind == "sweep" and self.summary is not None:
            parts.append(self.summary.head(20).to_html(max_cols=12))
        elif self.compare is not None:
            parts.append(self.compare.to_html(max_cols=12))
        elif self.kind == "evolve" and self.generations is not None:
            parts.append(self.generations.tail(10).to_html(max_cols=12))
        if self.notes:
            items = "".join(f"<li>{esc(n)}</li>" for n in self.notes)
            parts.append(f"<p>notes:</p><ul>{items}</ul>")
        shown = ", ".join(f"<code>{esc(k)}</code> {len(v)}×{len(v.columns)}"
                          for k, v in self.tables.items())
        parts.append(f"<p>tables: {shown}</p>")
        return "".join(parts)


def _kind(manifest, dir):
    if (dir / "generations.csv").exists() or (dir / "state.json").exists():
        return "evolve"
    if (dir / "points.csv").exists() or "sweep" in manifest:
        return "sweep"
    return _run_kind(manifest)


def _run_kind(manifest):
    """``compare`` or ``run``, as the manifest's replay record says."""
    replay = manifest.get("replay") or {}
    return "compare" if replay.get("design") == "compare" else "run"


def load(dir):
    """Reads a run, sweep or evolution directory's tables and manifest into a ``Result``."""
    dir = Path(dir)
    manifest_path = dir / "manifest.json"
    if not manifest_path.exists():
        raise FileNotFoundError(f"{dir} holds no hetsim run (no manifest.json)")
    manifest = json.loads(manifest_path.read_text())
    tables = {}
    for name in _KNOWN:
        path = dir / f"{name}.csv"
        if path.exists() and os.path.getsize(path) > 0:
            tables[name] = read_table(path)
    figures = sorted((dir / "figures").glob("*")) if (dir / "figures").is_dir() else []
    return Result(_kind(manifest, dir), tables, manifest, dir=dir, figures=figures)


def from_memory(out):
    """The ``Result`` of a run kept in memory (the compiled module's dict)."""
    tables = {name: _frame(cols) for name, cols in out["tables"].items()}
    manifest = json.loads(out["manifest"])
    return Result(_run_kind(manifest), tables, manifest, dir=None, status=out["status"],
                  text=out["summary"], notes=out["notes"])
