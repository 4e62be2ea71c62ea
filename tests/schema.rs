//! The JSON Schemas in `schema/`: they are exactly what `hetsim schema` generates from the
//! loader's serde types, every shipped circuit and evolution file names one in its first line
//! and passes it, and they refuse what the loader refuses on form (unknown keys, times without
//! units, unknown names).

mod common;

use common::hetsim;
use hetsim::schema::{FileKind, schema_json};
use serde_json::Value;
use std::path::{Path, PathBuf};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn validator(kind: FileKind) -> jsonschema::Validator {
    let text = schema_json(kind).expect("a schema");
    let schema: Value = serde_json::from_str(&text).expect("the schema is JSON");
    jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema")
}

/// A YAML text as the JSON value a schema checks, read as YAML 1.2 reads it (as editors do):
/// `y` is a population's name, not the YAML 1.1 boolean `true`.
fn yaml_value(text: &str) -> Value {
    let mut options = serde_saphyr::Options::default();
    options.strict_booleans = true;
    serde_saphyr::from_str_with_options(text, options).unwrap_or_else(|e| panic!("{e}"))
}

/// Every way `value` breaks the schema, one line each.
fn violations(v: &jsonschema::Validator, value: &Value) -> Vec<String> {
    v.iter_errors(value)
        .map(|e| format!("{} (at `{}`)", e, e.instance_path()))
        .collect()
}

fn yaml_files(dir: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join(dir))
        .expect("directory exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{dir} holds YAML files");
    files
}

#[test]
fn shipped_schemas_equal_the_generated_ones() {
    let mut checked = 0;
    for kind in FileKind::ALL {
        let Some(generated) = schema_json(kind) else {
            continue;
        };
        let path = root().join(kind.shipped_path());
        assert!(
            read(&path) == generated,
            "{} is out of date: regenerate it with `hetsim schema {} > {}`",
            path.display(),
            kind.name(),
            kind.shipped_path()
        );
        checked += 1;
    }
    assert!(
        checked >= 3,
        "circuit, evolve and sweep schemas are generated"
    );
}

#[test]
fn schema_command_prints_the_shipped_file_on_stdout() {
    for kind in ["circuit", "evolve"] {
        let out = hetsim(&["schema", kind]);
        assert_eq!(out.status.code(), Some(0));
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let shipped = read(&root().join(format!("schema/{kind}.schema.json")));
        assert_eq!(String::from_utf8_lossy(&out.stdout), shipped);
    }
    let out = hetsim(&["schema", "nonsense"]);
    assert_eq!(out.status.code(), Some(2));
}

/// The schema a YAML file names in its first line, `# yaml-language-server: $schema=…`.
fn named_schema(file: &Path) -> FileKind {
    let text = read(file);
    let first = text.lines().next().unwrap_or_default();
    let target = first
        .strip_prefix("# yaml-language-server: $schema=")
        .unwrap_or_else(|| {
            panic!(
                "{}: the first line names no schema: {first}",
                file.display()
            )
        });
    let resolved = file.parent().unwrap().join(target);
    assert!(
        resolved.exists(),
        "{}: {target} does not exist",
        file.display()
    );
    FileKind::ALL
        .into_iter()
        .find(|k| target.ends_with(&format!("{}.schema.json", k.name())))
        .unwrap_or_else(|| panic!("{}: unknown schema {target}", file.display()))
}

#[test]
fn every_shipped_circuit_and_config_passes_the_schema_it_names() {
    let mut files = yaml_files("circuits");
    files.extend(yaml_files("configs"));
    for file in files {
        let kind = named_schema(&file);
        let text = read(&file);
        let expected = if file.parent().unwrap().ends_with("circuits") {
            FileKind::Circuit
        } else if text.contains("\naxes:") {
            FileKind::Sweep
        } else {
            FileKind::Evolve
        };
        assert_eq!(kind, expected, "{}", file.display());
        let problems = violations(&validator(kind), &yaml_value(&text));
        assert!(problems.is_empty(), "{}: {problems:#?}", file.display());
    }
}

#[test]
fn expanded_circuits_pass_the_circuit_schema() {
    // `hetsim expand` writes what the serde types serialise; the schema must accept it too.
    let v = validator(FileKind::Circuit);
    for file in yaml_files("circuits") {
        let out = hetsim(&["expand", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0));
        let problems = violations(&v, &yaml_value(&String::from_utf8_lossy(&out.stdout)));
        assert!(problems.is_empty(), "{}: {problems:#?}", file.display());
    }
}

#[test]
fn the_schema_refuses_what_the_loader_refuses_on_form() {
    let v = validator(FileKind::Circuit);
    let good = read(&root().join("circuits/teacher_fa.yaml"));
    assert!(violations(&v, &yaml_value(&good)).is_empty());
    for (from, to, why) in [
        ("tau_w: 2 s", "tau_w: 2", "a time without a unit"),
        ("tau_w: 2 s", "tau_w: 2 parsecs", "an unknown unit"),
        ("tau_w: 2 s", "tau_w: -2 s", "a negative time"),
        ("rule: fa", "rule: fancy", "an unknown rule"),
        (
            "held_out: 200",
            "held_out: 200\n  helt_out: 3",
            "an unknown key",
        ),
        ("size: 30", "size: thirty", "a size that is not a number"),
        (
            "init: {uniform: [-0.01, 0.01]}}",
            "init: {uniforme: [-0.01, 0.01]}}",
            "an unknown distribution",
        ),
    ] {
        assert!(good.contains(from), "{from}");
        let bad = good.replacen(from, to, 1);
        assert!(
            !violations(&v, &yaml_value(&bad)).is_empty(),
            "the schema accepts {why}"
        );
    }
}

#[test]
fn the_time_pattern_agrees_with_the_parser() {
    let v = validator(FileKind::Circuit);
    let good = read(&root().join("circuits/teacher_fa.yaml"));
    for text in [
        "0.1 ms",
        "50ms",
        "2 s",
        "10 min",
        "3 us",
        "1.5 h",
        "2e0 s",
        "1e-3 s",
        "5E2ms",
        "0 ms",
        "5",
        "-1 ms",
        "abc ms",
        "5 parsecs",
        "1e3",
        "1 hr",
        "2 sec",
        ".5 s",
        "1. s",
    ] {
        let parsed = hetsim::spec::Time::parse(text).is_ok();
        let value = yaml_value(&good.replacen("tau_w: 2 s", &format!("tau_w: \"{text}\""), 1));
        let accepted = violations(&v, &value).is_empty();
        assert_eq!(
            accepted, parsed,
            "`{text}`: schema {accepted}, parser {parsed}"
        );
    }
}
