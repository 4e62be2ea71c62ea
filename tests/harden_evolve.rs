//! Issue 27, evolutions: every size an evolution file asks for is refused before anything is
//! allocated; `--resume` refuses a changed circuit, another hetsim, another backend, and a
//! `state.json` or tables that are not what the evolution saved (naming the file and field,
//! changing nothing); tables are cut back to the saved state; a directory stopped before its
//! first generation resumes from generation 1; `--replace`; an evolution without held-out loss
//! is refused and one whose generation all failed exits 1; names stay inside `runs/`; messages
//! are located in the evolution file. The fuzz target's corpus is replayed at the end.

use hetsim::backend::{BackendKind, Precision};
use hetsim::evolve::{EvolveError, EvolveRequest, evolve};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_hetsim");
/// Virtual memory a child may map, in KiB (1 GiB).
const MEMORY_KIB: u64 = 1 << 20;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn teacher() -> String {
    root()
        .join("circuits/teacher_fa.yaml")
        .display()
        .to_string()
}

struct Outcome {
    code: Option<i32>,
    stderr: String,
}

/// Runs hetsim under the memory limit, killing it after a minute.
fn hetsim(args: &[&str], env: &[(&str, &str)]) -> Outcome {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit -v {MEMORY_KIB} && exec \"$0\" \"$@\""))
        .arg(BIN)
        .args(args)
        .env_remove("HETSIM_MEMORY_BUDGET")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("hetsim starts");
    let mut err = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut err, &mut s).ok();
        s
    });
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > Duration::from_secs(60) {
            child.kill().ok();
            child.wait().ok();
            panic!("hetsim {args:?} ran longer than a minute");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Outcome {
        code: status.code(),
        stderr: reader.join().unwrap(),
    }
}

/// Asserts a refusal: exit 2, no panic, every expected piece in stderr.
fn refused(o: &Outcome, expected: &[&str]) {
    assert_eq!(o.code, Some(2), "exit status; stderr:\n{}", o.stderr);
    assert!(!o.stderr.contains("panicked"), "{}", o.stderr);
    for e in expected {
        assert!(o.stderr.contains(e), "missing {e:?} in:\n{}", o.stderr);
    }
}

const SETS: &str = "\"time.duration=1 s\", \"task.held_out=30\", \"record.every=250 ms\"";
const W1: &str = "  - {motif: W1, terms: [m_x, z_x], bounds: [-1.5, 1.5]}";

/// An evolution file in `dir`: its name, `set:` entries, free motifs and strategy.
fn file_in(dir: &Path, file: &str, name: &str, sets: &str, free: &str, strategy: &str) -> PathBuf {
    let text = format!(
        "name: {name}\ncircuit: {}\nset: [{sets}]\nfree:\n{free}\nstrategy: {strategy}\n",
        teacher()
    );
    let path = dir.join(file);
    std::fs::write(&path, text).unwrap();
    path
}

fn small(dir: &Path, strategy: &str) -> PathBuf {
    file_in(dir, "evolve.yaml", "t", SETS, W1, strategy)
}

const CMA: &str = "{kind: cma_es, population: 4, sigma0: 0.5, generations: 3, seed: 3}";

fn request(path: &Path, out: &Path, generations: Option<u64>, resume: bool) -> EvolveRequest {
    EvolveRequest {
        path: path.to_path_buf(),
        out: Some(out.to_path_buf()),
        resume,
        replace: false,
        backend: BackendKind::Cpu,
        precision: None,
        backend_options: Default::default(),
        budget: Default::default(),
        generations,
        command_line: vec![],
    }
}

fn run(path: &Path, out: &Path, generations: Option<u64>, resume: bool) -> Result<u64, String> {
    evolve(&request(path, out, generations, resume), &mut |_| {}, None)
        .map(|o| o.generations_done)
        .map_err(|e| e.to_string())
}

const TABLES: [&str; 2] = ["generations.csv", "population.csv"];

fn read(dir: &Path, file: &str) -> Vec<u8> {
    std::fs::read(dir.join(file)).unwrap_or_default()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn assert_same_tables(a: &Path, b: &Path) {
    for table in TABLES.iter().chain(&["best.yaml"]) {
        assert!(read(a, table) == read(b, table), "{table} differs");
    }
}

// ---- item 1: sizes ------------------------------------------------------------------------

#[test]
fn every_size_an_evolution_file_asks_for_is_refused_before_allocating() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str, &[&str]); 9] = [
        (
            "{kind: cma_es, population: 1000000000, sigma0: 0.5, generations: 2}",
            "",
            "",
            &["`strategy.population`", "at most 1048576"],
        ),
        (
            "{kind: cma_es, population: 18446744073709551615, sigma0: 0.5, generations: 2}",
            "",
            "",
            &["`strategy.population`", "at most"],
        ),
        (
            "{kind: openai_es, population: 1000000000, sigma: 0.5, generations: 2}",
            "",
            "",
            &["`strategy.population`", "at most"],
        ),
        (
            "{kind: random, samples: 4000000000, batch: 1000000000}",
            "",
            "",
            &["`strategy.batch`", "at most"],
        ),
        (
            "{kind: random, samples: 18446744073709551615, batch: 10}",
            "",
            "",
            &["`strategy.samples`", "rows"],
        ),
        (
            CMA,
            "seeds_per_member: 18446744073709551615\n",
            "",
            &["`seeds_per_member`", "at most"],
        ),
        (
            CMA,
            "seeds_per_member: 2\nfirst_seed: 18446744073709551615\n",
            "",
            &["`first_seed`", "2^64"],
        ),
        (
            "{kind: cma_es, population: 6, sigma0: 0.5, generations: 18446744073709551615}",
            "",
            "",
            &["`strategy.generations`", "at most 1000000 generations"],
        ),
        (
            "{kind: cma_es, population: 60000, sigma0: 0.5, generations: 2}",
            "",
            "300MB",
            &["`strategy.population`", "budget"],
        ),
    ];
    for (i, (strategy, extra, budget, expected)) in cases.iter().enumerate() {
        let path = small(tmp.path(), strategy);
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(extra);
        std::fs::write(&path, text).unwrap();
        let out = tmp.path().join(format!("out{i}"));
        let env: Vec<(&str, &str)> = if budget.is_empty() {
            vec![]
        } else {
            vec![("HETSIM_MEMORY_BUDGET", budget)]
        };
        let o = hetsim(
            &[
                "evolve",
                path.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--backend",
                "cpu",
            ],
            &env,
        );
        let mut wanted = vec![format!("{}:", path.display())];
        wanted.extend(expected.iter().map(|e| e.to_string()));
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        refused(&o, &wanted);
        assert!(!out.exists(), "case {i} created its directory");
    }
    // `--generations` is a size too, and says so.
    let path = small(tmp.path(), CMA);
    let o = hetsim(
        &[
            "evolve",
            path.to_str().unwrap(),
            "--out",
            tmp.path().join("g").to_str().unwrap(),
            "--generations",
            "99999999999",
        ],
        &[],
    );
    refused(&o, &["--generations", "at most"]);
}

// ---- item 2: a changed circuit, code version, backend ----------------------------------------

#[test]
fn resume_refuses_a_changed_circuit_and_another_precision() {
    let tmp = tempfile::tempdir().unwrap();
    let circuit = tmp.path().join("circuit.yaml");
    std::fs::copy(teacher(), &circuit).unwrap();
    let text =
        format!("name: t\ncircuit: circuit.yaml\nset: [{SETS}]\nfree:\n{W1}\nstrategy: {CMA}\n");
    let path = tmp.path().join("evolve.yaml");
    std::fs::write(&path, text).unwrap();
    let out = tmp.path().join("out");
    assert_eq!(run(&path, &out, Some(1), false), Ok(1));
    let before: Vec<Vec<u8>> = TABLES.iter().map(|t| read(&out, t)).collect();
    // Another precision than the generations so far ran in.
    let mut other = request(&path, &out, None, true);
    other.precision = Some(Precision::F32);
    let e = evolve(&other, &mut |_| {}, None).unwrap_err().to_string();
    assert!(e.contains("--precision f64"), "{e}");
    // A changed circuit.
    let mut c = std::fs::read_to_string(&circuit).unwrap();
    c.push_str("\n# edited\n");
    std::fs::write(&circuit, c).unwrap();
    let e = run(&path, &out, None, true).unwrap_err();
    assert!(e.contains("circuit.yaml") && e.contains("changed"), "{e}");
    let after: Vec<Vec<u8>> = TABLES.iter().map(|t| read(&out, t)).collect();
    assert!(before == after, "a refused resume changed the tables");
}

// ---- item 3: corrupted states ------------------------------------------------------------------

type Edit = fn(&mut serde_json::Value);

#[test]
fn corrupted_states_are_refused_naming_the_file_and_field() {
    let tmp = tempfile::tempdir().unwrap();
    let path = small(tmp.path(), CMA);
    let pristine = tmp.path().join("pristine");
    assert_eq!(run(&path, &pristine, Some(2), false), Ok(2));
    // Another evolution (another seed) of the same circuit, for its state.
    let other_dir = tmp.path().join("other");
    std::fs::create_dir_all(&other_dir).unwrap();
    let other = small(
        &other_dir,
        "{kind: cma_es, population: 4, sigma0: 0.5, generations: 3, seed: 4}",
    );
    assert_eq!(run(&other, &other_dir.join("out"), Some(2), false), Ok(2));
    let other_state = std::fs::read_to_string(other_dir.join("out/state.json")).unwrap();

    let cases: Vec<(&str, Edit, &[&str])> = vec![
        (
            "done 1",
            |v| v["generations_done"] = 1.into(),
            &["`search.strategy.generation`"],
        ),
        (
            "done 10",
            |v| v["generations_done"] = 10.into(),
            &["`search.strategy.generation`"],
        ),
        (
            "done max",
            |v| v["generations_done"] = u64::MAX.into(),
            &["`generations_done`"],
        ),
        (
            "negative covariance",
            |v| v["search"]["strategy"]["covariance"][0] = "-1".into(),
            &["`search.strategy.covariance`", "positive"],
        ),
        (
            "asymmetric covariance",
            |v| v["search"]["strategy"]["covariance"][1] = "0.125".into(),
            &["`search.strategy.covariance`", "symmetric"],
        ),
        (
            "sigma 1e308",
            |v| v["search"]["strategy"]["sigma"] = "1e308".into(),
            &["`search.strategy.sigma`"],
        ),
        (
            "population",
            |v| v["search"]["strategy"]["population_size"] = 5.into(),
            &["`search.strategy.population_size`", "population is 4"],
        ),
        (
            "seed",
            |v| v["search"]["strategy"]["seed"] = 99.into(),
            &["`search.strategy.seed`"],
        ),
        (
            "dimension",
            |v| {
                v["search"]["strategy"]["mean"]
                    .as_array_mut()
                    .unwrap()
                    .push("0".into())
            },
            &["`search.strategy.mean`"],
        ),
        (
            "eigenvectors",
            |v| v["search"]["strategy"]["eigenvectors"][0] = "7".into(),
            &["`search.strategy.eigenvectors`", "orthonormal"],
        ),
        (
            "best generation",
            |v| v["best"]["generation"] = 9.into(),
            &["`best.generation`"],
        ),
        (
            "pending",
            |v| v["search"]["strategy"]["pending_draw"] = 0.into(),
            &["`search.strategy.pending_draw`"],
        ),
        (
            "code version",
            |v| v["identity"]["git_commit"] = "0000000".into(),
            &["started by hetsim", "0000000"],
        ),
        (
            "strategy kind",
            |v| v["search"] = serde_json::json!({"random": {"drawn": 8}}),
            &["`search`", "CMA-ES"],
        ),
    ];
    let state_text = std::fs::read_to_string(pristine.join("state.json")).unwrap();
    let mut texts: Vec<(&str, String, &[&str])> = cases
        .into_iter()
        .map(|(name, edit, expected)| {
            let mut v: serde_json::Value = serde_json::from_str(&state_text).unwrap();
            edit(&mut v);
            (name, serde_json::to_string_pretty(&v).unwrap(), expected)
        })
        .collect();
    texts.push((
        "another evolution's",
        other_state,
        &["belongs to another evolution"],
    ));
    texts.push((
        "torn",
        state_text[..state_text.len() / 2].to_string(),
        &["state.json:"],
    ));
    for (i, (name, text, expected)) in texts.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        copy_dir(&pristine, &dir);
        std::fs::write(dir.join("state.json"), text).unwrap();
        let e = run(&path, &dir, None, true).expect_err(name);
        for x in expected.iter() {
            assert!(e.contains(x), "{name}: missing {x:?} in {e}");
        }
        if !name.contains("code") {
            assert!(e.contains("state.json"), "{name}: {e}");
        }
        for t in TABLES.iter().chain(&["state.json", "best.yaml"]) {
            if *t != "state.json" {
                assert!(read(&dir, t) == read(&pristine, t), "{name}: {t} changed");
            }
        }
    }
}

// ---- items 4, 5, 6: tables, missing files, an evolution stopped early, --replace -----------------

#[test]
fn a_resume_cuts_rows_beyond_the_state_and_equals_an_uninterrupted_evolution() {
    let tmp = tempfile::tempdir().unwrap();
    let path = small(tmp.path(), CMA);
    let whole = tmp.path().join("whole");
    assert_eq!(run(&path, &whole, None, false), Ok(3));
    // Stopped after generation 1, with a whole row and a torn row of generation 2 beyond the
    // state in each table.
    let parts = tmp.path().join("parts");
    assert_eq!(run(&path, &parts, Some(1), false), Ok(1));
    for table in TABLES {
        let p = parts.join(table);
        let mut text = std::fs::read_to_string(&p).unwrap();
        let second: String = std::fs::read_to_string(whole.join(table))
            .unwrap()
            .lines()
            .find(|l| l.starts_with("2,"))
            .unwrap()
            .to_string();
        text.push_str(&second);
        text.push('\n');
        text.push_str(&second[..second.len() / 2]);
        std::fs::write(&p, text).unwrap();
    }
    assert_eq!(run(&path, &parts, None, true), Ok(3));
    assert_same_tables(&whole, &parts);
    // Stopped before its first generation (`--generations 0`; or killed at once, its state
    // then missing, a torn header left): a resume starts generation 1, and a fresh start
    // needs --replace.
    for kill in [false, true] {
        let early = tmp.path().join(format!("early-{kill}"));
        assert_eq!(run(&path, &early, Some(0), false), Ok(0));
        if kill {
            std::fs::remove_file(early.join("state.json")).unwrap();
            std::fs::write(early.join("population.csv"), "generation,mem").unwrap();
        }
        assert!(run(&path, &early, None, false).is_err());
        assert_eq!(run(&path, &early, None, true), Ok(3), "kill {kill}");
        assert_same_tables(&whole, &early);
    }
}

#[test]
fn torn_or_missing_rows_of_saved_generations_and_missing_files_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let path = small(tmp.path(), CMA);
    let pristine = tmp.path().join("pristine");
    assert_eq!(run(&path, &pristine, Some(2), false), Ok(2));
    type Damage = fn(&Path);
    let cases: [(&str, Damage, &[&str]); 5] = [
        (
            "torn row of a saved generation",
            |d| {
                let p = d.join("population.csv");
                let text = std::fs::read_to_string(&p).unwrap();
                std::fs::write(&p, &text[..text.len() - 10]).unwrap();
            },
            &["population.csv:9", "cut off"],
        ),
        (
            "a row missing in the middle",
            |d| {
                let p = d.join("population.csv");
                let text = std::fs::read_to_string(&p).unwrap();
                let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with("1,2,")).collect();
                std::fs::write(&p, lines.join("\n") + "\n").unwrap();
            },
            &["population.csv:4", "generation 1, member 2"],
        ),
        (
            "generations.csv deleted",
            |d| std::fs::remove_file(d.join("generations.csv")).unwrap(),
            &["generations.csv is missing", "2 generations are done"],
        ),
        (
            "state.json deleted",
            |d| std::fs::remove_file(d.join("state.json")).unwrap(),
            &["state.json is missing", "finished generations"],
        ),
        (
            "another header",
            |d| {
                let p = d.join("generations.csv");
                let text = std::fs::read_to_string(&p).unwrap();
                std::fs::write(&p, text.replacen("generation", "gen", 1)).unwrap();
            },
            &["generations.csv:1", "header"],
        ),
    ];
    for (i, (name, damage, expected)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        copy_dir(&pristine, &dir);
        damage(&dir);
        let before: Vec<Vec<u8>> = TABLES.iter().map(|t| read(&dir, t)).collect();
        let e = run(&path, &dir, None, true).expect_err(name);
        for x in expected.iter() {
            assert!(e.contains(x), "{name}: missing {x:?} in {e}");
        }
        let after: Vec<Vec<u8>> = TABLES.iter().map(|t| read(&dir, t)).collect();
        assert!(
            before == after,
            "{name}: a refused resume changed the tables"
        );
    }
}

#[test]
fn replace_starts_an_evolution_anew_in_its_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let path = small(tmp.path(), CMA);
    let out = tmp.path().join("out");
    assert_eq!(run(&path, &out, Some(1), false), Ok(1));
    let e = run(&path, &out, Some(1), false).unwrap_err();
    assert!(e.contains("out"), "{e}");
    let mut again = request(&path, &out, Some(2), false);
    again.replace = true;
    let done = evolve(&again, &mut |_| {}, None).unwrap().generations_done;
    assert_eq!(done, 2);
    assert_eq!(
        std::fs::read_to_string(out.join("generations.csv"))
            .unwrap()
            .lines()
            .count(),
        3
    );
    // One process at a time: a resume while another holds the directory is refused.
    {
        let _held = hetsim::experiment::output::DirLock::acquire(&out).unwrap();
        let e = run(&path, &out, None, true).unwrap_err();
        assert!(e.contains("lock") || e.contains("another"), "{e}");
    }
    // A directory stopped before its first generation can be replaced too.
    let early = tmp.path().join("early");
    assert_eq!(run(&path, &early, Some(0), false), Ok(0));
    let mut anew = request(&path, &early, Some(1), false);
    anew.replace = true;
    assert_eq!(
        evolve(&anew, &mut |_| {}, None).unwrap().generations_done,
        1
    );
    // A folder hetsim did not make is never emptied.
    let foreign = tmp.path().join("foreign");
    std::fs::create_dir_all(foreign.join("src")).unwrap();
    std::fs::write(foreign.join("manifest.json"), "{\"name\": \"web-app\"}").unwrap();
    let mut wipe = request(&path, &foreign, Some(1), false);
    wipe.replace = true;
    assert!(evolve(&wipe, &mut |_| {}, None).is_err());
    assert!(foreign.join("src").is_dir() && foreign.join("manifest.json").is_file());
    // --replace with --resume is a contradiction.
    let mut both = request(&path, &out, None, true);
    both.replace = true;
    assert!(matches!(
        evolve(&both, &mut |_| {}, None),
        Err(EvolveError::Usage(_))
    ));
    let o = hetsim(
        &[
            "evolve",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--resume",
            "--replace",
        ],
        &[],
    );
    assert_eq!(o.code, Some(2), "{}", o.stderr);
}

// ---- item 7: held-out loss, and generations that all fail -------------------------------------

#[test]
fn an_evolution_without_held_out_loss_is_refused_up_front() {
    let tmp = tempfile::tempdir().unwrap();
    // From the evolution file's `set:`: located at that entry.
    let path = tmp.path().join("e.yaml");
    std::fs::write(
        &path,
        format!(
            "name: t\ncircuit: {}\nset:\n  - time.duration=1 s\n  - task.held_out=0\nfree:\n{W1}\nstrategy: {CMA}\n",
            teacher()
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    let o = hetsim(
        &[
            "evolve",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    refused(
        &o,
        &[
            &format!("{}:5:3:", path.display()),
            "`set[1]`",
            "held-out set",
        ],
    );
    assert!(!out.exists());
    // From the circuit file: located there.
    let circuit = tmp.path().join("c.yaml");
    let text = std::fs::read_to_string(teacher()).unwrap();
    let text = text.replacen("held_out: 200", "held_out: 0", 1);
    std::fs::write(&circuit, text).unwrap();
    let path = tmp.path().join("f.yaml");
    std::fs::write(
        &path,
        format!("name: t\ncircuit: c.yaml\nfree:\n{W1}\nstrategy: {CMA}\n"),
    )
    .unwrap();
    let o = hetsim(
        &[
            "evolve",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[],
    );
    refused(&o, &[&format!("{}:", circuit.display()), "`task.held_out`"]);
}

#[test]
fn a_generation_in_which_every_member_fails_stops_the_evolution_with_exit_1() {
    let tmp = tempfile::tempdir().unwrap();
    let path = file_in(
        tmp.path(),
        "e.yaml",
        "t",
        SETS,
        "  - {motif: W1, terms: [m_x, z_x], bounds: [500, 600]}\n  - {motif: W2, terms: [m_x, z_x], bounds: [500, 600]}",
        CMA,
    );
    let out = tmp.path().join("out");
    let o = hetsim(
        &[
            "evolve",
            path.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--backend",
            "cpu",
        ],
        &[],
    );
    assert_eq!(o.code, Some(1), "{}", o.stderr);
    assert!(
        o.stderr
            .contains("every member of generation 1 failed, so the evolution stopped")
            && o.stderr.contains("diverged"),
        "{}",
        o.stderr
    );
    let manifest = std::fs::read_to_string(out.join("manifest.json")).unwrap();
    assert!(manifest.contains("\"failed\""), "{manifest}");
}

// ---- items 8, 9: names and messages ------------------------------------------------------------

#[test]
fn names_and_poor_entries_are_refused_located_in_the_evolution_file() {
    let tmp = tempfile::tempdir().unwrap();
    let cases: [(&str, &str, &str, &[&str]); 8] = [
        ("../../../escaped", SETS, W1, &[":1:", "`name`", "`/`"]),
        ("/tmp/absolute", SETS, W1, &[":1:", "`name`"]),
        ("\"a\\nb\"", SETS, W1, &[":1:", "`name`", "'\\n'"]),
        (
            "t",
            SETS,
            "  - {motif: W1, terms: [all, m_x]}",
            &[
                ":5:",
                "`free[0].terms[0]`",
                "`all` cannot be combined with named terms",
            ],
        ),
        (
            "t",
            SETS,
            "  - {motif: W1, terms: [m_x], bounds: [-1e308, 1e308]}",
            &[":5:", "`free[0].bounds`", "reach beyond ±1e6"],
        ),
        (
            "t",
            "\"time.duration=1 s\", \"time.duration=abc\"",
            W1,
            &[":3:", "`set[1]`", "abc"],
        ),
        (
            "t",
            "\"time.duration=1 s\", \"time.dt=-1 ms\"",
            W1,
            &[":3:", "`set[1]`", "negative"],
        ),
        (
            "t",
            "\"time.duration\"",
            W1,
            &[":3:", "`set[0]`", "PATH=VALUE"],
        ),
    ];
    for (i, (name, sets, free, expected)) in cases.iter().enumerate() {
        let path = file_in(tmp.path(), &format!("e{i}.yaml"), name, sets, free, CMA);
        let o = hetsim(&["evolve", path.to_str().unwrap()], &[]);
        let mut wanted = vec![format!("{}", path.display())];
        wanted.extend(expected.iter().map(|e| e.to_string()));
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        refused(&o, &wanted);
        assert!(!o.stderr.contains("--set"), "{}", o.stderr);
    }
    assert!(!Path::new("/tmp/absolute").exists());
    assert!(!root().join("runs/evolve-a").exists());
    // A step size wider than the search box (found by the fuzzer: with bounds near ±1e308 it
    // overflowed CMA-ES's step size in the first generation).
    let path = file_in(
        tmp.path(),
        "wide-sigma.yaml",
        "t",
        SETS,
        W1,
        "{kind: cma_es, population: 4, sigma0: 50, generations: 3, seed: 3}",
    );
    let o = hetsim(&["evolve", path.to_str().unwrap()], &[]);
    refused(
        &o,
        &["`strategy.sigma0`", "wider than the widest bounds (3)"],
    );
}

// ---- the fuzz target's corpus ----------------------------------------------------------------

#[test]
fn every_evolve_corpus_input_passes_the_fuzz_checks() {
    let dir = root().join("fuzz/corpus/evolve");
    let circuit = root().join("circuits/teacher_fa.yaml");
    let csv = root().join("fuzz/data/small.csv");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fuzz/corpus/evolve exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(
        files.len() >= 10,
        "the corpus has only {} files",
        files.len()
    );
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let outcome = std::panic::catch_unwind(|| {
            hetsim::evolve::fuzzing::check_bytes(&bytes, &circuit, &csv);
        });
        assert!(outcome.is_ok(), "fuzz check failed on {}", file.display());
    }
}
