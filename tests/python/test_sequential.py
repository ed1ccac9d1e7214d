"""Sequential permutation tests (permutation.stop = "decisions"): the run
stops at the first look where every decision is settled; the stopping point
and every number depend only on the permutation sequence, so rank counts,
layouts, chunks merged and runs stopped and continued give the same results;
on a null model it reaches the decisions of 10^4 fixed permutations with
far fewer fits."""
import os
import signal

import h5py
import numpy as np

from wsctest import check, main, make_model, read_csv, read_summary, run_wsc, write_config
from test_resume_and_merge import (EXIT_RESUMABLE, check_stopped, interrupt, perms_done, start, wait_for,
                                   watch_until_done)

P_COLUMNS = ("p_perm", "p_fwer", "q_fdr", "permutations", "settled", "settled_at", "p_fwer_lo", "p_fwer_hi")


def fixture(tmp, extra="", metadata=("site", "sex"), count=4000, risk="1e-6", alpha="0.01"):
    model = os.path.join(tmp, "model.h5")
    if not os.path.exists(model):
        make_model(model, n=300, d=10, seed=31)
        # A shortcut: the primary head's rows point at the sites' mean rows,
        # so the site cells are clearly significant and the sex cells clearly not.
        with h5py.File(model, "a") as f:
            z, site = f["embeddings"][()], f["labels/site"][()]
            w = np.stack([z[site == s].mean(axis=0) - z.mean(axis=0) for s in range(3)])
            del f["heads/plane/weight"]
            f["heads/plane/weight"] = w
    cfg = write_config(os.path.join(tmp, "c.toml"), model, os.path.join(tmp, "out"), metadata=metadata,
                       permutations=count, folds=3,
                       extra="\n[encodability]\npermutations = 0\nalpha = %s\n" % alpha + extra)
    with open(cfg) as f:
        text = f.read()
    # At alpha = 0.01 and risk 1e-6 the clear cells need ~2000 permutations: many looks.
    text = text.replace("seed = 3\n", 'seed = 3\nstop = "decisions"\nrisk = %s\n' % risk)
    with open(cfg, "w") as f:
        f.write(text)
    return cfg


def p_values(out):
    return [tuple(r[c] for c in P_COLUMNS) for r in read_csv(os.path.join(out, "wsc.csv"))]


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_same_results_everywhere(tmp):
    cfg = fixture(tmp, extra="\n[checkpoint]\ninterval = 0.2\n")
    ref = os.path.join(tmp, "ref")
    run_wsc(["run", cfg, "-q", "--set", "output.dir=" + ref], ranks=2)
    stop = read_summary(ref)["permutations"]["stop"]
    used = read_summary(ref)["permutations"]["count"]
    print("stopped after %d of 4000 permutations (%d looks of %d), all settled: %s"
          % (used, stop["looks"], stop["look"], stop["all_settled"]))
    check(stop["rule"] == "decisions" and stop["all_settled"], "every decision settles: %s" % stop)
    check(stop["look"] * 3 <= used < 4000 and used % stop["look"] == 0, "stopped at a look after several: %d" % used)
    check(stop["permutations_saved"] == 4000 - used, "permutations_saved")
    rows = read_csv(os.path.join(ref, "wsc.csv"))
    check(all(r["permutations"] == str(used) and r["settled"] == "true" for r in rows), "per-cell columns")
    check(max(int(r["settled_at"]) for r in rows) == used, "the last cell settled at the stop")
    with_null = read_summary(ref)["permutations"]["null_cells_kept"]
    check(with_null, "null cells kept")

    # Other rank counts and layouts: the same stop and p-values.
    for ranks, groups in ((0, 0), (3, 0), (3, 3), (4, 1)):
        out = os.path.join(tmp, "r%d_%d" % (ranks, groups))
        run_wsc(["run", cfg, "-q", "--set", "output.dir=" + out, "--set", "parallel.groups=%d" % groups], ranks=ranks)
        check(p_values(out) == p_values(ref), "ranks %d groups %d: p-values or stop differ" % (ranks, groups))

    # Chunks (cut at looks) run their whole range; the merge stops where the whole run did.
    split = os.path.join(tmp, "split")
    for i in range(3):
        run_wsc(["run", cfg, "-q", "--set", "output.dir=" + split, "--chunk", "%d/3" % i], ranks=2)
    run_wsc(["merge", cfg, "-q", "--set", "output.dir=" + split])
    for name in ("wsc.csv", "probes.csv"):
        check(read_bytes(os.path.join(split, name)) == read_bytes(os.path.join(ref, name)),
              "merged chunks: %s differs from the whole run's" % name)

    # Stopped mid-way and continued: the same bytes.
    out = os.path.join(tmp, "out")
    state = os.path.join(out, "checkpoint.wsc")
    proc = start(["run", cfg], ranks=2)
    wait_for(proc, state, cfg, at_least=256)
    interrupt(proc, "ranks")
    check_stopped(proc, out, state, "stopped by SIGTERM", status=EXIT_RESUMABLE, signum=signal.SIGTERM)
    saved = perms_done(state, cfg)
    check(saved < used, "stopped before the stop (%d of %d)" % (saved, used))
    proc = start(["run", cfg], ranks=2)
    watch_until_done(proc, state, cfg)
    check(proc.returncode == 0, "continued run failed:\n%s" % proc.stderr_text)
    for name in ("wsc.csv", "probes.csv"):
        check(read_bytes(os.path.join(out, name)) == read_bytes(os.path.join(ref, name)),
              "continued run: %s differs" % name)


def test_null_model_saves_fits(tmp):
    """Only 'sex' (unrelated to the embedding): every cell is clearly null."""
    cfg = fixture(tmp, metadata=("sex",), count=10000, risk="1e-3", alpha="0.05")
    fixed = os.path.join(tmp, "fixed")
    run_wsc(["run", cfg, "-q", "--set", "output.dir=" + fixed, "--set", "permutation.stop=fixed"], ranks=2)
    seq = os.path.join(tmp, "seq")
    run_wsc(["run", cfg, "-q", "--set", "output.dir=" + seq], ranks=2)
    f, s = read_summary(fixed)["permutations"], read_summary(seq)["permutations"]
    print("fixed: %d permutations (%d fits); decisions: %d (%d fits), %.0fx fewer"
          % (f["count"], f["fits"], s["count"], s["fits"], f["fits"] / s["fits"]))
    check(f["count"] == 10000 and f["fits"] >= 10 * s["fits"], "at least 10x fewer fits")
    fixed_rows, seq_rows = read_csv(os.path.join(fixed, "wsc.csv")), read_csv(os.path.join(seq, "wsc.csv"))
    for a, b in zip(fixed_rows, seq_rows):
        for col in ("p_fwer", "p_perm", "q_fdr"):
            check((float(a[col]) <= 0.05) == (float(b[col]) <= 0.05), "decision on %s differs" % col)
            check(float(b[col]) > 0.05, "a null cell is not significant (%s = %s)" % (col, b[col]))
        check(b["settled"] == "true" and a["settled"] == "", "settled columns")
    check([r["verdict"] for r in read_csv(os.path.join(fixed, "probes.csv"))] ==
          [r["verdict"] for r in read_csv(os.path.join(seq, "probes.csv"))], "verdicts differ")


if __name__ == "__main__":
    main({"everywhere": test_same_results_everywhere, "null_model": test_null_model_saves_fits})
