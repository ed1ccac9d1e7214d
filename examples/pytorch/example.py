#!/usr/bin/env python3
"""A worked example: does a small CNN use the scanner its training images came from?

Synthetic 16 x 16 "scans" show one of three imaging planes (the label: a bar
pattern along one orientation, faint under noise). Each of three scanners adds
its own acquisition signature (an intensity offset and a fine texture). In the
training set each plane comes mostly from one scanner, so the scanner is a
shortcut to the plane; with --control the scanner is independent of the plane.

Steps: train the CNN briefly; collect penultimate-layer embeddings of a
balanced evaluation set with a forward hook; write them, the final nn.Linear
head and the metadata with wsc.write_model; write a config; run `wsc run` and
`wsc report`; print the verdicts of probes.csv.

    python3 examples/pytorch/example.py --out /tmp/wsc-pytorch [--control]

wsc is taken from $WSC_EXE, else from PATH; the wsc Python package from an
install (see README.md) or from the repository's python/ folder.
"""
import argparse
import csv
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import torch
from torch import nn

try:
    import wsc
except ImportError:  # running from a checkout without installing the package
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, os.pardir, "python"))
    import wsc

PLANES = ["axial", "coronal", "sagittal"]
SCANNERS = ["GE", "Philips", "Siemens"]
SIZE = 16


def make_scans(n, rng, shortcut):
    """n images with their plane, scanner, exposure, age and patient.

    shortcut: the probability that a training image's scanner is the one
    paired with its plane (otherwise the scanner is drawn at random);
    0 makes scanner and plane independent."""
    plane = rng.integers(0, 3, n)
    paired = rng.random(n) < shortcut
    scanner = np.where(paired, plane, rng.integers(0, 3, n))
    # The plane: a faint bar pattern (horizontal, vertical or diagonal stripes).
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    patterns = np.stack([np.sin(yy * 0.8), np.sin(xx * 0.8), np.sin((xx + yy) * 0.57)]).astype(np.float32)
    # The scanner: an intensity offset and a fine texture of its own.
    offsets = np.array([-0.25, 0.0, 0.25], dtype=np.float32)
    textures = np.stack([((xx + yy) % 2) * 1.0, (xx % 2) * 1.0, (yy % 3 == 0) * 1.0]).astype(np.float32)
    textures -= textures.mean(axis=(1, 2), keepdims=True)
    # Exposure sets the noise level (low exposure, noisy image), independent of plane and scanner.
    exposure = rng.uniform(0.5, 1.5, n)
    images = (0.35 * patterns[plane] + offsets[scanner, None, None] + 0.3 * textures[scanner]
              + rng.normal(size=(n, SIZE, SIZE)) / exposure[:, None, None])
    age = rng.uniform(20, 80, n)       # in no image at all
    # Patients: three images each, all from one scanner.
    patient = np.empty(n, dtype=np.int64)
    for s in range(3):
        rows = np.flatnonzero(scanner == s)
        patient[rows] = 1000 * s + np.arange(len(rows)) // 3
    return dict(images=images[:, None].astype(np.float32), plane=plane, scanner=scanner,
                exposure=exposure, age=age, patient=patient)


class SmallCNN(nn.Module):
    def __init__(self, width=32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten())
        self.embed = nn.Sequential(nn.Linear(64, width), nn.ReLU())   # the penultimate layer
        self.fc = nn.Linear(width, len(PLANES))                        # the primary head

    def forward(self, x):
        return self.fc(self.embed(self.features(x)))


def train(model, data, epochs, seed):
    torch.manual_seed(seed)
    x = torch.from_numpy(data["images"])
    y = torch.from_numpy(data["plane"])
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(y))
        for start in range(0, len(y), 64):
            idx = order[start:start + 64]
            optimiser.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            optimiser.step()
    return model


def embeddings_of(model, images):
    """The penultimate layer's output for every image, collected by a forward hook."""
    collected = []
    hook = model.embed.register_forward_hook(lambda module, inputs, output: collected.append(output.detach()))
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(images[i:i + 256])) for i in range(0, len(images), 256)])
    hook.remove()
    return torch.cat(collected), logits


CONFIG = """\
[input]
embeddings = "model.h5"

[primary]
task = "plane"                 # the model's own head, /heads/plane

[[metadata]]
name = "scanner"

[[metadata]]
name = "exposure"              # continuous: binned
bins = 3

[[metadata]]
name = "age"
bins = 3

[pca]
variance = 0.99
min_components = 16            # k: at least 16 of the 32 dimensions

[probe]
l2 = 1e-2                      # the probes' ridge: a stabler direction on nearly separable classes

[cv]
folds = 5
groups = "patient"             # a patient's images stay in one fold

[permutation]
count = {permutations}
seed = 1

[encodability]
permutations = {permutations}

[output]
dir = "results"
"""


def wsc_command():
    exe = os.environ.get("WSC_EXE") or shutil.which("wsc")
    if not exe:
        sys.exit("example: wsc not found: set WSC_EXE or put wsc on PATH")
    return exe


def run(cmd, **kwargs):
    print("$ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, **kwargs)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="wsc-pytorch", help="folder for the model file, config and results")
    parser.add_argument("--control", action="store_true", help="train without the shortcut (scanner independent of plane)")
    parser.add_argument("--permutations", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--ranks", type=int, default=0, help="run wsc under mpiexec -n RANKS (0: alone)")
    args = parser.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(args.out, exist_ok=True)
    start = time.time()

    # 1. Data: a training set with (or without) the shortcut, a balanced evaluation set.
    train_set = make_scans(1800, np.random.default_rng(1), shortcut=0.0 if args.control else 0.9)
    eval_set = make_scans(900, np.random.default_rng(2), shortcut=0.0)

    # 2. Train briefly.
    model = train(SmallCNN(), train_set, args.epochs, seed=3)

    # 3. Embeddings of the evaluation set from the penultimate layer.
    z, logits = embeddings_of(model, eval_set["images"])
    accuracy = (logits.argmax(1).numpy() == eval_set["plane"]).mean()
    print("trained in %.1f s; plane accuracy on the balanced evaluation set %.3f; embeddings %s"
          % (time.time() - start, accuracy, tuple(z.shape)))

    # 4. The model file: embeddings, the final nn.Linear as the primary head, the metadata.
    name = "cnn-control" if args.control else "cnn-shortcut"
    model_path = os.path.join(args.out, "model.h5")
    wsc.write_model(model_path, z, heads={"plane": model.fc},
                    labels={"plane": eval_set["plane"], "scanner": eval_set["scanner"],
                            "exposure": eval_set["exposure"], "age": eval_set["age"]},
                    groups={"patient": eval_set["patient"]},
                    class_names={"plane": PLANES, "scanner": SCANNERS},
                    model=name, overwrite=True)
    print("wrote %s (%s)" % (model_path, name))

    # 5. The config, then wsc run.
    config = os.path.join(args.out, "analysis.toml")
    with open(config, "w") as f:
        f.write(CONFIG.format(permutations=args.permutations))
    exe = wsc_command()
    launcher = [os.environ.get("WSC_MPIEXEC", "mpiexec"), "-n", str(args.ranks)] if args.ranks else []
    if run(launcher + [exe, "run", config, "-q"]).returncode != 0:
        sys.exit("example: wsc run failed")
    results = os.path.join(args.out, "results")

    # 6. The report (a newer wsc has `wsc report`; an older one says so and we go on).
    report = run([exe, "report", results], capture_output=True, text=True)
    if report.returncode == 0:
        print(report.stdout, end="")
    else:
        print("note: `wsc report` did not run (%s); the CSV files are in %s"
              % ((report.stderr.strip().splitlines() or ["no message"])[0], results))

    # 7. The verdicts.
    with open(os.path.join(results, "probes.csv"), newline="") as f:
        probes = [r for r in csv.DictReader(f) if r["role"] == "metadata"]
    with open(os.path.join(results, "wsc.csv"), newline="") as f:
        cells = list(csv.DictReader(f))
    print("\n%-9s %9s %10s  %-28s %7s %8s  %s" % ("metadata", "cv_auroc", "p_encoded", "largest cell", "cos",
                                                  "p_fwer", "verdict"))
    for p in probes:
        mine = [c for c in cells if c["metadata"] == p["task"]]
        top = max(mine, key=lambda c: abs(float(c["cos"])))
        print("%-9s %9.3f %10.4f  %-28s %+7.3f %8.4f  %s"
              % (p["task"], float(p["auroc_macro"]), float(p["p_encoded"]),
                 top["primary_class"] + " x " + top["metadata_class"], float(top["cos"]), float(top["p_fwer"]),
                 p["verdict"]))
    print("\n%s: done in %.1f s; results in %s" % (name, time.time() - start, results))


if __name__ == "__main__":
    main()
