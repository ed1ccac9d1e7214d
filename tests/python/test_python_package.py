"""The Python package (python/wsc): write_model writes what `wsc run` reads,
refuses every malformed input with a one-line message naming the dataset and
leaves no file; validate_model agrees with `wsc inspect` on good and bad
files; the package installs into a venv offline; the PyTorch example finds
its planted shortcut."""
import os
import re
import shutil
import subprocess
import sys
import time

import h5py
import numpy as np

from wsctest import check, main, read_csv, read_summary, run_wsc, write_config

SOURCE = os.environ.get("WSC_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "python"))

import wsc  # noqa: E402
from wsc import ModelError, validate_model, write_model  # noqa: E402


def arrays(n=240, d=10, seed=0, dtype=np.float32):
    """Embeddings with signal for 'plane' and 'site', a head, labels and groups."""
    rng = np.random.default_rng(seed)
    plane = rng.integers(0, 3, n)
    site = np.where(rng.random(n) < 0.6, plane, rng.integers(0, 3, n))
    z = rng.normal(size=(n, d)) + rng.normal(size=(3, d))[plane] + 0.8 * rng.normal(size=(3, d))[site]
    return dict(z=z.astype(dtype), w=rng.normal(size=(3, d)).astype(dtype), b=rng.normal(size=3).astype(dtype),
                plane=plane, site=site, age=rng.uniform(20, 80, n), patient=np.arange(n) // 4)


def full_model(path, a, **kwargs):
    args = dict(heads={"plane": (a["w"], a["b"])},
                labels={"plane": a["plane"], "site": a["site"], "age": a["age"]},
                groups={"patient": a["patient"]},
                class_names={"plane": ["axial", "coronal", "sagittal"], "site": ["GE", "Philips", "Siemens"]},
                model="written")
    args.update(kwargs)
    return write_model(path, a["z"], **args)


def inspect_ok(path):
    proc = run_wsc(["inspect", path], check_ok=False)
    return proc.returncode == 0, proc


def test_round_trip(tmp):
    import torch

    for dtype, use_torch in ((np.float32, True), (np.float64, False)):
        a = arrays(dtype=dtype)
        path = os.path.join(tmp, "model-%s.h5" % np.dtype(dtype).name)
        if use_torch:
            linear = torch.nn.Linear(a["z"].shape[1], 3)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(a["w"]))
                linear.bias.copy_(torch.from_numpy(a["b"]))
            full_model(path, a, heads={"plane": linear})
            # The same file from tensors for the embeddings and labels too.
            write_model(path + ".t.h5", torch.from_numpy(a["z"]), heads={"plane": linear},
                        labels={"plane": torch.from_numpy(a["plane"]), "site": a["site"], "age": a["age"]},
                        groups={"patient": torch.from_numpy(a["patient"])},
                        class_names={"plane": ["axial", "coronal", "sagittal"], "site": ["GE", "Philips", "Siemens"]},
                        model="written")
        else:
            full_model(path, a)
        check(validate_model(path) == [], "validate_model accepts the written file: %s" % validate_model(path))
        ok, proc = inspect_ok(path)
        check(ok and "problems: none" in proc.stdout, "wsc inspect accepts it:\n%s" % proc.stdout)
        with h5py.File(path, "r") as f:
            check(f["embeddings"].dtype == dtype, "embeddings stored as %s, got %s" % (dtype, f["embeddings"].dtype))
            check(np.array_equal(f["embeddings"][()], a["z"]), "embeddings stored exactly")
            check(np.array_equal(f["heads/plane/weight"][()], a["w"]), "head weight stored exactly")
            check(np.array_equal(f["heads/plane/bias"][()], a["b"]), "head bias stored exactly")
            check(np.array_equal(f["labels/plane"][()], a["plane"]) and f["labels/plane"].dtype.kind == "i",
                  "integer labels stored as integers")
            check(np.array_equal(f["labels/age"][()], a["age"]) and f["labels/age"].dtype == np.float64,
                  "float labels stored as float64")
            check(np.array_equal(f["groups/patient"][()], a["patient"]), "groups stored")
            names = [s.decode() if isinstance(s, bytes) else s for s in f["labels/site"].attrs["class_names"]]
            check(names == ["GE", "Philips", "Siemens"], "class names %s" % names)
        if use_torch:
            with h5py.File(path, "r") as f, h5py.File(path + ".t.h5", "r") as g:
                for name in ("embeddings", "heads/plane/weight", "heads/plane/bias", "labels/plane", "groups/patient"):
                    check(np.array_equal(f[name][()], g[name][()]) and f[name].dtype == g[name].dtype,
                          "tensor input gives the same %s" % name)
        out = os.path.join(tmp, "out-%s" % np.dtype(dtype).name)
        cfg = write_config(os.path.join(tmp, "c-%s.toml" % np.dtype(dtype).name), path, out,
                           metadata=("site", ("age", 3)), permutations=9)
        run_wsc(["run", cfg, "-q"])
        summary = read_summary(out)
        check(summary["rows"] == a["z"].shape[0] and summary["dim"] == a["z"].shape[1],
              "wsc read N = %s, d = %s" % (summary["rows"], summary["dim"]))
        check(summary["embeddings_dtype"] == np.dtype(dtype).name, "wsc read %s" % summary["embeddings_dtype"])
        check(summary["model"] == "written", "model name %r" % summary["model"])
        cells = read_csv(os.path.join(out, "wsc.csv"))
        site_cells = [(c["primary_class"], c["metadata_class"]) for c in cells if c["metadata"] == "site"]
        check(site_cells == [(p, s) for p in ("axial", "coronal", "sagittal") for s in ("GE", "Philips", "Siemens")],
              "class names in wsc.csv: %s" % site_cells)
        with h5py.File(os.path.join(out, "results.h5"), "r") as r:
            check(np.array_equal(r["heads/primary/plane/weight"][()], a["w"].astype(np.float64)),
                  "the head wsc used is the one written")
            mean = a["z"].astype(np.float64).mean(axis=0)
            check(np.abs(r["pca/mean"][()] - mean).max() < 1e-12 * max(1.0, np.abs(mean).max()),
                  "the embeddings wsc read have the written mean")
        print("ok: %s round trip (%s input)" % (np.dtype(dtype).name, "torch" if use_torch else "numpy"))


def rejections():
    """(case, keyword arguments changed from a good model, dataset named in the message)."""
    a = arrays(n=40, d=5)
    z, w, b = a["z"], a["w"], a["b"]
    bad_z = z.copy()
    bad_z[7, 2] = np.nan
    inf_w = w.copy()
    inf_w[1, 1] = np.inf
    return [
        ("embeddings_rank", dict(embeddings=z[:, 0]), "/embeddings"),
        ("embeddings_integer", dict(embeddings=np.zeros((40, 5), dtype=np.int32)), "/embeddings"),
        ("embeddings_float16", dict(embeddings=z.astype(np.float16)), "/embeddings"),
        ("embeddings_empty_rows", dict(embeddings=np.zeros((0, 5), dtype=np.float32), labels={}, groups={},
                                       class_names={}), "/embeddings"),
        ("embeddings_empty_columns", dict(embeddings=np.zeros((40, 0), dtype=np.float32), heads={},
                                          class_names={"site": ["GE", "Philips", "Siemens"]}), "/embeddings"),
        ("embeddings_nan", dict(embeddings=bad_z), "/embeddings row 7"),
        ("head_not_a_pair", dict(heads={"plane": w}), "/heads/plane"),
        ("head_rank", dict(heads={"plane": (w[0], None)}), "/heads/plane/weight"),
        ("head_width", dict(heads={"plane": (w[:, :4], None)}), "/heads/plane/weight"),
        ("head_no_rows", dict(heads={"plane": (w[:0], None)}), "/heads/plane/weight"),
        ("head_integer", dict(heads={"plane": (np.ones((3, 5), dtype=np.int64), None)}), "/heads/plane/weight"),
        ("head_inf", dict(heads={"plane": (inf_w, b)}), "/heads/plane/weight"),
        ("bias_length", dict(heads={"plane": (w, b[:2])}), "/heads/plane/bias"),
        ("bias_nan", dict(heads={"plane": (w, np.array([0.0, np.nan, 1.0]))}), "/heads/plane/bias"),
        ("bias_rank", dict(heads={"plane": (w, b[:, None])}), "/heads/plane/bias"),
        ("head_name", dict(heads={"pl/ane": (w, b)}), "pl/ane"),
        ("label_length", dict(labels={"site": a["site"][:39]}), "/labels/site"),
        ("label_rank", dict(labels={"site": np.zeros((40, 2), dtype=np.int64)}), "/labels/site"),
        ("label_below_minus_one", dict(labels={"site": np.where(np.arange(40) == 7, -3, a["site"])}),
         "/labels/site: row 7"),
        ("label_type", dict(labels={"site": np.array(["a"] * 40)}), "/labels/site"),
        ("label_infinite", dict(labels={"age": np.where(np.arange(40) == 3, np.inf, a["age"])}), "/labels/age"),
        ("label_empty_name", dict(labels={"": a["site"]}), "labels name"),
        ("groups_float", dict(groups={"patient": a["patient"].astype(np.float64)}), "/groups/patient"),
        ("groups_length", dict(groups={"patient": a["patient"][:-1]}), "/groups/patient"),
        ("class_names_short", dict(class_names={"site": ["GE", "Philips"]}), "/labels/site"),
        ("class_names_head", dict(class_names={"plane": ["axial", "coronal"]}, labels={}), "/heads/plane/weight"),
        ("class_names_unknown", dict(class_names={"hospital": ["a", "b"]}), "hospital"),
        ("class_names_not_strings", dict(class_names={"site": ["GE", 2, "Siemens"]}), "site"),
        ("class_names_continuous", dict(class_names={"age": ["young", "old"]}), "/labels/age"),
        ("model_name", dict(model=""), "model"),
    ]


def test_rejects(tmp):
    a = arrays(n=40, d=5)
    good = dict(embeddings=a["z"], heads={"plane": (a["w"], a["b"])},
                labels={"plane": a["plane"], "site": a["site"], "age": a["age"]},
                groups={"patient": a["patient"]}, class_names={"site": ["GE", "Philips", "Siemens"]},
                model="m")
    folder = os.path.join(tmp, "models")
    os.makedirs(folder)
    path = os.path.join(folder, "model.h5")
    write_model(path, **good)
    check(validate_model(path) == [], "the good model is good")
    os.unlink(path)
    cases = rejections()
    for case, change, named in cases:
        kwargs = dict(good)
        kwargs.update(change)
        try:
            write_model(path, **kwargs)
        except ModelError as e:
            message = str(e)
            check("\n" not in message, "%s: one line: %r" % (case, message))
            check(message.startswith("model.h5: "), "%s: the message names the file: %r" % (case, message))
            check(named in message, "%s: the message names %r: %r" % (case, named, message))
            check(os.listdir(folder) == [], "%s: files left behind: %s" % (case, os.listdir(folder)))
            print("ok %-26s %s" % (case, message))
            continue
        raise AssertionError("%s: write_model accepted it" % case)
    # An existing file is kept unless overwrite=True; a failed overwrite keeps the old file.
    write_model(path, **good)
    before = open(path, "rb").read()
    try:
        write_model(path, **good)
        raise AssertionError("an existing file was replaced without overwrite=True")
    except ModelError as e:
        check("exists" in str(e), "message %r" % e)
    bad = dict(good, labels={"site": a["site"][:3]})
    try:
        write_model(path, overwrite=True, **bad)
        raise AssertionError("bad labels accepted")
    except ModelError:
        pass
    check(open(path, "rb").read() == before and os.listdir(folder) == ["model.h5"],
          "a refused overwrite leaves the old file alone and nothing else")
    # overwrite=True replaces it; float32 stays float32.
    write_model(path, overwrite=True, **dict(good, model="second"))
    with h5py.File(path, "r") as f:
        check(f.attrs["model"] == "second" and f["embeddings"].dtype == np.float32, "overwritten")
    # A failure in the middle of writing leaves neither the file nor its temporary.
    import wsc.model

    def failing(target, *args):
        with h5py.File(target, "w") as f:
            f["embeddings"] = a["z"]
        raise OSError("disk full")
    real = wsc.model._write_file
    wsc.model._write_file = failing
    try:
        write_model(os.path.join(folder, "other.h5"), **good)
        raise AssertionError("the failure was not raised")
    except OSError as e:
        check("disk full" in str(e), "the writer's error comes through: %s" % e)
    finally:
        wsc.model._write_file = real
    check(os.listdir(folder) == ["model.h5"], "a failed write leaves nothing: %s" % os.listdir(folder))
    print("%d rejections checked" % len(cases))


def bad_files():
    """(case, how to break a good file with h5py): every one is a problem for wsc inspect."""
    def replace(name, data):
        def mutate(f):
            del f[name]
            f[name] = data
        return mutate

    def set_value(name, index, value):
        def mutate(f):
            data = f[name][()]
            data[index] = value
            del f[name]
            f[name] = data
        return mutate

    def delete(name):
        def mutate(f):
            del f[name]
        return mutate

    def attribute(dataset, name, value):
        def mutate(f):
            f[dataset].attrs[name] = value
        return mutate

    def unwritten(f):
        del f["embeddings"]
        f.create_dataset("embeddings", shape=(40, 5), dtype=np.float32)

    return [
        ("no_embeddings", delete("embeddings")),
        ("embeddings_rank", replace("embeddings", np.zeros(40))),
        ("embeddings_integer", replace("embeddings", np.zeros((40, 5), dtype=np.int32))),
        ("embeddings_float16", replace("embeddings", np.zeros((40, 5), dtype=np.float16))),
        ("embeddings_empty", replace("embeddings", np.zeros((0, 5)))),
        ("embeddings_unwritten", unwritten),
        ("embeddings_nan", set_value("embeddings", (7, 2), np.nan)),
        ("embeddings_inf", set_value("embeddings", (0, 0), -np.inf)),
        ("head_width", replace("heads/plane/weight", np.ones((3, 4)))),
        ("head_integer", replace("heads/plane/weight", np.ones((3, 5), dtype=np.int32))),
        ("head_rank", replace("heads/plane/weight", np.ones(5))),
        ("head_nan", set_value("heads/plane/weight", (1, 1), np.nan)),
        ("head_no_weight", delete("heads/plane/weight")),
        ("bias_length", replace("heads/plane/bias", np.ones(2))),
        ("bias_inf", set_value("heads/plane/bias", 0, np.inf)),
        ("head_class_names", attribute("heads/plane/weight", "class_names", ["a", "b"])),
        ("label_length", replace("labels/site", np.zeros(39, dtype=np.int64))),
        ("label_rank", replace("labels/site", np.zeros((40, 2), dtype=np.int64))),
        ("label_below_minus_one", set_value("labels/site", 7, -3)),
        ("label_string", replace("labels/site", np.array([b"a"] * 40))),
        ("label_class_names_short", attribute("labels/site", "class_names", ["GE", "Philips"])),
        ("label_class_names_numbers", attribute("labels/site", "class_names", [1, 2, 3])),
        ("label_infinite", set_value("labels/age", 3, np.inf)),
        ("groups_float", replace("groups/patient", np.zeros(40))),
        ("groups_length", replace("groups/patient", np.zeros(41, dtype=np.int64))),
        ("model_attribute_number", lambda f: f.attrs.__setitem__("model", 3)),
    ]


def good_files():
    """(case, change to a good file) that wsc inspect accepts."""
    return [
        ("as_written", lambda f: None),
        ("missing_labels", lambda f: f.__setitem__("labels/extra", np.where(np.arange(40) % 5 == 0, -1, 1))),
        ("nan_in_float_labels", lambda f: f.__setitem__("labels/more", np.where(np.arange(40) % 3 == 0, np.nan, 1.5))),
        ("bool_labels", lambda f: f.__setitem__("labels/flag", np.arange(40) % 2 == 0)),
        ("uint8_labels", lambda f: f.__setitem__("labels/small", (np.arange(40) % 3).astype(np.uint8))),
        ("one_row_head", lambda f: f.__setitem__("heads/binary/weight", np.ones((1, 5)))),
        ("float16_head", lambda f: f.__setitem__("heads/half/weight", np.ones((2, 5), dtype=np.float16))),
        ("no_heads", lambda f: f.__delitem__("heads")),
        ("float64_embeddings", lambda f: (f.__delitem__("embeddings"),
                                          f.__setitem__("embeddings", np.ones((40, 5))))),
        ("fixed_length_names", lambda f: f["labels/site"].attrs.__setitem__(
            "class_names", np.array([b"GE", b"Philips", b"Siemens"], dtype="S8"))),
    ]


def test_validate_like_inspect(tmp):
    a = arrays(n=40, d=5)
    template = os.path.join(tmp, "template.h5")
    write_model(template, a["z"], heads={"plane": (a["w"], a["b"])},
                labels={"plane": a["plane"], "site": a["site"], "age": a["age"]},
                groups={"patient": a["patient"]}, class_names={"site": ["GE", "Philips", "Siemens"]}, model="m")
    for expect_ok, cases in ((False, bad_files()), (True, good_files())):
        for case, mutate in cases:
            path = os.path.join(tmp, case + ".h5")
            shutil.copy(template, path)
            with h5py.File(path, "a") as f:
                mutate(f)
            problems = validate_model(path)
            ok, proc = inspect_ok(path)
            check(ok == expect_ok, "%s: wsc inspect %s it:\n%s" % (case, "refused" if expect_ok else "accepted",
                                                                   proc.stdout))
            check((problems == []) == expect_ok, "%s: validate_model says %s" % (case, problems))
            if not expect_ok:
                inspected = re.findall(r"^  - (.*)$", proc.stdout, re.M)
                check(problems == inspected, "%s: validate_model and wsc inspect differ:\n%s\n%s"
                      % (case, problems, inspected))
                check(all(p.startswith(case + ".h5: ") and "\n" not in p for p in problems),
                      "%s: one line each, naming the file: %s" % (case, problems))
            print("ok %-28s %s" % (case, problems[0] if problems else "no problems"))
    # Not a file, not HDF5, truncated.
    missing = os.path.join(tmp, "nope.h5")
    check(validate_model(missing) == [missing + ": cannot open: no such file"], "missing file")
    text = os.path.join(tmp, "text.h5")
    with open(text, "w") as f:
        f.write("not hdf5\n")
    check(validate_model(text) == [text + ": not an HDF5 file"], "not HDF5: %s" % validate_model(text))
    truncated = os.path.join(tmp, "truncated.h5")
    with open(template, "rb") as f:
        data = f.read()
    with open(truncated, "wb") as f:
        f.write(data[:len(data) // 3])
    check(validate_model(truncated) == [truncated + ": cannot open (truncated or damaged HDF5 file)"],
          "truncated: %s" % validate_model(truncated))
    for path in (missing, text, truncated):
        ok, proc = inspect_ok(path)
        check(not ok and re.findall(r"^  - (.*)$", proc.stdout, re.M) == validate_model(path),
              "%s: the same problem for wsc inspect:\n%s" % (path, proc.stdout))


def test_install(tmp):
    """pip installs the package offline into a venv that sees Debian's packages."""
    src = os.path.join(tmp, "src")
    shutil.copytree(os.path.join(SOURCE, "python"), os.path.join(src, "python"),
                    ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    shutil.copy(os.path.join(SOURCE, "CMakeLists.txt"), src)
    venv = os.path.join(tmp, "venv")
    env = dict(os.environ, PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INDEX="1")
    env.pop("PYTHONPATH", None)
    start = time.time()
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], check=True, env=env)
    proc = subprocess.run([os.path.join(venv, "bin", "pip"), "install", "--no-build-isolation", "./python"],
                          cwd=src, capture_output=True, text=True, env=env)
    check(proc.returncode == 0, "pip install failed:\n%s\n%s" % (proc.stdout, proc.stderr))
    print("venv and install: %.1f s" % (time.time() - start))
    with open(os.path.join(SOURCE, "CMakeLists.txt")) as f:
        version = re.search(r"project\(wsc VERSION ([0-9.]+)", f.read()).group(1)
    model = os.path.join(tmp, "m.h5")
    script = ("import sys, numpy as np, wsc\n"
              "print(wsc.__file__)\nprint(wsc.__version__)\n"
              "wsc.write_model(sys.argv[1], np.ones((4, 2), dtype=np.float32), labels={'a': np.array([0, 1, 0, 1])})\n"
              "print(wsc.validate_model(sys.argv[1]))\n")
    proc = subprocess.run([os.path.join(venv, "bin", "python"), "-c", script, model], cwd=tmp,
                          capture_output=True, text=True, env=env)
    check(proc.returncode == 0, "import from the venv failed:\n%s" % proc.stderr)
    where, got, problems = proc.stdout.splitlines()
    check(where.startswith(os.path.join(venv, "lib")), "wsc imported from the venv: %s" % where)
    check(got == version, "version %s, the CMake project's is %s" % (got, version))
    check(problems == "[]", "a model written from the venv is valid: %s" % problems)
    check(wsc.__version__ == version, "the source tree's version %s" % wsc.__version__)


def run_example(tmp, control):
    out = os.path.join(tmp, "control" if control else "shortcut")
    env = dict(os.environ, PYTHONPATH=os.path.join(SOURCE, "python"))
    cmd = ["/usr/bin/python3", os.path.join(SOURCE, "examples", "pytorch", "example.py"), "--out", out]
    if control:
        cmd.append("--control")
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    seconds = time.time() - start
    check(proc.returncode == 0, "example failed (%d):\n%s\n%s" % (proc.returncode, proc.stdout, proc.stderr))
    print(proc.stdout)
    print("%s example: %.1f s" % ("control" if control else "shortcut", seconds))
    model = os.path.join(out, "model.h5")
    check(validate_model(model) == [], "the example's model file is valid: %s" % validate_model(model))
    check(inspect_ok(model)[0], "wsc inspect accepts the example's model file")
    with h5py.File(model, "r") as f:
        check(f["embeddings"].dtype == np.float32 and f["embeddings"].shape == (900, 32), "embeddings 900 x 32")
        check(f["heads/plane/weight"].shape == (3, 32), "the nn.Linear head")
    probes = {r["task"]: r for r in read_csv(os.path.join(out, "results", "probes.csv"))}
    cells = read_csv(os.path.join(out, "results", "wsc.csv"))
    return proc.stdout, probes, cells


def test_pytorch_example(tmp):
    stdout, probes, cells = run_example(tmp, control=False)
    check(probes["scanner"]["verdict"] == "encoded_used", "the shortcut is found: %s" % probes["scanner"]["verdict"])
    check(float(probes["scanner"]["p_encoded"]) <= 0.05, "the scanner is encoded")
    used = [c for c in cells if c["metadata"] == "scanner" and float(c["p_fwer"]) <= 0.05]
    # In training, plane i came mostly from scanner i: that cell's cosine is the positive one.
    check(any(c["primary_class_index"] == c["metadata_class_index"] and float(c["cos"]) > 0 for c in used),
          "a plane leans on its paired scanner: %s" % [(c["primary_class"], c["metadata_class"], c["cos"])
                                                       for c in used])
    check(probes["exposure"]["verdict"] == "encoded_not_used",
          "exposure is in the images but not a shortcut: %s" % probes["exposure"]["verdict"])
    check(probes["age"]["verdict"] == "not_encoded", "age is in no image: %s" % probes["age"]["verdict"])
    check(re.search(r"^scanner .* encoded_used$", stdout, re.M), "the verdict is printed")
    check("wrote " in stdout and "report" in stdout, "the steps are printed")
    # The control, trained without the shortcut: the scanner is encoded but not used.
    _, probes, _ = run_example(tmp, control=True)
    check(probes["scanner"]["verdict"] == "encoded_not_used", "control: %s" % probes["scanner"]["verdict"])


TESTS = {
    "round_trip": test_round_trip,
    "rejects": test_rejects,
    "validate_like_inspect": test_validate_like_inspect,
    "install": test_install,
    "pytorch_example": test_pytorch_example,
}

if __name__ == "__main__":
    main(TESTS)
