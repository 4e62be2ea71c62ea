"""``Circuit``: a circuit file as Python objects, checked by the library.

A ``Circuit`` is the file's contents as nested dicts and lists (``c["populations"]["h"]["size"]``),
editable in place, and the library's check of them (``c.summary``, ``c.expanded``, ``c.warnings``).
Edits are checked when the circuit is next used (a run, ``c.check()``, ``c.summary``, …): the
contents are written out as YAML (``c.yaml``) and read, expanded and checked exactly as a file
is, so a mistake raises ``CircuitError`` located in that text (``<dict>:12:7``), with the key
and a hint, as the CLI reports a file. ``c.set(path, value)`` applies one ``--set`` override at
once (the CLI's path syntax, ``"learning.tau_w"``, ``"task.teacher.uniform[1]"``) and raises
``UsageError`` at once if it does not apply.

A circuit read from a file and not edited runs from that file (its path and overrides go into
the manifest as the CLI records them); once edited it runs from its text, relative data paths
still resolved in the file's folder.
"""

import copy
import os
from collections.abc import MutableMapping
from pathlib import Path

import yaml

from . import _hetsim
from ._overrides import pairs
from ._units import duration_text


def _load(path, text, base_dir, sets, duration):
    return _hetsim.load_circuit(path, text=text, base_dir=base_dir, sets=sets,
                                duration=duration)


def _dump(data):
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=None)


class Circuit(MutableMapping):
    """A checked circuit, its top-level keys (``name``, ``time``, ``task``, ``populations``,
    ``projections``, ``learning``, ``record``, …) readable and editable as a dict.

    Build one with ``hetsim.load_circuit(path_or_text, set=…, duration=…)`` or
    ``Circuit.from_dict({...})``.
    """

    def __init__(self, checked, base_dir=None):
        self._checked = checked
        # Where relative data paths resolve once the circuit runs from its text.
        if base_dir is None and checked.text is None:
            base_dir = str(Path(checked.path).resolve().parent)
        self._base_dir = None if base_dir is None else os.fspath(base_dir)
        self._data = None
        self._data_text = None

    # --- building -------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data, base_dir=None):
        """A circuit from a dict of a circuit file's contents (what ``yaml.safe_load`` of the
        file gives). Relative data paths resolve in ``base_dir`` (default: the working
        directory). Raises ``CircuitError`` located in ``Circuit.yaml_of(data)``."""
        if not isinstance(data, dict):
            raise TypeError(f"Circuit.from_dict takes a dict, not {type(data).__name__}")
        base = os.fspath(base_dir) if base_dir is not None else os.getcwd()
        return cls(_load("<dict>", _dump(data), base, [], None), base_dir=base)

    @staticmethod
    def yaml_of(data):
        """The YAML text a dict is checked as (the text ``<dict>:line:column`` refers to)."""
        return _dump(data)

    def copy(self):
        """An independent copy (edits to one do not change the other)."""
        other = Circuit(self._checked, base_dir=self._base_dir)
        if self._data is not None:
            other._data = copy.deepcopy(self._data)
            other._data_text = self._data_text
        return other

    # --- the contents as a dict -----------------------------------------------------------

    def _tree(self):
        if self._data is None:
            self._data = yaml.safe_load(self._checked.spec_yaml) or {}
            self._data_text = _dump(self._data)
        return self._data

    def __getitem__(self, key):
        return self._tree()[key]

    def __setitem__(self, key, value):
        self._tree()[key] = value

    def __delitem__(self, key):
        del self._tree()[key]

    def __iter__(self):
        return iter(self._tree())

    def __len__(self):
        return len(self._tree())

    def to_dict(self):
        """The contents as plain dicts and lists (a copy)."""
        self.check()
        return copy.deepcopy(self._tree())

    @property
    def yaml(self):
        """The circuit as YAML text (after any edits): what a file of it would hold."""
        if self._data is not None:
            return _dump(self._data)
        return self._checked.spec_yaml

    def save(self, path):
        """Writes the circuit (checked first) as a circuit file."""
        self.check()
        Path(path).write_text(self.yaml)

    # --- checking -------------------------------------------------------------------------

    def _edited(self):
        return self._data is not None and _dump(self._data) != self._data_text

    def check(self):
        """Checks the edits made since the last check (raises ``CircuitError``, located in
        ``c.yaml``); returns the circuit. Every use of the circuit checks first."""
        if self._edited():
            text = _dump(self._data)
            checked = _load("<dict>", text, self._base_dir or os.getcwd(), [], None)
            self._checked = checked
            self._data_text = text
        return self

    def set(self, path, value):
        """Applies one override (``c.set("learning.tau_w", "5 s")``), checked at once; the
        circuit is unchanged if it raises. Returns the circuit."""
        self.check()
        sets = pairs({path: value})
        c = self._checked
        checked = _load(c.path, c.text, self._base_dir if c.text is not None else None,
                        list(c.overrides) + sets, None)
        self._checked = checked
        self._data = None
        return self

    def with_overrides(self, set=None, duration=None):
        """A new circuit: this one with more overrides (as ``load_circuit`` takes them)."""
        self.check()
        c = self._checked
        if set is None and duration is None:
            return self.copy()
        checked = _load(c.path, c.text, self._base_dir if c.text is not None else None,
                        list(c.overrides) + pairs(set), duration_text(duration))
        return Circuit(checked, base_dir=self._base_dir)

    @property
    def checked(self):
        """The library's checked circuit (``hetsim._hetsim.Circuit``), after any edits."""
        return self.check()._checked

    name = property(lambda self: self.checked.name, doc="The circuit's name.")
    summary = property(lambda self: self.checked.summary,
                       doc="The one-line summary ``hetsim validate`` prints.")
    expanded = property(lambda self: self.checked.expanded,
                        doc="The circuit with ``learning:`` written out (``hetsim expand``).")
    warnings = property(lambda self: list(self.checked.warnings),
                        doc="The checks' warnings, located.")
    path = property(lambda self: self.checked.path,
                    doc="The file the circuit was read from (``<text>``/``<dict>`` otherwise).")
    text = property(lambda self: self.checked.text,
                    doc="The text it runs from (None: read from ``path``).")
    overrides = property(lambda self: self.checked.overrides, doc="The overrides, in order.")

    def __repr__(self):
        if self._edited():
            return f"<hetsim.Circuit `{self._checked.name}`, edited (not yet checked)>"
        where = "" if self._checked.text is not None else f" from {self._checked.path}"
        return repr(self._checked).replace("`:", f"`{where}:", 1)

    def __eq__(self, other):
        return isinstance(other, Circuit) and self.yaml == other.yaml

    __hash__ = None
