//! Which points run where: the deterministic slice of a shard, and the ensembles the points
//! pack into (points with equal ensemble keys together, whole points only, sized for the
//! backend and the memory budget, sizes within a group as equal as possible).

use super::setup::{Point, Setup};
use indexmap::IndexMap;

/// Instances per ensemble when neither the file nor the command line says: enough to fill the
/// CPU's lanes and an OpenCL device's work-groups, few enough that an interrupted ensemble
/// costs little.
pub const DEFAULT_ENSEMBLE_SIZE: usize = 256;

/// `--shard I/N`: the points whose index is I modulo N.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parses `I/N` with 0 ≤ I < N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let bad = || format!("--shard takes I/N with 0 ≤ I < N (e.g. 3/16), got `{text}`");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Every point index is in exactly one of the N shards. Striding (rather than cutting the
    /// list in N blocks) spreads expensive corners of a grid over all shards.
    pub fn holds(&self, point_index: usize) -> bool {
        point_index % self.count == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The points of one ensemble, as indices into `Setup::points`.
#[derive(Clone, Debug, PartialEq)]
pub struct Ensemble {
    pub points: Vec<usize>,
}

/// Packs the points `todo` (indices into the setup's points, in order) into ensembles of at
/// most `max_instances` instances and at most `memory_bytes` of estimated memory each (always
/// at least one whole point).
pub fn pack(
    setup: &Setup,
    todo: &[usize],
    max_instances: usize,
    memory_bytes: f64,
) -> Vec<Ensemble> {
    let per_point = setup.instances_per_point().max(1);
    let mut groups: IndexMap<&str, Vec<usize>> = IndexMap::new();
    for &k in todo {
        groups
            .entry(setup.points[k].key.as_str())
            .or_default()
            .push(k);
    }
    let mut out = Vec::new();
    for (_, members) in groups {
        let widest = members
            .iter()
            .map(|&k| setup.points[k].instance_bytes)
            .fold(0.0, f64::max)
            .max(1.0);
        let by_count = (max_instances / per_point).max(1);
        let by_memory = ((memory_bytes / (widest * per_point as f64)).floor() as usize).max(1);
        let cap = by_count.min(by_memory);
        let n = members.len();
        let chunks = n.div_ceil(cap);
        // Equal sizes (differing by at most one point), in order.
        let mut start = 0;
        for c in 0..chunks {
            let len = n / chunks + usize::from(c < n % chunks);
            out.push(Ensemble {
                points: members[start..start + len].to_vec(),
            });
            start += len;
        }
    }
    out
}

/// The synapse-steps of an ensemble (its cost, up to the backend's rate).
pub fn cost(points: &[Point], e: &Ensemble) -> f64 {
    e.points.iter().map(|&k| points[k].synapse_steps).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_is_in_exactly_one_shard() {
        for n in [1, 2, 3, 7, 16] {
            for points in [0, 1, 5, 16, 100] {
                for p in 0..points {
                    let holders = (0..n)
                        .filter(|&i| Shard { index: i, count: n }.holds(p))
                        .count();
                    assert_eq!(holders, 1, "point {p} with {n} shards");
                }
            }
        }
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("0/0").is_err());
        assert!(Shard::parse("x/2").is_err());
        assert_eq!(Shard::parse(" 2/5").unwrap(), Shard { index: 2, count: 5 });
    }
}
