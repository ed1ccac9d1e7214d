"""k-sensitivity ([pca] sensitivity): the WSC at several numbers of
principal components k and with no projection, checked against an
independent computation (scikit-learn's PCA of the same rows, numpy
cosines of the stored heads); the run's own k reproduces wsc.csv exactly;
k = d equals no projection; the family-wise p-values at each k follow from
the stored per-k null maxima; a sweep pools every k across models."""
import os

import h5py
import numpy as np
from sklearn.decomposition import PCA

from wsctest import check, main, make_model, read_csv, read_summary, run_wsc, write_config

D = 16
KS = (2, 4, 8, D, 0)


def cosines(a, m):
    an = a / np.linalg.norm(a, axis=1, keepdims=True)
    mn = m / np.linalg.norm(m, axis=1, keepdims=True)
    return an @ mn.T


def bh(p):
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    n = len(p)
    q = np.empty(n)
    running = 1.0
    for rank in range(n - 1, -1, -1):
        i = order[rank]
        running = min(running, p[i] * n / (rank + 1))
        q[i] = running
    return q


def test_numbers(tmp):
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=400, d=D, seed=8)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out, metadata=("site", "sex", ("age", 3)),
                       permutations=60, folds=3, components=8, sensitivity=KS)
    run_wsc(["run", cfg, "-q"], ranks=2)
    rows = read_csv(os.path.join(out, "wsc_k.csv"))
    main_rows = read_csv(os.path.join(out, "wsc.csv"))
    summary = read_summary(out)
    run_k = summary["pca"]["k"]
    order = [2, 4, 8, D, D]
    check([int(r["k"]) for r in rows] == [k for k in order for _ in main_rows],
          "one row per k and cell, k ascending, no projection last: %s" % sorted({r["k"] for r in rows}))
    check([r["projection"] for r in rows] == ["pca"] * (4 * len(main_rows)) + ["none"] * len(main_rows),
          "projection column")
    check(list(rows[0].keys())[:9] == ["model", "primary_task", "primary_class", "metadata", "metadata_class",
                                       "k", "projection", "explained", "cos"], "wsc_k.csv columns")

    with h5py.File(model, "r") as f:
        x = f["embeddings"][()]
        w_primary = f["heads/plane/weight"][()]
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        probes = {t: f["heads/metadata/%s/weight" % t][()] for t in f["heads/metadata"].keys()}
        null_max = f["sensitivity/null_max_abs_cos"][()]
        ks_h5 = list(f["sensitivity/k"][()])
        cube = {t: f["sensitivity/%s/cos" % t][()] for t in probes}
    check(ks_h5 == [2, 4, 8, D, 0], "/sensitivity/k %s" % ks_h5)
    check(null_max.shape == (60, 5), "/sensitivity/null_max_abs_cos shape %s" % (null_max.shape,))

    # Independent: scikit-learn's PCA (SVD of the centred rows) at each k.
    worst = 0.0
    explained_total = PCA().fit(x).explained_variance_ratio_
    for s, k in enumerate(KS):
        if k:
            basis = PCA(n_components=k, svd_solver="full").fit(x).components_
            a = w_primary @ basis.T
        else:
            basis, a = None, w_primary
        block = rows[s * len(main_rows):(s + 1) * len(main_rows)]
        expected_explained = explained_total[:k].sum() if k else 1.0
        check(abs(float(block[0]["explained"]) - expected_explained) < 1e-9, "explained at k = %d" % k)
        for t, w in probes.items():
            m = w @ basis.T if k else w
            c = cosines(a, m)
            check(np.max(np.abs(cube[t][s] - c)) < 1e-9, "/sensitivity/%s/cos at k = %d" % (t, k))
            for r in block:
                if r["metadata"] != t:
                    continue
                value = c[int(r["primary_class_index"]), int(r["metadata_class_index"])]
                worst = max(worst, abs(float(r["cos"]) - value))
    print("largest |cos - scikit-learn/numpy| over k and cells: %.2e" % worst)
    check(worst < 1e-9, "wsc_k.csv cosines differ from scikit-learn's PCA by %.2e" % worst)

    # k = d is a rotation: the same cosines as no projection.
    at_d = [float(r["cos"]) for r in rows[3 * len(main_rows):4 * len(main_rows)]]
    none = [float(r["cos"]) for r in rows[4 * len(main_rows):]]
    check(np.max(np.abs(np.array(at_d) - np.array(none))) < 1e-12, "k = d differs from no projection")

    # p_fwer at each k from that k's null maxima; q_fdr is BH over that k's cells.
    for s in range(len(KS)):
        block = rows[s * len(main_rows):(s + 1) * len(main_rows)]
        for r in block:
            expected = (1 + np.sum(null_max[:, s] >= abs(float(r["cos"])))) / 61.0
            check(float(r["p_fwer"]) == expected, "p_fwer at k = %s: %s vs %s" % (r["k"], r["p_fwer"], expected))
        q = bh([float(r["p_perm"]) for r in block])
        check(np.max(np.abs(q - np.array([float(r["q_fdr"]) for r in block]))) < 1e-15, "q_fdr at k %s" % KS[s])

    # The run's own k (in the list) is the run's wsc.csv, digit for digit.
    run = [r for r in rows if int(r["k"]) == run_k and r["projection"] == "pca"]
    check(run_k in KS, "the config's k (%d) is in the list" % run_k)
    for r, m in zip(run, main_rows):
        for col in ("cos", "p_perm", "p_fwer", "q_fdr", "cos_fold_mean", "cos_fold_sd", "folds", "permutations"):
            check(r[col] == m[col], "k = %d %s: %s vs wsc.csv %s" % (run_k, col, r[col], m[col]))
    check([e["k"] for e in summary["sensitivity"]] == [2, 4, 8, D, D], "summary.json sensitivity")

    # k beyond d is refused with one line naming the key.
    bad = write_config(os.path.join(tmp, "bad.toml"), model, os.path.join(tmp, "bad"), sensitivity=(4, 17))
    proc = run_wsc(["run", bad], check_ok=False)
    lines = [l for l in proc.stderr.splitlines() if l.startswith("wsc: error")]
    check(proc.returncode != 0 and len(lines) == 1 and "pca.sensitivity" in lines[0] and "17" in lines[0],
          "k > d: %s" % proc.stderr)
    check(not os.path.exists(os.path.join(tmp, "bad", "wsc.csv")), "no outputs after a refusal")


def test_sweep(tmp):
    for s in range(3):
        make_model(os.path.join(tmp, "m%d.h5" % s), n=200, d=8, seed=40 + s)
    write_config(os.path.join(tmp, "analysis.toml"), "placeholder.h5", "placeholder", metadata=("site", "sex"),
                 permutations=19, sensitivity=(2, 4, 0))
    manifest = os.path.join(tmp, "sweep.toml")
    with open(manifest, "w") as f:
        f.write('config = "analysis.toml"\noutput = "out"\nmodels = ["m*.h5"]\n')
    run_wsc(["sweep", manifest, "-q"], ranks=2)
    run_wsc(["merge", "--sweep", manifest])
    out = os.path.join(tmp, "out")
    per = {}
    for s in range(3):
        for r in read_csv(os.path.join(out, "m%d" % s, "wsc_k.csv")):
            key = (r["primary_class"], r["metadata"], r["metadata_class"], r["k"], r["projection"])
            per.setdefault(key, []).append((float(r["cos"]), float(r["p_fwer"])))
    rows = read_csv(os.path.join(out, "sweep_sensitivity.csv"))
    check(len(rows) == len(per), "one sweep_sensitivity row per k and cell (%d vs %d)" % (len(rows), len(per)))
    check([r["projection"] for r in rows][-1] == "none" and rows[0]["k"] == "2", "k ascending, none last")
    for r in rows:
        v = np.array(per[(r["primary_class"], r["metadata"], r["metadata_class"], r["k"], r["projection"])])
        check(r["models"] == "3", "models per k and cell")
        check(abs(float(r["cos_mean"]) - v[:, 0].mean()) < 1e-12, "cos_mean")
        check(abs(float(r["cos_sd"]) - v[:, 0].std(ddof=1)) < 1e-12, "cos_sd")
        check(float(r["frac_p_fwer"]) == np.mean(v[:, 1] <= 0.05), "frac_p_fwer")
    with h5py.File(os.path.join(out, "sweep_summary.h5"), "r") as f:
        cube = f["sensitivity/cos"][()]
        cells = [c.decode() if isinstance(c, bytes) else c for c in f["cells"][()]]
        check(list(f["sensitivity/k"][()]) == [2, 4, 0], "sweep /sensitivity/k")
    check(cube.shape == (3, 3, len(cells)), "sweep /sensitivity/cos shape %s" % (cube.shape,))
    for s in range(3):
        for r in read_csv(os.path.join(out, "m%d" % s, "wsc_k.csv")):
            name = "%s/%s x %s/%s" % (r["primary_task"], r["primary_class"], r["metadata"], r["metadata_class"])
            ki = [2, 4, 0].index(0 if r["projection"] == "none" else int(r["k"]))
            check(cube[s, ki, cells.index(name)] == float(r["cos"]), "sweep cube value of %s" % name)


if __name__ == "__main__":
    main({"numbers": test_numbers, "sweep": test_sweep})
