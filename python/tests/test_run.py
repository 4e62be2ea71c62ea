"""A run from Python equals the CLI's run with the same seed; what stays in memory equals what
is written; sets, durations and rule lists act as on the command line."""

import subprocess

import pandas as pd
import pytest

import hetsim
from conftest import FA, SHORT, SHORT_CLI

TABLES = ["metrics", "instances", "weights"]


def assert_tables_equal(a, b, names=TABLES):
    for name in names:
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True,
                                      obj=name)


@pytest.fixture(scope="module")
def in_memory():
    return hetsim.compare(FA, rules=["sgd", "fa"], seeds=2, seed=3, backend="cpu", set=SHORT)


def test_compare_in_memory_equals_the_cli(in_memory, hetsim_bin, tmp_path):
    out = tmp_path / "cli"
    subprocess.run([hetsim_bin, "compare", FA, "--rules", "sgd,fa", "--seeds", "2", "--seed",
                    "3", "--backend", "cpu", "--no-plots", "--out", out, *SHORT_CLI],
                   check=True, capture_output=True)
    cli = hetsim.load(out)
    assert cli.kind == in_memory.kind == "compare" and cli.status == "completed"
    assert_tables_equal(in_memory, cli)
    assert in_memory.manifest["seeds"] == cli.manifest["seeds"] == [3, 4, 3, 4]


def test_files_from_python_are_the_cli_files(hetsim_bin, tmp_path):
    py = hetsim.run(FA, seeds=2, backend="cpu", set=SHORT, out=tmp_path / "py", figures=False)
    subprocess.run([hetsim_bin, "run", FA, "--seeds", "2", "--backend", "cpu", "--no-plots",
                    "--out", tmp_path / "cli", *SHORT_CLI], check=True, capture_output=True)
    for name in ["metrics.csv", "instances.csv", "weights.csv"]:
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes()
    assert py.dir == tmp_path / "py"
    assert py.manifest["status"] == "completed"


def test_in_memory_equals_the_files_written(in_memory, tmp_path):
    on_disk = hetsim.compare(FA, rules=["sgd", "fa"], seeds=2, seed=3, backend="cpu",
                             set=SHORT, out=tmp_path / "run", figures=False)
    assert on_disk.dir == tmp_path / "run"
    assert_tables_equal(in_memory, on_disk)
    assert on_disk.compare is not None and list(on_disk.compare["rule"]) == ["sgd", "fa"]


def test_metrics_carry_the_instance_parameters(in_memory):
    m = in_memory.metrics
    assert {"seed", "rule", "tau_w_s:W1"} <= set(m.columns)
    assert set(m["rule"]) == {"sgd", "fa"}
    last = m[(m["projection"] == "all")].groupby("instance")["time_s"].max()
    assert (last == 0.5).all()
    assert in_memory.dir is None and in_memory.status == "completed"
    assert in_memory.manifest["instances"] == 4


def test_overrides_and_duration_apply():
    c = hetsim.load_circuit(FA, set={"learning.tau_w": "5 s", "task.held_out": 50},
                            duration="0.2 s")
    r = hetsim.run(c, backend="cpu")
    assert r.instances["tau_w_s:W1"].iloc[0] == 5.0
    assert r.metrics["time_s"].max() == pytest.approx(0.2)
    assert r.manifest["overrides"] == ["learning.tau_w=5 s", "task.held_out=50"]


def test_yaml_text_runs_like_its_file():
    text = hetsim.run(hetsim.load_circuit(FA.read_text(), set=SHORT), backend="cpu")
    path = hetsim.run(FA, backend="cpu", set=SHORT)
    assert_tables_equal(text, path)


def test_unknown_rule_is_a_usage_error():
    with pytest.raises(hetsim.UsageError, match="unknown rule `bp`"):
        hetsim.compare(FA, rules=["sgd", "bp"], set=SHORT)
    with pytest.raises(hetsim.UsageError, match="listed twice"):
        hetsim.compare(FA, rules=["fa", "fa"], set=SHORT)


def test_traces_in_memory_equal_the_file(tmp_path):
    kw = dict(backend="cpu", set={**SHORT, "record.traces": "0.2 s"})
    mem = hetsim.run(FA, **kw)
    disk = hetsim.run(FA, out=tmp_path / "t", figures=False, **kw)
    assert mem.traces is not None and len(mem.traces) > 0
    assert_tables_equal(mem, disk, names=TABLES + ["traces"])


def test_probes_in_memory_equal_the_files(tmp_path):
    probes = ("record:\n  probes:\n"
              "    - {population: h, variable: rate, units: [0, 3], instances: all, every: 50 ms}\n"
              "  weights: {every: 250 ms, synapses: [[0, 1]]}\n")
    c = hetsim.load_circuit(FA.read_text().replace("record:\n", probes, 1), set=SHORT)
    mem = hetsim.run(c, seeds=2, backend="cpu")
    disk = hetsim.run(c, seeds=2, backend="cpu", out=tmp_path / "p", figures=False)
    assert list(mem.probes.columns) == ["time_s", "instance", "population", "variable", "unit",
                                        "value"]
    # t = 0, 50 ms, …, 500 ms × two units × two instances.
    assert len(mem.probes) == 11 * 2 * 2
    # t = 0, 0.25, 0.5 s × the synapse [0, 1] of W1 and of W2 × instance 0.
    assert len(mem.weight_snapshots) == 3 * 2
    assert_tables_equal(mem, disk, names=TABLES + ["probes", "weight_snapshots"])
    assert hetsim.load(tmp_path / "p").probes.equals(disk.probes)


def test_the_plasticity_curve_loads_from_a_run_directory(tmp_path):
    import pathlib
    circuit = pathlib.Path(__file__).resolve().parents[2] / "circuits" / "metaplasticity.yaml"
    r = hetsim.run(str(circuit), backend="cpu", set={"time.duration": "2 s"},
                   out=tmp_path / "meta", figures=False)
    curve, thresholds = r.plasticity, r.plasticity_threshold
    assert curve is not None and thresholds is not None
    assert len(curve) == 3 * 241  # t = 0, 1, 2 s
    # At t = 0 the soma's trace starts at 2.7 and the dendrite at rest: θ = q + d/2 = 2.7.
    assert abs(thresholds["threshold"].iloc[0] - 2.7) < 1e-6
