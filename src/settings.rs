//! How a job runs, resolved once: the backend, the precision, the CPU's vector level, the memory
//! budget, the thread count and the OpenCL options, as one [`Settings`] value.
//!
//! Each setting may come from an explicit value (a command-line option, a Python argument), from
//! the environment, or from a default, in that order. [`Settings::resolve`] applies that order in
//! one place, reading the environment through a lookup it is given ([`process_environment`] for
//! the real one, a map in tests), and refuses a bad value with a message naming the option or the
//! variable it came from. The front ends (`cli`, the Python extension) resolve the settings and
//! hand them on; nothing below them reads these variables. The backend's part
//! (`backend::Options`) travels in the requests to `backend::make`, and the memory budget
//! (`circuit::budget::Budget`) in the requests to every check of sizes (circuit checks, readers
//! of saved weights, `Plan::within`, sweeps and evolutions).
//!
//! The variables: `HETSIM_SIMD` (`auto`, `baseline`, `avx2`, `avx512`), `HETSIM_MEMORY_BUDGET`
//! (`8GiB`, `500MB`, bytes), `HETSIM_OPENCL_DEVICE` (a number from `hetsim devices`),
//! `HETSIM_OPENCL_LAYOUT` (`auto`, `ensemble`, `rows`) and `HETSIM_OPENCL_BUILD_OPTIONS` (the
//! OpenCL compiler's options, replacing the quiet default). The thread count has no variable of
//! its own: without `--threads` the work runs on rayon's global pool, which reads
//! `RAYON_NUM_THREADS` itself.

use crate::backend::opencl::{self, Layout};
use crate::backend::{self, BackendKind, Precision};
use crate::circuit::budget::{BUDGET_ENV, Budget, BudgetSetting, BudgetSource, MemoryBudget};
use crate::experiment::Threads;
use crate::simd::Simd;

/// The variable naming the OpenCL device by its number in `hetsim devices`.
pub const OPENCL_DEVICE_ENV: &str = "HETSIM_OPENCL_DEVICE";
/// The variable choosing the OpenCL layout (`auto`, `ensemble`, `rows`).
pub const OPENCL_LAYOUT_ENV: &str = "HETSIM_OPENCL_LAYOUT";
/// The variable replacing the OpenCL compiler's options.
pub const OPENCL_BUILD_OPTIONS_ENV: &str = "HETSIM_OPENCL_BUILD_OPTIONS";

/// Everything that says how a job runs rather than what it computes.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub backend: BackendKind,
    /// None: f64 on the CPU (the reference), f32 on OpenCL devices.
    pub precision: Option<Precision>,
    /// The memory budget: one that was set, and where (the option or the variable), or the
    /// machine's default, worked out where it is checked (it depends on what the process has
    /// mapped).
    pub budget: Budget,
    pub threads: Threads,
    /// The vector level (`HETSIM_SIMD`) and the OpenCL options, which travel in the requests
    /// to `backend::make`.
    pub backend_options: backend::Options,
}

/// The values given explicitly (command-line options, Python arguments), as text where the
/// front end takes text, so that every front end gets the same parsing and the same messages.
#[derive(Clone, Debug, Default)]
pub struct Explicit<'a> {
    /// `--backend` (`auto`, `cpu`, `opencl`).
    pub backend: Option<&'a str>,
    /// `--precision` (`auto`, `f32`, `f64`).
    pub precision: Option<&'a str>,
    /// `--memory-budget`.
    pub memory_budget: Option<&'a str>,
    /// `--threads`, already parsed by the front end.
    pub threads: Option<Threads>,
}

impl Default for Settings {
    /// The CPU in its reference precision at the automatic vector level, the machine's budget,
    /// rayon's pool, the OpenCL defaults: what a library caller gets without asking.
    fn default() -> Settings {
        Settings {
            backend: BackendKind::Cpu,
            precision: None,
            budget: Budget::machine(),
            threads: Threads::DEFAULT,
            backend_options: backend::Options::default(),
        }
    }
}

/// The process's own environment, for [`Settings::resolve`] (the one place it is read).
pub fn process_environment(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl Settings {
    /// The settings from `explicit` values over the environment (read through `env`) over the
    /// defaults. The backend defaults to `auto` here, as on the command line. A bad value is an
    /// error naming the option (`--memory-budget: …`) or the variable
    /// (`HETSIM_MEMORY_BUDGET=lots: …`) it came from.
    pub fn resolve(
        explicit: &Explicit<'_>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, String> {
        let backend = match explicit.backend {
            None => BackendKind::Auto,
            Some(text) => text
                .parse()
                .map_err(|e: String| format!("--backend: {e}"))?,
        };
        let precision = match explicit.precision {
            None | Some("auto") => None,
            Some(text) => Some(
                Precision::parse(text)
                    .ok_or_else(|| format!("--precision must be auto, f32 or f64, not `{text}`"))?,
            ),
        };
        let simd =
            Simd::from_setting(env(crate::simd::ENV).as_deref()).map_err(|e| e.to_string())?;
        let budget = match explicit.memory_budget {
            Some(text) => Budget::set(
                MemoryBudget::parse(text).map_err(|e| format!("--memory-budget: {e}"))?,
                BudgetSource::Override,
            ),
            None => Budget::from_setting(Ok(environment_budget(env)?)),
        };
        Ok(Settings {
            backend,
            precision,
            budget,
            threads: explicit.threads.unwrap_or(Threads::DEFAULT),
            backend_options: backend::Options {
                simd,
                opencl: opencl_options(env)?,
            },
        })
    }
}

/// The budget `HETSIM_MEMORY_BUDGET` sets, if any, or why it does not parse (naming it). The
/// command line's `validate` and `expand`, which take no `--memory-budget`, check circuits
/// against it.
pub fn environment_budget(env: &dyn Fn(&str) -> Option<String>) -> BudgetSetting {
    let Some(text) = env(BUDGET_ENV) else {
        return Ok(None);
    };
    let budget = MemoryBudget::parse(&text).map_err(|e| format!("{BUDGET_ENV}={text}: {e}"))?;
    Ok(Some((budget, BudgetSource::Environment(text))))
}

/// The OpenCL options from the environment (they have no command-line options).
fn opencl_options(env: &dyn Fn(&str) -> Option<String>) -> Result<opencl::Options, String> {
    let device = match env(OPENCL_DEVICE_ENV) {
        None => None,
        Some(v) => Some(v.trim().parse().map_err(|_| {
            format!("{OPENCL_DEVICE_ENV} must be a device number from `hetsim devices`, not `{v}`")
        })?),
    };
    let layout = match env(OPENCL_LAYOUT_ENV).as_deref() {
        None | Some("auto") => Layout::Auto,
        Some("ensemble") => Layout::Ensemble,
        Some("rows") => Layout::Rows,
        Some(other) => {
            return Err(format!(
                "{OPENCL_LAYOUT_ENV} must be auto, ensemble or rows, not `{other}`"
            ));
        }
    };
    Ok(opencl::Options {
        device,
        layout,
        build_options: env(OPENCL_BUILD_OPTIONS_ENV),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn defaults_without_options_or_variables() {
        let s = Settings::resolve(&Explicit::default(), &env(&[])).unwrap();
        assert_eq!(s.backend, BackendKind::Auto);
        assert_eq!(s.precision, None);
        assert_eq!(s.budget, Budget::machine());
        assert_eq!(s.threads, Threads::DEFAULT);
        assert_eq!(s.backend_options, backend::Options::default());
        assert_eq!(s.backend_options.simd, Simd::auto());
    }

    #[test]
    fn explicit_values_are_parsed() {
        let explicit = Explicit {
            backend: Some("cpu"),
            precision: Some("f32"),
            memory_budget: Some("2GiB"),
            threads: Some(Threads::exactly(3).unwrap()),
        };
        let s = Settings::resolve(&explicit, &env(&[])).unwrap();
        assert_eq!(s.backend, BackendKind::Cpu);
        assert_eq!(s.precision, Some(Precision::F32));
        assert_eq!(s.budget, Budget::exactly(MemoryBudget { bytes: 2 << 30 }));
        assert_eq!(s.threads.count(), Some(3));
    }

    #[test]
    fn the_budget_option_wins_over_the_variable() {
        let explicit = Explicit {
            memory_budget: Some("1MB"),
            ..Explicit::default()
        };
        let s = Settings::resolve(&explicit, &env(&[(BUDGET_ENV, "64GiB")])).unwrap();
        assert_eq!(s.budget, Budget::exactly(MemoryBudget { bytes: 1_000_000 }));
        // The option wins even over a variable that would not parse.
        assert!(Settings::resolve(&explicit, &env(&[(BUDGET_ENV, "lots")])).is_ok());
        let s = Settings::resolve(&Explicit::default(), &env(&[(BUDGET_ENV, "500MB")])).unwrap();
        assert_eq!(
            s.budget,
            Budget::set(
                MemoryBudget { bytes: 500_000_000 },
                BudgetSource::Environment("500MB".into())
            )
        );
    }

    #[test]
    fn bad_values_name_their_option_or_variable() {
        let bad = |explicit: Explicit<'_>, pairs: &[(&str, &str)]| {
            Settings::resolve(&explicit, &env(pairs)).unwrap_err()
        };
        let e = bad(Explicit::default(), &[(BUDGET_ENV, "lots")]);
        assert!(e.starts_with("HETSIM_MEMORY_BUDGET=lots: "), "{e}");
        assert!(e.contains("`lots` is not a size"), "{e}");
        let e = bad(
            Explicit {
                memory_budget: Some("0"),
                ..Explicit::default()
            },
            &[],
        );
        assert!(e.starts_with("--memory-budget: "), "{e}");
        let e = bad(
            Explicit {
                backend: Some("gpu"),
                ..Explicit::default()
            },
            &[],
        );
        assert_eq!(
            e,
            "--backend: the backend must be auto, cpu or opencl, not `gpu`"
        );
        let e = bad(
            Explicit {
                precision: Some("f16"),
                ..Explicit::default()
            },
            &[],
        );
        assert_eq!(e, "--precision must be auto, f32 or f64, not `f16`");
        let e = bad(Explicit::default(), &[("HETSIM_SIMD", "mmx")]);
        assert!(e.starts_with("HETSIM_SIMD=\"mmx\""), "{e}");
        let e = bad(Explicit::default(), &[(OPENCL_LAYOUT_ENV, "columns")]);
        assert_eq!(
            e,
            "HETSIM_OPENCL_LAYOUT must be auto, ensemble or rows, not `columns`"
        );
        let e = bad(Explicit::default(), &[(OPENCL_DEVICE_ENV, "first")]);
        assert!(
            e.starts_with("HETSIM_OPENCL_DEVICE must be a device number"),
            "{e}"
        );
    }

    #[test]
    fn opencl_options_come_from_the_environment() {
        let s = Settings::resolve(
            &Explicit::default(),
            &env(&[
                (OPENCL_DEVICE_ENV, " 1 "),
                (OPENCL_LAYOUT_ENV, "rows"),
                (OPENCL_BUILD_OPTIONS_ENV, ""),
                ("HETSIM_SIMD", "baseline"),
            ]),
        )
        .unwrap();
        assert_eq!(
            s.backend_options.opencl,
            opencl::Options {
                device: Some(1),
                layout: Layout::Rows,
                build_options: Some(String::new()),
            }
        );
        assert_eq!(s.backend_options.simd.level(), crate::simd::Level::Baseline);
    }

    /// Below the front ends nothing reads the environment: `std::env::var` appears only in
    /// `cli`, in this module and in tests (the Python extension is a crate of its own).
    #[test]
    fn no_environment_reads_below_the_front_ends() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut found = Vec::new();
        let mut stack = vec![root.clone()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                let rel = path
                    .strip_prefix(&root)
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                if path.is_dir() {
                    if rel != "cli" {
                        stack.push(path);
                    }
                    continue;
                }
                if rel == "settings.rs" || !rel.ends_with(".rs") {
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Test modules (a `tests.rs`, or what follows `#[cfg(test)]`) may read it.
                let body = text.split("#[cfg(test)]").next().unwrap_or("");
                if rel.ends_with("tests.rs") {
                    continue;
                }
                for pattern in ["env::var(", "env::var_os("] {
                    if body.contains(pattern) {
                        found.push(format!("{rel}: {pattern}"));
                    }
                }
            }
        }
        // What still reads its variable itself, until its value travels in the request.
        let known: [&str; 0] = [];
        assert_eq!(found, known, "environment read below the front ends");
    }
}
