"""wsc sweep over a manifest of models and the sweep summary (wsc merge
--sweep): a broken model fails alone with its reason, the others complete;
a rerun redoes nothing finished; the summary's per-cell statistics and
reference distributions equal numpy's recomputation from the per-model
results."""
import os

import h5py
import numpy as np

from wsctest import check, main, make_model, read_csv, run_wsc, write_config


def make_sweep(tmp, broken=True):
    for s in range(4):
        os.makedirs(os.path.join(tmp, "runs", "seed%d" % s))
        make_model(os.path.join(tmp, "runs", "seed%d" % s, "model.h5"), n=160, d=8, seed=20 + s)
    if broken:
        with h5py.File(os.path.join(tmp, "runs", "seed2", "model.h5"), "a") as f:
            e = f["embeddings"][()]
            e[7, 3] = np.nan
            del f["embeddings"]
            f["embeddings"] = e
    write_config(os.path.join(tmp, "analysis.toml"), "placeholder.h5", "placeholder",
                 metadata=("site", "sex"), permutations=19, extra="\n[encodability]\npermutations = 9\n")
    manifest = os.path.join(tmp, "sweep.toml")
    with open(manifest, "w") as f:
        f.write('config = "analysis.toml"\noutput = "out"\nmodels = ["runs/*/model.h5"]\n')
    return manifest


def test_sweep_and_summary(tmp):
    manifest = make_sweep(tmp)
    out = os.path.join(tmp, "out")
    listing = run_wsc(["sweep", manifest, "--list"]).stdout.split("\n")
    check(listing[0] == "4", "--list prints the model count first: %r" % listing[:2])
    names = [line.split()[0] for line in listing[1:5]]
    check(names == ["runs_seed%d_model" % s for s in range(4)], "model names %s" % names)

    proc = run_wsc(["sweep", manifest], ranks=2, check_ok=False)
    check(proc.returncode != 0, "a sweep with a broken model exits non-zero")
    check("runs_seed2_model failed" in proc.stderr and "NaN" in proc.stderr,
          "the failure is reported with its reason: %s" % proc.stderr)
    for s in (0, 1, 3):
        check(os.path.exists(os.path.join(out, "runs_seed%d_model" % s, "wsc.csv")), "model %d completed" % s)
    check(not os.path.exists(os.path.join(out, "runs_seed2_model", "wsc.csv")), "no outputs for the broken model")
    with open(os.path.join(out, "failures", "runs_seed2_model.txt")) as f:
        check("NaN" in f.read(), "failure file holds the reason")

    # A rerun redoes nothing finished (the outputs are not rewritten).
    stamp = os.path.getmtime(os.path.join(out, "runs_seed0_model", "results.h5"))
    proc = run_wsc(["sweep", manifest], ranks=2, check_ok=False)
    check("runs_seed0_model: already complete" in proc.stdout, "rerun skips complete models: %s" % proc.stdout)
    check(os.path.getmtime(os.path.join(out, "runs_seed0_model", "results.h5")) == stamp, "complete model redone")
    # One array task's worth: --index.
    proc = run_wsc(["sweep", manifest, "--index", "2"], check_ok=False)
    check(proc.returncode != 0 and "runs_seed2_model failed" in proc.stderr, "--index 2 fails alone")
    proc = run_wsc(["sweep", manifest, "--index", "4"], check_ok=False)
    check(proc.returncode != 0 and "out of range" in proc.stderr, "--index beyond the list is refused")

    proc = run_wsc(["merge", "--sweep", manifest], check_ok=False)
    check(proc.returncode != 0 and "1 of 4 models" in proc.stderr, "summary lists the failed model: %s" % proc.stderr)
    models = read_csv(os.path.join(out, "sweep_models.csv"))
    check([m["status"] for m in models] == ["complete", "complete", "failed", "complete"], "statuses %s" % models)
    check("NaN" in models[2]["reason"], "reason in sweep_models.csv")

    # Per-cell statistics against numpy over the three complete models.
    per_model = {}
    for s in (0, 1, 3):
        for r in read_csv(os.path.join(out, "runs_seed%d_model" % s, "wsc.csv")):
            key = (r["primary_task"], r["primary_class"], r["metadata"], r["metadata_class"])
            per_model.setdefault(key, []).append((float(r["cos"]), float(r["p_fwer"]), float(r["q_fdr"])))
    summary = read_csv(os.path.join(out, "sweep_summary.csv"))
    check(len(summary) == len(per_model), "one summary row per cell")
    for row in summary:
        key = (row["primary_task"], row["primary_class"], row["metadata"], row["metadata_class"])
        v = np.array(per_model[key])
        cos = v[:, 0]
        check(row["models"] == "3", "models per cell")
        check(abs(float(row["cos_mean"]) - cos.mean()) < 1e-12, "cos_mean of %s" % (key,))
        check(abs(float(row["cos_sd"]) - cos.std(ddof=1)) < 1e-12, "cos_sd of %s" % (key,))
        check(abs(float(row["cos_lo"]) - np.percentile(cos, 2.5)) < 1e-12, "cos_lo of %s" % (key,))
        check(abs(float(row["cos_hi"]) - np.percentile(cos, 97.5)) < 1e-12, "cos_hi of %s" % (key,))
        check(abs(float(row["frac_p_fwer"]) - np.mean(v[:, 1] <= 0.05)) < 1e-15, "frac_p_fwer")
        check(abs(float(row["frac_q_fdr"]) - np.mean(v[:, 2] <= 0.05)) < 1e-15, "frac_q_fdr")

    # Reference distributions: every pair of rows of one head (intra) and of
    # two different heads (inter), from the projected heads.
    intra, inter = [], []
    for s in (0, 1, 3):
        with h5py.File(os.path.join(out, "runs_seed%d_model" % s, "results.h5"), "r") as f:
            heads = [f["heads/primary/plane/projected"][()]]
            heads += [f["heads/metadata/%s/projected" % t][()] for t in sorted(f["heads/metadata"].keys())]
        unit = [h / np.linalg.norm(h, axis=1, keepdims=True) for h in heads]
        for a, u in enumerate(unit):
            c = u @ u.T
            intra += list(c[np.triu_indices(len(u), 1)])
            for b in range(a):
                inter += list((unit[b] @ u.T).ravel())
    ref = {r["distribution"]: r for r in read_csv(os.path.join(out, "sweep_reference.csv"))}
    for name, values in (("intra_task", intra), ("inter_task", inter)):
        values = np.array(values)
        check(int(ref[name]["count"]) == len(values), "%s count %s vs %d" % (name, ref[name]["count"], len(values)))
        for q in ("0.025", "0.5", "0.975"):
            got = float(ref[name]["q" + q])
            check(abs(got - np.percentile(values, float(q) * 100)) < 1e-9, "%s quantile %s" % (name, q))
    with h5py.File(os.path.join(out, "sweep_summary.h5"), "r") as f:
        check(f["cos"].shape == (4, len(summary)), "sweep_summary.h5 cos shape %s" % (f["cos"].shape,))
        check(np.all(np.isnan(f["cos"][2])), "the failed model's row is NaN")
        check(len(f["reference/intra_task"]) == len(intra), "pooled intra values stored")


def test_bad_manifests(tmp):
    manifest = make_sweep(tmp, broken=False)
    cases = {
        "nomatch": ('config = "analysis.toml"\nmodels = ["nothing/*.h5"]\n', "matches no file"),
        "missing": ('config = "analysis.toml"\nmodels = ["runs/seed0/nope.h5"]\n', "does not exist"),
        "unknown": ('config = "analysis.toml"\nmodels = ["runs/*/model.h5"]\nfoo = 1\n', "unknown key 'foo'"),
        "noconfig": ('models = ["runs/*/model.h5"]\n', "missing key 'config'"),
        "twice": ('config = "analysis.toml"\nmodels = ["runs/*/model.h5", "runs/seed1/model.h5"]\n', "listed twice"),
    }
    for name, (text, expected) in cases.items():
        path = os.path.join(tmp, name + ".toml")
        with open(path, "w") as f:
            f.write(text)
        proc = run_wsc(["sweep", path], check_ok=False)
        check(proc.returncode == 1 and expected in proc.stderr and proc.stderr.count("\n") == 1,
              "%s: %r" % (name, proc.stderr))
    check(os.path.exists(manifest), "fixture")


if __name__ == "__main__":
    main({"sweep": test_sweep_and_summary, "bad_manifests": test_bad_manifests})
