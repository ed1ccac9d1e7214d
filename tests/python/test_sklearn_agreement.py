"""wsc against scikit-learn (Debian's python3-sklearn) on a fixture:
probe weights and intercepts at C = 1/(N*l2), the PCA basis (up to sign) and
variances, the WSC matrix rebuilt from scikit-learn's pieces, and the
cross-validated metrics recomputed fold by fold with scikit-learn's fits
and metric functions on wsc's fold assignment."""
import os
import warnings

import h5py
import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score

from wsctest import check, main, make_model, read_csv, run_wsc, write_config

L2 = 1e-3
# Stated tolerances. wsc converges to a gradient max-norm of 1e-10;
# scikit-learn's newton-cg reaches the same optimum (to ~4e-9 here) within
# 50 iterations and then stalls on its own stopping rule, so it is capped at
# 100 iterations (lbfgs stops at ~1e-4 because of its ftol and is not used).
WEIGHT_TOL = 1e-7      # max |w_wsc - w_sk| / max |w_sk|
PCA_TOL = 1e-9         # max |component difference| after sign alignment
WSC_TOL = 1e-6         # max |cos_wsc - cos_sk|
METRIC_TOL = 1e-9      # per-fold accuracy, macro-F1, macro AUROC


def sk_probe(x, y):
    n = len(y)
    model = LogisticRegression(multi_class="multinomial", C=1.0 / (n * L2), tol=1e-14,
                               max_iter=100, solver="newton-cg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    coef, intercept = model.coef_, model.intercept_
    if coef.shape[0] == 1:  # binary multinomial: coef_ is the row of class 1, class 0 is -coef_
        coef = np.vstack([-coef, coef])
        intercept = np.array([-intercept[0], intercept[0]])
    return coef, intercept, model


def cosines(a, m):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    return a @ m.T


def agreement(tmp, ranks=0, dtype=np.float64, components=6):
    model = os.path.join(tmp, "model.h5")
    arr = make_model(model, n=420, d=14, seed=11, dtype=dtype)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "a.toml"), model, out, metadata=("site", "sex", ("age", 4)),
                       permutations=0, components=components, folds=4,
                       extra="\n[encodability]\npermutations = 0\n")
    run_wsc(["run", cfg, "-q"], ranks=ranks)
    z = arr["embeddings"].astype(dtype).astype(np.float64)
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        comps = f["pca/components"][()]
        eig = f["pca/eigenvalues"][()]
        pca = PCA(n_components=components, svd_solver="full").fit(z)
        check(comps.shape == (components, z.shape[1]), "PCA shape %s" % (comps.shape,))
        signs = np.sign(np.sum(comps * pca.components_, axis=1))
        diff = np.max(np.abs(comps - signs[:, None] * pca.components_))
        print("PCA basis: max |difference| = %.3e (tolerance %.0e)" % (diff, PCA_TOL))
        check(diff < PCA_TOL, "PCA basis differs from scikit-learn by %.3e" % diff)
        ev = np.max(np.abs(eig[:components] - pca.explained_variance_) / pca.explained_variance_)
        print("PCA variances: max relative difference = %.3e" % ev)
        check(ev < 1e-10, "PCA variances differ by %.3e" % ev)
        projected_primary = arr["head_w"] @ pca.components_.T

        age_edges = np.linspace(arr["age"].min(), arr["age"].max(), 5)
        age_bins = np.clip(np.searchsorted(age_edges, arr["age"], side="right") - 1, 0, 3)
        labels = {"site": arr["site"], "sex": arr["sex"], "age": age_bins}
        for task, y in labels.items():
            w = f["heads/metadata/%s/weight" % task][()]
            b = f["heads/metadata/%s/bias" % task][()]
            coef, intercept, _ = sk_probe(z, y)
            werr = np.max(np.abs(w - coef)) / np.max(np.abs(coef))
            berr = np.max(np.abs(b - intercept)) / max(1.0, np.max(np.abs(intercept)))
            print("%s probe: weights rel. diff %.3e, intercepts %.3e (tolerance %.0e)"
                  % (task, werr, berr, WEIGHT_TOL))
            check(werr < WEIGHT_TOL, "%s weights differ from scikit-learn by %.3e" % (task, werr))
            check(berr < WEIGHT_TOL, "%s intercepts differ from scikit-learn by %.3e" % (task, berr))
            cos_sk = cosines(projected_primary, coef @ pca.components_.T)
            cos = f["wsc/%s/cos" % task][()]
            cerr = np.max(np.abs(cos - cos_sk))
            print("%s WSC matrix: max |difference| = %.3e (tolerance %.0e)" % (task, cerr, WSC_TOL))
            check(cerr < WSC_TOL, "%s WSC differs from scikit-learn by %.3e" % (task, cerr))

            fold = f["quality/%s/fold" % task][()]
            acc = f["quality/%s/accuracy" % task][()]
            f1 = f["quality/%s/f1_macro" % task][()]
            auc = f["quality/%s/auroc_macro" % task][()]
            fold_cos = []
            for k in range(int(fold.max()) + 1):
                train, test = fold != k, fold == k
                fold_coef, _, m = sk_probe(z[train], y[train])
                # WSC of the fold's probe against scikit-learn's fit of the same rows.
                fold_cos.append(cosines(projected_primary, fold_coef @ pca.components_.T))
                ferr = np.max(np.abs(f["wsc/%s/cos_fold/%d" % (task, k)][()] - fold_cos[-1]))
                check(ferr < WSC_TOL, "%s fold %d WSC differs from scikit-learn by %.3e" % (task, k, ferr))
                proba = m.predict_proba(z[test])
                pred = m.classes_[np.argmax(proba, axis=1)]
                sk_acc = accuracy_score(y[test], pred)
                sk_f1 = f1_score(y[test], pred, average="macro")
                sk_auc = (roc_auc_score(y[test], proba[:, 1]) if proba.shape[1] == 2
                          else roc_auc_score(y[test], proba, multi_class="ovr", average="macro"))
                d = max(abs(acc[k] - sk_acc), abs(f1[k] - sk_f1), abs(auc[k] - sk_auc))
                check(d < METRIC_TOL, "%s fold %d metrics differ: wsc (%r, %r, %r) sklearn (%r, %r, %r)"
                      % (task, k, acc[k], f1[k], auc[k], sk_acc, sk_f1, sk_auc))
            print("%s CV metrics: all %d folds agree to %.0e" % (task, int(fold.max()) + 1, METRIC_TOL))
            fold_cos = np.array(fold_cos)
            merr = max(np.max(np.abs(f["wsc/%s/cos_fold_mean" % task][()] - fold_cos.mean(axis=0))),
                       np.max(np.abs(f["wsc/%s/cos_fold_sd" % task][()] - fold_cos.std(axis=0, ddof=1))))
            print("%s per-fold WSC mean and sd: max |difference| = %.3e (tolerance %.0e)" % (task, merr, WSC_TOL))
            check(merr < WSC_TOL, "%s per-fold WSC mean/sd differ from scikit-learn by %.3e" % (task, merr))
    rows = read_csv(os.path.join(out, "probes.csv"))
    check([r["task"] for r in rows] == ["plane", "site", "sex", "age"], "probes.csv tasks %s" % rows)


def test_agreement_serial(tmp):
    agreement(tmp)


def test_agreement_three_ranks_float32(tmp):
    agreement(tmp, ranks=3, dtype=np.float32)


if __name__ == "__main__":
    main({"serial": test_agreement_serial, "ranks3_float32": test_agreement_three_ranks_float32})
