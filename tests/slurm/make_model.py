"""Writes a small synthetic model file for the SLURM job tests.

usage: make_model.py OUT.h5 [--rows N] [--dims D] [--seed S] [--nan]

A 2-class primary head `plane` and its labels, a 3-class `scanner` that the
embedding encodes and that leaks into the head, a 2-class `sex` that it does not
encode, and `/groups/patient` (4 rows per patient). --nan puts NaNs into the
embeddings (a broken model that wsc must refuse).
"""
import argparse

import h5py
import numpy as np

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--rows", type=int, default=400)
p.add_argument("--dims", type=int, default=12)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--nan", action="store_true")
a = p.parse_args()

rng = np.random.default_rng(a.seed)
n, d = a.rows, a.dims
plane = rng.integers(0, 2, n)
scanner = rng.integers(0, 3, n)
sex = rng.integers(0, 2, n)
z = rng.normal(size=(n, d))
z[:, 0] += 2.0 * (plane - 0.5)
z[:, 1] += 1.5 * (scanner == 1) - 1.5 * (scanner == 2)
w = np.zeros((1, d))
w[0, 0] = 2.0
w[0, 1] = 0.5
if a.nan:
    z[::7, 3] = np.nan

with h5py.File(a.out, "w") as f:
    f["embeddings"] = z.astype(np.float32)
    f["heads/plane/weight"] = w
    f["heads/plane/bias"] = np.zeros(1)
    f["labels/plane"] = plane.astype(np.int64)
    f["labels/scanner"] = scanner.astype(np.int64)
    f["labels/sex"] = sex.astype(np.int64)
    f["groups/patient"] = (np.arange(n) // 4).astype(np.int64)
    f.attrs["model"] = a.out.rsplit("/", 1)[-1].rsplit(".", 1)[0]
