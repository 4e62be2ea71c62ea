//! Every size an evolution file can ask for — the population, members × seeds, the rows the
//! tables will hold, the search-space dimension and the strategy's buffers (CMA-ES keeps n × n
//! matrices) — computed with checked arithmetic and refused against a stated maximum and the
//! memory budget (`circuit::budget`) before the strategy or the first ensemble allocates
//! anything. Every refusal is located in the evolution file (or names `--generations`).

use super::error::EvolveError;
use super::spec::{EvolveSpec, FreeParameter, StrategySpec, Tasks};
use crate::circuit::Circuit;
use crate::circuit::budget::{Budget, MemoryBudget, check_instances, human_bytes};
use crate::spec::{Diagnostics, SourceFile, YamlPath};
use crate::text::count;

/// The most members one generation may have (`population`, or a random search's `batch`).
pub const MAX_POPULATION: usize = 1 << 20;

/// The most seeds per member.
pub const MAX_SEEDS_PER_MEMBER: usize = 1 << 20;

/// The most instances one generation's ensemble may have (members × seeds).
pub const MAX_INSTANCES: usize = 1 << 24;

/// The most free parameters (the search-space dimension n).
pub const MAX_FREE_PARAMETERS: usize = 10_000;

/// The most generations (rows of `generations.csv`, which the figures read whole).
pub const MAX_GENERATIONS: u64 = 1_000_000;

/// The most rows `population.csv` may reach (generations × members, or a random search's
/// samples): about 20 GB of text.
pub const MAX_POPULATION_ROWS: u64 = 100_000_000;

/// What the sizes come to, once accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Members per generation (a random search's last batch may have fewer).
    pub members: usize,
    /// Instances per generation: (members + baselines) × rate factors × seeds.
    pub instances: usize,
    /// Generations this run will do (the file's, or `--generations`).
    pub generations: u64,
}

/// The default CMA-ES population λ = 4 + ⌊3 ln n⌋ (Hansen 2016), as the strategy computes it.
pub fn default_cma_es_population(dimension: usize) -> usize {
    4 + (3.0 * (dimension.max(1) as f64).ln()).floor() as usize
}

/// Members in generation `generation` (1-based): all of them, except a random search's last
/// batch, which holds what is left of its samples.
pub fn members_in(spec: &StrategySpec, members: usize, generation: u64) -> usize {
    match spec {
        StrategySpec::Random { samples, batch, .. } => {
            let before = (generation.saturating_sub(1) as u128) * (*batch as u128);
            (*samples as u128)
                .saturating_sub(before)
                .min(*batch as u128) as usize
        }
        _ => members,
    }
}

/// Bytes the strategy and the evolution's bookkeeping hold beside the ensemble: for CMA-ES
/// about eight n × n matrices (C, B, the update's and the decomposition's copies) and
/// `state.json`'s text of two of them (about 40 bytes a number); the candidates (held twice)
/// and a generation's rows of `population.csv` as text.
pub fn strategy_bytes(spec: &StrategySpec, dimension: usize, members: usize) -> f64 {
    let n = dimension as f64;
    let lambda = members as f64;
    let matrices = match spec {
        StrategySpec::CmaEs { .. } => 8.0 * 8.0 * n * n + 2.0 * 40.0 * n * n,
        // θ, Adam's two moments, the mirrored noise (λ/2 vectors).
        StrategySpec::OpenaiEs { .. } => 8.0 * (3.0 * n + 0.5 * lambda * n),
        StrategySpec::Random { .. } => 0.0,
    };
    let candidates = 2.0 * 8.0 * lambda * n;
    let rows = 25.0 * lambda * (n + 12.0);
    matrices + candidates + rows
}

/// Checks every size against its maximum and the budget; `requested` is `--generations`.
pub fn check(
    spec: &EvolveSpec,
    source: &SourceFile,
    free: &[FreeParameter],
    circuit: &Circuit,
    requested: Option<u64>,
    setting: &Budget,
) -> Result<Sizes, EvolveError> {
    let budget = setting.bytes().map_err(EvolveError::Usage)?;
    let at = |path: YamlPath, message: String, hint: Option<String>| -> EvolveError {
        EvolveError::Input(Diagnostics(vec![source.diagnostic(path, message, hint)]))
    };
    let strategy = YamlPath::of(&["strategy"]);
    let n = free.len();
    if n > MAX_FREE_PARAMETERS {
        return Err(at(
            YamlPath::of(&["free"]),
            format!("{n} free parameters; an evolution searches at most {MAX_FREE_PARAMETERS}"),
            Some("free fewer terms or motifs".into()),
        ));
    }
    // The members per generation, where the file says it.
    let (members, members_key) = match &spec.strategy {
        StrategySpec::CmaEs { population, .. } => (
            population.unwrap_or_else(|| default_cma_es_population(n)),
            "population",
        ),
        StrategySpec::OpenaiEs { population, .. } => (*population, "population"),
        StrategySpec::Random { samples, batch, .. } => ((*batch).min(*samples), "batch"),
    };
    let members_path = match &spec.strategy {
        StrategySpec::CmaEs {
            population: None, ..
        } => strategy.clone(),
        _ => strategy.key(members_key),
    };
    if members > MAX_POPULATION {
        return Err(at(
            members_path,
            format!("{members} members per generation; at most {MAX_POPULATION}"),
            None,
        ));
    }
    let seeds = spec.seeds_per_member;
    if seeds > MAX_SEEDS_PER_MEMBER {
        return Err(at(
            YamlPath::of(&["seeds_per_member"]),
            format!("{seeds} seeds per member; at most {MAX_SEEDS_PER_MEMBER}"),
            None,
        ));
    }
    // Every member and every baseline runs at every rate factor on every seed.
    let units = members.saturating_add(spec.baselines.len());
    let rates = spec.rates.len();
    let instances = units
        .checked_mul(rates)
        .and_then(|u| u.checked_mul(seeds))
        .filter(|&i| i <= MAX_INSTANCES)
        .ok_or_else(|| {
            at(
                YamlPath::of(&["seeds_per_member"]),
                format!(
                    "{members} members and {} × {rates} rate factors × {seeds} seeds per member is more than the {MAX_INSTANCES} instances one generation may run",
                    count(spec.baselines.len(), "baseline")
                ),
                Some("lower the population, the rate grid or the seeds per member".into()),
            )
        })?;
    if seeds > 0 && spec.first_seed.checked_add(seeds as u64 - 1).is_none() {
        return Err(at(
            YamlPath::of(&["first_seed"]),
            format!(
                "the seeds {}, {}, … of {seeds} seeds per member run past the largest seed, 2^64 − 1",
                spec.first_seed,
                spec.first_seed.wrapping_add(1)
            ),
            None,
        ));
    }
    // Generations and the rows of the tables.
    let (generations, rows, rows_at) = match &spec.strategy {
        // A random search ends when its samples are drawn, whatever `--generations` says.
        StrategySpec::Random { samples, .. } => (
            requested.map_or(spec.strategy.generations(), |r| {
                r.min(spec.strategy.generations())
            }),
            *samples as u64,
            strategy.key("samples"),
        ),
        StrategySpec::CmaEs { generations: g, .. }
        | StrategySpec::OpenaiEs { generations: g, .. } => {
            let g = requested.unwrap_or(*g);
            (
                g,
                g.saturating_mul(members as u64),
                strategy.key("generations"),
            )
        }
    };
    // The seeds the generations use, and the held-out seeds, which must be others.
    let span = match spec.tasks {
        Tasks::Fixed => Some(seeds as u64),
        Tasks::Fresh => generations.checked_mul(seeds as u64),
    };
    let last = span.and_then(|s| spec.first_seed.checked_add(s.saturating_sub(1)));
    let Some(last) = last else {
        return Err(at(
            YamlPath::of(&["tasks"]),
            format!(
                "fresh tasks for {generations} generations of {seeds} seeds from seed {} run past the largest seed, 2^64 − 1",
                spec.first_seed
            ),
            None,
        ));
    };
    if let Some(h) = &spec.heldout {
        let path = YamlPath::of(&["heldout", "first_seed"]);
        let Some(h_last) = h.first_seed.checked_add((h.seeds as u64).saturating_sub(1)) else {
            return Err(at(
                path,
                "the held-out seeds run past the largest seed, 2^64 − 1".into(),
                None,
            ));
        };
        if h.first_seed <= last && spec.first_seed <= h_last {
            return Err(at(
                path,
                format!(
                    "the held-out seeds {}..{h_last} meet the seeds the generations learn on ({}..{last}); held-out tasks must be new",
                    h.first_seed, spec.first_seed
                ),
                Some(format!("start them after {last}")),
            ));
        }
    }
    let too_many = generations > MAX_GENERATIONS || rows > MAX_POPULATION_ROWS;
    if too_many {
        let message = format!(
            "{generations} generations of {members} members ({rows} rows of population.csv); at most {MAX_GENERATIONS} generations and {MAX_POPULATION_ROWS} rows"
        );
        let from_flag =
            requested.is_some() && !matches!(spec.strategy, StrategySpec::Random { .. });
        return Err(if from_flag {
            EvolveError::Usage(format!("--generations: {message}"))
        } else {
            at(rows_at, message, None)
        });
    }
    // Memory: the strategy's buffers first, the ensemble in what is left.
    let own = strategy_bytes(&spec.strategy, n, members);
    if own >= budget.bytes as f64 {
        return Err(at(
            strategy.clone(),
            format!(
                "the strategy's state for {n} free parameters and {members} members would need about {}, more than the memory budget of {budget}",
                human_bytes(own)
            ),
            Some(budget_hint(setting)),
        ));
    }
    let rest = MemoryBudget {
        bytes: budget.bytes - own as u64,
    };
    check_instances(circuit, instances, &rest, setting).map_err(|e| {
        // The budget's own hint speaks of `--seeds`; an evolution's instances are its members.
        let e = e.split("\n  hint:").next().unwrap_or_default();
        at(
            members_path.clone(),
            format!(
                "a generation of {} × {}: {e}",
                count(members, "member"),
                count(seeds, "seed")
            ),
            Some(format!(
                "lower the population or `seeds_per_member`, or {}",
                setting.how_to_raise()
            )),
        )
    })?;
    Ok(Sizes {
        members,
        instances,
        generations,
    })
}

fn budget_hint(setting: &Budget) -> String {
    format!("free fewer parameters, or {}", setting.how_to_raise())
}
