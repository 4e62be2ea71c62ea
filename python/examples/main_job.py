"""The README's main job from Python, and one sweep figure.

    python python/examples/main_job.py            # from the repository root; figures into runs/python-example/
    python python/examples/main_job.py --quick    # 3 s of simulated time, a 3-point sweep (a smoke test)

1. ``hetsim compare circuits/teacher_fa.yaml --rules sgd,fa,dfa,kp --seeds 3``, in-process:
   the table the CLI prints, a per-rule summary computed with pandas, and the held-out loss
   curves (mean over seeds, min–max band) drawn with matplotlib in the CLI's colours
   (``hetsim.palette``).
2. A small sweep of τ_w/T for fa: the final held-out loss relative to its start, against τ_w/T.
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import hetsim  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def main_job(quick, out):
    overrides = {"time.duration": "3 s"} if quick else {}
    r = hetsim.compare(REPO / "circuits/teacher_fa.yaml", rules=["sgd", "fa", "dfa", "kp"],
                       seeds=3, set=overrides)
    print(r.text)
    m = r.metrics
    overall = m[m["projection"] == "all"]
    final = overall[overall["time_s"] == overall["time_s"].max()]
    print(final.groupby("rule", sort=False)["held_out_loss"].agg(["mean", "std"]))

    fig, ax = plt.subplots(figsize=(6, 4))
    for rule, rows in overall.groupby("rule", sort=False):
        curve = rows.groupby("time_s")["held_out_loss"].agg(["mean", "min", "max"])
        colour = hetsim.palette[rule]
        ax.plot(curve.index, curve["mean"], color=colour, label=rule)
        ax.fill_between(curve.index, curve["min"], curve["max"], color=colour, alpha=0.2)
    ax.set_yscale("log")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("held-out loss")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "learning_curves.png", dpi=120)
    print("wrote", out / "learning_curves.png")


def sweep_figure(quick, out):
    spec = {
        "name": "timescale-python",
        "circuit": "circuits/teacher_fa.yaml",
        "set": ["task.input_std=0.1826", "time.duration=3 s" if quick else "time.duration=20 s"],
        "axes": [{"ratio": "tau_w/T", "values": [3, 10, 30] if quick else [1, 3, 10, 30, 100]}],
        "rules": ["fa"],
        "seeds": 2 if quick else 3,
        "summary": [{"measure": "held_out_loss", "stat": "final", "relative": True}],
    }
    s = hetsim.sweep(spec, out=out / "sweep", base_dir=REPO, figures=False)
    column = [c for c in s.summary.columns if c.startswith("held_out_loss")][0]
    stats = s.summary.groupby("tau_w/T")[column].agg(["mean", "std"])
    print(stats)
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.errorbar(stats.index, stats["mean"], yerr=stats["std"], marker="o", capsize=3,
                color=hetsim.palette["fa"])
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("τ_w / T")
    ax.set_ylabel("final / initial held-out loss (fa)")
    fig.tight_layout()
    fig.savefig(out / "sweep_timescale.png", dpi=120)
    print("wrote", out / "sweep_timescale.png")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs, for a smoke test")
    parser.add_argument("--out", type=Path, default=Path("runs/python-example"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if (args.out / "sweep").exists():
        raise SystemExit(f"{args.out / 'sweep'} exists; choose another --out")
    main_job(args.quick, args.out)
    sweep_figure(args.quick, args.out)
