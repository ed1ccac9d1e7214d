"""The same analysis with this build and with another build of wsc (another
MPI, e.g. MPICH against Open MPI, or another instruction set), each under its
own mpiexec at 1 to 4 ranks (automatic layout, and rows sharded over all ranks): p-values (per cell, family-wise, FDR,
encodability), verdicts and folds identical, cosines and CV metrics within
WSC_REFERENCE_TOL (default 1e-12).

Needs WSC_REFERENCE_EXE (the other wsc) and WSC_REFERENCE_MPIEXEC (its
mpiexec); tests/CMakeLists.txt registers it when the build is configured with
-DWSC_REFERENCE_EXE=... (tools/test.sh does so for its MPICH build)."""
import os
import subprocess

import h5py
import numpy as np

from wsctest import Failure, check, main, make_model, mpiexec, read_csv, write_config

REF_EXE = os.environ.get("WSC_REFERENCE_EXE", "")
REF_MPIEXEC = os.environ.get("WSC_REFERENCE_MPIEXEC", "mpiexec")
TOL = float(os.environ.get("WSC_REFERENCE_TOL", "1e-12"))
WSC = os.environ.get("WSC_EXE", "wsc")

P_COLUMNS = ("p_perm", "p_fwer", "q_fdr")
COS_COLUMNS = ("cos", "cos_fold_mean", "cos_fold_sd", "boot_lo", "boot_hi")
METRIC_COLUMNS = ("accuracy", "f1_macro", "auroc_macro")


def run(exe, launcher, ranks, config):
    cmd = [launcher, "-n", str(ranks), exe, "run", config, "-q"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise Failure("%s failed (%d):\n%s" % (" ".join(cmd), proc.returncode, proc.stderr))
    return proc


def version(exe):
    return subprocess.run([exe, "--version"], capture_output=True, text=True,
                          check=True).stdout.replace("\n", "; ")


def outputs(out):
    wsc = read_csv(os.path.join(out, "wsc.csv"))
    probes = read_csv(os.path.join(out, "probes.csv"))
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        folds = {t: f["quality/%s/fold" % t][()] for t in f["quality"].keys()
                 if "fold" in f["quality/%s" % t]}
        null = f["null/max_abs_cos"][()]
    return wsc, probes, folds, null


def numbers(tmp):
    check(REF_EXE != "", "WSC_REFERENCE_EXE is not set")
    print("this build:      %s" % version(WSC))
    print("reference build: %s" % version(REF_EXE))
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=203, d=10, seed=5)
    worst_cos = worst_metric = worst_null = 0.0
    # The automatic layout (small data: a group of one rank each, no reduction
    # over rows) and one group sharding the rows over all ranks (every fit
    # sums over ranks with MPI_Allreduce, each MPI in its own order).
    for ranks, groups in ((1, 0), (2, 0), (3, 0), (4, 0), (2, 1), (3, 1), (4, 1)):
        got = {}
        for name, exe, launcher in (("this", WSC, mpiexec(1)[0]), ("ref", REF_EXE, REF_MPIEXEC)):
            out = os.path.join(tmp, "%s%d_%d" % (name, ranks, groups))
            cfg = write_config(os.path.join(tmp, "%s%d_%d.toml" % (name, ranks, groups)), model, out,
                               metadata=("site", "sex", ("age", 3)), permutations=60, folds=3,
                               extra="\n[encodability]\npermutations = 19\n"
                                     "[bootstrap]\ncount = 8\n[parallel]\nbatch = 8\ngroups = %d\n" % groups)
            run(exe, launcher, ranks, cfg)
            got[name] = outputs(out)
        (wa, pa, fa, na), (wb, pb, fb, nb) = got["this"], got["ref"]
        check(len(wa) == len(wb), "%d ranks: %d cells vs %d" % (ranks, len(wa), len(wb)))
        for a, b in zip(wa, wb):
            cell = "%s x %s" % (a["primary_class"], a["metadata_class"])
            for c in P_COLUMNS:
                check(a[c] == b[c], "%d ranks, %s: %s %s vs %s" % (ranks, cell, c, a[c], b[c]))
            for c in COS_COLUMNS:
                d = abs(float(a[c]) - float(b[c]))
                check(d <= TOL, "%d ranks, %s: %s differs by %.2e" % (ranks, cell, c, d))
                worst_cos = max(worst_cos, d)
        for a, b in zip(pa, pb):
            check(a["task"] == b["task"], "task order differs")
            for c in ("p_encoded", "verdict", "folds", "fit_converged"):
                check(a[c] == b[c], "%d ranks, %s: %s %s vs %s" % (ranks, a["task"], c, a[c], b[c]))
            for c in METRIC_COLUMNS:
                d = abs(float(a[c]) - float(b[c]))
                check(d <= TOL, "%d ranks, %s: %s differs by %.2e" % (ranks, a["task"], c, d))
                worst_metric = max(worst_metric, d)
        for t in fa:
            check(np.array_equal(fa[t], fb[t]), "%d ranks: the folds of %s differ" % (ranks, t))
        worst_null = max(worst_null, float(np.max(np.abs(na - nb))))
        print("%d ranks, %s: p-values, verdicts and folds identical"
              % (ranks, "one group" if groups == 1 else "automatic layout"))
    print("largest differences: cosines %.2e, CV metrics %.2e, null maxima %.2e (tolerance %.0e)"
          % (worst_cos, worst_metric, worst_null, TOL))
    check(worst_null <= max(TOL, 1e-7), "the permutation nulls differ by %.2e" % worst_null)


def launcher_mismatch(tmp):
    """Each build's wsc under the other MPI's mpiexec: N singletons that would
    each run the whole analysis. Every one refuses, naming its MPI, and no
    output is written."""
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=60, d=4, seed=1)
    for exe, launcher in ((WSC, REF_MPIEXEC), (REF_EXE, mpiexec(1)[0])):
        out = os.path.join(tmp, "out")
        cfg = write_config(os.path.join(tmp, "c.toml"), model, out, permutations=5)
        proc = subprocess.run([launcher, "-n", "2", exe, "run", cfg, "-q"], capture_output=True,
                              text=True, timeout=120)
        lines = [l for l in proc.stderr.splitlines() if l.startswith("wsc: error:")]
        mpi = [l for l in subprocess.run([exe, "--version"], capture_output=True, text=True,
                                         check=True).stdout.splitlines()
               if l.startswith("MPI: ")][0][len("MPI: "):]
        check(proc.returncode != 0, "%s under %s exited 0" % (exe, launcher))
        check(len(lines) == 2 and all(("started as 2 processes, but MPI sees 1 rank each" in l
                                       and "(%s)" % mpi in l) for l in lines),
              "%s under %s: expected one refusal per process, got:\n%s" % (exe, launcher, proc.stderr))
        check(not os.path.exists(out), "outputs written by a mismatched launch")
        print("%s under %s: refused (%s)" % (mpi, launcher, lines[0]))


if __name__ == "__main__":
    main({"numbers": numbers, "launcher_mismatch": launcher_mismatch})
