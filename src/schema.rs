//! JSON Schemas of the project's file formats, generated from the serde types the loaders use
//! (`spec::CircuitSpec`, `evolve::spec::EvolveSpec`), so that an editor's completion and
//! checking cannot drift from what `hetsim` accepts.
//!
//! The schemas ship in `schema/` (YAML files point at them with a `yaml-language-server`
//! comment); `hetsim schema KIND` prints the same text, and a test checks the shipped files
//! equal it. A schema checks the form of a file (keys, types, units, enum names); meaning
//! (names that resolve, matching sizes, stable time steps) is checked by `hetsim validate`.

use schemars::generate::SchemaSettings;

/// A kind of YAML file hetsim reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Circuit,
    Evolve,
    Sweep,
}

impl FileKind {
    pub const ALL: [FileKind; 3] = [FileKind::Circuit, FileKind::Evolve, FileKind::Sweep];

    pub fn name(self) -> &'static str {
        match self {
            FileKind::Circuit => "circuit",
            FileKind::Evolve => "evolve",
            FileKind::Sweep => "sweep",
        }
    }

    /// Where the shipped schema lives, relative to the repository root.
    pub fn shipped_path(self) -> String {
        format!("schema/{}.schema.json", self.name())
    }
}

/// The schema of `kind`'s files as pretty-printed JSON with a final newline, or `None` for a
/// format that has no schema yet.
pub fn schema_json(kind: FileKind) -> Option<String> {
    let generator = SchemaSettings::draft2020_12().into_generator();
    let mut schema = match kind {
        FileKind::Circuit => generator.into_root_schema_for::<crate::spec::CircuitSpec>(),
        FileKind::Evolve => generator.into_root_schema_for::<crate::evolve::spec::EvolveSpec>(),
        FileKind::Sweep => generator.into_root_schema_for::<crate::sweep::SweepSpec>(),
    };
    schema.insert("title".into(), title(kind).into());
    let mut text = serde_json::to_string_pretty(&schema).ok()?;
    text.push('\n');
    Some(text)
}

fn title(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Circuit => "hetsim circuit file",
        FileKind::Evolve => "hetsim evolution file",
        FileKind::Sweep => "hetsim sweep file",
    }
}
