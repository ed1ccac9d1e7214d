"""Shared helpers for the end-to-end tests: fixtures and running wsc."""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

WSC = os.environ.get("WSC_EXE", "wsc")
MPIEXEC = os.environ.get("WSC_MPIEXEC", "mpiexec")


def mpiexec(ranks):
    """The launcher's command for `ranks` processes. More ranks than cores:
    Open MPI reads OMPI_MCA_rmaps_base_oversubscribe=1 from the environment
    (set by tests/CMakeLists.txt); MPICH's mpiexec oversubscribes anyway."""
    return [MPIEXEC, "-n", str(ranks)]


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def run_wsc(args, ranks=0, timeout=600, check_ok=True):
    """Runs wsc (alone when ranks == 0, else under mpiexec -n ranks)."""
    cmd = [WSC] + list(args)
    if ranks:
        cmd = mpiexec(ranks) + cmd
    start = time.time()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    proc.seconds = time.time() - start
    if check_ok and proc.returncode != 0:
        raise Failure("wsc failed (%d): %s\nstdout:\n%s\nstderr:\n%s"
                      % (proc.returncode, " ".join(cmd), proc.stdout, proc.stderr))
    return proc


def session_members(sid):
    """The processes of session `sid` (mpiexec puts each rank in its own
    process group, but they stay in the session we started)."""
    members = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.getsid(int(entry)) == sid:
                    members.append(int(entry))
            except OSError:
                pass
    return members


def make_model(path, n=400, d=16, seed=0, primary_classes=3, dtype=np.float64,
               with_primary_labels=True, extra=None):
    """A model file with signal for a primary task and two metadata tasks
    (categorical 'site' with 3 classes, binary 'sex'), a continuous 'age',
    and groups 'patient'. Returns the arrays."""
    rng = np.random.default_rng(seed)
    plane = rng.integers(0, primary_classes, n)
    site = np.where(rng.random(n) < 0.6, plane % 3, rng.integers(0, 3, n))
    sex = rng.integers(0, 2, n)
    age = 20 + 60 * rng.random(n)
    centres = rng.normal(size=(primary_classes, d)) * 1.2
    site_centres = rng.normal(size=(3, d)) * 0.8
    scales = 1.0 / np.sqrt(1.0 + 0.3 * np.arange(d))
    z = rng.normal(size=(n, d)) * scales + centres[plane] + site_centres[site]
    z[:, 0] += 0.02 * (age - 50)
    w = rng.normal(size=(primary_classes, d))
    b = rng.normal(size=primary_classes)
    arrays = dict(embeddings=z, plane=plane, site=site, sex=sex, age=age, head_w=w, head_b=b,
                  patient=np.arange(n) // 4)
    with h5py.File(path, "w") as f:
        f["embeddings"] = z.astype(dtype)
        f["heads/plane/weight"] = w
        f["heads/plane/bias"] = b
        if with_primary_labels:
            f["labels/plane"] = plane.astype(np.int64)
        f["labels/site"] = site.astype(np.int64)
        f["labels/sex"] = sex.astype(np.int32)
        f["labels/age"] = age
        f["groups/patient"] = arrays["patient"].astype(np.int64)
        f.attrs["model"] = "fixture"
        if extra:
            extra(f)
    return arrays


def write_config(path, embeddings, out_dir, metadata=("site", "sex"), extra="", primary="plane",
                 source="file", permutations=20, components=None, folds=3, labels=None, sensitivity=None):
    lines = ["[input]", 'embeddings = "%s"' % embeddings]
    if labels:
        lines.append('labels = "%s"' % labels)
    lines += ["", "[primary]", 'task = "%s"' % primary, 'source = "%s"' % source, ""]
    for m in metadata:
        if isinstance(m, tuple):
            lines += ["[[metadata]]", 'name = "%s"' % m[0], "bins = %d" % m[1], ""]
        else:
            lines += ["[[metadata]]", 'name = "%s"' % m, ""]
    lines += ["[pca]", "variance = 0.99", "min_components = 4"]
    if components is not None:
        lines.append("components = %d" % components)
    if sensitivity is not None:
        lines.append("sensitivity = [%s]" % ", ".join(str(k) for k in sensitivity))
    lines += ["", "[probe]", "l2 = 1e-3", "tol = 1e-10", "max_iter = 500", "",
              "[cv]", "folds = %d" % folds, "",
              "[permutation]", "count = %d" % permutations, "seed = 3", "",
              "[output]", 'dir = "%s"' % out_dir, ""]
    text = "\n".join(lines) + extra
    with open(path, "w") as f:
        f.write(text)
    return path


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def read_summary(out_dir):
    with open(os.path.join(out_dir, "summary.json")) as f:
        return json.load(f)


def main(tests):
    """Runs the named test functions (all when no argument); prints a closing line."""
    names = sys.argv[1:] or list(tests)
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory(prefix="wsc-test-") as tmp:
            try:
                tests[name](tmp)
                print("PASS", name)
            except Exception as e:  # noqa: BLE001 - report every failure
                failed += 1
                print("FAIL", name, ":", e)
    print("%d passed, %d failed" % (len(names) - failed, failed))
    sys.exit(1 if failed else 0)
