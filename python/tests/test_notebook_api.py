"""Issue 32 for Python in notebooks: progress reported while a job runs, the library's notes as
warnings, results and circuits that show what they are, figures drawn by hetsim's plot code
for runs in memory too, the CLI's palette, durations as numbers, and circuits edited as dicts
with located errors."""

import datetime
import re
import subprocess
import warnings

import pytest

import hetsim
from conftest import FA, REPO, SHORT

QUIET = dict(backend="cpu", progress=False)


# --- progress ---------------------------------------------------------------------------------

def test_run_progress_reaches_every_step():
    seen = []
    r = hetsim.run(FA, set=SHORT, backend="cpu", progress=seen.append)
    assert r.status == "completed"
    # 0.5 s at dt 0.1 ms, a window every 100 ms: five windows. Updates between two polls of the
    # job are coalesced, so at least one (the last, always delivered) and at most five arrive.
    assert 1 <= len(seen) <= 5
    assert all(u["kind"] == "run" and u["unit"] == "step" for u in seen)
    assert seen[-1]["done"] == seen[-1]["total"] == 5000
    assert seen[-1]["time_s"] == pytest.approx(0.5)
    steps = [u["done"] for u in seen]
    assert steps == sorted(steps) and all(s % 1000 == 0 for s in steps)


def test_progress_comes_while_the_run_goes_and_can_stop_it():
    seen = []

    def watch(update):
        seen.append(update["done"])
        if len(seen) == 3:
            raise KeyboardInterrupt  # as Ctrl-C: the run stops after its window, rows kept

    r = hetsim.run(FA, set={"task.held_out": 50}, duration="300 s", backend="cpu",
                   progress=watch)
    assert r.status == "interrupted"
    # Three updates during the run (the steps of three windows, in order), and the last
    # window's after it stopped.
    assert len(seen) == 4 and seen[:3] == sorted(set(seen[:3]))
    assert seen[-1] == round(r.metrics["time_s"].max() / 1e-4) < 3_000_000


def test_sweep_and_evolve_progress_count_points_and_generations(tmp_path):
    from test_batch import SWEEP
    seen = []
    s = hetsim.sweep(SWEEP, out=tmp_path / "s", backend="cpu", figures=False, base_dir=REPO,
                     progress=seen.append)
    assert seen and seen[-1]["kind"] == "sweep" and seen[-1]["unit"] == "point"
    assert seen[-1]["done"] == seen[-1]["total"] == 2
    spec = {"name": "tiny", "circuit": "circuits/teacher_fa.yaml",
            "set": ["time.duration=0.2 s", "task.held_out=50"],
            "free": [{"motif": "W2", "terms": ["m_x"], "bounds": [-1.5, 1.5]}],
            "strategy": {"kind": "random", "samples": 4, "batch": 2},
            "seeds_per_member": 1}
    gens = []
    with pytest.warns(hetsim.HetsimNote, match=r"^evolve: ran on cpu \(f64"):
        e = hetsim.evolve(spec, out=tmp_path / "e", backend="cpu", base_dir=REPO,
                          progress=gens.append)
    assert gens[-1]["kind"] == "evolve" and gens[-1]["done"] == gens[-1]["total"] == 2
    assert "best_fitness" in gens[-1]
    # Their figures, drawn by hetsim's plot code (the sweep's without writing into its
    # directory, which was run with figures=False).
    assert s.figure().name.startswith("sweep_held_out_loss")
    assert not (tmp_path / "s" / "figures").exists()
    assert e.figure().name == "evolution" and "evolution_theta" in e.figure_kinds()


def test_an_exception_in_the_callback_stops_the_run_and_is_raised():
    calls = []

    def fail(update):
        calls.append(update)
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        hetsim.run(FA, set={"task.held_out": 50}, duration="300 s", backend="cpu",
                   progress=fail)
    assert len(calls) == 1


def test_the_text_display_writes_to_python_stderr(monkeypatch, capsys):
    import builtins
    real_import = builtins.__import__

    def no_tqdm(name, *args, **kwargs):
        if name.startswith("tqdm"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tqdm)
    monkeypatch.setattr("hetsim._progress.DELAY_S", 0.0)
    hetsim.run(FA, set={"task.held_out": 50}, duration=2, backend="cpu", progress=True)
    err = capsys.readouterr().err
    assert re.search(r"hetsim run: 20000 of 20000 steps \(100%\), 2 s simulated", err), err


def test_progress_must_be_a_flag_or_a_callable():
    with pytest.raises(TypeError, match="progress"):
        hetsim.run(FA, set=SHORT, progress="yes")


# --- notes as warnings ------------------------------------------------------------------------

def test_notes_are_warnings_and_kept():
    with pytest.warns(hetsim.HetsimNote) as caught:
        r = hetsim.compare(FA, rules=["fa", "kp"], set=SHORT, **QUIET)
    messages = [str(w.message) for w in caught]
    assert any(re.match(r"compare: kp: .*using 10 × tau_w", m) for m in messages), messages
    assert any(m.startswith("compare: ran on cpu (f64") for m in messages), messages
    assert any("tau_w" in n for n in r.notes) and r.notes[-1].startswith("ran on cpu (f64")
    assert issubclass(hetsim.HetsimNote, hetsim.HetsimWarning)
    assert issubclass(hetsim.HetsimWarning, UserWarning)


# --- what results and circuits show -----------------------------------------------------------

def test_a_compare_shows_as_a_compare(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = hetsim.compare(FA, rules=["sgd", "fa"], seeds=2, set=SHORT, **QUIET)
        r = hetsim.run(FA, set=SHORT, **QUIET)
        d = hetsim.compare(FA, rules=["sgd", "fa"], set=SHORT, out=tmp_path / "c",
                           figures=False, **QUIET)
    assert c.kind == "compare" and r.kind == "run"
    assert repr(c).startswith("<hetsim.Result: compare of `teacher-fa` (sgd, fa; 2 seeds) on "
                              "cpu (f64, ")
    assert "), completed, in memory; tables instances 4×" in repr(c)
    assert repr(r).startswith("<hetsim.Result: run of `teacher-fa` (fa; 1 seed)")
    assert hetsim.load(tmp_path / "c").kind == d.kind == "compare"
    page = c._repr_html_()
    assert "<b>hetsim compare of `teacher-fa` (sgd, fa; 2 seeds)</b>" in page
    assert "on cpu (f64, " in page
    # The table the CLI prints, every rule's row in it.
    assert "<pre>" in page and re.search(r"\n\s*sgd\s", page) and re.search(r"\n\s*fa\s", page)


def test_circuit_repr_names_it_once():
    c = hetsim.load_circuit(FA)
    text = repr(c)
    # The populations as checked: x, h, y and the three that `learning: fa` adds.
    assert text.startswith(f"<hetsim.Circuit `teacher-fa` from {FA}: 6 populations, "
                           "5 projections (2 plastic)")
    assert text.count("teacher-fa") == 1


# --- figures and palette ----------------------------------------------------------------------

def test_figures_from_memory_are_svg():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = hetsim.compare(FA, rules=["sgd", "fa"], seeds=2, set=SHORT, **QUIET)
    f = r.figure("learning_curves")
    assert isinstance(f, hetsim.Figure) and f._repr_svg_() is f.svg
    assert f.svg.lstrip().startswith("<svg") and f.svg.rstrip().endswith("</svg>")
    # The rules in the legend, in the palette's colours.
    for rule in ["sgd", "fa"]:
        assert hetsim.palette[rule].upper() in f.svg.upper().replace("RGB", "") or \
            _rgb(hetsim.palette[rule]) in f.svg
    assert set(r.figure_kinds()) >= {"learning_curves", "alignment"}
    with pytest.raises(ValueError, match="no `plasticity` figure"):
        r.figure("plasticity")


def test_figures_in_memory_equal_those_of_the_same_run_written(tmp_path):
    kw = dict(rules=["sgd", "fa"], seeds=2, set={**SHORT, "record.traces": "0.1 s"}, **QUIET)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mem = hetsim.compare(FA, **kw)
        disk = hetsim.compare(FA, out=tmp_path / "c", figures=False, **kw)
    for kind in ["learning_curves", "traces", "weights"]:
        a, b = mem.figure(kind), disk.figure(kind)
        if kind == "weights":  # one per rule
            assert [f.name for f in a] == ["weights_sgd", "weights_fa"]
            a, b = a[1], b[1]
        assert a.svg == b.svg, kind


def _rgb(hex_colour):
    r, g, b = (int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgb({r},{g},{b})"


def test_figures_from_a_directory_equal_the_cli_figures(tmp_path, hetsim_bin):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = hetsim.run(FA, set=SHORT, out=tmp_path / "r", figures=False, **QUIET)
    f = r.figure("learning_curves")
    # Nothing written into the run directory.
    assert not (tmp_path / "r" / "figures").exists()
    subprocess.run([hetsim_bin, "plot", tmp_path / "r", "--format", "svg"], check=True,
                   capture_output=True)
    assert f.svg == (tmp_path / "r" / "figures" / "learning_curves.svg").read_text()


def test_palette_is_the_cli_palette():
    # The figures' colours for the known rules (the Okabe–Ito set), read from the library.
    assert hetsim.palette["sgd"] == "#000000"
    assert hetsim.palette["fa"] == "#0072b2"
    assert hetsim.palette["dfa"] == "#e69f00"
    assert hetsim.palette["kp"] == "#009e73"
    assert len(set(hetsim.palette.values())) == len(hetsim.palette) >= 8
    assert hetsim.colours(["fa", "mine"])["fa"] == hetsim.palette["fa"]
    # The style module is the one definition: its hex codes are not in the Python sources.
    sources = "".join(p.read_text() for p in (REPO / "python" / "hetsim").glob("*.py"))
    assert "0072b2" not in sources.lower()


def test_palette_matches_the_cli_figure(tmp_path, hetsim_bin):
    subprocess.run([hetsim_bin, "compare", FA, "--rules", "sgd,fa,dfa,kp", "--no-plots",
                    "--backend", "cpu", "--out", tmp_path / "c", "--set",
                    "time.duration=0.3 s", "--set", "task.held_out=50"],
                   check=True, capture_output=True)
    subprocess.run([hetsim_bin, "plot", tmp_path / "c", "--format", "svg"], check=True,
                   capture_output=True)
    svg = (tmp_path / "c" / "figures" / "learning_curves.svg").read_text()
    for rule in ["fa", "dfa", "kp"]:
        assert _rgb(hetsim.palette[rule]) in svg or hetsim.palette[rule] in svg.lower(), rule


# --- durations --------------------------------------------------------------------------------

@pytest.mark.parametrize("duration,seconds", [(0.3, 0.3), (1, 1.0), ("200 ms", 0.2),
                                              (datetime.timedelta(milliseconds=400), 0.4)])
def test_durations_are_seconds_or_text(duration, seconds):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = hetsim.run(FA, duration=duration, set={"task.held_out": 50}, **QUIET)
    assert r.metrics["time_s"].max() == pytest.approx(seconds)


def test_a_duration_of_another_type_is_a_type_error():
    with pytest.raises(TypeError, match="number of seconds or text with a unit"):
        hetsim.run(FA, duration=[5])
    with pytest.raises(TypeError):
        hetsim.load_circuit(FA, duration=True)


# --- circuits as Python objects ---------------------------------------------------------------

def test_a_circuit_reads_and_edits_as_a_dict():
    c = hetsim.load_circuit(FA)
    assert c["populations"]["h"]["size"] == 20
    assert c["learning"]["rule"] == "fa"
    c["populations"]["h"]["size"] = 40
    assert "edited" in repr(c)
    # Each unit of h has 50 synapses (30 from x, 10 to y, 10 of the feedback from y's error):
    # 20 more units, 1000 more synapses.
    assert ", 1200 synapses," in hetsim.load_circuit(FA).summary
    assert ", 2200 synapses," in c.summary
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = hetsim.run(c, set=SHORT, **QUIET)
    assert r.tables["weights"].query("projection == 'W1'")["row"].max() == 39


def test_set_applies_an_override_at_once():
    c = hetsim.load_circuit(FA)
    c.set("learning.tau_w", "5 s")
    assert c["learning"]["tau_w"] in ("5 s", "5s")
    assert c.overrides == [("learning.tau_w", "5 s")]
    with pytest.raises(hetsim.HetsimError, match="tau_w"):
        c.set("learning.tau_w", "-5 s")
    # Unchanged by the refused override.
    assert c.overrides == [("learning.tau_w", "5 s")]


def test_a_bad_key_is_located_in_the_circuit_text():
    c = hetsim.load_circuit(FA)
    c["populations"]["h"]["sise"] = 40
    with pytest.raises(hetsim.CircuitError) as e:
        c.check()
    message = str(e.value)
    line = next(i for i, text in enumerate(c.yaml.splitlines(), 1) if "sise" in text)
    assert re.search(rf"<dict>:{line}:\d+", message), message
    assert "sise" in message


def test_from_dict_builds_a_circuit_that_runs():
    spec = {
        "name": "tiny",
        "time": {"dt": "0.1 ms", "duration": "0.3 s"},
        "task": {"kind": "linear_teacher", "teacher": {"uniform": [-1, 1]},
                 "stimulus": {"duration": "50 ms"}, "held_out": 50},
        "populations": {"x": {"role": "input", "size": 4}, "y": {"size": 2, "tau": "5 ms"}},
        "projections": {"W": {"from": "x", "to": "y", "init": {"uniform": [-0.1, 0.1]}}},
        "learning": {"rule": "sgd", "output": "y", "tau_w": "1 s"},
        "record": {"every": "100 ms", "measure": ["loss"]},
    }
    c = hetsim.Circuit.from_dict(spec)
    assert c.name == "tiny" and c["populations"]["x"]["size"] == 4
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = hetsim.run(spec, **QUIET)
    assert r.status == "completed" and r.metrics["time_s"].max() == pytest.approx(0.3)
    bad = dict(spec, populations={"x": {"role": "input", "size": 4}})
    with pytest.raises(hetsim.CircuitError, match=r"<dict>:\d+:\d+"):
        hetsim.Circuit.from_dict(bad)
