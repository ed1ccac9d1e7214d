#!/usr/bin/python3
"""Side-by-side table of allreduce_bench runs and the network model fitted to each.

Each CASE is NAME=FILE.json[,FILE2.json,...] (allreduce_bench --json; several
files: runs of the same case, e.g. rounds alternating with the other cases,
and per size the median over the runs of each run's median); the first case
is the baseline the others are divided by. Per case, the model of
bench/scaling_model.py is fitted to the medians by least squares on the
relative error (each size counts alike, 8 B as much as 16 MiB):

  t(bytes) = log2(S) alpha + 2 (S - 1) / S * bytes / bw      (S ranks)

Prints the table of the medians, the table of each size's lowest run median
(the run least disturbed by other work on a shared machine) and the fits to
both; --out writes them as one JSON file
(`cases`: per name the fit and the measured rows), which
`scaling_model.py --network` reads.

  /usr/bin/python3 bench/allreduce_table.py one_node_shm=a1.json,a2.json two_nodes=b1.json,b2.json ...
      [--out allreduce.json]
"""
import argparse
import json
import math
import statistics


def fit(rows, ranks):
    """(alpha seconds, bw bytes/s, max relative error) of t = l alpha + k bytes / bw, weighted by 1/t."""
    l = math.log2(ranks)
    k = 2.0 * (ranks - 1) / ranks
    # Unknowns x = (alpha, 1/bw); row i: (l, k b_i) / t_i . x = 1.
    a11 = a12 = a22 = r1 = r2 = 0.0
    for r in rows:
        t = r["median_s"]
        u, v = l / t, k * r["bytes"] / t
        a11 += u * u
        a12 += u * v
        a22 += v * v
        r1 += u
        r2 += v
    det = a11 * a22 - a12 * a12
    alpha = (r1 * a22 - r2 * a12) / det
    inv_bw = (a11 * r2 - a12 * r1) / det
    if inv_bw <= 0 or alpha <= 0:  # keep the model physical: refit the other term alone
        if inv_bw <= 0:
            inv_bw, alpha = 0.0, r1 / a11
        else:
            alpha, inv_bw = 0.0, r2 / a22
    err = max(abs(l * alpha + k * r["bytes"] * inv_bw - r["median_s"]) / r["median_s"] for r in rows)
    return alpha, (1.0 / inv_bw if inv_bw > 0 else float("inf")), err


def size_text(b):
    for unit, div in (("MiB", 2**20), ("KiB", 2**10)):
        if b >= div:
            v = b / div
            return ("%d %s" % (v, unit)) if v == int(v) else ("%.2f %s" % (v, unit))
    return "%d B" % b


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("cases", nargs="+", help="NAME=FILE.json, the first the baseline")
    ap.add_argument("--out", help="write the cases, their fits and rows as one JSON file")
    a = ap.parse_args()
    cases = []
    for spec in a.cases:
        name, _, paths = spec.partition("=")
        runs = [json.load(open(p)) for p in paths.split(",")]
        d = dict(runs[0])
        for key in ("ranks", "nodes", "node_of_rank"):
            if any(r[key] != d[key] for r in runs):
                raise SystemExit("%s: the runs differ in %s" % (name, key))
        per_size = {}
        for r in runs:
            for row in r["results"]:
                per_size.setdefault(row["bytes"], []).append(row["median_s"])
        d["results"] = [{"bytes": b, "median_s": statistics.median(v), "lowest_s": min(v), "run_medians_s": v}
                        for b, v in sorted(per_size.items())]
        d["runs"] = len(runs)
        d["loadavg"] = [r["loadavg_before"].split()[0] for r in runs] + [runs[-1]["loadavg_after"].split()[0]]
        alpha, bw, err = fit(d["results"], d["ranks"])
        d.update(name=name, alpha_s=alpha, bw_bytes_per_s=bw, fit_max_rel_error=err)
        alpha, bw, err = fit([{"bytes": r["bytes"], "median_s": r["lowest_s"]} for r in d["results"]], d["ranks"])
        d.update(lowest_alpha_s=alpha, lowest_bw_bytes_per_s=bw, lowest_fit_max_rel_error=err)
        cases.append(d)
    base = cases[0]
    print("Cases (per size the median over %d run(s) of each run's median of %d repeats; 1-minute load average "
          "before each run and after the last):" % (base["runs"], base["repeats"]))
    for c in cases:
        print("  %-14s %s: %d ranks on %d node(s), node of rank %s, btl %s; load %s" % (
            c["name"], c["label"], c["ranks"], c["nodes"], c["node_of_rank"], c["ompi_mca_btl"] or "(default)",
            " ".join(c["loadavg"])))
    print()
    by_size = [{r["bytes"]: r for r in c["results"]} for c in cases]
    for key, what in (("median_s", "median over the runs"),
                      ("lowest_s", "lowest of the runs' medians: the run least disturbed by other work")):
        print("Per call, %s:" % what)
        print()
        print("| bytes | %s us | " % base["name"] +
              " | ".join("%s us (x %s)" % (c["name"], base["name"]) for c in cases[1:]) + " |")
        print("|" + " --- |" * (len(cases) + 1))
        for b in sorted(by_size[0]):
            cells = ["%.1f" % (by_size[0][b][key] * 1e6)]
            for m in by_size[1:]:
                cells.append("%.1f (%.1fx)" % (m[b][key] * 1e6, m[b][key] / by_size[0][b][key]) if b in m else "-")
            print("| %s | %s |" % (size_text(b), " | ".join(cells)))
        print()
    print("Fit t = log2(S) alpha + 2 (S-1)/S bytes / bw (least squares on the relative error), to the medians and "
          "to the lowest:")
    print()
    print("| case | ranks S | nodes | alpha us | bw GB/s | largest relative misfit | lowest: alpha us | bw GB/s | misfit |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for c in cases:
        print("| %s | %d | %d | %.2f | %.2f | %.0f%% | %.2f | %.2f | %.0f%% |" % (
            c["name"], c["ranks"], c["nodes"], c["alpha_s"] * 1e6, c["bw_bytes_per_s"] * 1e-9,
            100 * c["fit_max_rel_error"], c["lowest_alpha_s"] * 1e6, c["lowest_bw_bytes_per_s"] * 1e-9,
            100 * c["lowest_fit_max_rel_error"]))
    if a.out:
        json.dump({"cases": {c["name"]: c for c in cases}, "baseline": base["name"]}, open(a.out, "w"), indent=1)
        print()
        print("wrote %s" % a.out)


if __name__ == "__main__":
    main()
