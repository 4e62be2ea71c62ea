"""The CLI's figures and colours in Python.

``Result.figure(kind)`` draws a figure with the same code as ``hetsim plot`` (the library's plot
module, as SVG) and returns a ``Figure``, which a notebook displays inline and which saves as
SVG. A run kept in memory is drawn from its in-memory tables (written out to a temporary folder
for the plot module, which reads run files); a directory is drawn from its files into a
temporary folder, so nothing is written into it.

``palette`` maps each rule to the colour every hetsim figure gives it, read from the library
(the one definition of the colours); ``colours(labels)`` gives any list of labels the colours a
figure with those labels would draw.
"""

import json
import os
import tempfile
from pathlib import Path

from . import _hetsim

palette = dict(_hetsim.palette())
"""Rule name → ``#rrggbb``, as the CLI's figures colour each rule."""


def colours(labels):
    """``{label: "#rrggbb"}`` for labels drawn together, in order: rules keep their fixed
    colours, other labels take the next free colour, as in hetsim's figures."""
    return dict(_hetsim.colours([str(label) for label in labels]))


class Figure:
    """One SVG figure: displayed inline by Jupyter (``_repr_svg_``); ``svg`` is its text,
    ``save(path)`` writes it."""

    def __init__(self, name, svg):
        self.name = name
        self.svg = svg

    def _repr_svg_(self):
        return self.svg

    def save(self, path):
        Path(path).write_text(self.svg)
        return Path(path)

    def __repr__(self):
        return f"<hetsim.Figure {self.name} (SVG, {len(self.svg)} characters)>"


class Figures(list):
    """Several figures (a kind that draws one per projection or instance): shown one after
    another inline."""

    def _repr_html_(self):
        return "".join(f"<div><p><code>{f.name}</code></p>{f.svg}</div>" for f in self)


# The tables of a run kept in memory, as the run directory's files name them.
_RUN_FILES = ("metrics", "instances", "weights", "traces", "plasticity", "plasticity_threshold")


def _write_run(result, folder):
    (folder / "manifest.json").write_text(json.dumps(result.manifest))
    for name in _RUN_FILES:
        table = result.tables.get(name)
        if table is not None:
            # NaN as an empty cell and every float with the digits that read back the same.
            table.to_csv(folder / f"{name}.csv", index=False, na_rep="", float_format=None)


def _link_dir(result, folder):
    for entry in result.dir.iterdir():
        if entry.name not in ("figures", ".hetsim-lock"):
            os.symlink(entry.resolve(), folder / entry.name)


def draw(result, kind=None):
    """The figures of ``result`` whose name starts with ``kind`` (all when None), as
    ``Figure`` objects in the CLI's order, and the plot module's warnings."""
    with tempfile.TemporaryDirectory(prefix="hetsim-figure-") as tmp:
        folder = Path(tmp) / "run"
        out = Path(tmp) / "figures"
        folder.mkdir()
        out.mkdir()
        if result.dir is None:
            _write_run(result, folder)
        else:
            _link_dir(result, folder)
        run_kind = kind if kind in _hetsim.figure_kinds() else None
        written, warnings = _hetsim.draw(folder, out, run_kind)
        figures = [Figure(Path(p).stem, Path(p).read_text()) for p in written
                   if Path(p).suffix == ".svg"]
    if kind is not None:
        figures = [f for f in figures if f.name.startswith(kind)]
    return figures, warnings
