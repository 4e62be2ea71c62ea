#!/usr/bin/env python3
"""The priming experiment of circuits/priming.yaml: runs it at several priming strengths, with
the heterosynaptic pathway and without it, and reads the plasticity curve's threshold and the
neuron's rate and selectivity from the run directories (standard library only).

    python3 scripts/priming.py [--out runs/priming] [--hetsim target/release/hetsim] [--seeds 5]

Writes OUT/summary.csv (one row per condition, strength and seed), prints the tables of
docs/measurements.md and draws OUT/priming.svg (and .png where librsvg's `rsvg-convert` is found).
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
C, TAU_V, TAU_D = 0.5, 10.0, 0.5  # θ = q + C d; τ of v's memory; τ of the dendrite d
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
    def thetas(t0, t1):
        th = [v for t, v in theta[inst] if TEST0 + t0 - 1e-9 <= t < TEST0 + t1 - 1e-9]
        return mean(th) if th and None not in th else float("nan")

    tw = window(rows, inst, TEST0 + THETA_WINDOW[0], TEST0 + THETA_WINDOW[1])
    return {
        "theta": thetas(*THETA_WINDOW),
        "theta_first_s": thetas(0.0, 1.0),
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
    """The share of the conditioning's change of v that d still shows at the θ samples:
    v moves (1 − e^{−T_c/τ_v}) of the way to s·v_b during conditioning and relaxes back as
    e^{−t/τ_v}; d follows v through its own low-pass τ_d, which multiplies a decay of time
    constant τ_v by τ_v/(τ_v − τ_d) once its own transient (e^{−t/τ_d}) has gone."""
    ts = [THETA_WINDOW[0] + 0.2 * k for k in range(round((THETA_WINDOW[1] - THETA_WINDOW[0]) / 0.2))]
    lag = TAU_V / (TAU_V - TAU_D)
    return (1 - math.exp(-CONDITIONING / TAU_V)) * lag * mean([math.exp(-t / TAU_V) for t in ts])


def fixed_point(d, p=0.5):
    """θ where w settles when it learns: the selective BCM neuron fires y on its class (a
    fraction p of stimuli) with y = θ = q + C d, q = p y²; no solution (silence) for 4 p C d > 1."""
    disc = 1 - 4 * p * C * d
    return (1 + math.sqrt(disc)) / (2 * p) if disc >= 0 else float("nan")


def figure(results, seeds, path):
    """Three panels, every seed a line: θ after priming and its shift from s = 1 beside the
    prediction (with and without the pathway), and θ when w learns in the test phase beside
    w's fixed point (open circles: the neuron fell silent, r_pref < ACTIVE)."""
    main3 = [c[0] for c in CONDITIONS[:3]]
    panels = [
        ("θ after priming (test 2–6 s, w not learning)", "theta", main3, None),
        ("shift θ(s) − θ(1)", "shift", main3, "shift_pred"),
        ("θ when w learns in the test phase", "theta", [CONDITIONS[3][0]], "theta_fixed_point"),
    ]
    colour = {n: c for n, _, c in CONDITIONS}
    L, T, PW, PH, GAP = 70, 40, 330, 300, 90
    W, H = L + 3 * PW + 2 * GAP + 30, T + PH + 110
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">',
           f'<rect width="{W}" height="{H}" fill="white"/>']

    def line(pts, X, Y, stroke, extra=""):
        pts = [(s, v) for s, v in pts if not math.isnan(v)]
        d = " ".join(f"{'M' if i == 0 else 'L'}{X(s):.1f},{Y(v):.1f}" for i, (s, v) in enumerate(pts))
        return f'<path d="{d}" fill="none" stroke="{stroke}" stroke-width="1.2" opacity="0.85"{extra}/>'

    for k, (title, key, names, pred) in enumerate(panels):
        x0 = L + k * (PW + GAP)
        rs = [r for r in results if r["condition"] in names]
        vals = [r[key] for r in rs] + ([r[pred] for r in rs] if pred else [])
        vals = [v for v in vals if not math.isnan(v)]
        lo, hi = min(vals), max(vals)
        lo, hi = lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)
        X = lambda s, x0=x0: x0 + s / 2 * PW
        Y = lambda v, lo=lo, hi=hi: T + PH - (v - lo) / (hi - lo) * PH
        svg.append(f'<rect x="{x0}" y="{T}" width="{PW}" height="{PH}" fill="none" stroke="black"/>')
        svg.append(f'<text x="{x0 + PW / 2}" y="{T - 12}" text-anchor="middle" font-size="13">{title}</text>')
        svg.append(f'<text x="{x0 + PW / 2}" y="{T + PH + 34}" text-anchor="middle">priming strength s (conditioning input_scale)</text>')
        for s in STRENGTHS:
            svg.append(f'<text x="{X(s)}" y="{T + PH + 16}" text-anchor="middle">{s:g}</text>')
        step = 10 ** math.floor(math.log10((hi - lo) / 4))
        step *= 5 if (hi - lo) / step > 20 else 2 if (hi - lo) / step > 8 else 1
        v = math.ceil(lo / step) * step
        while v <= hi:
            svg.append(f'<line x1="{x0}" x2="{x0 + PW}" y1="{Y(v):.1f}" y2="{Y(v):.1f}" stroke="#e8e8e8"/>')
            label = f"{v:.2f}" if abs(v) > step / 2 else "0"
            svg.append(f'<text x="{x0 - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">{label}</text>')
            v += step
        for name in names:
            for seed in range(seeds):
                pts = sorted((r["s"], r[key], r["r_pref"]) for r in rs if r["condition"] == name and r["instance"] == seed)
                svg.append(line([(s, v) for s, v, _ in pts], X, Y, colour[name]))
                for s, v, rate in pts:
                    if not math.isnan(v):
                        fill = colour[name] if rate >= ACTIVE else "white"
                        svg.append(f'<circle cx="{X(s):.1f}" cy="{Y(v):.1f}" r="2.8" fill="{fill}" stroke="{colour[name]}"/>')
                if pred and name == names[0]:
                    svg.append(line([(s, r[pred]) for s, r in sorted((r["s"], r) for r in rs if r["condition"] == name and r["instance"] == seed)],
                                    X, Y, "black", ' stroke-dasharray="4 3"'))
    legend = [(n, c, "") for n, _, c in CONDITIONS] + [
        ("prediction: ½ d_b (s − 1) m (middle); w's fixed point θ* (right)", "black", ' stroke-dasharray="4 3"')]
    for i, (name, c, dash) in enumerate(legend):
        x, y = L + 10 + (i % 3) * 380, T + PH + 62 + (i // 3) * 18
        svg.append(f'<line x1="{x}" x2="{x + 22}" y1="{y - 4}" y2="{y - 4}" stroke="{c}" stroke-width="2"{dash}/>')
        svg.append(f'<text x="{x + 28}" y="{y}">{name}</text>')
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg))


def main():
    ap = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
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
        r["theta_fixed_point"] = fixed_point(r["d_test"])
    cols = ["condition", "s", "instance", "theta", "shift", "shift_pred", "theta_first_s", "theta_fixed_point", "d_baseline",
            "d_test", "q_test", "r_pref", "r_other", "selectivity", "active", "selective"]
    with open(os.path.join(args.out, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
        w.writeheader()
        w.writerows(results)
    print(f"memory factor m = (1 − e^(−{CONDITIONING:g}/{TAU_V:g})) τ_v/(τ_v − τ_d) ⟨e^(−t/{TAU_V:g})⟩ = {m:.3f}")
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
        early = [a["theta_first_s"] - b["theta_first_s"] for a, b in zip(strong, weak)]
        print("  θ(2) − θ(0.5) per seed " + " ".join(f"{d:+.3f}" for d in diff)
              + "   predicted " + " ".join(f"{p:+.3f}" for p in pred)
              + "   ratio " + " ".join(f"{d / p:.3f}" for d, p in zip(diff, pred))
              + "   d_b " + " ".join(f"{r['d_baseline']:.3f}" for r in strong))
        print("  the same over the test's first second " + " ".join(f"{d:+.3f}" for d in early))
        print("  w's fixed point θ* at the test's d, s = 0.5 / 2: "
              + " ".join(f"{b['theta_fixed_point']:.2f}/{a['theta_fixed_point']:.2f}" for a, b in zip(strong, weak)))
    svg = os.path.join(args.out, "priming.svg")
    figure(results, args.seeds, svg)
    if shutil.which("rsvg-convert"):
        subprocess.run(["rsvg-convert", "-o", svg[:-4] + ".png", svg], check=False)
    print(f"\n{args.out}/summary.csv, {svg}")


if __name__ == "__main__":
    main()
