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
(`performance.permutations`). The network has two costs (alpha, bw): inside
a node (shared memory) and between nodes. `--network allreduce.json`
(bench/nodes_allreduce.sh, bench/allreduce_table.py) takes both from the
fits measured there (cases `--inside-case`, default one_node_shm, and
`--between-case`, default two_nodes; `--network-fit lowest` for the fit to
each size's least disturbed run); without it the defaults are 1 us and
5 GB/s inside, 2 us and 10 GB/s between (100 Gb/s InfiniBand). `--alpha-us`
and `--bw-gbs` override the between-node cost (a real cluster's
interconnect), `--inside-alpha-us` and `--inside-bw-gbs` the inside one.
Prints, for the target problem, the time and memory per rank for 64 .. 1024
ranks with the smallest group that fits in memory, and the allreduce time of
that group inside one node against the same group across nodes (every one
of its log2(S) steps at the between-node cost: the upper bound a group
placed across nodes pays).

  /usr/bin/python3 bench/scaling_model.py SUMMARY.json [--n 1e7] [--d 2048] [--perms 1e4]
      [--classes 3,5] [--ranks-per-node 64] [--node-gib 256] [--network allreduce.json]
      [--alpha-us 2] [--bw-gbs 10] [--inside-alpha-us 1] [--inside-bw-gbs 5]
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
    ap.add_argument("--network", help="allreduce.json of bench/nodes_allreduce.sh: the measured costs")
    ap.add_argument("--inside-case", default="one_node_shm", help="its case for inside a node")
    ap.add_argument("--between-case", default="two_nodes", help="its case for between nodes")
    ap.add_argument("--network-fit", choices=("median", "lowest"), default="median",
                    help="its fit to the medians over the runs, or to each size's lowest run median")
    ap.add_argument("--alpha-us", type=float, help="allreduce latency per step between nodes, us (default 2)")
    ap.add_argument("--bw-gbs", type=float, help="allreduce bandwidth between nodes, GB/s (default 10)")
    ap.add_argument("--inside-alpha-us", type=float, help="allreduce latency per step inside a node, us (default 1)")
    ap.add_argument("--inside-bw-gbs", type=float, help="allreduce bandwidth inside a node, GB/s (default 5)")
    a = ap.parse_args()
    # (alpha s, bw B/s, where from) inside a node and between nodes.
    inside, between = [1e-6, 5e9, "default"], [2e-6, 10e9, "default (100 Gb/s InfiniBand)"]
    if a.network:
        cases = json.load(open(a.network))["cases"]
        for cost, name in ((inside, a.inside_case), (between, a.between_case)):
            c = cases[name]
            pre = "lowest_" if a.network_fit == "lowest" else ""
            cost[:] = [c[pre + "alpha_s"], c[pre + "bw_bytes_per_s"],
                       "measured: %s (%s), fit to the %s" % (name, c["label"], a.network_fit)]
    for cost, alpha_us, bw_gbs in ((inside, a.inside_alpha_us, a.inside_bw_gbs), (between, a.alpha_us, a.bw_gbs)):
        given = []
        if alpha_us is not None:
            cost[0] = alpha_us * 1e-6
            given.append("alpha")
        if bw_gbs is not None:
            cost[1] = bw_gbs * 1e9
            given.append("bw")
        if given:
            cost[2] = "given" if len(given) == 2 else "%s; %s given" % (cost[2], given[0])
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
    if "allreduce_seconds" in p:
        print("measured run's allreduce (rank 0, its group of %d): %.2f s of the phase's %.2f s, %d calls" % (
            s["layout"]["ranks_per_group"], p["allreduce_seconds"], p["seconds"], p["allreduce_calls"]))
    for what, cost in (("inside a node", inside), ("between nodes", between)):
        print("network %s: alpha %.2f us per step, bw %.2f GB/s, %s" % (what, cost[0] * 1e6, cost[1] * 1e-9, cost[2]))
    print("target: N = %.0e, d = %.0f, %d permutations x %d tasks (C = %s), %d ranks per node, %.0f GiB "
          "per node" % (a.n, a.d, a.perms, len(classes), a.classes, a.ranks_per_node, a.node_gib))
    print()
    print("| ranks | nodes | group size S | groups G | GiB per rank | compute h | allreduce s, group in a node | "
          "allreduce s, group across nodes | total h (in a node / across) | allreduce MB per pass |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
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
            print("| %d | %d | - | - | does not fit | | | | | |" % (R, math.ceil(R / a.ranks_per_node)))
            continue
        G = R // S
        t_c = H / G * a.n / S * a.d * C * per_head_unit * sec_per_unit
        bytes_ = a.batch * C * (a.d + 1) * 8

        def allreduce_seconds(cost):
            per_call = (math.log2(S) * cost[0] + 2 * (S - 1) / S * bytes_ / cost[1]) if S > 1 else 0.0
            return H / (G * a.batch) * passes_per_batch * per_call

        t_in = allreduce_seconds(inside) if S <= a.ranks_per_node else None
        t_across = allreduce_seconds(between) if S > 1 else 0.0
        print("| %d | %d | %d | %d | %.2f | %.1f | %s | %s | %s / %.1f | %.1f |" % (
            R, math.ceil(R / a.ranks_per_node), S, G, mem / 2**30, t_c / 3600,
            "%.0f" % t_in if t_in is not None else "- (S > ranks per node)", "%.0f" % t_across,
            "%.1f" % ((t_c + t_in) / 3600) if t_in is not None else "-", (t_c + t_across) / 3600, bytes_ / 1e6))

if __name__ == "__main__":
    main()
