"""The same analysis under mpiexec -n 1, 2, 3 and 4 (and without mpiexec),
with the automatic rank layout and with forced ones (parallel.groups: one
group sharding the rows, one group per rank): cosines agree to 1e-7 (inside
the 1e-6 promised), p-values (per cell, family-wise, FDR, encodability) and
verdicts are identical, and the nulls agree cell by cell to the solver's
tolerance. N = 203 is divisible by none of 2, 3, 4; a second case gives each
rank fewer rows than dimensions."""
import os

import h5py
import numpy as np

from wsctest import check, main, make_model, read_csv, read_summary, run_wsc, write_config

# Every fit stops at a gradient max-norm of tol = 1e-10, so weights (and
# cosines, observed or permuted) agree across rank counts to about
# tol / l2 = 1e-7: ten times inside the 1e-6 promised.
COS_TOL = 1e-7
NULL_TOL = 1e-7


def results(out):
    rows = read_csv(os.path.join(out, "wsc.csv"))
    cos = np.array([float(r["cos"]) for r in rows])
    p = [(r["p_perm"], r["p_fwer"], r["q_fdr"]) for r in rows]
    p += [(r["task"], r["p_encoded"], r["verdict"]) for r in read_csv(os.path.join(out, "probes.csv"))]
    # k-sensitivity: the same p-values at every k.
    p += [(r["k"], r["projection"], r["p_perm"], r["p_fwer"], r["q_fdr"]) for r in read_csv(os.path.join(out, "wsc_k.csv"))]
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        null = f["null/abs_cos"][()]
        comps = f["pca/components"][()]
    return cos, p, null, comps


def compare_over_ranks(tmp, n, ranks_list, permutations):
    """ranks_list: rank counts (automatic layout) or (ranks, groups) pairs."""
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=n, d=10, seed=5)
    base = None
    for entry in ranks_list:
        ranks, groups = entry if isinstance(entry, tuple) else (entry, 0)
        name = "%d_%d" % (ranks, groups)
        out = os.path.join(tmp, "out" + name)
        # Small batches, so there are more work items than groups.
        cfg = write_config(os.path.join(tmp, "c%s.toml" % name), model, out,
                           metadata=("site", "sex", ("age", 3)), permutations=permutations, folds=3,
                           sensitivity=(1, 3, 10, 0),
                           extra="\n[encodability]\npermutations = 9\n[parallel]\nbatch = 4\ngroups = %d\n"
                           % groups)
        run_wsc(["run", cfg, "-q"], ranks=ranks)
        layout = read_summary(out)["layout"]
        print("ranks %d: %s" % (ranks, layout["reason"]))
        if groups:
            check(layout["groups"] == groups, "parallel.groups = %d not used: %s" % (groups, layout))
        r = results(out)
        if base is None:
            base = r
            continue
        dcos = np.max(np.abs(r[0] - base[0]))
        print("ranks %d (groups %d) vs first: max |cos difference| %.2e" % (ranks, groups, dcos))
        check(dcos < COS_TOL, "cosines at %d ranks differ by %.3e" % (ranks, dcos))
        check(r[1] == base[1], "p-values at %d ranks differ:\n%s\n%s" % (ranks, r[1], base[1]))
        dnull = np.max(np.abs(r[2] - base[2]))
        check(dnull < NULL_TOL, "null at %d ranks differs by %.3e" % (ranks, dnull))
        dpca = np.max(np.abs(r[3] - base[3]))
        check(dpca < 1e-9, "PCA basis at %d ranks differs by %.3e" % (ranks, dpca))


def test_ranks_1_to_4(tmp):
    compare_over_ranks(tmp, 203, [0, 1, 2, 3, 4, (2, 1), (4, 1), (4, 2), (4, 4)], 30)


def test_ranks_with_empty_blocks(tmp):
    # N = 30 over 4 ranks: blocks of 8, 8, 7, 7 rows, fewer rows than d on
    # each rank, so no rank can compute anything meaningful alone.
    compare_over_ranks(tmp, 30, [1, 4, (4, 1)], 10)


if __name__ == "__main__":
    main({"ranks_1_to_4": test_ranks_1_to_4, "small_blocks": test_ranks_with_empty_blocks})
