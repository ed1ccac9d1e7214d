#!/usr/bin/python3
"""The scaling model of wsc's permutation phase, for many ranks over several nodes.

Per permuted head (C classes, converged at tol in a few TRON iterations) the
batched solver makes P_e evaluation passes (4 n d C flops each, double) and
P_h Hessian-vector passes (6 n d C flops each, float: 2 of them recompute the
probabilities) over the n rows a rank holds, and one allreduce of the batch's
sums per pass (B C (d + 1) doubles) inside its group of S ranks. G = R / S
groups take disjoint batches. So, for H = permutations x tasks heads:

  compute per rank  t_c = H/G * N/S * d * C * (4 P_e / rate_d + 6 P_h / rate_f)
  allreduce         t_a = H/(G B) * (P_e + P_h) * (log2(S) alpha + 2 (S-1)/S * bytes / bw)
  memory per rank   N/S * d * 4 (float32 rows) + N * (8 T + 16) (labels, every rank)
                    + B * N/S * 4 (a batch's labels) + 16 N + fixed

The rates and pass counts come from a measured run's summary.json
(`performance.permutations`), the network from the command line (defaults:
shared memory inside a node as measured here, 100 Gb/s InfiniBand between
nodes). Prints, for the target problem, the time and memory per rank for
64 .. 1024 ranks and the smallest group that fits in memory.

  /usr/bin/python3 bench/scaling_model.py SUMMARY.json [--n 1e7] [--d 2048] [--perms 1e4]
      [--classes 3,5] [--ranks-per-node 64] [--node-gib 256] [--alpha-us 2] [--bw-gbs 10]
"""
import argparse
import json
import math


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("summary", help="summary.json of a measured run (performance.permutations)")
    ap.add_argument("--n", type=float, default=1e7)
    ap.add_argument("--d", type=float, default=2048)
    ap.add_argument("--perms", type=float, default=1e4)
    ap.add_argument("--classes", default="3,5")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--ranks-per-node", type=int, default=64)
    ap.add_argument("--node-gib", type=float, default=256.0)
    ap.add_argument("--alpha-us", type=float, default=2.0, help="allreduce latency per step between nodes")
    ap.add_argument("--bw-gbs", type=float, default=10.0, help="allreduce bandwidth between nodes, GB/s")
    a = ap.parse_args()
    s = json.load(open(a.summary))
    p = s["performance"]["permutations"]
    rows, dim = s["rows"], s["dim"]
    tasks = [t["classes"] for t in s["metadata"]]
    heads_measured = p["heads"]
    cols_measured = sum(tasks) / len(tasks)
    # Passes per head from the measured flops (they include every pass a head was in).
    flops = p["gemm_gflops"] * 1e9
    per_head_unit = flops / (heads_measured * rows * dim * cols_measured)  # = 4 P_e + 6 P_h
    rate_d = p["gemm_rate_gflops_double"] * 1e9
    rate_f = p["gemm_rate_gflops_float"] * 1e9
    frac = p["gemm_fraction"]
    evals, hvs = p["evaluations"], p["hessian_products"]
    share_e = 4 * evals / (4 * evals + 6 * hvs)
    # Seconds per flop of the mixed passes, at the fraction of the GEMM rate reached.
    sec_per_unit = (share_e / rate_d + (1 - share_e) / rate_f) / max(frac, 1e-3)
    batches = heads_measured / a.batch
    passes_per_batch = (evals + hvs) / max(batches, 1)

    classes = [int(c) for c in a.classes.split(",")]
    H = a.perms * len(classes)
    C = sum(classes) / len(classes)
    budget = 0.5 * a.node_gib * 2**30 / a.ranks_per_node
    print("measured on %d x %d: %.1f flops-units per head row (4 P_e + 6 P_h), %.1f passes per batch, "
          "GEMM %.1f / %.1f GFLOP/s (double / float), %.0f%% of the GEMM-bound limit" %
          (rows, dim, per_head_unit, passes_per_batch, rate_d * 1e-9, rate_f * 1e-9, 100 * frac))
    print("target: N = %.0e, d = %.0f, %d permutations x %d tasks (C = %s), %d ranks per node, %.0f GiB "
          "per node" % (a.n, a.d, a.perms, len(classes), a.classes, a.ranks_per_node, a.node_gib))
    print()
    print("| ranks | nodes | group size S | groups G | GiB per rank | compute h | allreduce s | total h | "
          "allreduce MB per pass |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for R in (64, 128, 256, 512, 1024):
        S = 1
        while S <= R:
            if R % S == 0:
                mem = a.n / S * a.d * 4 + a.n * (8 * len(classes) + 16) + a.batch * a.n / S * 4 + 16 * a.n + \
                    (5 * a.d * a.d + 6 * a.batch * C * a.d) * 8 + 64 * 2**20
                if mem <= budget:
                    break
            S *= 2
        if S > R:
            print("| %d | %d | - | - | does not fit | | | | |" % (R, math.ceil(R / a.ranks_per_node)))
            continue
        G = R // S
        t_c = H / G * a.n / S * a.d * C * per_head_unit * sec_per_unit
        bytes_ = a.batch * C * (a.d + 1) * 8
        inter = S > a.ranks_per_node
        alpha = a.alpha_us * 1e-6 if inter else 1e-6
        bw = a.bw_gbs * 1e9 if inter else 5e9
        per_call = (math.log2(S) * alpha + 2 * (S - 1) / S * bytes_ / bw) if S > 1 else 0.0
        t_a = H / (G * a.batch) * passes_per_batch * per_call
        print("| %d | %d | %d | %d | %.2f | %.1f | %.0f | %.1f | %.1f |" % (
            R, math.ceil(R / a.ranks_per_node), S, G, mem / 2**30, t_c / 3600, t_a,
            (t_c + t_a) / 3600, bytes_ / 1e6))


if __name__ == "__main__":
    main()
