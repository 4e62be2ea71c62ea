"""Issue 27 for Python: odd arguments raise Python exceptions (never ``PanicException``), the
checks are the CLI's (seeds, ``ensemble_size``, the memory budget under ``ulimit -v``), large
seeds come back as ints, and ``replace=True`` empties only a directory hetsim marked as its own.
"""

import os
import subprocess
import sys
import textwrap

import pytest

import hetsim
from conftest import FA, SHORT

U64_MAX = 2**64 - 1


def _is_ordinary(e):
    # PyO3's PanicException derives from BaseException: `except Exception` misses it.
    return isinstance(e, Exception) and type(e).__name__ != "PanicException"


@pytest.mark.parametrize(
    "call",
    [
        # More circuits × seeds than a machine word counts (was a capacity-overflow panic).
        lambda: hetsim.compare(FA, ["fa", "sgd"], set=SHORT, seeds=2**63),
        # A path the file system cannot encode (was a panic in the argument conversion).
        lambda: hetsim.load_circuit("\ud800.yaml"),
        lambda: hetsim.run(FA, set=SHORT, out="\ud800"),
        lambda: hetsim.run(FA, set=SHORT, seeds=2**64 - 1),
        lambda: hetsim.run(FA, set=SHORT, seeds=0),
        lambda: hetsim.run(FA, set=SHORT, seed=-1),
        lambda: hetsim.run(FA, set=SHORT, seed=2**64),
        lambda: hetsim.run(FA, duration="nan s"),
        lambda: hetsim.run(FA, duration="-1 s"),
        lambda: hetsim.run(FA, duration="1e300 s"),
        lambda: hetsim.run(FA, duration=""),
        lambda: hetsim.run(FA, set={"time.duration": [1, 2]}),
        lambda: hetsim.run(FA, set={"": 1}),
        lambda: hetsim.run(FA, set=SHORT, out=""),
        lambda: hetsim.load_circuit(""),
        lambda: hetsim.load_circuit("a\0b"),
    ],
)
def test_odd_arguments_raise_python_exceptions(call):
    with pytest.raises(BaseException) as e:
        call()
    assert _is_ordinary(e.value), f"{type(e.value).__name__}: {e.value}"


def test_seeds_past_the_largest_are_refused_as_the_cli_refuses():
    with pytest.raises(hetsim.UsageError, match=r"2\^64"):
        hetsim.run(FA, set=SHORT, seed=U64_MAX, seeds=2)


def test_the_largest_seed_comes_back_as_an_int(tmp_path):
    r = hetsim.run(FA, set=SHORT, seed=U64_MAX, backend="cpu")
    seed = r.instances["seed"].iloc[0]
    assert int(seed) == U64_MAX
    assert not isinstance(seed, float)
    assert r.manifest["seeds"] == [U64_MAX]
    assert r.metrics["seed"].map(int).eq(U64_MAX).all()


def test_ensemble_size_zero_is_refused(tmp_path):
    spec = {
        "name": "zero",
        "circuit": str(FA),
        "set": ["time.duration=0.1 s", "task.held_out=10"],
        "axes": [{"ratio": "tau_w/T", "values": [1, 3]}],
        "rules": ["fa"],
        "seeds": 1,
        "summary": [{"measure": "held_out_loss", "stat": "final"}],
    }
    out = tmp_path / "sweep"
    with pytest.raises(hetsim.UsageError, match="ensemble_size must be at least 1"):
        hetsim.sweep(spec, out=out, ensemble_size=0, figures=False)
    assert not out.exists()


def test_replace_empties_only_a_directory_hetsim_marked(tmp_path):
    app = tmp_path / "web-app"
    (app / ".git").mkdir(parents=True)
    (app / "src").mkdir()
    (app / "src" / "main.js").write_text("console.log(1)\n")
    (app / "manifest.json").write_text('{"name": "web-app"}')
    with pytest.raises(hetsim.UsageError) as e:
        hetsim.run(FA, set=SHORT, backend="cpu", out=app, replace=True, figures=False)
    assert str(app) in str(e.value) and ".hetsim-dir" in str(e.value)
    assert (app / "src" / "main.js").read_text() == "console.log(1)\n"
    assert (app / ".git").is_dir()
    assert not (app / ".hetsim-lock").exists()

    ours = tmp_path / "ours"
    first = hetsim.run(FA, set=SHORT, backend="cpu", out=ours, figures=False)
    assert first.status == "completed"
    (ours / "notes.txt").write_text("old")
    with pytest.raises(hetsim.UsageError, match="exists and is not empty"):
        hetsim.run(FA, set=SHORT, backend="cpu", out=ours, figures=False)
    again = hetsim.run(FA, set=SHORT, backend="cpu", out=ours, replace=True, figures=False, seed=3)
    assert again.status == "completed"
    assert not (ours / "notes.txt").exists()


def test_a_run_past_the_address_space_limit_is_refused_not_fatal():
    """Under `ulimit -v` a run estimated to fit half the machine's memory but not the limit is
    refused with a Python exception; the interpreter lives on."""
    script = textwrap.dedent(
        f"""
        import resource, sys
        import hetsim
        limit = 3 * 1024**3
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            hetsim.run({str(FA)!r}, seeds=40000, backend="cpu",
                       set={{"time.duration": "0.01 s", "task.held_out": 10}})
        except hetsim.HetsimError as e:
            print("REFUSED:", e)
            sys.exit(0)
        print("RAN")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300, env={k: v for k, v in os.environ.items() if k != "HETSIM_MEMORY_BUDGET"})
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert "REFUSED:" in done.stdout, done.stdout + done.stderr[-2000:]
