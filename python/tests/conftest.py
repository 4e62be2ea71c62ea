"""Shared fixtures: the repository's circuits, a short run's overrides, and the CLI binary the
Python results are checked against (``HETSIM_BIN``, else ``$CARGO_TARGET_DIR/release/hetsim``,
else ``target/release/hetsim``; tests that need it are skipped without it)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FA = REPO / "circuits" / "teacher_fa.yaml"
# A short run: 0.5 s of simulated time, 50 held-out samples, a window every 100 ms.
SHORT = {"time.duration": "0.5 s", "task.held_out": 50}
SHORT_CLI = ["--set", "time.duration=0.5 s", "--set", "task.held_out=50"]


def _binary():
    if os.environ.get("HETSIM_BIN"):
        return Path(os.environ["HETSIM_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    return target / "release" / "hetsim"


@pytest.fixture(scope="session")
def hetsim_bin():
    b = _binary()
    if not b.exists():
        pytest.skip(f"no hetsim binary at {b} (cargo build --release, or set HETSIM_BIN)")
    return b
