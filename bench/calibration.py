#!/usr/bin/python3
"""Calibration of wsc's permutation inference on null data.

Many small datasets are drawn under a null hypothesis and each is analysed
as a model of a sweep (one `wsc sweep` per data kind and scheme). The
type-I error is the share of models with a cell at p_fwer <= alpha (the
family-wise error wsc controls), at alpha = 0.05 and 0.01, each with its 95%
Clopper-Pearson interval; nominal means alpha inside the interval, or below
it. Data kinds, each exchangeable only under its own scheme:

  free    metadata labels drawn independently of everything;
  within  metadata labels drawn with frequencies that depend on an encoded
          stratum ('scanner'): exchangeable within strata only;
  blocks  patients of 1-4 rows with a shared random effect and one label per
          patient: exchangeable as whole blocks only (blocks of unequal size).

Each kind is analysed under its own scheme and under "free" (to show what a
wrong scheme does), with permutation.stop = "fixed" and "decisions" (the
permutations used are reported), and, where the build reports it, the tail
approximation p_fwer_tail. A last row runs "decisions" on data with a planted
shortcut (the primary head along the metadata) to show the permutations
stopping saves there.

  /usr/bin/python3 bench/calibration.py --wsc build/wsc [--models 200] [--perms 199]
"""
import argparse
import csv
import math
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np


def clopper_pearson(k, n, level=0.95):
    """Exact binomial interval for k of n (bisection on the binomial tails)."""
    def tail_ge(p, k):  # P(X >= k)
        return sum(math.comb(n, x) * p ** x * (1 - p) ** (n - x) for x in range(k, n + 1))

    def solve(f, target):
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            if f(mid) < target:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    a = (1 - level) / 2
    lo = 0.0 if k == 0 else solve(lambda p: tail_ge(p, k), a)
    hi = 1.0 if k == n else solve(lambda p: tail_ge(p, k + 1), 1 - a)
    return lo, hi


def make_dataset(path, kind, seed, n, d, shortcut=False):
    rng = np.random.default_rng(seed)
    plane = rng.integers(0, 3, n)
    centres = rng.normal(size=(3, d)) * 1.0
    z = rng.normal(size=(n, d)) + centres[plane]
    groups = np.arange(n)
    strata = None
    if kind == "free":
        site = rng.integers(0, 3, n)
    elif kind == "within":
        scanner = rng.integers(0, 2, n)
        z += rng.normal(size=(2, d))[scanner] * 1.5
        # Site frequencies differ by scanner: associated with the embedding
        # through the scanner, exchangeable within a scanner.
        p = np.array([[0.7, 0.2, 0.1], [0.1, 0.2, 0.7]])
        site = np.array([rng.choice(3, p=p[s]) for s in scanner])
        strata = scanner
    elif kind == "blocks":
        sizes = []
        while sum(sizes) < n:
            sizes.append(int(rng.integers(1, 5)))
        sizes[-1] -= sum(sizes) - n
        sizes = [s for s in sizes if s > 0]
        groups = np.repeat(np.arange(len(sizes)), sizes)
        effect = rng.normal(size=(len(sizes), d)) * 1.5
        z += effect[groups]
        site = rng.integers(0, 3, len(sizes))[groups]
    else:
        raise ValueError(kind)
    w = np.stack([z[plane == c].mean(axis=0) - z.mean(axis=0) for c in range(3)])
    if shortcut:
        w = np.stack([z[site == c].mean(axis=0) - z.mean(axis=0) for c in range(3)])
    with h5py.File(path, "w") as f:
        f["embeddings"] = z
        f["heads/plane/weight"] = w
        f["labels/plane"] = plane.astype(np.int64)
        f["labels/site"] = site.astype(np.int64)
        if strata is not None:
            f["labels/scanner"] = strata.astype(np.int64)
        f["groups/patient"] = groups.astype(np.int64)


def config_text(scheme, kind, perms, stop, alpha):
    lines = ['[input]', 'embeddings = "placeholder.h5"', '', '[primary]', 'task = "plane"', '',
             '[[metadata]]', 'name = "site"', '', '[pca]', 'min_components = 4', '',
             '[probe]', 'l2 = 1e-2', 'tol = 1e-8', '', '[cv]', 'folds = 3', '',
             '[permutation]', 'count = %d' % perms, 'seed = 1', 'scheme = "%s"' % scheme,
             'stop = "%s"' % stop]
    if scheme == "within":
        lines.append('strata = "scanner"')
    if scheme == "blocks":
        lines.append('blocks = "patient"')
    lines += ['', '[encodability]', 'permutations = 0', 'alpha = %g' % alpha, '', '[output]',
              'dir = "placeholder"', '']
    return "\n".join(lines)


def run_sweep(wsc, folder, kind, scheme, stop, models, n, d, perms, shortcut=False, alpha=0.05):
    os.makedirs(folder, exist_ok=True)
    for m in range(models):
        path = os.path.join(folder, "m%04d.h5" % m)
        if not os.path.exists(path):
            make_dataset(path, kind, 1000 + m, n, d, shortcut)
    with open(os.path.join(folder, "analysis.toml"), "w") as f:
        f.write(config_text(scheme, kind, perms, stop, alpha))
    with open(os.path.join(folder, "sweep.toml"), "w") as f:
        f.write('config = "analysis.toml"\noutput = "out-%s-%s"\nmodels = ["m*.h5"]\n' % (scheme, stop))
    start = time.time()
    proc = subprocess.run([wsc, "sweep", os.path.join(folder, "sweep.toml"), "-q"], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit("wsc sweep failed:\n" + proc.stderr)
    seconds = time.time() - start
    out = os.path.join(folder, "out-%s-%s" % (scheme, stop))
    results = []
    for m in range(models):
        with open(os.path.join(out, "m%04d" % m, "wsc.csv"), newline="") as f:
            rows = list(csv.DictReader(f))
        tail = [float(r["p_fwer_tail"]) for r in rows if "p_fwer_tail" in r and r["p_fwer_tail"] not in ("", "nan")]
        results.append({"p_fwer": min(float(r["p_fwer"]) for r in rows),
                        "p_fwer_tail": min(tail) if tail else None,
                        "p_perm": [float(r["p_perm"]) for r in rows],
                        "permutations": int(rows[0]["permutations"])})
    return results, seconds


def rate(values, alpha):
    k = sum(1 for v in values if v <= alpha)
    lo, hi = clopper_pearson(k, len(values))
    return "%.3f [%.3f, %.3f]" % (k / len(values), lo, hi), lo, hi


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wsc", required=True)
    ap.add_argument("--models", type=int, default=200)
    ap.add_argument("--perms", type=int, default=199, help="permutations of the fixed runs")
    ap.add_argument("--cap", type=int, default=9999, help="the cap of the 'decisions' runs")
    ap.add_argument("--n", type=int, default=120)
    ap.add_argument("--d", type=int, default=6)
    ap.add_argument("--kinds", default="free,within,blocks")
    ap.add_argument("--keep", help="folder to keep the datasets and outputs in")
    args = ap.parse_args()
    tmp = args.keep or tempfile.mkdtemp(prefix="wsc-calibration-")
    print("%d null datasets per kind (N = %d, d = %d, 3 primary x 3 metadata classes); %d permutations "
          "(fixed), cap %d (decisions, risk 1e-3)\n" % (args.models, args.n, args.d, args.perms, args.cap))
    print("| data | scheme | stop | FWER at 0.05 [95% CI] | FWER at 0.01 [95% CI] | p_perm <= 0.05 (cells) "
          "| tail FWER at 0.05 | mean permutations | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in args.kinds.split(","):
        schemes = [kind] if kind == "free" else [kind, "free"]
        for scheme in schemes:
            for stop in ("fixed", "decisions"):
                res, seconds = run_sweep(args.wsc, os.path.join(tmp, kind), kind, scheme, stop, args.models,
                                         args.n, args.d, args.perms if stop == "fixed" else args.cap)
                f05, _, _ = rate([r["p_fwer"] for r in res], 0.05)
                f01, _, _ = rate([r["p_fwer"] for r in res], 0.01)
                cells = [p for r in res for p in r["p_perm"]]
                perm05 = "%.3f" % (sum(1 for p in cells if p <= 0.05) / len(cells))
                tails = [r["p_fwer_tail"] for r in res if r["p_fwer_tail"] is not None]
                tail05 = rate(tails, 0.05)[0] if tails else "-"
                mean_perms = np.mean([r["permutations"] for r in res])
                print("| %s | %s | %s | %s | %s | %s | %s | %.0f | %.0f |"
                      % (kind, scheme, stop, f05, f01, perm05, tail05, mean_perms, seconds))
                sys.stdout.flush()
    # Permutations saved on data with a shortcut.
    res, seconds = run_sweep(args.wsc, os.path.join(tmp, "shortcut"), "free", "free", "decisions",
                             min(args.models, 50), args.n, args.d, args.cap, shortcut=True)
    used = [r["permutations"] for r in res]
    detected = sum(1 for r in res if r["p_fwer"] <= 0.05)
    print("\nshortcut data, stop = decisions, cap %d: %d of %d models flagged, permutations used: mean %.0f, "
          "median %.0f, max %d (%.0f s)" % (args.cap, detected, len(res), np.mean(used), np.median(used), max(used),
                                           seconds))
    print("\nfolder:", tmp)


if __name__ == "__main__":
    main()
