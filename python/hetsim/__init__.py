"""hetsim from Python: the Rust engine in-process, results as pandas DataFrames.

    import hetsim
    c = hetsim.load_circuit("circuits/teacher_fa.yaml", set={"time.duration": "5 s"})
    r = hetsim.compare(c, rules=["sgd", "fa"], seeds=2)
    r.metrics          # metrics.csv's rows, with instances.csv's parameters joined on `instance`

Modules: ``api`` (load_circuit, run, compare, sweep, evolve), ``results`` (the result object
and ``load`` for directories written by hetsim), ``_overrides`` (``set=`` into ``--set`` text).
The compiled module ``_hetsim`` does the work; errors are ``CircuitError`` (located as
file:line:column, as the CLI prints them), ``UsageError`` and ``RunError``, all ``HetsimError``.
"""

from ._hetsim import CircuitError, HetsimError, RunError, UsageError, __version__
from ._hetsim import Circuit
from .api import compare, evolve, load_circuit, run, sweep
from .results import Result, load

__all__ = [
    "Circuit",
    "CircuitError",
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
