"""``hetsim.run(..., from_=)`` starts from another run's saved weights and ``resume=`` continues
a stopped run from its checkpoint, as ``hetsim run --from`` and ``--resume`` do; the results
keep the ``phase`` column."""

import signal
import subprocess
import time

import pandas as pd
import pytest

import hetsim
from conftest import FA

# 4 inputs → 3 → 2 under sgd, 2 s of 1 ms steps, every instance's weights every 500 ms.
SMALL = """name: two-stage
time: {dt: 1 ms, duration: 2 s, method: exponential_euler}
task: {kind: linear_teacher, input_std: 0.5, stimulus: {duration: 50 ms}, held_out: 20}
populations:
  x: {role: input, size: 4}
  h: {size: 3, tau: 5 ms}
  y: {size: 2, tau: 5 ms}
projections:
  W1: {from: x, to: h, init: {uniform: [-0.5, 0.5]}}
  W2: {from: h, to: y, init: {uniform: [-0.5, 0.5]}}
learning: {rule: sgd, output: y, tau_w: 200 ms}
record:
  every: 100 ms
  measure: [loss]
  weights: {every: 500 ms, projections: [W1, W2], instances: all}
"""


def _at(snapshots, t):
    s = snapshots[snapshots.time_s == t].drop(columns="time_s")
    return s.sort_values(["instance", "projection", "post", "pre"]).reset_index(drop=True)


def test_from_starts_from_the_saved_weights_exactly(tmp_path):
    a = hetsim.run(SMALL, seeds=2, backend="cpu", out=tmp_path / "a", figures=False,
                   progress=False)
    b = hetsim.run(SMALL, seeds=2, backend="cpu", from_=f"{tmp_path / 'a'}@1s",
                   progress=False)
    saved = _at(a.tables["weight_snapshots"], 1.0)
    assert len(saved) == 2 * (12 + 6)
    pd.testing.assert_frame_equal(_at(b.tables["weight_snapshots"], 0.0), saved,
                                  check_exact=True)
    assert "phase" in b.metrics.columns and set(b.metrics.phase) == {"run"}
    sources = b.manifest["weight_sources"]
    assert {s["projection"] for s in sources} == {"W1", "W2"}
    assert all(s["time_s"] == 1.0 for s in sources)
    # A result stands for its directory; without a time, the latest (the end).
    c = hetsim.run(SMALL, seeds=2, backend="cpu", from_=a, progress=False)
    pd.testing.assert_frame_equal(_at(c.tables["weight_snapshots"], 0.0),
                                  _at(a.tables["weight_snapshots"], 2.0), check_exact=True)
    with pytest.raises(hetsim.UsageError, match="saved no weights at t = 0.3 s"):
        hetsim.run(SMALL, backend="cpu", from_=f"{tmp_path / 'a'}@0.3s", progress=False)


def test_carry_activities_starts_from_the_checkpoint(hetsim_bin, tmp_path):
    a = tmp_path / "a"
    spec = tmp_path / "small.yaml"
    spec.write_text(SMALL)
    subprocess.run([hetsim_bin, "run", spec, "--seeds", "2", "--backend", "cpu", "--no-plots",
                    "--checkpoint-every", "1s", "--out", a], check=True, capture_output=True)
    b = hetsim.run(SMALL, seeds=2, backend="cpu", duration="0.5s", from_=a,
                   carry="activities", progress=False)
    source = b.manifest["state_source"]
    assert source["time_s"] == 2.0 and source["populations"] == ["h", "y"]
    # The weights come from the checkpoint: every bit of the end.
    pd.testing.assert_frame_equal(_at(b.tables["weight_snapshots"], 0.0),
                                  _at(hetsim.load(a).tables["weight_snapshots"], 2.0),
                                  check_exact=True)
    with pytest.raises(ValueError, match="needs from_"):
        hetsim.run(SMALL, carry="activities", progress=False)
    with pytest.raises(hetsim.UsageError, match="no checkpoint at t = 1 s"):
        hetsim.run(SMALL, from_=f"{a}@1s", carry="activities", progress=False)


def test_resume_continues_a_stopped_run_to_the_uninterrupted_tables(hetsim_bin, tmp_path):
    stopped, whole = tmp_path / "stopped", tmp_path / "whole"
    args = ["run", FA, "--backend", "cpu", "--threads", "1", "--no-plots",
            "--set", "task.held_out=50", "--duration", "60s", "--checkpoint-every", "1s"]
    proc = subprocess.Popen([hetsim_bin, *args, "--out", stopped], stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (stopped / "checkpoint" / "state").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    if hetsim.load(stopped).status != "interrupted":
        pytest.skip("the run ended before it could be stopped")
    r = hetsim.run(resume=stopped, progress=False)
    assert r.status == "completed"
    assert "phase" in r.metrics.columns and r.metrics.time_s.max() == pytest.approx(60.0)
    subprocess.run([hetsim_bin, *args, "--out", whole], check=True, capture_output=True)
    for table in ["metrics.csv", "weights.csv"]:
        assert (stopped / table).read_bytes() == (whole / table).read_bytes(), table
    with pytest.raises(ValueError, match="seeds cannot be given"):
        hetsim.run(resume=stopped, seeds=2)
    with pytest.raises(hetsim.UsageError, match="completed"):
        hetsim.run(resume=stopped, progress=False)
