//! Command-line conventions, through the real binary: `--version` with the commit, shell
//! completions and manual pages generated from the CLI definition (the shipped pages equal
//! the generated ones), results on stdout and everything else on stderr, `--quiet` and
//! `--verbose`, help for every argument, counted nouns, and no OpenCL compiler chatter.

mod common;

use clap::CommandFactory;
use common::hetsim;
use std::path::Path;
use std::process::Output;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn version_names_the_package_version_and_the_commit() {
    let o = hetsim(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    let expected = format!("hetsim {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(text.starts_with(&expected), "{text}");
    assert!(text.trim_end().ends_with(')'), "{text}");
}

#[test]
fn completions_are_printed_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = hetsim(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}: {}", stderr(&o));
        let text = stdout(&o);
        for word in ["compare", "validate", "seeds", "quiet"] {
            assert!(text.contains(word), "{shell}: no `{word}`");
        }
    }
    assert_eq!(hetsim(&["completions", "tcsh-ish"]).status.code(), Some(2));
}

#[test]
fn shipped_man_pages_equal_the_generated_ones() {
    let dir = tempfile::tempdir().unwrap();
    let o = hetsim(&["man", "--out", dir.path().to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut generated: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    generated.sort();
    let mut shipped: Vec<String> = std::fs::read_dir(root().join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    shipped.sort();
    let hint = "regenerate them with `hetsim man --out man`";
    assert_eq!(generated, shipped, "man/ lists other pages: {hint}");
    for name in &generated {
        let a = std::fs::read(dir.path().join(name)).unwrap();
        let b = std::fs::read(root().join("man").join(name)).unwrap();
        assert!(a == b, "man/{name} is out of date: {hint}");
    }
    // Without --out, the main page on stdout.
    let o = hetsim(&["man"]);
    assert_eq!(
        o.stdout,
        std::fs::read(root().join("man/hetsim.1")).unwrap()
    );
    assert!(stdout(&o).contains("hetsim\\-compare(1)"));
}

#[test]
fn every_argument_has_help() {
    fn check(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let builtin = matches!(arg.get_id().as_str(), "help" | "version");
            if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                missing.push(format!("{path} {}", arg.get_id()));
            }
        }
        for sub in cmd.get_subcommands() {
            if sub.get_about().is_none() {
                missing.push(format!("{path} {} (the command itself)", sub.get_name()));
            }
            check(sub, &format!("{path} {}", sub.get_name()), missing);
        }
    }
    let mut missing = Vec::new();
    check(&hetsim::cli::Cli::command(), "hetsim", &mut missing);
    assert!(missing.is_empty(), "arguments without help: {missing:?}");
}

#[test]
fn help_cites_no_document_outside_the_repository() {
    for args in [
        vec!["--help"],
        vec!["bench", "--help"],
        vec!["run", "--help"],
        vec!["evolve", "--help"],
    ] {
        let text = stdout(&hetsim(&args));
        assert!(!text.contains("DESIGN"), "{args:?}: {text}");
    }
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert!(!readme.contains("DESIGN"), "README cites DESIGN");
}

#[test]
fn counted_nouns_agree_with_their_numbers() {
    let o = hetsim(&["validate", "circuits/oja.yaml"]);
    let text = stdout(&o);
    assert!(
        text.contains("2 populations, 1 projection (1 plastic), 1 motif, 5 synapses"),
        "{text}"
    );
}

/// A short cpu run into a fresh directory, with extra arguments.
fn short_run(extra: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("run");
    let mut args = vec![
        "run",
        "circuits/teacher_fa.yaml",
        "--backend",
        "cpu",
        "--duration",
        "0.3s",
        "--no-plots",
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let o = hetsim(&args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    o
}

#[test]
fn results_go_to_stdout_and_messages_to_stderr() {
    let o = short_run(&[]);
    let (out, err) = (stdout(&o), stderr(&o));
    assert!(out.contains("run directory: "), "{out}");
    assert!(out.contains("1 instance, 0.3 s simulated"), "{out}");
    assert!(
        out.lines().any(|l| l.starts_with("rule ")),
        "the table: {out}"
    );
    assert!(!out.contains("hetsim: "), "a note on stdout: {out}");
    assert!(
        err.contains("hetsim: 1 instance of `teacher-fa` on cpu"),
        "{err}"
    );
    assert!(!err.contains("run directory"), "a result on stderr: {err}");

    let o = hetsim(&["validate", "circuits/teacher_fa.yaml"]);
    assert!(stdout(&o).contains(": ok — "));
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    let o = hetsim(&["validate", "tests/bad_inputs/unknown_activation.yaml"]);
    assert!(o.stdout.is_empty() && !o.stderr.is_empty());
}

#[test]
fn quiet_leaves_only_results_and_verbose_adds_details() {
    let o = short_run(&["--quiet"]);
    assert!(o.stderr.is_empty(), "--quiet printed: {}", stderr(&o));
    assert!(stdout(&o).contains("run directory: "));
    // A global flag: accepted before the command too.
    let o = hetsim(&["-q", "validate", "circuits/oja.yaml"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty());

    let o = short_run(&["--verbose"]);
    let err = stderr(&o);
    assert!(err.contains("3000 steps of dt = 0.1 ms"), "{err}");
    assert!(err.contains("per instance, recorded every 100 ms"), "{err}");
    assert_eq!(
        hetsim(&["--quiet", "--verbose", "devices"]).status.code(),
        Some(2)
    );
}

/// Whether an OpenCL device is there to compile for.
fn opencl_device() -> bool {
    hetsim::backend::opencl::device().is_ok()
}

#[test]
fn opencl_compiler_chatter_stays_off_the_terminal() {
    if !opencl_device() {
        eprintln!("skipped: no OpenCL device");
        return;
    }
    // 64 instances give 16-wide vectors, on which PoCL comments most; a fresh kernel cache
    // makes it compile.
    let run = |options: Option<&str>| {
        let cache = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("run");
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hetsim"));
        cmd.current_dir(root())
            .env("POCL_CACHE_DIR", cache.path())
            .args(["run", "circuits/teacher_fa.yaml", "--backend", "opencl"])
            .args([
                "--seeds",
                "64",
                "--duration",
                "0.01s",
                "--no-plots",
                "--out",
            ])
            .arg(&out);
        if let Some(o) = options {
            cmd.env("HETSIM_OPENCL_BUILD_OPTIONS", o);
        }
        let o = cmd.output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        stderr(&o)
    };
    let err = run(None);
    assert!(!err.contains("generated"), "compiler chatter: {err}");
    assert!(!err.contains("warning"), "compiler chatter: {err}");
    // With the compiler's warnings on, the only ones are PoCL's notes on the calling
    // convention of 16-wide vectors (no AVX-512), none about the kernels' own code.
    let err = run(Some(""));
    let own: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("warning:") && !l.contains("changes the ABI"))
        .collect();
    assert!(own.is_empty(), "the kernels' warnings: {own:#?}");
}
