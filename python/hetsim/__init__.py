"""hetsim from Python: the Rust engine in-process, results as pandas DataFrames.

    import hetsim
    c = hetsim.load_circuit("circuits/teacher_fa.yaml", set={"time.duration": "5 s"})
    r = hetsim.compare(c, rules=["sgd", "fa"], seeds=2)
    r.metrics          # metrics.csv's rows, with instances.csv's parameters joined on `instance`

Modules: ``api`` (load_circuit, run, compare, sweep, evolve; progress and notes as warnings),
``circuit`` (``Circuit``: a circuit file as editable dicts, checked by the library),
``results`` (the result object, its table and figures in a notebook, and ``load`` for
directories written by hetsim), ``figures`` (the CLI's figures as SVG, ``palette``),
``_progress`` (progress bars), ``_units`` (durations), ``_overrides`` (``set=`` into ``--set``
text).
The compiled module ``_hetsim`` does the work; errors are ``CircuitError`` (located as
file:line:column, as the CLI prints them), ``UsageError`` and ``RunError``, all ``HetsimError``.
"""

from ._hetsim import CircuitError, HetsimError, RunError, UsageError, __version__
from .api import HetsimNote, HetsimWarning, compare, evolve, load_circuit, run, sweep
from .circuit import Circuit
from .figures import Figure, colours, palette
from .results import Result, load

__all__ = [
    "Circuit",
    "CircuitError",
    "Figure",
    "HetsimNote",
    "HetsimWarning",
    "colours",
    "palette",
    "HetsimError",
    "Result",
    "RunError",
    "UsageError",
    "__version__",
    "compare",
    "evolve",
    "load",
    "load_circuit",
    "run",
    "sweep",
]
