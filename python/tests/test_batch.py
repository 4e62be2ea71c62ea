"""Sweeps and evolutions from Python (a dict or a file) into their directories, read back with
`hetsim.load`."""

import hetsim
from conftest import FA, REPO

SWEEP = {
    "name": "tiny",
    "circuit": "circuits/teacher_fa.yaml",
    "set": ["time.duration=0.3 s", "task.held_out=50"],
    "axes": [{"path": "tau_w", "values": ["1 s", "4 s"]}],
    "rules": ["fa"],
    "seeds": 2,
    "summary": [{"measure": "held_out_loss", "stat": "final", "relative": True}],
}


def test_sweep_from_a_dict(tmp_path):
    r = hetsim.sweep(SWEEP, out=tmp_path / "s", backend="cpu", figures=False, base_dir=REPO)
    assert r.kind == "sweep" and r.status == "completed"
    assert len(r.summary) == 4 and set(r.summary["status"]) == {"completed"}
    assert len(r.points) == 2
    again = hetsim.load(tmp_path / "s")
    assert again.summary.equals(r.summary)


def test_evolve_from_a_dict(tmp_path):
    spec = {
        "name": "tiny",
        "circuit": "circuits/teacher_fa.yaml",
        "set": ["time.duration=0.3 s", "task.held_out=50"],
        "free": [{"motif": "W2", "terms": ["m_x"], "bounds": [-1.5, 1.5]}],
        "strategy": {"kind": "random", "samples": 4, "batch": 4},
        "seeds_per_member": 1,
    }
    r = hetsim.evolve(spec, out=tmp_path / "e", backend="cpu", base_dir=REPO)
    assert r.kind == "evolve" and r.status == "completed"
    assert len(r.generations) == 1 and len(r.population) == 4
