"""Malformed inputs and impossible settings: each gets one line on stderr
naming the problem, a non-zero exit (on every rank under mpiexec), no hang,
no crash, and no output files."""
import os
import resource
import sys

import h5py
import numpy as np

from wsctest import check, main, make_model, run_wsc, write_config


def children_peak_mb():
    """The largest peak resident set of any finished child (or its children)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0


def expect_error(tmp, args, pattern, ranks=0, out=None, max_mb=None):
    proc = run_wsc(args, ranks=ranks, timeout=120, check_ok=False)
    check(proc.returncode != 0, "expected failure, got exit 0: %s" % proc.stdout)
    check(proc.returncode < 128 and proc.returncode != 134 and proc.returncode != 139,
          "crashed with status %d" % proc.returncode)
    ours = [l for l in proc.stderr.splitlines() if l.startswith("wsc: error:")]
    check(len(ours) == 1, "expected exactly one error line, got:\n%s" % proc.stderr)
    check(pattern.lower() in ours[0].lower(), "error line %r lacks %r" % (ours[0], pattern))
    check("MPI_ABORT" not in proc.stderr and "MPI_Abort" not in proc.stderr,
          "MPI_Abort banner:\n%s" % proc.stderr)
    check(proc.seconds < 60, "took %.1f s" % proc.seconds)
    if out is not None and os.path.isdir(out):
        check(os.listdir(out) == [], "output left behind: %s" % os.listdir(out))
    if max_mb is not None:
        check(children_peak_mb() < max_mb, "peak memory %.0f MB, expected < %d MB" % (children_peak_mb(), max_mb))
    print("ok (%d ranks, %.1f s): %s" % (ranks or 1, proc.seconds, ours[0]))


def model_case(mutate, pattern, ranks_list=(0, 2), metadata=("site",), sets=(), max_mb=None, **make):
    """Builds a valid fixture, lets `mutate(path)` break it, expects the error."""
    def test(tmp):
        model = os.path.join(tmp, "model.h5")
        make_model(model, n=make.pop("n", 60), d=6, seed=1, **make)
        mutate(model)
        out = os.path.join(tmp, "out")
        cfg = write_config(os.path.join(tmp, "c.toml"), model, out, metadata=metadata,
                           permutations=3)
        for ranks in ranks_list:
            expect_error(tmp, ["run", cfg] + [a for v in sets for a in ("--set", v)], pattern,
                         ranks=ranks, out=out, max_mb=max_mb)
    return test


def config_case(setting, pattern, ranks_list=(0,)):
    def test(tmp):
        model = os.path.join(tmp, "model.h5")
        make_model(model, n=60, d=6, seed=1)
        out = os.path.join(tmp, "out")
        cfg = write_config(os.path.join(tmp, "c.toml"), model, out, metadata=("site", ("age", 3)),
                           permutations=3)
        settings = setting if isinstance(setting, list) else [setting]
        args = ["run", cfg] + [a for s in settings for a in ("--set", s)]
        for ranks in ranks_list:
            expect_error(tmp, args, pattern, ranks=ranks, out=out)
    return test


def replace(name, data):
    def mutate(path):
        with h5py.File(path, "a") as f:
            del f[name]
            f[name] = data
    return mutate


def delete(name):
    def mutate(path):
        with h5py.File(path, "a") as f:
            del f[name]
    return mutate


def add(name, data):
    def mutate(path):
        with h5py.File(path, "a") as f:
            f[name] = data
    return mutate


def tree_columns(*columns, last=True):
    """An N x L block tree from its columns, with the rows (1..N) as the last."""
    cols = [np.asarray(c, dtype=np.int64) for c in columns]
    if last:
        cols.append(np.arange(1, len(cols[0]) + 1))
    return np.stack(cols, axis=1)


def set_value(name, index, value):
    def mutate(path):
        with h5py.File(path, "a") as f:
            d = f[name][()]
            d[index] = value
            del f[name]
            f[name] = d
    return mutate


def missing_file(tmp):
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), os.path.join(tmp, "nope.h5"), out)
    expect_error(tmp, ["run", cfg], "nope.h5", out=out)
    expect_error(tmp, ["run", cfg], "nope.h5", ranks=2, out=out)


def not_hdf5(tmp):
    bad = os.path.join(tmp, "bad.h5")
    with open(bad, "w") as f:
        f.write("this is not an HDF5 file\n" * 10)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), bad, out)
    expect_error(tmp, ["run", cfg], "not an HDF5 file", out=out)
    expect_error(tmp, ["run", cfg], "not an HDF5 file", ranks=2, out=out)


def truncated(tmp):
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=300, d=12, seed=1)
    size = os.path.getsize(model)
    with open(model, "r+b") as f:
        f.truncate(size // 2)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out)
    expect_error(tmp, ["run", cfg], "model.h5", out=out)
    expect_error(tmp, ["run", cfg], "model.h5", ranks=2, out=out)


def empty_data(tmp):
    model = os.path.join(tmp, "model.h5")
    with h5py.File(model, "w") as f:
        f.create_dataset("embeddings", shape=(0, 6), dtype="f8")
        f["heads/plane/weight"] = np.ones((3, 6))
        f.create_dataset("labels/site", shape=(0,), dtype="i8")
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out)
    expect_error(tmp, ["run", cfg], "/embeddings", out=out)


def absurd_size(tmp):
    # 10^12 rows declared, one chunk actually written: refused before allocation.
    model = os.path.join(tmp, "model.h5")
    with h5py.File(model, "w") as f:
        d = f.create_dataset("embeddings", shape=(10**12, 128), dtype="f4", chunks=(64, 128))
        d[0:64] = np.ones((64, 128), dtype="f4")
        f["heads/plane/weight"] = np.ones((3, 128))
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out)
    expect_error(tmp, ["run", cfg], "1000000000000", out=out)
    expect_error(tmp, ["run", cfg], "1000000000000", ranks=2, out=out)


def missing_config(tmp):
    expect_error(tmp, ["run", os.path.join(tmp, "none.toml")], "none.toml")


def toml_syntax(tmp):
    cfg = os.path.join(tmp, "c.toml")
    with open(cfg, "w") as f:
        f.write("[input]\nembeddings = \"x.h5\n")
    expect_error(tmp, ["run", cfg], "c.toml")


def unknown_key(tmp):
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=60, d=6)
    cfg = write_config(os.path.join(tmp, "c.toml"), model, os.path.join(tmp, "o"),
                       extra="\n[probe2]\nl2 = 1\n")
    expect_error(tmp, ["run", cfg], "probe2")
    clean = write_config(os.path.join(tmp, "d.toml"), model, os.path.join(tmp, "o"))
    expect_error(tmp, ["run", clean, "--set", "pca.varianse=0.9"], "varianse")


def inspect_problems(tmp):
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=60, d=6)
    set_value("embeddings", (5, 2), np.nan)(model)
    replace("labels/site", np.arange(59))(model)
    proc = run_wsc(["inspect", model], check_ok=False)
    check(proc.returncode != 0, "inspect should report problems")
    check("/labels/site" in proc.stdout and "NaN" in proc.stdout, "inspect report:\n%s" % proc.stdout)
    good = os.path.join(tmp, "good.h5")
    make_model(good, n=60, d=6)
    proc = run_wsc(["inspect", good])
    check("N = 60 rows, d = 6 columns" in proc.stdout and "plane: weight" in proc.stdout
          and "problems: none" in proc.stdout, "inspect lists contents:\n%s" % proc.stdout)


def groups_missing(tmp):
    """A grouped-CV config names a groups dataset the file lacks."""
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=60, d=6)
    out = os.path.join(tmp, "out")
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out, permutations=3)
    expect_error(tmp, ["run", cfg, "--set", "cv.groups=hospital"], "/groups/hospital", out=out)
    expect_error(tmp, ["run", cfg, "--set", "cv.groups=hospital"], "/groups/hospital", ranks=2, out=out)



def chunked(name, shape, written, dtype="f8"):
    """Replaces `name` by a chunked dataset declaring `shape` with only its
    first `written` rows stored (h5py allocates no more)."""
    def mutate(path):
        with h5py.File(path, "a") as f:
            if name in f:
                del f[name]
            d = f.create_dataset(name, shape=shape, dtype=dtype, chunks=(1,) + tuple(shape[1:]))
            d[0:written] = np.ones((written,) + tuple(shape[1:]))
    return mutate


def chunked_tree(path):
    """A block tree declaring 10^9 levels, one chunk written."""
    with h5py.File(path, "a") as f:
        d = f.create_dataset("groups/tree", shape=(60, 10**9), dtype="i8", chunks=(1, 1024))
        d[0, 0:1024] = np.ones(1024, dtype=np.int64)


def class_names(name, values):
    """Rewrites `name` in the latest format (attributes over 64 KiB need it)
    with attribute class_names = `values`."""
    def mutate(path):
        with h5py.File(path, "a", libver="latest") as f:
            data = f[name][()]
            del f[name]
            f.create_dataset(name, data=data).attrs.create("class_names", values)
    return mutate


def inspect_declared(tmp):
    """`wsc inspect` on files declaring 10^12 rows with one chunk written:
    /embeddings beyond the 2^40 bytes the NaN scan reads is reported, not
    scanned; labels and groups of another length than /embeddings, or
    (without usable embeddings) larger than the memory available, are
    reported, not read. In well under a second, whatever the rank count."""
    declared = os.path.join(tmp, "declared.h5")
    make_model(declared, n=60, d=6)
    chunked("embeddings", (10**12, 6), 3)(declared)
    chunked("labels/site", (10**12,), 3, dtype="i8")(declared)
    no_rows = os.path.join(tmp, "no_rows.h5")
    make_model(no_rows, n=60, d=6)
    delete("embeddings")(no_rows)
    chunked("labels/site", (10**12,), 3, dtype="i8")(no_rows)
    chunked("groups/patient", (10**12,), 3, dtype="i8")(no_rows)
    for path, lines in ((declared, ["declared.h5: /embeddings declares [1000000000000, 6] float64, more than the "
                                    "1099511627776 bytes (2^40, as float64) wsc inspect scans for NaN and Inf",
                                    "declared.h5: /labels/sex has 60 entries, expected 1000000000000",
                                    "declared.h5: /labels/site declares [1000000000000] (8000000000000 bytes), "
                                    "more than the "]),
                        (no_rows, ["no_rows.h5: /labels/site declares [1000000000000] (8000000000000 bytes), "
                                   "more than the ",
                                   "no_rows.h5: /groups/patient declares [1000000000000] (8000000000000 bytes), "
                                   "more than the "])):
        for ranks in (0, 2):
            proc = run_wsc(["inspect", path], ranks=ranks, timeout=120, check_ok=False)
            ours = [l for l in proc.stderr.splitlines() if l.startswith("wsc: error:")]
            check(proc.returncode == 1 and len(ours) == 1 and "problem(s) found" in ours[0],
                  "inspect exits 1 with one error line: %d\n%s" % (proc.returncode, proc.stderr))
            for line in lines:
                check(line in proc.stdout, "inspect report lacks %r:\n%s" % (line, proc.stdout))
            check(proc.seconds < 10, "took %.1f s" % proc.seconds)
            check(children_peak_mb() < 500, "peak memory %.0f MB" % children_peak_mb())
            print("ok (%d ranks, %.1f s)" % (ranks or 1, proc.seconds))


def deep_summary_json(tmp):
    """A sweep model's summary.json nested 100000 deep: `wsc merge --sweep`
    counts the model as incomplete with the reason, `wsc sweep` runs it again
    (nothing deeper than 32 levels is parsed: no crash, no recursion)."""
    os.makedirs(os.path.join(tmp, "runs", "a"))
    make_model(os.path.join(tmp, "runs", "a", "model.h5"), n=60, d=6, seed=1)
    write_config(os.path.join(tmp, "analysis.toml"), "placeholder.h5", "placeholder", metadata=("site",),
                 permutations=3)
    manifest = os.path.join(tmp, "sweep.toml")
    with open(manifest, "w") as f:
        f.write('config = "analysis.toml"\noutput = "out"\nmodels = ["runs/*/model.h5"]\n')
    folder = os.path.join(tmp, "out", "runs_a_model")
    os.makedirs(folder)
    summary = os.path.join(folder, "summary.json")
    for text in ("[" * 100000 + "]" * 100000, '{"config": ' + '{"a": ' * 100000 + "1" + "}" * 100001,
                 "[" * 33 + "]" * 33):
        with open(summary, "w") as f:
            f.write(text)
        for ranks in (0, 2):
            proc = run_wsc(["merge", "--sweep", manifest], ranks=ranks, timeout=120, check_ok=False)
            ours = [l for l in proc.stderr.splitlines() if l.startswith("wsc: error:")]
            check(proc.returncode == 1 and len(ours) == 1 and "1 of 1 models have no complete results" in ours[0],
                  "merge --sweep: %d\n%s" % (proc.returncode, proc.stderr))
            check("runs_a_model: no complete results in %s (%s: JSON nested deeper than 32 levels)"
                  % (folder, summary) in proc.stderr, "the reason names the file: %s" % proc.stderr)
            check("MPI_ABORT" not in proc.stderr and "MPI_Abort" not in proc.stderr, proc.stderr)
            print("ok (%d ranks, %.1f s): %s" % (ranks or 1, proc.seconds, ours[0]))
    proc = run_wsc(["sweep", manifest], ranks=2, timeout=120)
    check("runs_a_model: done" in proc.stdout, "the model runs again: %s" % proc.stdout)
    with open(summary) as f:
        check(f.read(1) == "{", "summary.json rewritten")


def deep_toml(tmp):
    """Arrays and inline tables nested 1000 deep: refused before the parser
    recurses (it overflowed the stack), in a file and in --set."""
    model = os.path.join(tmp, "model.h5")
    make_model(model, n=60, d=6)
    out = os.path.join(tmp, "out")
    for name, value in (("arrays", "[" * 1000 + "1" + "]" * 1000),
                        ("tables", "{a = " * 1000 + "1" + "}" * 1000)):
        cfg = write_config(os.path.join(tmp, name + ".toml"), model, out, permutations=3,
                           extra="\n[parallel]\nx = %s\n" % value)
        for ranks in (0, 2):
            expect_error(tmp, ["run", cfg], "nested deeper than 8 levels", ranks=ranks, out=out)
    cfg = write_config(os.path.join(tmp, "c.toml"), model, out, permutations=3)
    expect_error(tmp, ["run", cfg, "--set", "pca.sensitivity=" + "[" * 1000 + "1" + "]" * 1000],
                 "nested deeper than 8 levels", out=out)


TESTS = {
    "missing_file": missing_file,
    "not_hdf5": not_hdf5,
    "truncated": truncated,
    "empty_data": empty_data,
    "absurd_size": absurd_size,
    "missing_config": missing_config,
    "toml_syntax": toml_syntax,
    "unknown_key": unknown_key,
    "mistyped_key": config_case("permutation.count=\"many\"", "permutation.count"),
    "folds_below_2": config_case("cv.folds=1", "cv.folds"),
    "folds_above_samples": config_case("cv.folds=500", "folds", ranks_list=(0, 2)),
    "bins_below_2": config_case("metadata.1.bins=1", "bins"),
    "negative_count": config_case("permutation.count=-5", "permutation.count"),
    # Counts near 2^63 overflowed in the planning arithmetic; 2^40 permutations
    # cannot fit in any node's memory for the null (16 bytes each at least).
    "count_near_int64_max": config_case("permutation.count=9223372036854775807",
                                        "'permutation.count' must be >= 0 and <= 2^40"),
    "encodability_near_int64_max": config_case("encodability.permutations=9223372036854775807",
                                               "'encodability.permutations' must be >= 0"),
    "bootstrap_near_int64_max": config_case("bootstrap.count=9223372036854775807", "'bootstrap.count' must be >= 0"),
    "null_too_large": config_case("permutation.count=1099511627776",
                                  "permutation.count = 1099511627776 needs about", ranks_list=(0, 2)),
    "encodability_null_too_large": config_case("encodability.permutations=1099511627776",
                                               "encodability.permutations = 1099511627776 needs about"),
    "bootstrap_null_too_large": config_case("bootstrap.count=1099511627776",
                                            "bootstrap.count = 1099511627776 needs about"),
    "bins_huge": config_case("metadata.1.bins=2147483647", "bins must be >= 2 and <= 65536"),
    "deep_toml": deep_toml,
    "deep_summary_json": deep_summary_json,
    "head_declares_1e7_rows": model_case(chunked("heads/plane/weight", (10**7, 6), 3),
                                         "/heads/plane/weight declares 10000000 rows"),
    "head_declares_1e12_rows": model_case(chunked("heads/plane/weight", (10**12, 6), 3),
                                          "/heads/plane/weight declares 1000000000000 rows"),
    "bias_declares_1e12": model_case(chunked("heads/plane/bias", (10**12,), 3),
                                     "/heads/plane/bias has 1000000000000 entries, expected C = 3"),
    "embeddings_declare_1e7_rows": model_case(chunked("embeddings", (10**7, 6), 3),
                                              "/labels/plane has 60 entries, expected 10000000", max_mb=500),
    "labels_declare_1e12": model_case(chunked("labels/site", (10**12,), 3, dtype="i8"),
                                      "/labels/site has 1000000000000 entries, expected 60", max_mb=500),
    "groups_declare_1e12": model_case(chunked("groups/patient", (10**12,), 3, dtype="i8"),
                                      "/groups/patient has 1000000000000 entries, expected 60",
                                      sets=("cv.groups=patient",), max_mb=500),
    "inspect_declared_rows": inspect_declared,
    "class_names_1mib": model_case(class_names("labels/site", np.array([b"a", b"b", b"c"], dtype="S1048576")),
                                   "/labels/site: attribute class_names has a fixed string length of 1048576 bytes, "
                                   "at most 4096", max_mb=500),
    "class_names_65537": model_case(class_names("heads/plane/weight", np.array([b"c"] * 65537, dtype="S1")),
                                    "/heads/plane/weight: attribute class_names has 65537 strings, at most 65536",
                                    max_mb=500),
    "tree_declares_1e9_levels": model_case(
        chunked_tree,
        "/groups/tree declares 1000000000 levels", sets=("permutation.scheme=tree", "permutation.tree=tree")),
    "stratum_of_one": model_case(set_value("labels/sex", 5, 7), "stratum 7 has a single member",
                                 sets=("permutation.scheme=within", "permutation.strata=sex")),
    "blocks_all_sizes_differ": model_case(replace("groups/patient", np.repeat(np.arange(10), list(range(1, 10)) + [15])),
                                          "/groups/patient: make_block_permutation: no two blocks have the same size",
                                          sets=("permutation.scheme=blocks", "permutation.blocks=patient")),
    "tree_unequal_whole_blocks": model_case(add("groups/tree", tree_columns(np.ones(60), np.where(np.arange(60) < 29, 1, 2))),
                                            "/groups/tree: block [1] exchanges its sub-blocks as whole blocks",
                                            sets=("permutation.scheme=tree", "permutation.tree=tree")),
    "tree_two_roots": model_case(add("groups/tree", tree_columns(np.where(np.arange(60) < 30, 1, 2), np.ones(60))),
                                 "/groups/tree: column 0 must hold one id for every row",
                                 sets=("permutation.scheme=tree", "permutation.tree=tree")),
    "tree_zero_id": model_case(add("groups/tree", tree_columns(-np.ones(60), np.where(np.arange(60) == 5, 0, 1))),
                               "/groups/tree: row 5, column 1: block id 0",
                               sets=("permutation.scheme=tree", "permutation.tree=tree")),
    "tree_identity_only": model_case(add("groups/tree", tree_columns(-np.ones(60), -1 - np.arange(60) // 4, last=False)),
                                     "every permutation the tree allows is the identity",
                                     sets=("permutation.scheme=tree", "permutation.tree=tree")),
    "tree_rank": model_case(add("groups/tree", np.ones(60, dtype=np.int64)), "/groups/tree has rank 1, expected 2",
                            sets=("permutation.scheme=tree", "permutation.tree=tree")),
    "unknown_metadata": config_case("metadata.0.name=hospital", "hospital", ranks_list=(0, 2)),
    "missing_embeddings": model_case(delete("embeddings"), "/embeddings"),
    "embeddings_rank": model_case(replace("embeddings", np.zeros(60)), "/embeddings"),
    "embeddings_integer": model_case(replace("embeddings", np.zeros((60, 6), dtype=np.int32)), "/embeddings"),
    "embeddings_nan": model_case(set_value("embeddings", (47, 3), np.nan), "row 47"),
    "embeddings_inf": model_case(set_value("embeddings", (2, 0), np.inf), "row 2"),
    "label_length": model_case(replace("labels/site", np.zeros(59, dtype=np.int64)), "/labels/site"),
    "label_below_minus_one": model_case(set_value("labels/site", 7, -3), "/labels/site"),
    "label_type": model_case(replace("labels/site", np.array([b"a"] * 60)), "/labels/site"),
    "label_rank": model_case(replace("labels/site", np.zeros((60, 2), dtype=np.int64)), "/labels/site"),
    "primary_label_out_of_range": model_case(set_value("labels/plane", 4, 3), "/labels/plane"),
    "empty_class": model_case(replace("labels/site", np.where(np.arange(60) % 2 == 0, 0, 2)), "class 1"),
    "float_labels_without_bins": model_case(lambda p: None, "bins", metadata=("age",)),
    "head_width": model_case(replace("heads/plane/weight", np.ones((3, 5))), "/heads/plane/weight"),
    "head_nan": model_case(set_value("heads/plane/weight", (1, 1), np.nan), "/heads/plane/weight"),
    "head_missing": model_case(delete("heads/plane"), "/heads/plane"),
    "groups_missing": groups_missing,
    "inspect": inspect_problems,
}

if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--list":
        print(";".join(TESTS))
        sys.exit(0)
    main(TESTS)
