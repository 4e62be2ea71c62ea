//! `hetsim validate` and `hetsim expand` through the real binary.
//!
//! Every file in `tests/bad_inputs/` starts with comment lines that say what it must produce:
//! `# expect: <text>` (one or more; each must appear in stderr), `# line: N` (the line the first
//! error points at) and optionally `# errors: N` (how many errors are reported). A few inputs
//! that cannot be committed (a missing file, an empty file, a 50 MB file, a directory) are made
//! here in a temporary directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_hetsim");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn hetsim(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(root())
        .output()
        .expect("the hetsim binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// What a corpus file says it must produce.
#[derive(Debug, Default)]
struct Expectation {
    substrings: Vec<String>,
    line: Option<usize>,
    errors: Option<usize>,
}

fn expectation(path: &Path) -> Expectation {
    let bytes = std::fs::read(path).expect("corpus file is readable");
    let mut e = Expectation::default();
    // Annotations are the leading `#` lines; the rest of a file may be anything, even binary.
    for line in bytes.split(|&b| b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            break;
        };
        let Some(comment) = line.strip_prefix('#') else {
            break;
        };
        let comment = comment.trim();
        if let Some(s) = comment.strip_prefix("expect:") {
            e.substrings.push(s.trim().to_string());
        } else if let Some(n) = comment.strip_prefix("line:") {
            e.line = Some(n.trim().parse().expect("`# line:` holds a number"));
        } else if let Some(n) = comment.strip_prefix("errors:") {
            e.errors = Some(n.trim().parse().expect("`# errors:` holds a number"));
        }
    }
    e
}

/// The line numbers of the `error: FILE:LINE:COL: …` lines in stderr, for the given file name.
fn error_lines(stderr: &str, file: &str) -> Vec<usize> {
    let prefix = format!("error: {file}:");
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| rest.split(':').next()?.parse().ok())
        .collect()
}

/// Checks one bad input; returns a description of every way it falls short.
fn check_rejected(args: &[&str], file: &str, expected: &Expectation) -> Vec<String> {
    let out = hetsim(args);
    let stderr = text(&out.stderr);
    let stdout = text(&out.stdout);
    let mut problems = Vec::new();
    if out.status.code() != Some(2) {
        problems.push(format!("exit status {:?}, expected 2", out.status.code()));
    }
    if stderr.contains("panicked") || stderr.contains("RUST_BACKTRACE") {
        problems.push("panicked".into());
    }
    if !stdout.is_empty() {
        problems.push(format!("printed to stdout: {stdout}"));
    }
    for s in &expected.substrings {
        if !stderr.contains(s.as_str()) {
            problems.push(format!("stderr lacks `{s}`"));
        }
    }
    let lines = error_lines(&stderr, file);
    match (expected.line, lines.first()) {
        (Some(want), Some(&got)) if want != got => problems.push(format!(
            "first error is on line {got}, expected line {want}"
        )),
        (_, None) => problems.push(format!("no `error: {file}:LINE:` line")),
        _ => {}
    }
    if let Some(n) = expected.errors
        && lines.len() != n
    {
        problems.push(format!("{} errors reported, expected {n}", lines.len()));
    }
    if problems.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "hetsim {}: {}\n--- stderr ---\n{stderr}",
            args.join(" "),
            problems.join("; ")
        )]
    }
}

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("tests/bad_inputs"))
        .expect("tests/bad_inputs exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_bad_input_is_rejected_at_the_annotated_line() {
    let files = corpus();
    assert!(
        files.len() >= 25,
        "the corpus has only {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(root()).expect("inside the crate");
        let file = relative.to_str().expect("corpus file names are UTF-8");
        let expected = expectation(path);
        assert!(
            !expected.substrings.is_empty() && expected.line.is_some(),
            "{file} lacks `# expect:` or `# line:`"
        );
        failures.extend(check_rejected(&["validate", file], file, &expected));
        // `expand` reads the file the same way and must fail the same way.
        failures.extend(check_rejected(&["expand", file], file, &expected));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn inputs_that_cannot_be_committed_are_rejected() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    let mut failures = Vec::new();
    let mut expect = |file: &str, substring: &str| {
        let expected = Expectation {
            substrings: vec![substring.into()],
            line: Some(1),
            errors: Some(1),
        };
        failures.extend(check_rejected(&["validate", file], file, &expected));
    };

    let missing = path("no_such_circuit.yaml");
    expect(&missing, "cannot read the file");

    let empty = path("empty.yaml");
    std::fs::write(&empty, "").unwrap();
    expect(&empty, "the file is empty");

    let blank = path("blank.yaml");
    std::fs::write(&blank, "\n   \n\t\n").unwrap();
    expect(&blank, "the file is empty");

    expect(dir.path().to_str().unwrap(), "is a directory");

    // 50 MB of plausible YAML: refused by size before it is read.
    let huge = path("huge.yaml");
    {
        use std::io::Write;
        let mut w = std::io::BufWriter::new(std::fs::File::create(&huge).unwrap());
        writeln!(w, "name: huge").unwrap();
        let line = format!("# {}\n", "padding ".repeat(12));
        for _ in 0..(50 * 1024 * 1024 / line.len() + 1) {
            w.write_all(line.as_bytes()).unwrap();
        }
    }
    assert!(std::fs::metadata(&huge).unwrap().len() >= 50 * 1024 * 1024);
    let started = std::time::Instant::now();
    expect(&huge, "circuit files are limited to 4 MiB");
    assert!(
        started.elapsed().as_secs() < 10,
        "a huge file is refused quickly"
    );

    // Nesting a million brackets deep: refused by the parser's depth limit, in linear time.
    let deep = path("deep.yaml");
    std::fs::write(&deep, format!("name: {}\n", "[".repeat(1_000_000))).unwrap();
    let started = std::time::Instant::now();
    expect(&deep, "recursion limit");
    assert!(
        started.elapsed().as_secs() < 20,
        "deep nesting is refused quickly"
    );

    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// For every task kind, a key that belongs only to other kinds is refused at its own line, in
/// words that name the key and the kind.
#[test]
fn a_key_of_another_task_kind_is_refused_at_its_line() {
    use hetsim::spec::TaskKindName;
    let dir = tempfile::tempdir().expect("temp dir");
    // A value of the right type for each kind-specific key, so that only the kind is wrong.
    let value = |field: &str| match field {
        "teacher" => "{uniform: [-1, 1]}",
        "hidden" | "classes" | "inputs" => "3",
        "separation" | "input_std" => "2.0",
        "path" => "data.csv",
        "classification" => "true",
        other => panic!("no example value for task key `{other}`"),
    };
    let mut failures = Vec::new();
    for kind in TaskKindName::ALL {
        let foreign = TaskKindName::ALL
            .iter()
            .flat_map(|k| k.fields().iter().copied())
            .find(|f| !kind.fields().contains(f))
            .expect("every kind lacks some other kind's key");
        let own = if kind == TaskKindName::Csv {
            "  path: data.csv\n"
        } else {
            ""
        };
        let yaml = format!(
            "name: wrong-key\ntime: {{dt: 0.1 ms, duration: 1 s}}\ntask:\n  kind: {}\n{own}  {foreign}: {}\n  stimulus: {{duration: 50 ms}}\npopulations:\n  x: {{role: input, size: 3}}\n  y: {{size: 2, tau: 5 ms}}\nprojections:\n  W1: {{from: x, to: y}}\n",
            kind.name(),
            value(foreign),
        );
        let line = yaml
            .lines()
            .position(|l| l.trim_start().starts_with(&format!("{foreign}:")))
            .unwrap()
            + 1;
        let file = dir.path().join(format!("{}.yaml", kind.name()));
        std::fs::write(&file, &yaml).unwrap();
        let file = file.to_str().unwrap();
        let out = hetsim(&["validate", file]);
        let stderr = text(&out.stderr);
        let message = format!("`{foreign}` does not apply to task kind `{}`", kind.name());
        let located = stderr
            .lines()
            .any(|l| l.starts_with(&format!("error: {file}:{line}:")) && l.contains(&message));
        if out.status.code() != Some(2) || !located {
            failures.push(format!(
                "kind `{}`, key `{foreign}`: expected exit 2 and `{message}` on line {line}, got {:?}:\n{stderr}",
                kind.name(),
                out.status.code()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn examples() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(root().join("circuits"))
        .expect("circuits/ exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| format!("circuits/{}", p.file_name().unwrap().to_str().unwrap()))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    files
}

#[test]
fn every_example_circuit_validates() {
    for file in examples() {
        let out = hetsim(&["validate", &file]);
        let stdout = text(&out.stdout);
        assert_eq!(out.status.code(), Some(0), "{file}: {}", text(&out.stderr));
        assert_eq!(stdout.lines().count(), 1, "{file}: one summary line");
        assert!(stdout.starts_with(&format!("{file}: ok")), "{stdout}");
    }
}

fn expand(file: &str) -> String {
    let out = hetsim(&["expand", file]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "expand {file}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn expand_is_idempotent_for_every_example() {
    let dir = tempfile::tempdir().expect("temp dir");
    for file in examples() {
        let once = expand(&file);
        let copy = dir.path().join("once.yaml");
        std::fs::write(&copy, &once).unwrap();
        let twice = expand(copy.to_str().unwrap());
        assert_eq!(
            once, twice,
            "expand(expand({file})) differs from expand({file})"
        );
        // The expanded file is a valid circuit in its own right.
        let out = hetsim(&["validate", copy.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    }
}

#[test]
fn the_hand_written_fa_circuit_expands_like_the_shorthand() {
    assert_eq!(
        expand("circuits/teacher_fa_explicit.yaml"),
        expand("circuits/teacher_fa.yaml")
    );
}

#[test]
fn dot_output_names_every_population() {
    for file in examples() {
        let out = hetsim(&["expand", "--dot", &file]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let dot = text(&out.stdout);
        assert!(dot.starts_with("digraph "), "{file}: {dot}");
        assert!(dot.trim_end().ends_with('}'), "{file}: {dot}");
        let (_, circuit) = hetsim::circuit::load(&root().join(&file)).expect("example loads");
        for p in &circuit.populations {
            assert!(
                dot.contains(&format!("\"{}\" [shape=", p.name)),
                "{file}: population `{}` is not a node:\n{dot}",
                p.name
            );
        }
        for pr in &circuit.projections {
            assert!(
                dot.contains(&format!("label=\"{}", pr.name)),
                "{file}: projection `{}` is not an edge:\n{dot}",
                pr.name
            );
        }
    }
}

#[test]
fn help_shows_examples() {
    // `sweep`, `evolve` and `devices` have no examples yet (they are not implemented).
    for args in [
        vec!["--help"],
        vec!["validate", "--help"],
        vec!["expand", "--help"],
        vec!["run", "--help"],
        vec!["compare", "--help"],
        vec!["plot", "--help"],
        vec!["bench", "--help"],
    ] {
        let out = hetsim(&args);
        assert_eq!(out.status.code(), Some(0), "hetsim {}", args.join(" "));
        let stdout = text(&out.stdout);
        assert!(
            stdout.contains("Examples:"),
            "hetsim {}: {stdout}",
            args.join(" ")
        );
    }
}
