#!/usr/bin/env python3
"""The priming experiment of circuits/priming.yaml: runs it at several priming strengths, with
the heterosynaptic pathway and without it, and reads the plasticity curve's threshold and the
neuron's rate and selectivity from the run directories (standard library only).

    python3 scripts/priming.py [--out runs/priming] [--hetsim target/release/hetsim] [--seeds 5]

Writes OUT/summary.csv (one row per condition, strength and seed), prints the tables of
docs/measurements.md and draws OUT/priming.svg (and .png where ImageMagick's `convert` is found).
Every number is computed here from hetsim's own tables: plasticity_threshold.csv for θ and
probes.csv for the soma's rate, its trace q, the dendrite's rate d and the inputs.
"""

import argparse
import csv
import math
import os
import shutil
import subprocess
from collections import defaultdict

CIRCUIT = "circuits/priming.yaml"
STRENGTHS = [0, 0.5, 1, 1.5, 2]
# Name, --set overrides, colour. The ablations remove one part of the pathway each.
CONDITIONS = [
    ("pathway", [], "#1f5fb4"),
    ("v frozen", ["protocol[1].plasticity.v=off", "protocol[2].plasticity.v=off"], "#e07b00"),
    ("no dendrite in w's rule", ["motifs[0].rule.mz_x=0"], "#777777"),
    ("pathway, w learns in test", ["protocol[2].plasticity.w=on"], "#2a9d3a"),
]
PROBES = (
    "record.probes=["
    + ",".join(
        f"{{population: {p}, variable: {v}, instances: all, every: 10 ms}}"
        for p, v in [("y", "rate"), ("y", "trace"), ("d", "rate"), ("x", "rate")]
    )
    + "]"
)
# The protocol (circuits/priming.yaml) and the analysis windows, fixed before the runs.
BASELINE, CONDITIONING = 90.0, 20.0
TEST0 = BASELINE + CONDITIONING
THETA_WINDOW = (2.0, 6.0)  # θ averaged over test time [2 s, 6 s): q and d have forgotten the input
RATE_WINDOW = (0.0, 10.0)  # rates and selectivity over the whole test phase
C, TAU_V = 0.5, 10.0  # θ = q + C d; τ_v of the dendritic pathway
ACTIVE, SELECTIVE = 0.5, 0.6  # r_pref ≥ 0.5 and (r_pref − r_other)/(r_pref + r_other) ≥ 0.6


def run(hetsim, out, sets, seeds):
    if os.path.exists(os.path.join(out, "manifest.json")):
        return
    cmd = [hetsim, "run", CIRCUIT, "--seeds", str(seeds), "--threads", "1", "--backend", "cpu"]
    cmd += ["--out", out, "-q", "--set", PROBES]
    for s in sets:
        cmd += ["--set", s]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def load(out):
    """Per instance: {tick: {...}} with ticks of 10 ms, and θ at each sampled time."""
    rows = defaultdict(dict)
    with open(os.path.join(out, "probes.csv")) as f:
        for r in csv.DictReader(f):
            key = (int(r["instance"]), round(float(r["time_s"]) * 100))
            if r["population"] == "x":
                rows[key].setdefault("x", [0.0] * 5)[int(r["unit"])] = float(r["value"])
            else:
                rows[key][r["population"] + "." + r["variable"]] = float(r["value"])
    theta = defaultdict(list)
    with open(os.path.join(out, "plasticity_threshold.csv")) as f:
        for r in csv.DictReader(f):
            theta[int(r["instance"])].append(
                (float(r["time_s"]), float(r["threshold"]) if r["threshold"] else None)
            )
    return rows, theta


def dist2(a, b):
    return sum((p - q) ** 2 for p, q in zip(a, b))


def two_means(xs):
    """The two class centres of the inputs (2-means; the classes are 6 apart, the noise 0.3)."""
    a = xs[0]
    b = max(xs, key=lambda x: dist2(x, a))
    for _ in range(10):
        A = [x for x in xs if dist2(x, a) <= dist2(x, b)]
        B = [x for x in xs if dist2(x, a) > dist2(x, b)]
        a, b = [sum(c) / len(A) for c in zip(*A)], [sum(c) / len(B) for c in zip(*B)]
    return a, b


def window(rows, inst, t0, t1):
    return [rows[(inst, t)] for t in range(round(t0 * 100), round(t1 * 100)) if (inst, t) in rows]


def mean(v):
    return sum(v) / len(v) if v else float("nan")


def analyse(rows, theta, inst):
    base = window(rows, inst, BASELINE - 10, BASELINE)
    a, b = two_means([r["x"] for r in base])
    test = window(rows, inst, TEST0 + RATE_WINDOW[0], TEST0 + RATE_WINDOW[1])
    ra = [r["y.rate"] for r in test if dist2(r["x"], a) <= dist2(r["x"], b)]
    rb = [r["y.rate"] for r in test if dist2(r["x"], a) > dist2(r["x"], b)]
    pref, other = max(mean(ra), mean(rb)), min(mean(ra), mean(rb))
    si = (pref - other) / (pref + other) if pref + other > 0 else 0.0
    th = [v for t, v in theta[inst] if TEST0 + THETA_WINDOW[0] - 1e-9 <= t < TEST0 + THETA_WINDOW[1] - 1e-9]
    tw = window(rows, inst, TEST0 + THETA_WINDOW[0], TEST0 + THETA_WINDOW[1])
    return {
        "theta": mean([v for v in th if v is not None]) if th and None not in th else float("nan"),
        "theta_samples": len(th),
        "d_baseline": mean([r["d.rate"] for r in base]),
        "d_test": mean([r["d.rate"] for r in tw]),
        "q_test": mean([r["y.trace"] for r in tw]),
        "r_pref": pref,
        "r_other": other,
        "selectivity": si,
        "active": pref >= ACTIVE,
        "selective": pref >= ACTIVE and si >= SELECTIVE,
    }


def memory_factor():
    """v's share of the conditioning level left at the θ samples: (1 − e^{−T_c/τ}) ⟨e^{−t/τ}⟩."""
    ts = [THETA_WINDOW[0] + 0.2 * k for k in range(round((THETA_WINDOW[1] - THETA_WINDOW[0]) / 0.2))]
    return (1 - math.exp(-CONDITIONING / TAU_V)) * mean([math.exp(-t / TAU_V) for t in ts])


def figure(results, seeds, path):
    """Two panels: θ after priming, and its shift from s = 1 beside the prediction."""
    W, H, L, T, PW, PH, GAP = 980, 430, 70, 40, 380, 320, 110
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    panels = [("θ after priming (test 2–6 s)", "theta", False), ("shift θ(s) − θ(1)", "shift", True)]
    for k, (title, key, predict) in enumerate(panels):
        x0 = L + k * (PW + GAP)
        vals = [r[key] for r in results if not math.isnan(r[key])]
        vals += [r["shift_pred"] for r in results if predict and r["condition"] == "pathway"]
        lo, hi = min(vals), max(vals)
        lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
        X = lambda s: x0 + s / 2 * PW
        Y = lambda v: T + PH - (v - lo) / (hi - lo) * PH
        svg.append(f'<rect x="{x0}" y="{T}" width="{PW}" height="{PH}" fill="none" stroke="black"/>')
        svg.append(f'<text x="{x0 + PW / 2}" y="{T - 12}" text-anchor="middle" font-size="14">{title}</text>')
        svg.append(f'<text x="{x0 + PW / 2}" y="{T + PH + 36}" text-anchor="middle">priming strength s (conditioning input_scale)</text>')
        for s in STRENGTHS:
            svg.append(f'<text x="{X(s)}" y="{T + PH + 16}" text-anchor="middle">{s:g}</text>')
        step = 10 ** math.floor(math.log10((hi - lo) / 4))
        step *= 5 if (hi - lo) / step > 20 else 2 if (hi - lo) / step > 8 else 1
        v = math.ceil(lo / step) * step
        while v <= hi:
            svg.append(f'<line x1="{x0}" x2="{x0 + PW}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#eeeeee"/>')
            svg.append(f'<text x="{x0 - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{v:.2f}</text>')
            v += step
        for name, _, colour in CONDITIONS:
            for seed in range(seeds):
                pts = sorted((r["s"], r[key]) for r in results if r["condition"] == name and r["instance"] == seed)
                pts = [(s, v) for s, v in pts if not math.isnan(v)]
                path_d = " ".join(f"{'M' if i == 0 else 'L'}{X(s):.1f},{Y(v):.1f}" for i, (s, v) in enumerate(pts))
                svg.append(f'<path d="{path_d}" fill="none" stroke="{colour}" stroke-width="1.2" opacity="0.8"/>')
                for s, v in pts:
                    svg.append(f'<circle cx="{X(s):.1f}" cy="{Y(v):.1f}" r="2.5" fill="{colour}"/>')
            if predict and name == "pathway":
                for seed in range(seeds):
                    pts = sorted((r["s"], r["shift_pred"]) for r in results if r["condition"] == name and r["instance"] == seed)
                    path_d = " ".join(f"{'M' if i == 0 else 'L'}{X(s):.1f},{Y(v):.1f}" for i, (s, v) in enumerate(pts))
                    svg.append(f'<path d="{path_d}" fill="none" stroke="black" stroke-width="1" stroke-dasharray="4 3"/>')
    legend = [(n, c) for n, _, c in CONDITIONS] + [("prediction ½ d_b (s − 1) m, per seed", "black")]
    for i, (name, colour) in enumerate(legend):
        x, y = L + 10 + (i % 3) * 300, H - 28 + (i // 3) * 16
        dash = ' stroke-dasharray="4 3"' if colour == "black" else ""
        svg.append(f'<line x1="{x}" x2="{x + 22}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" stroke-width="2"{dash}/>')
        svg.append(f'<text x="{x + 28}" y="{y}">{name}</text>')
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="runs/priming")
    ap.add_argument("--hetsim", default="target/release/hetsim")
    ap.add_argument("--seeds", type=int, default=5)
    args = ap.parse_args()
    results = []
    for name, sets, _ in CONDITIONS:
        for s in STRENGTHS:
            out = os.path.join(args.out, name.replace(" ", "_").replace("'", ""), f"s{s:g}")
            run(args.hetsim, out, sets + [f"protocol[1].input_scale={s}"], args.seeds)
            rows, theta = load(out)
            for inst in range(args.seeds):
                results.append({"condition": name, "s": s, "instance": inst, **analyse(rows, theta, inst)})
    m = memory_factor()
    for r in results:
        one = next(x for x in results if x["condition"] == r["condition"] and x["instance"] == r["instance"] and x["s"] == 1)
        r["shift"] = r["theta"] - one["theta"]
        r["shift_pred"] = C * r["d_baseline"] * (r["s"] - 1) * m
    cols = ["condition", "s", "instance", "theta", "shift", "shift_pred", "theta_samples", "d_baseline",
            "d_test", "q_test", "r_pref", "r_other", "selectivity", "active", "selective"]
    with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(results)
    print(f"memory factor m = (1 − e^(−{CONDITIONING:g}/{TAU_V:g})) ⟨e^(−t/{TAU_V:g})⟩ = {m:.3f}")
    for name, _, _ in CONDITIONS:
        print(f"\n{name}")
        for s in STRENGTHS:
            rs = [r for r in results if r["condition"] == name and r["s"] == s]
            th = [r["theta"] for r in rs]
            sd = math.sqrt(sum((t - mean(th)) ** 2 for t in th) / (len(th) - 1)) if len(th) > 1 else 0
            print(f"  s={s:<4g} θ {mean(th):.3f} ± {sd:.3f}  per seed "
                  + " ".join(f"{t:.3f}" for t in th)
                  + f"  | active&selective {sum(r['selective'] for r in rs)}/{len(rs)}"
                  + "  r_pref " + " ".join(f"{r['r_pref']:.2f}" for r in rs)
                  + "  SI " + " ".join(f"{r['selectivity']:.2f}" for r in rs))
        strong = [r for r in results if r["condition"] == name and r["s"] == 2]
        weak = [r for r in results if r["condition"] == name and r["s"] == 0.5]
        diff = [a["theta"] - b["theta"] for a, b in zip(strong, weak)]
        pred = [a["shift_pred"] - b["shift_pred"] for a, b in zip(strong, weak)]
        print("  θ(2) − θ(0.5) per seed " + " ".join(f"{d:+.3f}" for d in diff)
              + "   predicted " + " ".join(f"{p:+.3f}" for p in pred)
              + "   d_b " + " ".join(f"{r['d_baseline']:.3f}" for r in strong))
    svg = os.path.join(args.out, "priming.svg")
    figure(results, args.seeds, svg)
    if shutil.which("convert"):
        subprocess.run(["convert", "-density", "110", svg, svg[:-4] + ".png"], check=False)
    print(f"\n{args.out}/summary.csv, {svg}")


if __name__ == "__main__":
    main()
