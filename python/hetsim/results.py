"""Results as DataFrames: the object ``run``, ``compare``, ``sweep`` and ``evolve`` return, and
``load`` for any directory hetsim wrote (a run, a sweep or an evolution).

``Result.tables`` holds every table under its file's stem (``metrics``, ``instances``, ``weights``,
``traces``, ``probes``, ``weight_snapshots``, ``compare``; ``summary``, ``points`` for a sweep;
``generations``, ``population`` for an evolution), exactly as the files hold them. ``Result.metrics`` is ``metrics.csv`` with the
columns of ``instances.csv`` (seed, rule, every per-instance parameter) joined on ``instance``.
Files are read with ``float_precision="round_trip"``, so a table read back equals the one a run
kept in memory.
"""

import json
import os
from pathlib import Path

import pandas as pd

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

    Attributes: ``kind`` (``run``, ``sweep`` or ``evolve``), ``status`` (``completed``,
    ``completed with failures``, ``failed``, ``interrupted``), ``manifest`` (dict), ``dir``
    (the directory, or None for a run kept in memory), ``tables`` (dict of DataFrames),
    ``figures`` (paths of the figure files), and the tables by name.
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

    def plot(self, kind=None):
        """The figure files of the directory (all, or those whose name starts with ``kind``),
        drawn by hetsim; a result kept in memory has none (run with ``out=`` for figures)."""
        if self.dir is None:
            return []
        files = sorted((self.dir / "figures").glob("*")) if (self.dir / "figures").is_dir() else []
        return [f for f in files if kind is None or f.stem.startswith(kind)]

    def __repr__(self):
        where = self.dir if self.dir is not None else "memory"
        shown = ", ".join(f"{k} {len(v)}×{len(v.columns)}" for k, v in self.tables.items())
        return f"<hetsim.Result {self.kind} {self.status} in {where}: {shown}>"


def _kind(manifest, dir):
    if (dir / "generations.csv").exists() or (dir / "state.json").exists():
        return "evolve"
    if (dir / "points.csv").exists() or "sweep" in manifest:
        return "sweep"
    return "run"


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
    return Result("run", tables, json.loads(out["manifest"]), dir=None, status=out["status"],
                  text=out["summary"], notes=out["notes"])
