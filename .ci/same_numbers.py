#!/usr/bin/env python3
"""Compares the tables of two run directories cell by cell: the same columns and rows, text cells
equal, numbers within a relative tolerance. Used by .ci/run to show that the x86-64 baseline
and the aarch64 build compute what the AVX2 build does.

usage: same_numbers.py RUN_A RUN_B REL_TOL
"""
import csv
import math
import sys
from pathlib import Path


def cells(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def main():
    a, b, tol = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    tables = sorted(p.name for p in a.glob("*.csv"))
    if not tables:
        sys.exit(f"{a}: no tables")
    worst = 0.0
    for name in tables:
        ta, tb = cells(a / name), cells(b / name)
        if len(ta) != len(tb):
            sys.exit(f"{name}: {len(ta)} rows in {a}, {len(tb)} in {b}")
        for i, (ra, rb) in enumerate(zip(ta, tb)):
            if len(ra) != len(rb):
                sys.exit(f"{name} row {i}: {len(ra)} cells against {len(rb)}")
            for j, (x, y) in enumerate(zip(ra, rb)):
                if x == y:
                    continue
                try:
                    fx, fy = float(x), float(y)
                except ValueError:
                    sys.exit(f"{name} row {i} column {j}: {x!r} against {y!r}")
                rel = abs(fx - fy) / max(abs(fx), abs(fy), 1e-300)
                if not (rel <= tol) or math.isnan(rel):
                    sys.exit(f"{name} row {i} column {j}: {x} against {y} ({rel:.2e} > {tol:.0e})")
                worst = max(worst, rel)
    print(f"{a} and {b}: {len(tables)} tables agree (largest relative difference {worst:.1e})")


if __name__ == "__main__":
    main()
