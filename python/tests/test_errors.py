"""Errors are Python exceptions carrying the CLI's located messages (file:line:column)."""

import subprocess

import pytest

import hetsim
from conftest import FA

BAD = """name: bad
time: {dt: 0.1 ms, duration: 1 s}
task: {kind: linear_teacher, stimulus: {duration: 50 ms}}
populations:
  x: {role: input, size: 3}
  y: {size: 2, tau: 5 ms, colour: red}
projections:
  W: {from: x, to: z}
"""


def test_text_errors_are_located():
    with pytest.raises(hetsim.CircuitError) as e:
        hetsim.load_circuit(BAD)
    assert "<text>:6:" in str(e.value)
    assert isinstance(e.value, hetsim.HetsimError)


def test_file_errors_are_the_cli_messages(tmp_path, hetsim_bin):
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    with pytest.raises(hetsim.CircuitError) as e:
        hetsim.load_circuit(path)
    message = str(e.value)
    assert f"{path}:6:" in message
    cli = subprocess.run([hetsim_bin, "validate", path], capture_output=True, text=True)
    assert cli.returncode == 2
    assert message in cli.stderr


def test_bad_override_is_located_or_refused():
    with pytest.raises(hetsim.HetsimError) as e:
        hetsim.load_circuit(FA, set={"populations.h.tau": "-5 ms"})
    assert "tau" in str(e.value)


def test_missing_file():
    with pytest.raises(hetsim.CircuitError, match="no_such.yaml"):
        hetsim.load_circuit("no_such.yaml")
