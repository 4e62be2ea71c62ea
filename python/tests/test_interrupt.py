"""Ctrl-C stops a run in a Python process the way it stops the CLI: status `interrupted`, the
rows up to the last window kept, and the call returns normally."""

import signal
import subprocess
import sys
import textwrap
import time

from conftest import FA

SCRIPT = textwrap.dedent(f"""
    import sys, hetsim
    print("started", flush=True)
    r = hetsim.run({str(FA)!r}, seeds=2, backend="cpu", duration="300 s",
                   set={{"task.held_out": 50}})
    print(r.status, len(r.metrics), r.metrics["time_s"].max(), flush=True)
""")


def test_sigint_interrupts_a_run_and_keeps_its_rows():
    p = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.5)
    started = time.monotonic()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    status, rows, reached = out.split()
    assert status == "interrupted"
    assert int(rows) > 0 and 0 < float(reached) < 300
    assert "interrupted" in err
    assert time.monotonic() - started < 30


SWEEP_SCRIPT = textwrap.dedent(f"""
    import sys, hetsim
    spec = {{"name": "long", "circuit": {str(FA)!r}, "set": ["time.duration=300 s"],
            "axes": [{{"path": "tau_w", "values": ["1 s", "2 s"]}}], "seeds": 1,
            "summary": [{{"measure": "held_out_loss", "stat": "final"}}]}}
    print("started", flush=True)
    r = hetsim.sweep(spec, out=sys.argv[1], backend="cpu", figures=False)
    print(r.status, flush=True)
""")


def test_sigint_interrupts_a_sweep(tmp_path):
    p = subprocess.Popen([sys.executable, "-c", SWEEP_SCRIPT, str(tmp_path / "s")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "started"
    time.sleep(1.5)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    assert out.split() == ["interrupted"]
