//! Which vector instructions the CPU engine runs, chosen when the program starts rather than
//! when it is built, so one binary runs on every x86-64 CPU and uses the widest instructions
//! the machine has.
//!
//! The engine's loops are plain Rust written to vectorise (`[T; L]` lane loops, 16 partial
//! sums per dot product). [`Simd::run`] calls a closure through a function compiled with the
//! chosen target features; the closure and everything it inlines are compiled again for each
//! level, so the hot paths are `#[inline(always)]` down to their loops, and each parallel task
//! enters `run` again (a closure handed to rayon is compiled where it is written, not where it
//! runs).
//!
//! Results do not depend on the level: the compiler never contracts a·b + c into a fused
//! multiply-add (Rust does not), every reduction has a fixed order, and an explicit `mul_add` is
//! fused on every level (a call to libm's `fma` where the instructions lack it — slow, so the
//! engine and its measurements write none; the bench's FMA ceiling does).
//! `tests/simd_levels.rs` checks the engine bit for bit across the levels this CPU has.
//!
//! `HETSIM_SIMD` (`auto`, `baseline`, `avx2`, `avx512`) chooses a level by hand, read with the
//! other settings (`settings`) and handed to the backend; a level the CPU lacks is refused with
//! an error, never run.

use std::fmt;

/// The environment variable that chooses a level by hand.
pub const ENV: &str = "HETSIM_SIMD";

/// The instruction sets the engine is compiled for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// The build target's own: SSE2 on x86-64, NEON on aarch64 (what every CPU of the
    /// architecture runs).
    Baseline,
    /// x86-64-v3: AVX2 with FMA, BMI1/2, LZCNT, MOVBE (256-bit vectors).
    Avx2,
    /// x86-64 AVX-512 F/VL/BW/DQ with AVX2 and FMA (512-bit vectors).
    Avx512,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Baseline, Level::Avx2, Level::Avx512];

    pub fn name(self) -> &'static str {
        match self {
            Level::Baseline => BASELINE_NAME,
            Level::Avx2 => "avx2",
            Level::Avx512 => "avx512",
        }
    }

    /// Whether this CPU runs the level's instructions.
    pub fn supported(self) -> bool {
        match self {
            Level::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                use std::arch::is_x86_feature_detected as has;
                has!("avx2")
                    && has!("fma")
                    && has!("bmi1")
                    && has!("bmi2")
                    && has!("lzcnt")
                    && has!("movbe")
                    && has!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => {
                Level::Avx2.supported()
                    && std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512dq")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }
}

#[cfg(target_arch = "x86_64")]
const BASELINE_NAME: &str = "baseline (sse2)";
#[cfg(target_arch = "aarch64")]
const BASELINE_NAME: &str = "baseline (neon)";
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const BASELINE_NAME: &str = "baseline";

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A level this CPU has been checked to run: the only way to reach code compiled for it.
///
/// It carries a second level for the noise normals ([`Simd::noise`]): under `auto` the widest
/// the CPU has, since drawing normals is register arithmetic that AVX-512 speeds up even where
/// the engine's memory loops are better left at AVX2; a level named by hand is used for both.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Simd {
    level: Level,
    noise: Level,
}

/// A level asked for by name that cannot run here.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimdError {
    #[error("{ENV}={value:?} is not a vector level (use auto, baseline, avx2 or avx512)")]
    Unknown { value: String },
    #[error("{ENV} asks for {level}, which this CPU ({cpu}) does not have; it has {have}")]
    Unsupported {
        level: Level,
        cpu: String,
        have: String,
    },
}

impl Simd {
    /// The level `auto` runs: AVX2 + FMA where the CPU has it, else the baseline.
    ///
    /// Not AVX-512 by default: with AVX-512 enabled (`target-cpu=native` on an AVX-512 EPYC)
    /// LLVM vectorised the ensemble's weight update across synapses with gathers and W1 ran at
    /// half the AVX2 speed (1.8e9 against 3.1–3.6e9 synapse-steps/s). It stays one `HETSIM_SIMD`
    /// away, and `hetsim bench` reports the level it ran.
    ///
    /// The noise normals run at AVX-512 where the CPU has it (W3's normals 18% faster on an
    /// AVX-512 EPYC; the same numbers, see [`Simd::noise`]).
    pub fn auto() -> Simd {
        let level = if Level::Avx2.supported() {
            Level::Avx2
        } else {
            Level::Baseline
        };
        let noise = if Level::Avx512.supported() {
            Level::Avx512
        } else {
            level
        };
        Simd { level, noise }
    }

    /// `level`, if this CPU runs it.
    pub fn new(level: Level) -> Result<Simd, SimdError> {
        if level.supported() {
            Ok(Simd::single(level))
        } else {
            Err(SimdError::Unsupported {
                level,
                cpu: cpu_model(),
                have: Simd::available()
                    .iter()
                    .map(|s| s.level().name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
        }
    }

    /// The level a `HETSIM_SIMD` value names (`auto` or unset: [`Simd::auto`]).
    pub fn from_setting(value: Option<&str>) -> Result<Simd, SimdError> {
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            return Ok(Simd::auto());
        };
        let level = match value.to_ascii_lowercase().as_str() {
            "auto" => return Ok(Simd::auto()),
            "baseline" | "sse2" | "neon" | "portable" => Level::Baseline,
            "avx2" | "x86-64-v3" => Level::Avx2,
            "avx512" | "avx-512" | "x86-64-v4" => Level::Avx512,
            _ => {
                return Err(SimdError::Unknown {
                    value: value.to_string(),
                });
            }
        };
        Simd::new(level)
    }

    /// Every level this CPU runs, narrowest first.
    pub fn available() -> Vec<Simd> {
        Level::ALL
            .into_iter()
            .filter(|l| l.supported())
            .map(Simd::single)
            .collect()
    }

    /// `level` for the step and the noise alike (callers have checked that the CPU runs it).
    fn single(level: Level) -> Simd {
        Simd {
            level,
            noise: level,
        }
    }

    pub fn level(self) -> Level {
        self.level
    }

    /// The level the noise normals are drawn at (`crate::normals`: additions, multiplications,
    /// a division and a square root, no fused operations, so the same numbers on every level).
    pub fn noise(self) -> Simd {
        Simd::single(self.noise)
    }

    /// Calls `f` compiled for this level: `f` and all it inlines use its instructions.
    #[inline(always)]
    pub fn run<R>(self, f: impl FnOnce() -> R) -> R {
        match self.level {
            // SAFETY: a `Simd` holds a level only after `Level::supported` confirmed that this
            // CPU has its features (`Simd::new`, `Simd::auto`, `Simd::available`).
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => unsafe { with_avx2(f) },
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => unsafe { with_avx512(f) },
            _ => f(),
        }
    }
}

impl fmt::Display for Simd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.level.fmt(f)?;
        if self.noise != self.level {
            write!(f, ", noise {}", self.noise)?;
        }
        Ok(())
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,bmi1,bmi2,lzcnt,movbe,popcnt")]
unsafe fn with_avx2<R>(f: impl FnOnce() -> R) -> R {
    f()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(
    enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi1,bmi2,lzcnt,movbe,popcnt"
)]
unsafe fn with_avx512<R>(f: impl FnOnce() -> R) -> R {
    f()
}

/// The CPU's model name (from /proc/cpuinfo on Linux), else the architecture.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name") || l.starts_with("Model"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_name_levels_and_refuse_what_is_not_one() {
        assert_eq!(Simd::from_setting(None), Ok(Simd::auto()));
        assert_eq!(Simd::from_setting(Some(" AUTO ")), Ok(Simd::auto()));
        assert_eq!(
            Simd::from_setting(Some("baseline")).map(Simd::level),
            Ok(Level::Baseline)
        );
        let err = Simd::from_setting(Some("avx9")).unwrap_err();
        assert!(err.to_string().contains("HETSIM_SIMD=\"avx9\""), "{err}");
        for level in [Level::Avx2, Level::Avx512] {
            match Simd::from_setting(Some(level.name())) {
                Ok(s) => assert!(s.level() == level && level.supported()),
                Err(e) => {
                    assert!(!level.supported());
                    assert!(e.to_string().contains("does not have"), "{e}");
                }
            }
        }
    }

    /// `auto` is a level the CPU has, and the baseline always is.
    #[test]
    fn auto_and_baseline_run_here() {
        assert!(Simd::auto().level().supported());
        assert_eq!(Simd::available()[0].level(), Level::Baseline);
        for s in Simd::available() {
            // An explicit fma is fused on every level (libm's where the level lacks FMA).
            let (a, b, c) = (
                std::hint::black_box(1.0f64 + f64::EPSILON),
                std::hint::black_box(1.0f64 - f64::EPSILON),
                std::hint::black_box(-1.0f64),
            );
            assert_eq!(
                s.run(
                    #[inline(always)]
                    || a.mul_add(b, c)
                ),
                -f64::EPSILON * f64::EPSILON
            );
        }
    }
}
