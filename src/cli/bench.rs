//! `hetsim bench`: synapse-steps per second on the workloads of DESIGN §4, on the chosen
//! backend and, for comparison in the same run, on the CPU backend.

use super::commands::{EXIT_BAD_INPUT, EXIT_OK, make_backend};
use crate::backend::Precision;
use crate::workload::Workload;
use std::sync::Arc;
use std::time::Instant;

pub fn bench(backend: &str, workload: &str, seconds: Option<f64>, measures: &str) -> i32 {
    let workloads = match workload {
        "w1" | "W1" => vec![Workload::W1],
        "w2" | "W2" => vec![Workload::W2],
        "all" => vec![Workload::W1, Workload::W2],
        other => {
            eprintln!("hetsim bench: --workload must be w1, w2 or all, not `{other}`");
            return EXIT_BAD_INPUT;
        }
    };
    println!(
        "{:<4} {:<40} {:>12} {:>10} {:>16}",
        "load", "backend", "synapse-steps", "wall (s)", "synapse-steps/s"
    );
    for w in workloads {
        let secs = seconds.unwrap_or(w.default_seconds());
        let plan = match w.plan_with(secs, measures) {
            Ok(p) => Arc::new(p),
            Err(e) => {
                eprintln!("hetsim bench: {e}");
                return EXIT_BAD_INPUT;
            }
        };
        let mut names = vec![backend.to_string()];
        if backend != "cpu" {
            names.push("cpu".into());
        }
        let mut rates = Vec::new();
        for name in names {
            let Ok((mut b, _device)) = make_backend(plan.clone(), &name, Some(Precision::F32))
            else {
                return EXIT_BAD_INPUT;
            };
            let record = plan.record_every_steps;
            // Untimed warm-up: first-touch allocation, program compilation on devices.
            b.advance(record.min(plan.steps));
            let _ = b.take_window();
            let active = vec![true; plan.n_instances()];
            let mut previous = b.snapshot();
            let start = Instant::now();
            let mut done = 0;
            // Each window does what a run does except writing: read the window and the state,
            // and compute the recorded measurements.
            while done < plan.steps {
                let n = record.min(plan.steps - done);
                b.advance(n);
                let window = b.take_window();
                let end = b.snapshot();
                let rows =
                    crate::record::metrics::window_rows(&plan, &window, &previous, &end, &active);
                std::hint::black_box(rows);
                previous = end;
                done += n;
            }
            let wall = start.elapsed().as_secs_f64();
            let total = w.synapse_steps(&plan);
            let rate = total / wall;
            rates.push(rate);
            println!(
                "{:<4} {:<40} {:>12.3e} {:>10.3} {:>16.3e}",
                w.name(),
                b.describe(),
                total,
                wall,
                rate
            );
        }
        if rates.len() == 2 {
            println!(
                "{:<4} ratio to the CPU backend in this run: {:.2}×",
                w.name(),
                rates[0] / rates[1]
            );
        }
    }
    EXIT_OK
}
