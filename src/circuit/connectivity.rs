//! Which synapses of a projection exist (`connectivity:`): every pair, a random subset drawn
//! per instance, or the pairs an edge file lists. The circuit check reads edge files (so
//! `validate` finds their errors, located by file, line and field); the plan draws each
//! instance's mask from it ([`Wiring::mask`]) and hands the same mask to every backend.
//!
//! Random forms are drawn from Philox keyed by (instance seed, `connectivity/<projection>`,
//! element), one uniform per synapse of the row-major `[post][pre]` matrix: `probability: p`
//! keeps the synapses whose uniform is below p; `in_degree: k` keeps, in each post row, the k
//! synapses with the smallest uniforms (a uniformly random k-subset, exactly k);
//! `out_degree: k` does the same down each pre column.

use crate::rng;
use std::path::Path;
use std::sync::Arc;

/// The largest edge file read.
pub const MAX_EDGES_BYTES: u64 = 1 << 30;

/// A projection's resolved connectivity.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Wiring {
    #[default]
    All,
    Probability(f64),
    InDegree(usize),
    OutDegree(usize),
    Edges(Arc<EdgeFile>),
    /// The synapses of the named projection, transposed (a feedback projection mirroring the
    /// forward projection it stands for); never wraps `All`.
    Mirror(String, Box<Wiring>),
}

/// The synapses an edge file lists (post, pre), with their initial weights where it has a
/// weight column, and the SHA-256 of the bytes read.
#[derive(Clone, Debug, PartialEq)]
pub struct EdgeFile {
    pub path: std::path::PathBuf,
    pub sha256: String,
    pub edges: Vec<(usize, usize)>,
    pub weights: Option<Vec<f64>>,
}

impl Wiring {
    /// Whether every synapse exists (no mask).
    pub fn is_all(&self) -> bool {
        matches!(self, Wiring::All)
    }

    /// The wiring of a projection mirroring `forward` (named `name`): `all` if that has every
    /// synapse.
    pub fn mirror(name: &str, forward: &Wiring) -> Wiring {
        match forward {
            Wiring::All => Wiring::All,
            w => Wiring::Mirror(name.to_string(), Box::new(w.clone())),
        }
    }

    /// The mask of one instance, `rows × cols` row-major (1 present, 0 absent); None for `all`.
    pub fn mask(&self, projection: &str, seed: u64, rows: usize, cols: usize) -> Option<Vec<f64>> {
        let n = rows * cols;
        let uniforms = || {
            let mut u = vec![0.0; n];
            let stream = rng::stream_id(&format!("connectivity/{projection}"));
            rng::fill_uniform(seed, stream, 0, &mut u);
            u
        };
        // The k smallest of `n_of` uniforms at indices `at(0..n_of)` are kept.
        let keep_smallest =
            |mask: &mut [f64], u: &[f64], k: usize, n_of: usize, at: &dyn Fn(usize) -> usize| {
                let mut order: Vec<usize> = (0..n_of).collect();
                order.sort_by(|&a, &b| u[at(a)].total_cmp(&u[at(b)]).then(a.cmp(&b)));
                for &o in order.iter().take(k) {
                    mask[at(o)] = 1.0;
                }
            };
        match self {
            Wiring::All => None,
            Wiring::Probability(p) => Some(
                uniforms()
                    .into_iter()
                    .map(|u| if u < *p { 1.0 } else { 0.0 })
                    .collect(),
            ),
            Wiring::InDegree(k) => {
                let (u, mut mask) = (uniforms(), vec![0.0; n]);
                for i in 0..rows {
                    keep_smallest(&mut mask, &u, *k, cols, &|j| i * cols + j);
                }
                Some(mask)
            }
            Wiring::OutDegree(k) => {
                let (u, mut mask) = (uniforms(), vec![0.0; n]);
                for j in 0..cols {
                    keep_smallest(&mut mask, &u, *k, rows, &|i| i * cols + j);
                }
                Some(mask)
            }
            Wiring::Edges(f) => {
                let mut mask = vec![0.0; n];
                for &(i, j) in &f.edges {
                    mask[i * cols + j] = 1.0;
                }
                Some(mask)
            }
            // The forward matrix is cols × rows; its mask is drawn as that projection draws it.
            Wiring::Mirror(forward, wiring) => {
                let m = wiring.mask(forward, seed, cols, rows)?;
                let mut mask = vec![0.0; n];
                for i in 0..rows {
                    for j in 0..cols {
                        mask[i * cols + j] = m[j * rows + i];
                    }
                }
                Some(mask)
            }
        }
    }

    /// Checks a form against the projection's shape (post × pre): the message, or None.
    pub fn check(&self, rows: usize, cols: usize) -> Option<String> {
        match *self {
            Wiring::Probability(p) if !(p > 0.0 && p <= 1.0) => {
                Some(format!("probability must be in (0, 1], not {p}"))
            }
            Wiring::InDegree(k) if k == 0 || k > cols => Some(format!(
                "in_degree must be between 1 and the {cols} presynaptic units, not {k}"
            )),
            Wiring::OutDegree(k) if k == 0 || k > rows => Some(format!(
                "out_degree must be between 1 and the {rows} postsynaptic units, not {k}"
            )),
            _ => None,
        }
    }
}

/// Reads an edge file for a `rows × cols` (post × pre) projection: a header `pre,post` or
/// `pre,post,weight`, then one synapse a line, indices from 0. The memory reading it takes is
/// checked against the budget before it is read. Errors name the file, the line and the field.
pub fn read_edges(
    path: &Path,
    rows: usize,
    cols: usize,
    budget: &crate::circuit::budget::Budget,
) -> Result<EdgeFile, String> {
    let shown = path.display();
    if let Ok(meta) = std::fs::metadata(path) {
        // Each edge takes at least 4 bytes ("0,0\n") and is held as two indices and a weight.
        let len = meta.len() as f64;
        let cost = len + (len / 4.0).ceil() * 24.0 + (rows as f64 * cols as f64);
        crate::circuit::budget::check_read(
            path,
            &format!(
                "{} bytes of text: up to {} edges",
                meta.len(),
                (len / 4.0).ceil()
            ),
            cost,
            budget,
        )?;
    }
    let bytes = crate::spec::read_bounded(path, MAX_EDGES_BYTES)
        .map_err(|e| format!("cannot read {shown}: {e}"))?
        .ok_or_else(|| {
            format!("{shown} is larger than {MAX_EDGES_BYTES} bytes, more than an edge file may be")
        })?;
    let sha256 = crate::circuit::saved::sha256_hex(&bytes);
    let text = std::str::from_utf8(&bytes).map_err(|_| format!("{shown}: not UTF-8 text"))?;
    let mut lines = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty());
    let Some((_, header)) = lines.next() else {
        return Err(format!(
            "{shown}: the file is empty (it needs the header `pre,post` or `pre,post,weight`)"
        ));
    };
    let names: Vec<&str> = header.split(',').map(str::trim).collect();
    let weighted = match names.as_slice() {
        ["pre", "post"] => false,
        ["pre", "post", "weight"] => true,
        _ => {
            return Err(format!(
                "{shown}, line 1: the header is `{header}`, not `pre,post` or `pre,post,weight`"
            ));
        }
    };
    let mut seen = vec![false; rows * cols];
    let mut edges = Vec::new();
    let mut weights = Vec::new();
    for (line, text) in lines {
        let cells: Vec<&str> = text.split(',').map(str::trim).collect();
        if cells.len() != names.len() {
            return Err(format!(
                "{shown}, line {line}: {} fields, the header names {}",
                cells.len(),
                names.len()
            ));
        }
        let index = |k: usize, size: usize, side: &str| -> Result<usize, String> {
            let v: usize = cells[k].parse().map_err(|_| {
                format!(
                    "{shown}, line {line}, field `{}`: `{}` is not an index (a whole number from 0)",
                    names[k], cells[k]
                )
            })?;
            if v >= size {
                return Err(format!(
                    "{shown}, line {line}, field `{}`: {v} is out of range: the {side} population has {size} units (indices 0 to {})",
                    names[k],
                    size.saturating_sub(1)
                ));
            }
            Ok(v)
        };
        let pre = index(0, cols, "presynaptic")?;
        let post = index(1, rows, "postsynaptic")?;
        if std::mem::replace(&mut seen[post * cols + pre], true) {
            return Err(format!(
                "{shown}, line {line}: the synapse pre {pre} → post {post} is listed twice"
            ));
        }
        if weighted {
            let w: f64 = cells[2]
                .parse()
                .ok()
                .filter(|w: &f64| w.is_finite())
                .ok_or_else(|| {
                    format!(
                        "{shown}, line {line}, field `weight`: `{}` is not a finite number",
                        cells[2]
                    )
                })?;
            weights.push(w);
        }
        edges.push((post, pre));
    }
    Ok(EdgeFile {
        path: path.to_path_buf(),
        sha256,
        edges,
        weights: weighted.then_some(weights),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn degrees_are_exact_and_probability_is_within_standard_errors() {
        let (rows, cols) = (40, 50);
        let m = Wiring::InDegree(7).mask("W", 3, rows, cols).unwrap();
        for i in 0..rows {
            assert_eq!(m[i * cols..(i + 1) * cols].iter().sum::<f64>(), 7.0);
        }
        let m = Wiring::OutDegree(5).mask("W", 3, rows, cols).unwrap();
        for j in 0..cols {
            assert_eq!((0..rows).map(|i| m[i * cols + j]).sum::<f64>(), 5.0);
        }
        let p = 0.1;
        let m = Wiring::Probability(p).mask("W", 3, rows, cols).unwrap();
        let n = (rows * cols) as f64;
        let frac = m.iter().sum::<f64>() / n;
        let se = (p * (1.0 - p) / n).sqrt();
        assert!(
            (frac - p).abs() < 4.0 * se,
            "fraction {frac}, p {p}, se {se}"
        );
        // Another seed or another projection draws another mask; the same draws the same.
        assert_ne!(m, Wiring::Probability(p).mask("W", 4, rows, cols).unwrap());
        assert_ne!(m, Wiring::Probability(p).mask("V", 3, rows, cols).unwrap());
        assert_eq!(m, Wiring::Probability(p).mask("W", 3, rows, cols).unwrap());
        assert!(Wiring::All.mask("W", 3, rows, cols).is_none());
    }

    #[test]
    fn a_mirror_is_the_forward_mask_transposed() {
        let (rows, cols) = (6, 9);
        let forward = Wiring::Probability(0.3);
        let w = forward.mask("W", 5, rows, cols).unwrap();
        let b = Wiring::mirror("W", &forward)
            .mask("B", 5, cols, rows)
            .unwrap();
        for i in 0..rows {
            for j in 0..cols {
                assert_eq!(w[i * cols + j], b[j * rows + i]);
            }
        }
        assert!(w.contains(&0.0) && w.contains(&1.0));
        assert_eq!(Wiring::mirror("W", &Wiring::All), Wiring::All);
    }

    #[test]
    fn forms_outside_the_shape_are_refused() {
        assert!(Wiring::Probability(0.0).check(3, 4).is_some());
        assert!(Wiring::Probability(1.5).check(3, 4).is_some());
        assert!(Wiring::InDegree(5).check(3, 4).is_some());
        assert!(Wiring::OutDegree(4).check(3, 4).is_some());
        assert!(Wiring::OutDegree(3).check(3, 4).is_none());
    }

    #[test]
    fn edge_files_are_read_and_their_errors_located() {
        let dir = std::env::temp_dir().join(format!("hetsim-edges-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, text: &str| {
            let p = dir.join(name);
            std::fs::write(&p, text).unwrap();
            p
        };
        let ok = read_edges(
            &write("ok.csv", "pre,post,weight\n0,1,0.5\n2,0,-1\n"),
            2,
            3,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(ok.edges, vec![(1, 0), (0, 2)]);
        assert_eq!(ok.weights, Some(vec![0.5, -1.0]));
        let err = |name: &str, text: &str| {
            read_edges(&write(name, text), 2, 3, &Default::default()).unwrap_err()
        };
        let e = err("range.csv", "pre,post\n0,1\n3,0\n");
        assert!(
            e.contains("line 3, field `pre`") && e.contains("out of range"),
            "{e}"
        );
        let e = err("dup.csv", "pre,post\n0,1\n0,1\n");
        assert!(e.contains("line 3") && e.contains("twice"), "{e}");
        let e = err("size.csv", "pre,post\n0,1,2\n");
        assert!(e.contains("line 2: 3 fields"), "{e}");
        let e = err("header.csv", "a,b\n0,1\n");
        assert!(e.contains("line 1: the header"), "{e}");
        let e = err("weight.csv", "pre,post,weight\n0,1,x\n");
        assert!(e.contains("line 2, field `weight`"), "{e}");
        let e = err("index.csv", "pre,post\n-1,1\n");
        assert!(
            e.contains("line 2, field `pre`") && e.contains("not an index"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
