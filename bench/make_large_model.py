#!/usr/bin/python3
"""Writes a large model file in wsc's input layout, chunk by chunk.

N rows x d dims of float32 embeddings (default 1,000,000 x 256), a 2-class
primary head /heads/plane, and metadata tasks of the given class counts
(default 3 and 5) whose labels depend weakly on the embeddings (class means
along random directions plus noise), so the probes have something to find
and the permuted fits are not trivial. Deterministic from --seed; memory is
one chunk of rows at a time.

  /usr/bin/python3 bench/make_large_model.py OUT.h5 [--n N] [--d D] [--classes 3,5] [--seed S]
"""
import argparse
import sys

import h5py
import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--d", type=int, default=256)
    ap.add_argument("--classes", default="3,5", help="class counts of the metadata tasks, comma-separated (2..10)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chunk", type=int, default=50_000)
    a = ap.parse_args()
    classes = [int(c) for c in a.classes.split(",") if c]
    if a.n < 10 or a.d < 2 or not classes or any(c < 2 or c > 10 for c in classes):
        sys.exit("make_large_model.py: need n >= 10, d >= 2 and class counts in 2..10")
    rng = np.random.default_rng(a.seed)
    # Feature scales decaying like an embedding's spectrum, a common offset.
    scales = (1.0 + np.arange(a.d)) ** -0.5
    offset = rng.normal(0.0, 0.5, a.d)
    plane_dir = rng.normal(size=a.d)
    plane_dir /= np.linalg.norm(plane_dir)
    means = [rng.normal(0.0, 0.35, (c, a.d)) * scales for c in classes]
    with h5py.File(a.out, "w") as f:
        emb = f.create_dataset("embeddings", (a.n, a.d), dtype="f4", chunks=(min(a.chunk, a.n), a.d))
        plane = f.create_dataset("labels/plane", (a.n,), dtype="i8")
        tasks = [f.create_dataset("labels/task%d" % t, (a.n,), dtype="i8") for t in range(len(classes))]
        for start in range(0, a.n, a.chunk):
            n = min(a.chunk, a.n - start)
            x = rng.normal(size=(n, a.d)) * scales + offset
            for t, c in enumerate(classes):
                y = rng.integers(0, c, n)
                x += means[t][y]
                tasks[t][start:start + n] = y
            score = (x - offset) @ plane_dir
            plane[start:start + n] = (score + rng.normal(0.0, 0.3, n) > 0).astype(np.int64)
            emb[start:start + n] = x.astype(np.float32)
        w = np.stack([-plane_dir, plane_dir]).astype(np.float32)
        f["heads/plane/weight"] = w
        f["heads/plane/bias"] = np.zeros(2, np.float32)
        for t, c in enumerate(classes):
            tasks[t].attrs["class_names"] = ["c%d" % k for k in range(c)]
        f.attrs["model"] = "large-%dx%d" % (a.n, a.d)


if __name__ == "__main__":
    main()
