"""The demo finds the shortcut it planted and not the control's; outputs
follow the contract (columns, summary echo, no temporary files left)."""
import json
import math
import os

import h5py
import numpy as np

from wsctest import check, main, make_model, read_csv, read_summary, run_wsc, write_config

WSC_COLUMNS = ["model", "primary_task", "primary_class", "metadata", "metadata_class", "cos",
               "p_perm", "p_fwer", "q_fdr"]
PROBE_COLUMNS = ["model", "task", "classes", "accuracy", "f1_macro", "auroc_macro"]


def test_demo(tmp):
    proc = run_wsc(["demo", tmp, "--permutations", "60"], ranks=2)
    print(proc.stdout)
    for name in ("biased", "balanced"):
        out = os.path.join(tmp, name)
        rows = read_csv(os.path.join(out, "wsc.csv"))
        scanner = [r for r in rows if r["metadata"] == "scanner"]
        check(len(scanner) == 9, "%s: 9 plane x scanner cells expected" % name)
        best = min(float(r["p_fwer"]) for r in scanner)
        top = max(abs(float(r["cos"])) for r in scanner)
        print("%s: max |cos| %.3f, min p_fwer %.4f" % (name, top, best))
        if name == "biased":
            check(best <= 1.0 / 61 + 1e-12, "biased: the shortcut should beat every permutation")
            diag = [float(r["cos"]) for r in scanner if r["primary_class_index"] == r["metadata_class_index"]]
            check(min(diag) > 0.2, "biased: plane i / scanner i cosines should be clearly positive: %s" % diag)
        else:
            check(best > 0.05, "balanced: no plane x scanner cell should be significant (min %.4f)" % best)
            check(top < 0.2, "balanced: cosines should stay small (max %.3f)" % top)
        probes = {r["task"]: r for r in read_csv(os.path.join(out, "probes.csv"))}
        check(float(probes["scanner"]["auroc_macro"]) > 0.9, "%s: scanner should be encoded" % name)
        check(float(probes["sex"]["auroc_macro"]) < 0.65, "%s: sex is not in the embedding" % name)
        expected = "encoded_used" if name == "biased" else "encoded_not_used"
        check(probes["scanner"]["verdict"] == expected,
              "%s: scanner verdict %s, expected %s" % (name, probes["scanner"]["verdict"], expected))
        check(probes["sex"]["verdict"] == "not_encoded", "%s: sex verdict %s" % (name, probes["sex"]["verdict"]))
    check("ENCODED AND USED" in proc.stdout, "the demo table should flag the shortcut")
    # The written config runs again on its own.
    run_wsc(["run", os.path.join(tmp, "balanced.toml"), "-q", "--set", "permutation.count=5",
             "--set", "output.dir=" + os.path.join(tmp, "again")])


def binomial_tail_at_least(e, m, p):
    """P(X >= e) for X ~ Binomial(m, p)."""
    return sum(math.comb(m, x) * p ** x * (1 - p) ** (m - x) for x in range(e, m + 1))


def test_outputs_contract(tmp):
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=150, d=8, seed=2)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out, metadata=("site", ("age", 3)),
                       permutations=15)
    run_wsc(["run", cfg, "-q", "--set", "cv.folds=4"])
    files = sorted(os.listdir(out))
    check(files == ["probes.csv", "results.h5", "summary.json", "wsc.csv"], "output files: %s" % files)
    rows = read_csv(os.path.join(out, "wsc.csv"))
    check(list(rows[0].keys())[:9] == WSC_COLUMNS, "wsc.csv columns: %s" % list(rows[0].keys()))
    check(len(rows) == 3 * 3 + 3 * 3, "wsc.csv rows: %d" % len(rows))
    check(all(r["model"] == "fixture" for r in rows), "model name from the root attribute")
    # Round-trip digits: cos in the CSV equals the HDF5 double exactly.
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        cos = f["wsc/site/cos"][()]
        null = f["null/abs_cos"][()]
        check(null.shape == (15, 18), "null shape %s" % (null.shape,))
    site = [r for r in rows if r["metadata"] == "site"]
    for r in site:
        check(float(r["cos"]) == cos[int(r["primary_class_index"]), int(r["metadata_class_index"])],
              "cos in wsc.csv does not round-trip")
    # p-values follow their definitions from the stored null.
    cells = np.array([abs(float(r["cos"])) for r in rows])
    p_perm = (1 + (null >= cells[None, :]).sum(axis=0)) / 16.0
    p_fwer = (1 + (null.max(axis=1)[:, None] >= cells[None, :]).sum(axis=0)) / 16.0
    check(np.allclose([float(r["p_perm"]) for r in rows], p_perm, rtol=0, atol=0), "p_perm definition")
    check(np.allclose([float(r["p_fwer"]) for r in rows], p_fwer, rtol=0, atol=0), "p_fwer definition")
    # Monte Carlo error: the 99% Clopper-Pearson limits put 0.5% of the
    # binomial (15 permutations) in each tail.
    for r in rows:
        for name in ("p_perm", "p_fwer"):
            e = int(round(float(r[name]) * 16)) - 1
            lo, hi = float(r[name + "_lo"]), float(r[name + "_hi"])
            check(lo <= e / 15.0 <= hi, "%s interval [%g, %g] misses %d/15" % (name, lo, hi, e))
            if e > 0:
                check(abs(binomial_tail_at_least(e, 15, lo) - 0.005) < 1e-9, "%s_lo: upper tail" % name)
            else:
                check(lo == 0.0, "%s_lo with no exceedance" % name)
            if e < 15:
                check(abs(1 - binomial_tail_at_least(e + 1, 15, hi) - 0.005) < 1e-9, "%s_hi: lower tail" % name)
            else:
                check(hi == 1.0, "%s_hi with all exceeding" % name)
    age = [r["metadata_class"] for r in rows if r["metadata"] == "age"][:3]
    check(age[0].startswith("[") and age[-1].endswith("]"), "age bins named by interval: %s" % age)
    probes = read_csv(os.path.join(out, "probes.csv"))
    check(list(probes[0].keys())[:6] == PROBE_COLUMNS, "probes.csv columns")
    s = read_summary(out)
    check(s["config"]["cv"]["folds"] == 4, "summary echoes the config as run (with --set)")
    check(s["config"]["permutation"]["count"] == 15, "summary permutation count")
    for key in ("wsc_version", "git_commit", "ranks", "pca", "timings_seconds", "peak_rss_bytes_per_rank"):
        check(key in s, "summary.json lacks %s" % key)
    check(s["pca"]["k"] >= 4, "k at least min_components")
    check(s["primary"]["quality"]["method"] == "model-head", "primary evaluated as the model's head")
    check(s["layout"]["groups"] * s["layout"]["ranks_per_group"] == s["ranks"], "layout: %s" % s["layout"])
    # The build the run came from: the instruction set configured (WSC_ARCH),
    # Eigen's vector instructions, the MPI and HDF5 libraries; the same in
    # results.h5 and in `wsc --version`, which answers without mpiexec.
    build = s["build"]
    check(build["arch"] == os.environ["WSC_BUILD_ARCH"], "build arch %s, configured %s"
          % (build["arch"], os.environ["WSC_BUILD_ARCH"]))
    check("SSE2" in build["simd"] or "NEON" in build["simd"], "build simd: %s" % build["simd"])
    check(build["mpi"].startswith(("Open MPI", "MPICH")), "build mpi: %s" % build["mpi"])
    check(build["hdf5"].count(".") == 2 and build["version"] == s["wsc_version"], "build: %s" % build)
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        check(json.loads(f.attrs["build"]) == build, "results.h5 build attribute")
    version = run_wsc(["--version"]).stdout.splitlines()
    check(version[1] == "instruction set: %s (vectorised with %s)" % (build["arch"], build["simd"])
          and version[2] == "processor extensions needed: %s" % (build["cpu_features"] or "none")
          and version[4] == "MPI: " + build["mpi"], "wsc --version: %s" % version)
    check(build["arch"] != "portable" or build["cpu_features"] == "",
          "a portable build needs no processor extension: %s" % build)

    # Per-fold WSC columns are the mean and sd of the stored fold matrices.
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        for task in ("site", "age"):
            folds = np.array([f["wsc/%s/cos_fold/%d" % (task, k)][()] for k in range(4)])
            mine = [r for r in rows if r["metadata"] == task]
            for r in mine:
                i, j = int(r["primary_class_index"]), int(r["metadata_class_index"])
                check(abs(float(r["cos_fold_mean"]) - folds[:, i, j].mean()) < 1e-15, "cos_fold_mean")
                check(abs(float(r["cos_fold_sd"]) - folds[:, i, j].std(ddof=1)) < 1e-15, "cos_fold_sd")
                check(r["folds"] == "4", "folds column")
        # p_encoded follows permutation_test_score's definition from the stored
        # null of cross-validated macro AUROCs; the verdict follows from it and p_fwer.
        by_task = {r["task"]: r for r in probes}
        for task in ("site", "age"):
            g = f["encodability/%s" % task]
            null_auc = g["null_auroc_macro"][()]
            score = g.attrs["auroc_macro"]
            check(len(null_auc) == 100, "default 100 encodability permutations")
            check(abs(score - float(by_task[task]["auroc_macro"])) < 1e-15, "score is the CV macro AUROC")
            p_enc = (1 + np.sum(null_auc >= score)) / 101.0
            check(float(by_task[task]["p_encoded"]) == p_enc, "p_encoded definition (%s)" % task)
            min_fwer = min(float(r["p_fwer"]) for r in rows if r["metadata"] == task)
            verdict = ("not_encoded" if p_enc > 0.05 else
                       "encoded_used" if min_fwer <= 0.05 else "encoded_not_used")
            check(by_task[task]["verdict"] == verdict, "verdict of %s: %s, expected %s"
                  % (task, by_task[task]["verdict"], verdict))
            check(s["metadata"][["site", "age"].index(task)]["verdict"] == verdict, "summary verdict")
    check(float(by_task["site"]["p_encoded"]) == 1 / 101.0,
          "site is encoded in the fixture: p_encoded = %s" % by_task["site"]["p_encoded"])


def test_bootstrap_intervals(tmp):
    """bootstrap.count resamples: boot_lo/boot_hi are the percentiles of the
    stored resampled cells; the observed cell of a strong effect lies inside."""
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=160, d=8, seed=3)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out, metadata=("site", "sex"),
                       permutations=5, extra="\n[encodability]\npermutations = 0\n"
                       "[bootstrap]\ncount = 40\nlevel = 0.9\n")
    run_wsc(["run", cfg, "-q"], ranks=2)
    rows = read_csv(os.path.join(out, "wsc.csv"))
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        boot = f["bootstrap/cos"][()]
    check(boot.shape == (40, len(rows)), "bootstrap cells shape %s" % (boot.shape,))
    check(np.all(np.abs(boot) <= 1.0) and np.std(boot, axis=0).min() > 0, "resamples differ and are cosines")
    lo = np.percentile(boot, 5.0, axis=0)
    hi = np.percentile(boot, 95.0, axis=0)
    for c, r in enumerate(rows):
        check(abs(float(r["boot_lo"]) - lo[c]) < 1e-15 and abs(float(r["boot_hi"]) - hi[c]) < 1e-15,
              "row %d interval (%s, %s) vs numpy (%r, %r)" % (c, r["boot_lo"], r["boot_hi"], lo[c], hi[c]))
        check(r["bootstrap"] == "40", "bootstrap column")
    site = [r for r in rows if r["metadata"] == "site"]
    strongest = max(site, key=lambda r: abs(float(r["cos"])))
    check(float(strongest["boot_lo"]) <= float(strongest["cos"]) <= float(strongest["boot_hi"]),
          "the strongest site cell lies in its interval: %s" % strongest)
    # Another rank count and layout: the same resamples, the same intervals.
    out2 = os.path.join(tmp, "out2")
    run_wsc(["run", cfg, "-q", "--set", "output.dir=%s" % out2, "--set", "parallel.groups=1"], ranks=3)
    rows2 = read_csv(os.path.join(out2, "wsc.csv"))
    d = max(abs(float(a[k]) - float(b[k])) for a, b in zip(rows, rows2) for k in ("boot_lo", "boot_hi"))
    check(d < 1e-7, "intervals differ across layouts by %.3e" % d)


def test_second_labels_file(tmp):
    model = os.path.join(tmp, "model.h5")
    arr = make_model(model, n=120, d=6, seed=4)
    meta = os.path.join(tmp, "meta.h5")
    with h5py.File(meta, "w") as f:
        f["labels/site"] = arr["site"]
        f["labels/plane"] = arr["plane"]
        f["groups/patient"] = arr["patient"]
    bare = os.path.join(tmp, "bare.h5")
    with h5py.File(bare, "w") as f:
        f["embeddings"] = arr["embeddings"]
        f["heads/plane/weight"] = arr["head_w"]
    out1, out2 = os.path.join(tmp, "o1"), os.path.join(tmp, "o2")
    run_wsc(["run", write_config(os.path.join(tmp, "a.toml"), model, out1, metadata=("site",)), "-q"])
    run_wsc(["run", write_config(os.path.join(tmp, "b.toml"), bare, out2, metadata=("site",), labels=meta), "-q"])
    a, b = read_csv(os.path.join(out1, "wsc.csv")), read_csv(os.path.join(out2, "wsc.csv"))
    check([r["cos"] for r in a] == [r["cos"] for r in b], "labels from a second file give the same cosines")


def test_probe_primary_grouped_folds(tmp):
    """primary.source = "probe" fits the primary head from its labels and
    cross-validates it; cv.groups keeps each patient in one fold."""
    model = os.path.join(tmp, "model.h5")
    arr = make_model(model, n=200, d=8, seed=9)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out, metadata=("site",), source="probe",
                       permutations=5, folds=4)
    run_wsc(["run", cfg, "-q", "--set", "cv.groups=patient"], ranks=2)
    probes = {r["task"]: r for r in read_csv(os.path.join(out, "probes.csv"))}
    check(probes["plane"]["evaluation"] == "cv" and probes["plane"]["role"] == "primary",
          "primary probe is cross-validated: %s" % probes["plane"])
    check(float(probes["plane"]["accuracy"]) > 0.6, "the primary probe learns the plane")
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        w = f["heads/primary/plane/weight"][()]
        check(np.abs(w - arr["head_w"]).max() > 1e-3, "primary head is the fitted probe, not the file's")
        check(np.abs(w.sum(axis=0)).max() < 1e-8, "an L2 probe's rows sum to zero")
        for task in ("plane", "site"):
            fold = f["quality/%s/fold" % task][()]
            for p in np.unique(arr["patient"]):
                check(len(np.unique(fold[arr["patient"] == p])) == 1, "patient %d split across folds" % p)
            check(sorted(np.unique(fold)) == [0, 1, 2, 3], "four folds used")


def test_model_head_with_unused_class(tmp):
    """The model's own head is only evaluated on /labels/<primary>: labels that
    never use one of its classes are fine (a fitted probe would refuse them)."""
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=90, d=6)
    with h5py.File(model, "a") as f:
        plane = f["labels/plane"][()]
        plane[plane == 1] = 2
        del f["labels/plane"]
        f["labels/plane"] = plane
    out = os.path.join(tmp, "out")
    run_wsc(["run", write_config(os.path.join(tmp, "c.toml"), model, out, permutations=3), "-q"])
    probes = {r["task"]: r for r in read_csv(os.path.join(out, "probes.csv"))}
    check(probes["plane"]["classes"] == "3", "the model head keeps its 3 classes")
    proc = run_wsc(["run", write_config(os.path.join(tmp, "d.toml"), model, out, permutations=3,
                                        source="probe"), "-q"], check_ok=False)
    check(proc.returncode != 0 and "class 1 of 3 has no samples" in proc.stderr,
          "a probe primary refuses the empty class: %s" % proc.stderr)


def test_exchangeability_schemes(tmp):
    """Within strata: permuting 'site' inside the strata of 'site' itself
    leaves its labels unchanged, so every permuted site head is the observed
    one (to the solver's precision). Blocks: patients (4 rows each) move
    as units; the run's null differs from the free one."""
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=160, d=6, seed=6)
    cfg = write_config(os.path.join(tmp, "c.toml"), model, os.path.join(tmp, "free"),
                       metadata=("site", "sex"), permutations=12)
    run_wsc(["run", cfg, "-q"])
    run_wsc(["run", cfg, "-q", "--set", "permutation.scheme=within", "--set", "permutation.strata=site",
             "--set", "output.dir=" + os.path.join(tmp, "within")], ranks=2)
    rows = read_csv(os.path.join(tmp, "within", "wsc.csv"))
    observed = np.array([abs(float(r["cos"])) for r in rows])
    is_site = np.array([r["metadata"] == "site" for r in rows])
    with h5py.File(os.path.join(tmp, "within", "results.h5"), "r") as f:
        null = f["null/abs_cos"][()]
    # Permuted site heads are refits of the same labels: equal to the solver's precision.
    dsite = np.abs(null[:, is_site] - observed[None, is_site]).max()
    check(dsite < 1e-6, "site permuted within its own strata moved: max |d cos| %.2e" % dsite)
    dsex = np.abs(null[:, ~is_site] - observed[None, ~is_site]).max()
    check(dsex > 1e-3, "sex still varies within site strata (max |d cos| %.2e)" % dsex)
    check(read_summary(os.path.join(tmp, "within"))["config"]["permutation"]["scheme"] == "within",
          "scheme echoed")
    run_wsc(["run", cfg, "-q", "--set", "permutation.scheme=blocks", "--set", "permutation.blocks=patient",
             "--set", "output.dir=" + os.path.join(tmp, "blocks")])
    with h5py.File(os.path.join(tmp, "free", "results.h5"), "r") as f:
        free = f["null/abs_cos"][()]
    with h5py.File(os.path.join(tmp, "blocks", "results.h5"), "r") as f:
        blocks = f["null/abs_cos"][()]
    check(free.shape == blocks.shape and np.abs(free - blocks).max() > 1e-3, "blocks null differs from free")


def test_unconverged_is_loud(tmp):
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=100, d=6, seed=3)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out, metadata=("site",), permutations=2)
    proc = run_wsc(["run", cfg, "-q", "--set", "probe.max_iter=1"])
    check("wsc: warning: probe for task 'site' stopped without converging" in proc.stderr,
          "unconverged fit not reported:\n%s" % proc.stderr)
    s = read_summary(out)
    check(s["metadata"][0]["fit"]["converged"] is False, "summary records the unconverged fit")
    check(s["permutations"]["unconverged_fits"] == 2, "permuted fits counted")


def test_progress_lines(tmp):
    """A run whose stderr is a pipe (a SLURM log) names every phase as it
    begins, on rank 0 only, in order; a short run prints nothing else there;
    -q prints none of them."""
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=200, d=8, seed=4, dtype=np.float32)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out, metadata=("site", "sex"), permutations=6,
                       extra="\n[encodability]\npermutations = 3\n[bootstrap]\ncount = 4\n")
    proc = run_wsc(["run", cfg], ranks=2)
    lines = proc.stderr.splitlines()
    expected = ["wsc: reading /embeddings of model.h5: 200 x 8 float32 (6.4 KB) ",
                "wsc: pca: mean and covariance of 200 x 8 rows",
                "wsc: fits: 8 heads, the probe and its 3 CV fold probes of 2 tasks (site, sex)",
                "wsc: encodability: 3 label permutations of 2 tasks, each refitted on 3 folds",
                "wsc: permutations: 6 permutations of the metadata labels, 2 probes refitted for each",
                "wsc: bootstrap: 4 resamples of the rows, 2 probes refitted for each",
                "wsc: writing wsc.csv, probes.csv, summary.json and results.h5 to " + out]
    check(len(lines) == len(expected) and all(l.startswith(e) for l, e in zip(lines, expected)),
          "phase lines, in order, once each (rank 0 only), nothing else:\n%s" % proc.stderr)
    check(lines[0].endswith(" over 2 ranks") or lines[0].endswith(" whole on each of 2 ranks"),
          "the reading line names the layout: %s" % lines[0])
    quiet = run_wsc(["run", cfg, "-q", "--set", "output.dir=" + os.path.join(tmp, "quiet")], ranks=2)
    check(quiet.stderr == "", "-q prints no phase lines:\n%s" % quiet.stderr)


if __name__ == "__main__":
    main({"demo": test_demo, "outputs": test_outputs_contract, "labels_file": test_second_labels_file,
          "probe_primary": test_probe_primary_grouped_folds, "unconverged": test_unconverged_is_loud,
          "unused_class": test_model_head_with_unused_class,
          "schemes": test_exchangeability_schemes, "bootstrap": test_bootstrap_intervals,
          "progress": test_progress_lines})
