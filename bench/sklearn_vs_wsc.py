#!/usr/bin/python3
"""Permutation throughput, the scikit-learn way against wsc, on the same data
and the same cores.

The scikit-learn way: for each permutation, refit LogisticRegression
(multinomial, C = 1/(N*l2), lbfgs) on the permuted labels of every metadata
task, joblib over all cores. wsc: `mpiexec -n CORES wsc run` with the same
l2, timing only its permutation phase (summary.json). Both are printed as
fitted heads per second and their ratio.

Matched convergence: scikit-learn (1.2) minimises the same objective as wsc
(mean cross-entropy + l2/2 |W|^2, its l2 = 1/(C N)) and lbfgs stops when the
gradient's max-norm is <= tol, wsc when it is <= probe.tol; both get --tol
(default 1e-8). The achieved gradient max-norms of the observed fits are
printed, and the agreement of the observed heads. --sk-tol sets
scikit-learn's separately (e.g. its default 1e-4, what scripts use).

--kernel-bench BUILD/batched_fit_bench also runs the batched kernel bench
(heads/s, and the batched kernels' flop rate as a fraction of an Eigen GEMM
of the same shape measured in the same run) and prints its summary.

  /usr/bin/python3 bench/sklearn_vs_wsc.py --wsc build/wsc [--n 4800 --d 128]
"""
import argparse
import json
import os
import subprocess
import tempfile
import time
import warnings

import h5py
import numpy as np
from joblib import Parallel, delayed
from sklearn.linear_model import LogisticRegression

CLASSES = [3, 4, 2]  # metadata tasks: site, bins, sex


def make_data(n, d, seed):
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.normal(size=(d, d)))
    scale = 1.0 / np.sqrt(1.0 + 0.2 * np.arange(d))
    primary = rng.integers(0, 4, n)
    labels = [rng.integers(0, c, n) for c in CLASSES]
    z = rng.normal(size=(n, d)) * scale
    z[:, 0] += primary
    for t, y in enumerate(labels):
        z[:, 1 + t] += 0.8 * y
    return z @ basis.T, primary, labels, rng.normal(size=(4, d))


def sk_fit(z, y, c, tol, max_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m = LogisticRegression(multi_class="multinomial", C=c, tol=tol, max_iter=max_iter)
        m.fit(z, y)
    return m.coef_, m.intercept_


def gradient_max_norm(z, y, coef, intercept, l2):
    """Max-norm of the gradient of mean cross-entropy + l2/2 |W|^2 (wsc's objective)."""
    logits = z @ coef.T + intercept
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    gw = p.T @ z / len(y) + l2 * coef
    gb = p.mean(axis=0)
    return max(np.abs(gw).max(), np.abs(gb).max())


def sk_permutation(z, labels, c, seed, b, tol, max_iter):
    perm = np.random.default_rng([seed, b]).permutation(len(z))
    return [sk_fit(z, y[perm], c, tol, max_iter)[0] for y in labels]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wsc", required=True)
    ap.add_argument("--n", type=int, default=4800)
    ap.add_argument("--d", type=int, default=128)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--cores", type=int, default=os.cpu_count())
    ap.add_argument("--perms-sklearn", type=int, default=16)
    ap.add_argument("--perms-wsc", type=int, default=1000)
    ap.add_argument("--tol", type=float, default=1e-8)
    ap.add_argument("--sk-tol", type=float, default=None)
    ap.add_argument("--kernel-bench", default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    if args.sk_tol is None:
        args.sk_tol = args.tol

    z, primary, labels, head = make_data(args.n, args.d, args.seed)
    c = 1.0 / (args.n * args.l2)
    with tempfile.TemporaryDirectory(prefix="wsc-bench-") as tmp:
        model = os.path.join(tmp, "model.h5")
        with h5py.File(model, "w") as f:
            f["embeddings"] = z
            f["heads/plane/weight"] = head
            for t, y in enumerate(labels):
                f["labels/m%d" % t] = y
        cfg = os.path.join(tmp, "bench.toml")
        with open(cfg, "w") as f:
            f.write('[input]\nembeddings = "model.h5"\n[primary]\ntask = "plane"\n')
            for t in range(len(labels)):
                f.write('[[metadata]]\nname = "m%d"\n' % t)
            f.write("[probe]\nl2 = %r\ntol = %r\n[cv]\nfolds = 2\n[permutation]\ncount = %d\n"
                    "[encodability]\npermutations = 0\n[output]\ndir = \"out\"\n"
                    % (args.l2, args.tol, args.perms_wsc))
        env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        subprocess.run(["mpiexec", "-n", str(args.cores), args.wsc, "run", cfg, "-q"], check=True, env=env)
        summary = json.load(open(os.path.join(tmp, "out", "summary.json")))
        with h5py.File(os.path.join(tmp, "out", "results.h5"), "r") as f:
            observed = [f["heads/metadata/m%d/weight" % t][()] for t in range(len(labels))]
    wsc_seconds = summary["timings_seconds"]["permutations"]
    wsc_heads = summary["permutations"]["fits"]
    wsc_grad = summary["permutations"]["max_grad_max_norm"]

    # Observed heads: how close the two optima are, and scikit-learn's
    # achieved gradient max-norm on wsc's objective.
    agree, sk_grad = [], []
    for t, y in enumerate(labels):
        coef, intercept = sk_fit(z, y, c, args.sk_tol, 10000)
        if coef.shape[0] == 1:
            coef = np.vstack([-coef, coef])
            intercept = np.array([-intercept[0], intercept[0]])
        agree.append(np.abs(coef - observed[t]).max() / np.abs(observed[t]).max())
        sk_grad.append(gradient_max_norm(z, y, coef, intercept, args.l2))

    start = time.time()
    Parallel(n_jobs=args.cores)(
        delayed(sk_permutation)(z, labels, c, args.seed, b, args.sk_tol, 10000)
        for b in range(args.perms_sklearn))
    sk_seconds = time.time() - start
    sk_heads = args.perms_sklearn * len(labels)

    sk_rate, wsc_rate = sk_heads / sk_seconds, wsc_heads / wsc_seconds
    print("data: N=%d d=%d tasks with %s classes, l2=%g (sklearn C=%.4g), %d cores"
          % (args.n, args.d, CLASSES, args.l2, c, args.cores))
    print("convergence: wsc tol %g (largest permuted-fit gradient max-norm %.1e); scikit-learn tol %g "
          "(observed fits reach %s)" % (args.tol, wsc_grad, args.sk_tol, ", ".join("%.1e" % g for g in sk_grad)))
    print("observed heads, max |w_sklearn - w_wsc| / max |w_wsc| per task: %s"
          % ", ".join("%.1e" % a for a in agree))
    print("%-34s %10s %10s %12s" % ("method", "heads", "seconds", "heads/s"))
    print("%-34s %10d %10.2f %12.2f" % ("scikit-learn refit, joblib x%d" % args.cores, sk_heads, sk_seconds, sk_rate))
    print("%-34s %10d %10.2f %12.2f" % ("wsc, mpiexec -n %d" % args.cores, wsc_heads, wsc_seconds, wsc_rate))
    print("ratio wsc / scikit-learn: %.1fx" % (wsc_rate / sk_rate))
    if args.kernel_bench:
        print("\nbatched kernel (%s, one thread):" % args.kernel_bench)
        proc = subprocess.run([args.kernel_bench], check=True, capture_output=True, text=True)
        print(proc.stdout.rstrip())


if __name__ == "__main__":
    main()
