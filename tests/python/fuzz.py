#!/usr/bin/python3
"""Fuzzing wsc with hostile inputs: mutated configs and --set overrides,
mutated model files, and mutated saved states (checkpoints and chunk files),
each case run alone and under `mpiexec -n 2` with a time limit and a memory
limit, its outcome classified.

Outcomes. Fine: `accepted` (exit 0), `refused` (a non-zero exit below 128
with exactly one `wsc: error:` line on stderr, no MPI_Abort banner, and the
case's folder as it was: no output written, no saved state touched), `slow`
(still computing at the time limit: SIGTERM to the ranks ends it with the
state saved, status 75; a run that finishes as SIGTERM comes is accepted). Findings: `crash` (a signal, a status >= 128, a
C++ terminate), `hang` (did not end within the time limit and 20 s after
SIGTERM), `sanitizer` (an AddressSanitizer or UndefinedBehaviorSanitizer
report), `memory` (the case's processes above the memory limit, or killed
by it), `unclear` (a non-zero exit without exactly one `wsc: error:` line,
an unexpected error on one rank, or an MPI_Abort banner), `left-output`
(refused, but files in the case's folder were written or changed).

Each case runs in a memory cgroup of its own (cgroup v1 or v2, when this
process may create one: as root) whose limit is --memory-gib; wsc plans
its memory within that limit, and the limit's peak is the case's memory.
Without cgroups the processes' resident sizes are polled.

Cases are keyed by (seed, kind, index): the same arguments give the same
cases. Usage (the full campaign of the README):
  /usr/bin/python3 tests/python/fuzz.py --wsc build/wsc --configs 1000 --models 300 --states 300
Prints a table of outcomes per kind and rank count; exits 1 on any finding,
with each finding's case kept in --work for replay (the command is in
case.json).
"""
import argparse
import collections
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import warnings

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from wsctest import make_model, session_members  # noqa: E402

FINE = ("accepted", "refused", "slow")
FINDINGS = ("crash", "hang", "sanitizer", "memory", "unclear", "left-output", "harness")

# ---------------------------------------------------------------------------
# Hostile values


def hostile_ints():
    return [0, -1, 1, 2, 3, 7, 64, 4096, 4097, 65536, 65537, 2**31 - 1, 2**31, 2**32 + 1, 10**9,
            2**40, 2**40 + 1, 2**53 + 1, 2**62, 2**63 - 1, -2**63, -2**31, 10**7, 123456789]


def hostile_floats():
    return [0.0, -0.0, 5e-324, 1e-308, 1e-300, 1e-16, 0.5, 0.999999999999, 1.0, 1.0000000001, -1.0,
            2.5, 1e300, 1.7976931348623157e308, float("inf"), float("-inf"), float("nan")]


def hostile_strings(rng):
    return ["", "x", "none", "free", "within", "blocks", "tree", "decisions", "fixed", "probe", "file",
            "quantile", "equal_width", "plane", "site", "sex", "age", "patient", "tree3", "p_fwer",
            "model.h5", "../model.h5", "/nonexistent/model.h5", ".", "/", "out", "/proc/self/mem",
            "\u00e9\u00e8\u4e2d\u6587", "a" * rng.choice([100, 5000, 70000]), "\\u0000", "\t", "nan"]


class Raw(str):
    """TOML text put in as is."""


def deep(depth, rng):
    kind = rng.choice(["array", "table", "mixed"])
    if kind == "array":
        return Raw("[" * depth + "1" + "]" * depth)
    if kind == "table":
        return Raw("{a = " * depth + "1" + "}" * depth)
    text = "1"
    for i in range(depth):
        text = ("[%s]" if i % 2 else "{a = %s}") % text
    return Raw(text)


def hostile_value(rng, like=None):
    pick = rng.random()
    if like is not None and pick < 0.45:
        if isinstance(like, bool):
            return rng.choice([True, False, 1, "true"])
        if isinstance(like, int):
            return rng.choice(hostile_ints())
        if isinstance(like, float):
            return rng.choice(hostile_floats())
        if isinstance(like, str):
            return rng.choice(hostile_strings(rng))
        if isinstance(like, list):
            return rng.choice([[], [0], [1, 1], [2, 4, "none"], ["none", 0], list(range(70)), [-1],
                               [2**40], ["p_fwer", "p_fwer"], ["q_fdr"], [[1]], [1.5], ["x"]])
    kinds = ["int", "float", "str", "bool", "list", "table", "deep", "raw"]
    kind = rng.choice(kinds)
    if kind == "int":
        return rng.choice(hostile_ints())
    if kind == "float":
        return rng.choice(hostile_floats())
    if kind == "str":
        return rng.choice(hostile_strings(rng))
    if kind == "bool":
        return rng.choice([True, False])
    if kind == "list":
        return [hostile_value(rng) for _ in range(rng.randint(0, 3))]
    if kind == "table":
        return {"a": hostile_value(rng), "count": rng.choice(hostile_ints())}
    if kind == "deep":
        return deep(rng.choice([2, 8, 9, 20, 1000, 100000]), rng)
    return Raw(rng.choice(["1979-05-27T07:32:00Z", "07:32:00", "1979-05-27", "0x7fffffffffffffff",
                           "0o777", "0b1", "1_000", "+inf", "-nan", "1e99999", "99999999999999999999",
                           "'''multi\nline'''", "\"unterminated", "[1, 2", "{a = 1", "=", "[,]",
                           "\"\\uD800\"", "tru"]))


def toml_value(v):
    if isinstance(v, Raw):
        return str(v)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if v != v:
            return "nan"
        if v in (float("inf"), float("-inf")):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join("%s = %s" % (k, toml_value(x)) for k, x in v.items()) + "}"
    raise TypeError(v)


# ---------------------------------------------------------------------------
# Configs

KEYS = {
    "input": {"embeddings": "model.h5", "labels": "model.h5"},
    "primary": {"task": "plane", "source": "file"},
    "pca": {"variance": 0.99, "min_components": 4, "components": 4, "sensitivity": [2, 4, "none"]},
    "probe": {"l2": 1e-3, "tol": 1e-8, "max_iter": 200},
    "cv": {"folds": 3, "groups": "patient", "seed": 0},
    "permutation": {"count": 9, "seed": 3, "scheme": "free", "stop": "fixed", "risk": 0.001,
                    "decisions": ["p_fwer"], "look": 16, "strata": "site", "blocks": "patient",
                    "tree": "tree3"},
    "encodability": {"permutations": 5, "alpha": 0.05},
    "bootstrap": {"count": 0, "seed": 1, "level": 0.9},
    "parallel": {"groups": 0, "batch": 8},
    "checkpoint": {"interval": 0.0, "path": "state.wsc"},
    "output": {"dir": "out"},
}
METADATA_KEYS = {"name": "site", "bins": 3, "binning": "quantile", "classes": 3}


def base_configs():
    """Valid configs the mutations start from (each runs in about a second)."""
    plain = [("input", {"embeddings": "model.h5"}), ("primary", {"task": "plane"}),
             ("metadata", [{"name": "site"}, {"name": "sex"}, {"name": "age", "bins": 3}]),
             ("pca", {"variance": 0.99, "min_components": 4}),
             ("probe", {"l2": 1e-3, "tol": 1e-8, "max_iter": 200}), ("cv", {"folds": 3}),
             ("permutation", {"count": 9, "seed": 3}), ("encodability", {"permutations": 5}),
             ("parallel", {"batch": 8}), ("output", {"dir": "out"})]
    fancy = [("input", {"embeddings": "model.h5"}), ("primary", {"task": "plane", "source": "probe"}),
             ("metadata", [{"name": "site", "classes": 3}, {"name": "age", "bins": 4, "binning": "quantile"}]),
             ("pca", {"components": 4, "sensitivity": [2, 4, "none"]}),
             ("cv", {"folds": 3, "groups": "patient"}),
             ("permutation", {"count": 32, "seed": 5, "scheme": "blocks", "blocks": "patient",
                              "stop": "decisions", "look": 16}),
             ("encodability", {"permutations": 4}), ("bootstrap", {"count": 4}),
             ("parallel", {"batch": 16}), ("output", {"dir": "out"})]
    tree = [("input", {"embeddings": "model.h5"}), ("primary", {"task": "plane"}),
            ("metadata", [{"name": "sex"}]),
            ("permutation", {"count": 12, "scheme": "tree", "tree": "tree3"}),
            ("encodability", {"permutations": 0}), ("output", {"dir": "out"})]
    return [plain, fancy, tree]


def render(config):
    lines = []
    for section, body in config:
        if isinstance(body, list):
            for entry in body:
                lines.append("[[%s]]" % section)
                lines += ["%s = %s" % (k, toml_value(v)) for k, v in entry.items()]
                lines.append("")
        else:
            lines.append("[%s]" % section)
            lines += ["%s = %s" % (k, toml_value(v)) for k, v in body.items()]
            lines.append("")
    return "\n".join(lines)


def mutate_structure(config, rng):
    config = [(s, [dict(e) for e in b] if isinstance(b, list) else dict(b)) for s, b in config]
    sections = dict(config)
    op = rng.choice(["set", "set", "set", "set", "delete", "drop-section", "metadata", "unknown"])
    if op == "set":
        section = rng.choice(list(KEYS) + ["metadata"])
        if section == "metadata":
            entries = sections.get("metadata")
            if not isinstance(entries, list) or not entries:
                return config
            entry = rng.choice(entries)
            key = rng.choice(list(METADATA_KEYS))
            entry[key] = hostile_value(rng, METADATA_KEYS[key])
        else:
            key = rng.choice(list(KEYS[section]))
            if section not in sections:
                config.append((section, {}))
                sections = dict(config)
            sections[section][key] = hostile_value(rng, KEYS[section][key])
    elif op == "delete":
        section = rng.choice([s for s, b in config if b])
        body = sections[section]
        if isinstance(body, list):
            entry = rng.choice(body)
            entry.pop(rng.choice(list(entry)), None)
        else:
            body.pop(rng.choice(list(body)), None)
    elif op == "drop-section":
        drop = rng.choice([s for s, _ in config])
        config = [(s, b) for s, b in config if s != drop]
    elif op == "metadata":
        entries = sections.get("metadata")
        if isinstance(entries, list):
            how = rng.choice(["duplicate", "many", "rename", "empty-entry"])
            if how == "duplicate" and entries:
                entries.append(dict(rng.choice(entries)))
            elif how == "many":
                entries += [{"name": rng.choice(["site", "sex", "age"]), "bins": rng.choice([2, 3])}
                            for _ in range(rng.choice([10, 70]))]
            elif how == "rename" and entries:
                rng.choice(entries)["name"] = rng.choice(["plane", "patient", "tree3", "nope", "",
                                                          "embeddings", "age", "a" * 5000])
            else:
                entries.append({})
    else:
        where = rng.choice([s for s, b in config if isinstance(b, dict)] + ["new"])
        if where == "new":
            config.append((rng.choice(["inputs", "permutations", "x", "metadata.x"]), {"a": 1}))
        else:
            sections[where][rng.choice(["unknown", "Count", "count ", "perm.count"])] = hostile_value(rng)
    return config


def mutate_text(text, rng):
    data = bytearray(text.encode("utf-8", "surrogatepass"))
    op = rng.choice(["truncate", "flip", "insert", "dup-line", "drop-line", "deep", "long", "crlf",
                     "bom", "bad-utf8", "nul", "swap-lines"])
    lines = text.split("\n")
    if op == "truncate" and data:
        return bytes(data[:rng.randrange(len(data))])
    if op == "flip" and data:
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if op == "insert":
        junk = rng.choice([b"[", b"]", b"=", b"\"", b"'''", b"[[metadata]]\n", b"\n[pca]\n", b"#", b"\\",
                           b"{", b"}", b"\x00", b"\xff\xfe", b"count = 1\n"])
        at = rng.randrange(len(data) + 1)
        return bytes(data[:at] + junk + data[at:])
    if op == "dup-line" and lines:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif op == "drop-line" and lines:
        lines.pop(rng.randrange(len(lines)))
    elif op == "swap-lines" and len(lines) > 1:
        i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == "deep":
        lines.insert(rng.randrange(len(lines) + 1),
                     "x = " + deep(rng.choice([9, 100, 1000, 200000]), rng))
    elif op == "long":
        lines.insert(rng.randrange(len(lines) + 1), "# " + "x" * rng.choice([10**5, 10**7]))
    elif op == "crlf":
        return "\r\n".join(lines).encode()
    elif op == "bom":
        return b"\xef\xbb\xbf" + bytes(data)
    elif op == "bad-utf8":
        return bytes(data) + b"\nname = \"\xc3\x28\xa0\xa1\"\n"
    elif op == "nul":
        at = rng.randrange(len(data) + 1)
        return bytes(data[:at] + b"\x00" + data[at:])
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def random_override(rng):
    how = rng.random()
    if how < 0.1:
        return rng.choice(["", "=", "permutation.count", "=1", "permutation..count=1", ".=1",
                           "metadata.99.bins=3", "metadata.-1.bins=3", "metadata.x.bins=3",
                           "metadata.0=3", "permutation=3", "a.b.c.d.e.f.g.h.i.j=1",
                           "metadata.18446744073709551616.bins=2", "pca.sensitivity=" + "[" * 5000])
    if how < 0.25:
        key = "metadata.%d.%s" % (rng.choice([0, 1, 2, 3]), rng.choice(list(METADATA_KEYS)))
        like = METADATA_KEYS[key.rsplit(".", 1)[1]]
    else:
        section = rng.choice(list(KEYS))
        name = rng.choice(list(KEYS[section]))
        key, like = section + "." + name, KEYS[section][name]
    text = toml_value(hostile_value(rng, like))
    while len(text) > 60000:  # one argument of a command line holds at most 128 KiB
        text = toml_value(hostile_value(rng, like))
    return "%s=%s" % (key, text)


# ---------------------------------------------------------------------------
# Model files


def add_tree(f):
    n = f["embeddings"].shape[0]
    # Exchange whole pairs of patients' blocks of 4 rows: 3 levels.
    rows = np.arange(n)
    tree = np.stack([np.ones(n, dtype=np.int64), rows // 8 + 1, -(rows // 4 + 1), rows + 1], axis=1)
    f["groups/tree3"] = tree


def write_seed_model(path):
    make_model(path, n=96, d=8, seed=1, extra=add_tree)
    with h5py.File(path, "a") as f:
        f["labels/site"].attrs["class_names"] = np.array([b"GE", b"Philips", b"Siemens"])


MODEL_PATHS = ["embeddings", "heads/plane/weight", "heads/plane/bias", "labels/plane", "labels/site",
               "labels/sex", "labels/age", "groups/patient", "groups/tree3"]


def odd_array(rng, shape, dtype):
    n = shape[0] if shape else 96
    choice = rng.choice(["transpose", "extra-dim", "scalar", "empty", "one-row", "more-rows", "int8",
                         "float16", "complex", "string", "bool", "uint64", "nan", "inf", "huge",
                         "negative", "big-label", "compound", "vlen-string", "fill-nan"])
    base = np.zeros(shape, dtype=dtype) if shape else np.zeros(n)
    if choice == "transpose" and len(shape) == 2:
        return np.zeros((shape[1], shape[0]), dtype=dtype)
    if choice == "extra-dim":
        return np.zeros(tuple(shape) + (2,), dtype=dtype)
    if choice == "scalar":
        return np.float64(1.0)
    if choice == "empty":
        return np.zeros((0,) + tuple(shape[1:]), dtype=dtype)
    if choice == "one-row":
        return np.zeros((1,) + tuple(shape[1:]), dtype=dtype)
    if choice == "more-rows":
        return np.zeros((n + rng.choice([1, 1000]),) + tuple(shape[1:]), dtype=dtype)
    if choice == "int8":
        return base.astype(np.int8)
    if choice == "float16":
        return base.astype(np.float16)
    if choice == "complex":
        return base.astype(np.complex128)
    if choice == "string":
        return np.full(shape or (n,), b"x", dtype="S3")
    if choice == "bool":
        return base.astype(bool)
    if choice == "uint64":
        return np.full(shape or (n,), 2**64 - 1, dtype=np.uint64)
    if choice == "compound":
        return np.zeros(shape or (n,), dtype=[("a", "f8"), ("b", "i4")])
    if choice == "vlen-string":
        return np.array(["x"] * (shape[0] if shape else n), dtype=h5py.string_dtype())
    values = rng.choice({"nan": [np.nan], "inf": [np.inf, -np.inf], "huge": [1e308, -1e308, 3e38],
                         "negative": [-1, -2, -2**31], "big-label": [2**31 - 1, 10**6, 65536, 2**62],
                         "fill-nan": [np.nan]}.get(choice, [np.nan]))
    out = np.array(base, copy=True)
    flat = out.reshape(-1)
    if flat.size:
        if choice == "fill-nan" and np.issubdtype(out.dtype, np.floating):
            flat[:] = np.nan
        else:
            idx = rng.sample(range(flat.size), min(flat.size, rng.choice([1, 3, flat.size])))
            try:
                flat[idx] = values
            except (OverflowError, ValueError):
                out = out.astype(np.float64)
                out.reshape(-1)[idx] = values
    return out


def mutate_model(path, rng):
    """Breaks the model file at `path` in one or two ways; returns what was done."""
    done = []
    for _ in range(rng.choice([1, 1, 2])):
        op = rng.choice(["replace", "replace", "delete", "declared", "attr", "link", "group-swap",
                         "bytes", "truncate", "values", "class-names", "extra"])
        done.append(op)
        if op in ("bytes", "truncate"):
            data = bytearray(open(path, "rb").read())
            if op == "truncate":
                data = data[:rng.randrange(len(data))]
            else:
                for _ in range(rng.choice([1, 4, 32])):
                    data[rng.randrange(len(data))] = rng.randrange(256)
            with open(path, "wb") as f:
                f.write(data)
            continue
        try:
            f = h5py.File(path, "a")
        except OSError:
            continue
        with f:
            try:
                name = rng.choice([p for p in MODEL_PATHS if p in f] or ["embeddings"])
                old = f[name] if name in f and isinstance(f[name], h5py.Dataset) else None
                shape = old.shape if old is not None else (96,)
                dtype = old.dtype if old is not None else np.float64
                if op == "replace":
                    new = odd_array(rng, shape, dtype)
                    if name in f:
                        del f[name]
                    f[name] = new
                elif op == "values" and old is not None:
                    values = np.array(old[()])
                    del f[name]
                    f[name] = odd_array(rng, values.shape, values.dtype) if rng.random() < 0.3 else \
                        np.where(np.random.default_rng(rng.randrange(2**32)).random(values.shape) < 0.1,
                                 rng.choice([np.nan, np.inf, -1, 2**20]), values).astype(values.dtype)
                elif op == "delete":
                    victim = rng.choice(["embeddings", "heads", "heads/plane", "heads/plane/weight", "labels",
                                         "labels/site", "groups", "labels/plane", "heads/plane/bias"])
                    if victim in f:
                        del f[victim]
                elif op == "declared":
                    rows = rng.choice([10**7, 10**9, 10**12, 2**40, 2**50])
                    cols = shape[1:] if rng.random() < 0.7 else (rng.choice([10**6, 2**31]),)
                    if name in f:
                        del f[name]
                    big = (rows,) + tuple(cols) if not name.startswith("heads") else \
                        rng.choice([(rows, 8), (3, rows), (rows,)])
                    f.create_dataset(name, shape=big, dtype=dtype if dtype.kind in "fiu" else np.float64,
                                     chunks=tuple(min(s, 64) for s in big), fillvalue=0)
                elif op == "attr":
                    target = f if rng.random() < 0.5 else f[name] if name in f else f
                    key = rng.choice(["model", "class_names"])
                    value = rng.choice([np.int64(5), np.array([1.5, 2.5]), np.array([b"a"] * 70000),
                                        "x" * rng.choice([10, 10**5, 10**7]), np.array([], dtype="S1"),
                                        np.array([[b"a", b"b"]]), b"\xff\xfe", np.array([b""] * 3)])
                    target.attrs[key] = value
                elif op == "class-names":
                    ds = f[rng.choice(["labels/site", "labels/sex", "heads/plane/weight"])]
                    ds.attrs["class_names"] = rng.choice([np.array([b"a"]), np.array([b"a", b"a", b"b"]),
                                                          np.array([b"a"] * 10), np.array([b"", b"x", b"y"]),
                                                          np.array([b"a,b", b"\n", b"\"q\""]),
                                                          np.array(["\u00e9", "b", "c"], dtype=h5py.string_dtype())])
                elif op == "link":
                    if name in f:
                        del f[name]
                    how = rng.choice(["soft-missing", "soft-loop", "external"])
                    if how == "soft-missing":
                        f[name] = h5py.SoftLink("/nowhere")
                    elif how == "soft-loop":
                        f[name] = h5py.SoftLink("/" + name)
                    else:
                        f[name] = h5py.ExternalLink(rng.choice(["/nonexistent.h5", path]), "/embeddings")
                elif op == "group-swap":
                    if name in f:
                        del f[name]
                    f.create_group(name)
                else:
                    f[rng.choice(["labels/extra", "heads/other/weight", "groups/x", "weird"])] = \
                        odd_array(rng, (96,), np.float64)
            except Exception:  # h5py cannot go on in a file already broken: keep what was done
                pass
    return done


# ---------------------------------------------------------------------------
# Saved states

# The stopped run of the starting checkpoint, and its continuation.
STOPPED = ["--set", "output.dir=stopped", "--set", "permutation.count=3000", "--set", "checkpoint.interval=0"]
HEADER = 28  # magic (8), format version (4), payload size (8), XXH3-64 of the payload (8)


def xxh3(data):
    import xxhash
    return xxhash.xxh3_64_intdigest(bytes(data))


def fix_header(data):
    payload = data[HEADER:]
    data[12:20] = len(payload).to_bytes(8, "little")
    data[20:28] = xxh3(payload).to_bytes(8, "little")


def mutate_state(path, rng):
    data = bytearray(open(path, "rb").read())
    op = rng.choice(["flip", "flip", "length", "length", "length", "truncate", "insert", "delete",
                     "header", "splice", "zero"])
    fix = op not in ("header",) and rng.random() < 0.9
    payload = len(data) - HEADER
    if op == "flip":
        for _ in range(rng.choice([1, 2, 8])):
            data[HEADER + rng.randrange(payload)] = rng.randrange(256)
    elif op == "length":
        at = HEADER + rng.randrange(max(payload - 8, 1))
        if rng.random() < 0.7:
            at -= (at - HEADER) % 8
        value = rng.choice([2**61, 2**63 - 1, 2**64 - 1, 2**32, 2**31, 10**9, 65537, 0, 1, payload])
        data[at:at + 8] = value.to_bytes(8, "little")
    elif op == "truncate":
        data = data[:rng.randrange(len(data))]
    elif op == "insert":
        at = HEADER + rng.randrange(payload + 1)
        data[at:at] = bytes(rng.randrange(256) for _ in range(rng.choice([1, 8, 100])))
    elif op == "delete":
        at = HEADER + rng.randrange(payload)
        del data[at:at + rng.choice([1, 8, 100])]
    elif op == "zero":
        at = HEADER + rng.randrange(payload)
        data[at:at + 64] = bytes(len(data[at:at + 64]))
    elif op == "header":
        field = rng.choice([(0, 8), (8, 4), (12, 8), (20, 8)])
        data[field[0]:field[0] + field[1]] = rng.randrange(2**(8 * field[1])).to_bytes(field[1], "little")
    else:
        other = bytearray(open(path, "rb").read())
        cut = HEADER + rng.randrange(payload)
        data = data[:cut] + other[HEADER + rng.randrange(payload):]
    if fix and len(data) >= HEADER:
        fix_header(data)
    with open(path, "wb") as f:
        f.write(data)
    return [op + ("" if fix else " (checksum left)")]


# ---------------------------------------------------------------------------
# Running and classifying


class Memory:
    """A memory cgroup per worker slot (v1 or v2), or polling of resident sizes."""

    def __init__(self, limit):
        self.limit = limit
        self.kind = None
        for kind, root in (("v2", "/sys/fs/cgroup"), ("v1", "/sys/fs/cgroup/memory")):
            probe = os.path.join(root, "wscfuzz-%d" % os.getpid())
            if kind == "v2" and not os.path.exists(os.path.join(root, "cgroup.controllers")):
                continue
            try:
                os.mkdir(probe)
                os.rmdir(probe)
                self.kind, self.root = kind, root
                break
            except OSError:
                continue

    def slot(self, index):
        if self.kind is None:
            return None
        path = os.path.join(self.root, "wscfuzz-%d-%d" % (os.getpid(), index))
        os.makedirs(path, exist_ok=True)
        limit_file = "memory.max" if self.kind == "v2" else "memory.limit_in_bytes"
        with open(os.path.join(path, limit_file), "w") as f:
            f.write(str(self.limit))
        if self.kind == "v2":
            with open(os.path.join(path, "memory.swap.max"), "w") as f:
                f.write("0")
        return path

    def reset(self, path):
        if path and self.kind == "v1":
            with open(os.path.join(path, "memory.max_usage_in_bytes"), "w") as f:
                f.write("0")
            with open(os.path.join(path, "memory.failcnt"), "w") as f:
                f.write("0")

    def peak(self, path):
        """(peak bytes, limit hit) of the cgroup since the last reset."""
        if not path:
            return 0, False
        if self.kind == "v1":
            peak = int(open(os.path.join(path, "memory.max_usage_in_bytes")).read())
            hit = int(open(os.path.join(path, "memory.failcnt")).read()) > 0
            return peak, hit
        peak = 0
        if os.path.exists(os.path.join(path, "memory.peak")):
            peak = int(open(os.path.join(path, "memory.peak")).read())
        events = open(os.path.join(path, "memory.events")).read().split()
        hit = int(dict(zip(events[::2], events[1::2])).get("oom_kill", "0")) > 0
        return peak, hit

    def remove(self, path):
        if path:
            try:
                os.rmdir(path)
            except OSError:
                pass


def signal_all(pids, signum):
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def rss_of(pid):
    try:
        with open("/proc/%d/statm" % pid) as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def wsc_ranks(sid, wsc_name):
    ranks = []
    for pid in session_members(sid):
        try:
            if os.path.basename(os.readlink("/proc/%d/exe" % pid)) == wsc_name:
                ranks.append(pid)
        except OSError:
            pass
    return ranks


def snapshot(folder):
    files = {}
    for root, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, folder)] = hashlib.sha1(f.read()).hexdigest()
    return files


def execute(cmd, cwd, timeout, memory, cgroup, env, wsc_name, grace=20.0):
    """Runs cmd in its own session (and cgroup); returns a result dict."""
    memory.reset(cgroup)

    def enter():
        if cgroup:
            with open(os.path.join(cgroup, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))

    start = time.time()
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=enter, env=env)
    chunks = []
    reader = threading.Thread(target=lambda: chunks.append(proc.stderr.read()), daemon=True)
    reader.start()
    polled, timed_out, stopped = 0, False, False
    while proc.poll() is None:
        if memory.kind is None:
            polled = max([polled] + [rss_of(p) for p in session_members(proc.pid)])
            if polled > memory.limit:
                os.killpg(proc.pid, signal.SIGKILL)
        if time.time() - start > timeout and not timed_out:
            timed_out = True
            # Still computing? The ranks save their state and end on SIGTERM.
            signal_all(wsc_ranks(proc.pid, wsc_name), signal.SIGTERM)
        if timed_out and time.time() - start > timeout + grace:
            stopped = True
            signal_all(session_members(proc.pid), signal.SIGKILL)
            break
        time.sleep(0.05)
    proc.wait()
    reader.join(timeout=10)
    # Whatever the session left (an orphaned rank) goes too.
    signal_all(session_members(proc.pid), signal.SIGKILL)
    peak, hit = memory.peak(cgroup)
    stderr = b"".join(c for c in chunks if c).decode("utf-8", "replace")
    return dict(status=proc.returncode, stderr=stderr, seconds=time.time() - start, timed_out=timed_out,
                killed=stopped, peak=max(peak, polled), limit_hit=hit or polled > memory.limit)


SANITIZER_MARKS = ("AddressSanitizer", "UndefinedBehaviorSanitizer", "LeakSanitizer", "runtime error:",
                   "MemorySanitizer", "ThreadSanitizer")
CRASH_MARKS = ("terminate called", "Segmentation fault", "core dumped", "exited on signal",
               "signal 11", "Signal: Segmentation", "Aborted", "BAD TERMINATION", "killed by signal")
# A refusal names what is wrong: the config (its keys), the model file, the
# saved state or the command line.
NAMED = ("c.toml", "model.h5", ".wsc", "--chunk", "chunk", "checkpoint")
KEY_NAMES = tuple("%s.%s" % (section, key) for section in KEYS for key in KEYS[section]) + (
    "metadata", "cannot open", "--set")
ABORT_MARKS = ("MPI_ABORT", "MPI_Abort", "application called MPI_Abort")


def classify(result, before, after, limit):
    err = result["stderr"]
    status = result["status"]
    ours = [l for l in err.splitlines() if l.startswith("wsc: error:")]
    if any(m in err for m in SANITIZER_MARKS):
        return "sanitizer", "sanitizer report"
    if result["limit_hit"] or result["peak"] > limit:
        return "memory", "peak %.2f GiB" % (result["peak"] / 2**30)
    if result["killed"]:
        return "hang", "no end after SIGTERM"
    if result["timed_out"]:
        if status == 75 and "stopped by signal" in err:
            return "slow", "stopped at the time limit, state saved"
        if status == 0:  # done before it met the stop request
            return "accepted", "finished at the time limit"
        return "hang", "status %s after SIGTERM at the time limit" % status
    if status == 0:
        return "accepted", ""
    if status < 0 or status >= 128 or any(m in err for m in CRASH_MARKS):
        return "crash", "status %d" % status
    if any(m in err for m in ABORT_MARKS) or "wsc: error on rank" in err:
        return "unclear", "unexpected error: " + (err.strip().splitlines() or [""])[0][:200]
    if len(ours) != 1:
        return "unclear", "%d error lines: %s" % (len(ours), err.strip()[:300])
    if not any(name in ours[0] for name in NAMED + KEY_NAMES):
        return "unclear", "names no input: " + ours[0][:300]
    if before != after:
        changed = sorted(set(before.items()) ^ set(after.items()))
        return "left-output", "files written or changed: %s" % sorted({n for n, _ in changed})[:5]
    return "refused", ours[0]


# ---------------------------------------------------------------------------
# Campaign


class Campaign:
    def __init__(self, args):
        self.args = args
        self.wsc = os.path.abspath(args.wsc)
        self.work = os.path.abspath(args.work)
        self.memory = Memory(int(args.memory_gib * 2**30))
        self.env = dict(os.environ)
        self.env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
                        OMPI_MCA_rmaps_base_oversubscribe="1", OMP_NUM_THREADS="1")
        # A report ends the process (halt_on_error); the harness reads it.
        self.env.setdefault("ASAN_OPTIONS", "halt_on_error=1:abort_on_error=1:detect_leaks=0")
        self.env.setdefault("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        self.seed_dir = os.path.join(self.work, "seed")

    def prepare(self):
        """The valid starting points: a model, configs, a checkpoint and chunk files."""
        if os.path.exists(self.work):
            shutil.rmtree(self.work)
        os.makedirs(self.seed_dir)
        write_seed_model(os.path.join(self.seed_dir, "model.h5"))
        for i, config in enumerate(base_configs()):
            with open(os.path.join(self.seed_dir, "c%d.toml" % i), "w") as f:
                f.write(render(config))
            proc = subprocess.run([self.wsc, "run", "c%d.toml" % i, "--set", "output.dir=check%d" % i],
                                  cwd=self.seed_dir, capture_output=True, text=True, env=self.env)
            if proc.returncode != 0:
                raise SystemExit("fuzz: the starting config %d does not run:\n%s" % (i, proc.stderr))
        # Chunk files: a split run of config 0 (2 chunks).
        for chunk in (0, 1):
            subprocess.run([self.wsc, "run", "c0.toml", "--set", "output.dir=split", "--set",
                            "permutation.count=40", "--chunk", "%d/2" % chunk], cwd=self.seed_dir,
                           check=True, capture_output=True, env=self.env)
        # A checkpoint: a run of config 0 stopped by SIGTERM as it starts permuting
        # (continuing it takes about a second).
        for _ in range(5):
            shutil.rmtree(os.path.join(self.seed_dir, "stopped"), ignore_errors=True)
            proc = subprocess.Popen([self.wsc, "run", "c0.toml"] + STOPPED, cwd=self.seed_dir,
                                    stderr=subprocess.PIPE, text=True, env=self.env)
            for line in proc.stderr:
                if line.startswith("wsc: permutations:"):
                    proc.send_signal(signal.SIGTERM)
                    break
            proc.communicate(timeout=60)
            if proc.returncode == 75:
                break
        if proc.returncode != 75 or not os.path.exists(os.path.join(self.seed_dir, "stopped", "checkpoint.wsc")):
            raise SystemExit("fuzz: could not make the starting checkpoint (status %s)" % proc.returncode)

    def case(self, kind, index, ranks):
        """Builds case (kind, index) in a folder of its own for this rank count (the
        same case for every rank count); returns (folder, argv, description)."""
        rng = random.Random("%d-%s-%d" % (self.args.seed, kind, index))
        folder = os.path.join(self.work, "%s-%05d-r%d" % (kind, index, ranks))
        os.makedirs(folder)
        shutil.copy(os.path.join(self.seed_dir, "model.h5"), folder)
        base = rng.randrange(3)
        config = base_configs()[base]
        what = ["base %d" % base]
        args = ["run", "c.toml"]
        if kind == "config":
            for _ in range(rng.choice([1, 1, 2, 3])):
                config = mutate_structure(config, rng)
            text = render(config)
            data = text.encode("utf-8", "surrogatepass")
            if rng.random() < 0.25:
                data = mutate_text(text, rng)
                what.append("text")
            with open(os.path.join(folder, "c.toml"), "wb") as f:
                f.write(data)
            if rng.random() < 0.4:
                for _ in range(rng.choice([1, 1, 2, 4])):
                    args += ["--set", random_override(rng)]
                what.append("overrides")
        elif kind == "model":
            with open(os.path.join(folder, "c.toml"), "w") as f:
                f.write(render(config))
            what += mutate_model(os.path.join(folder, "model.h5"), rng)
            if rng.random() < 0.15:
                args = ["inspect", "model.h5"]
                what.append("inspect")
        else:
            shutil.copy(os.path.join(self.seed_dir, "c0.toml"), os.path.join(folder, "c.toml"))
            if rng.random() < 0.5:
                shutil.copytree(os.path.join(self.seed_dir, "split"), os.path.join(folder, "split"))
                state = os.path.join(folder, "split", "chunks", "chunk-%d-of-2.wsc" % rng.choice([0, 1]))
                args = ["merge", "c.toml", "--set", "output.dir=split", "--set", "permutation.count=40"]
                what.append("chunk")
            else:
                shutil.copytree(os.path.join(self.seed_dir, "stopped"), os.path.join(folder, "stopped"))
                state = os.path.join(folder, "stopped", "checkpoint.wsc")
                # Continuing the stopped run from its (broken) checkpoint.
                args = ["run", "c.toml"] + STOPPED
                what.append("checkpoint")
            what += mutate_state(state, rng)
        return folder, args, what

    def run_one(self, kind, index, ranks, slot):
        folder, args, what = self.case(kind, index, ranks)
        cmd = [self.wsc] + args
        if ranks > 1:
            cmd = [self.args.mpiexec, "-n", str(ranks)] + cmd
        timeout = self.args.timeout
        before = snapshot(folder)
        result = execute(cmd, folder, timeout, self.memory, slot, self.env, os.path.basename(self.wsc))
        after = snapshot(folder) if result["status"] != 0 else before
        outcome, detail = classify(result, before, after, self.memory.limit)
        record = dict(kind=kind, index=index, ranks=ranks, outcome=outcome, detail=detail, what=what,
                      command=cmd, status=result["status"], seconds=round(result["seconds"], 2),
                      peak_mib=round(result["peak"] / 2**20, 1))
        if outcome in FINE and not self.args.keep_all:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            with open(os.path.join(folder, "case.json"), "w") as f:
                json.dump(dict(record, stderr=result["stderr"][-4000:]), f, indent=1)
        return record

    def jobs(self):
        todo = []
        for kind, count in (("config", self.args.configs), ("model", self.args.models), ("state", self.args.states)):
            for index in range(count):
                for ranks in self.args.ranks:
                    # --several-ranks-every K: cases at more than one rank only every K-th index.
                    if ranks == 1 or index % self.args.several_ranks_every == 0:
                        todo.append((kind, index, ranks))
        return todo

    def run(self):
        self.prepare()
        todo = self.jobs()
        lock = threading.Lock()
        records = []
        slots = [self.memory.slot(i) for i in range(self.args.jobs)]
        started = time.time()

        def worker(slot_index):
            while True:
                with lock:
                    if not todo:
                        return
                    kind, index, ranks = todo.pop(0)
                try:
                    record = self.run_one(kind, index, ranks, slots[slot_index])
                except Exception as e:  # the harness's own fault: reported, never hidden
                    record = dict(kind=kind, index=index, ranks=ranks, outcome="harness", detail=repr(e)[:300],
                                  what=[], command=[], status=None, seconds=0.0, peak_mib=0.0)
                with lock:
                    records.append(record)
                    if record["outcome"] not in FINE:
                        print("fuzz: %s %s-%05d at %d rank(s): %s" % (record["outcome"], kind, index, ranks,
                                                                    record["detail"]), flush=True)
                    if len(records) % 100 == 0:
                        print("fuzz: %d cases, %.0f s" % (len(records), time.time() - started), flush=True)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(self.args.jobs)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for slot in slots:
            self.memory.remove(slot)
        return records, time.time() - started


def table(records, seconds, args):
    outcomes = list(FINE) + list(FINDINGS)
    rows = collections.OrderedDict()
    for r in records:
        key = (r["kind"], r["ranks"])
        rows.setdefault(key, collections.Counter())[r["outcome"]] += 1
    peak = max([r["peak_mib"] for r in records] or [0])
    lines = ["| cases | ranks | " + " | ".join(outcomes) + " |",
             "| --- | --- | " + " | ".join("---" for _ in outcomes) + " |"]
    for (kind, ranks), counts in sorted(rows.items()):
        lines.append("| %s (%d) | %d | " % (kind, sum(counts.values()), ranks) +
                     " | ".join(str(counts.get(o, 0)) for o in outcomes) + " |")
    lines.append("")
    lines.append("%d runs in %.0f s (seed %d, time limit %d s, memory limit %.1f GiB, largest peak %.0f MiB, "
                 "longest run %.1f s)" % (len(records), seconds, args.seed, args.timeout, args.memory_gib, peak,
                                          max([r["seconds"] for r in records] or [0])))
    return "\n".join(lines)


def self_check(args):
    """Planted faults, each must be classified as one: the harness can fail."""
    memory = Memory(256 * 2**20)
    slot = memory.slot(99)
    env = dict(os.environ)
    folder = os.path.abspath(args.work)
    os.makedirs(folder, exist_ok=True)
    py = sys.executable
    planted = [
        ("crash", [py, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)"]),
        ("crash", [py, "-c", "import sys; sys.stderr.write('terminate called after throwing\\n'); sys.exit(134)"]),
        ("sanitizer", [py, "-c", "import sys; sys.stderr.write('==1==ERROR: AddressSanitizer: heap-buffer-overflow\\n'); sys.exit(1)"]),
        ("sanitizer", [py, "-c", "import sys; sys.stderr.write('x.cpp:3:5: runtime error: signed integer overflow\\n'); sys.exit(1)"]),
        ("memory", [py, "-c", "b = bytearray(1 << 30); print(len(b))"]),
        ("unclear", [py, "-c", "import sys; sys.stderr.write('wsc: error on rank 0: std::bad_alloc\\n'); sys.exit(1)"]),
        ("unclear", [py, "-c", "import sys; sys.stderr.write('wsc: error: c.toml: a\\nwsc: error: c.toml: b\\n'); sys.exit(1)"]),
        ("unclear", [py, "-c", "import sys; sys.stderr.write('wsc: error: something went wrong\\n'); sys.exit(1)"]),
        ("left-output", [py, "-c", "import sys; open('written', 'w').write('x'); sys.stderr.write('wsc: error: c.toml: no\\n'); sys.exit(1)"]),
        ("hang", [py, "-c", "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"]),
        ("slow", [py, "-c", "import signal, sys, time\n"
                  "def stop(*a):\n    sys.stderr.write('wsc: stopped by signal 15; state saved\\n'); sys.exit(75)\n"
                  "signal.signal(signal.SIGTERM, stop); time.sleep(600)"]),
        ("accepted", [py, "-c", "import signal, sys, time; signal.signal(signal.SIGTERM, lambda *a: sys.exit(0)); "
                      "time.sleep(600)"]),
        ("refused", [py, "-c", "import sys; sys.stderr.write('wsc: error: c.toml: bad\\n'); sys.exit(1)"]),
        ("accepted", [py, "-c", "pass"]),
    ]
    wrong = 0
    for expected, cmd in planted:
        case = os.path.join(folder, "planted-%d-%s" % (len(cmd[-1]), expected))
        shutil.rmtree(case, ignore_errors=True)
        os.makedirs(case)
        before = snapshot(case)
        # The waiting ones are sent SIGTERM at 2 s; the hang ignores it and is killed 3 s later.
        waits = "time.sleep(600)" in cmd[-1]  # sent SIGTERM at the time limit
        result = execute(cmd, case, 2.0 if waits else 60.0, memory, slot, env,
                         os.path.basename(os.path.realpath(py)) if waits else "none", grace=3.0)
        if expected == "memory" and memory.kind is None:
            print("fuzz: self-check: no memory cgroup here; the memory case is polled")
        outcome, detail = classify(result, before, snapshot(case), memory.limit)
        print("fuzz: self-check: planted %-11s -> %-11s %s" % (expected, outcome, detail[:80]))
        wrong += outcome != expected
    memory.remove(slot)
    print("fuzz: self-check: %d of %d planted faults misclassified" % (wrong, len(planted)))
    return 1 if wrong else 0


def main(argv=None):
    np.seterr(all="ignore")
    warnings.simplefilter("ignore", RuntimeWarning)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wsc", default=os.environ.get("WSC_EXE"), help="the wsc executable (default: $WSC_EXE)")
    parser.add_argument("--mpiexec", default=os.environ.get("WSC_MPIEXEC", "mpiexec"),
                        help="the launcher of wsc's MPI (default: $WSC_MPIEXEC or mpiexec)")
    parser.add_argument("--configs", type=int, default=100)
    parser.add_argument("--models", type=int, default=30)
    parser.add_argument("--states", type=int, default=30)
    parser.add_argument("--ranks", default="1,2", help="rank counts, e.g. 1,2")
    parser.add_argument("--several-ranks-every", type=int, default=1,
                        help="run only every K-th case at the rank counts above 1")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--self-check", action="store_true",
                        help="check that the classification catches planted faults, then stop")
    parser.add_argument("--jobs", type=int, default=2, help="cases run at once")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds before SIGTERM")
    parser.add_argument("--memory-gib", type=float, default=2.0, help="memory limit of a case")
    parser.add_argument("--work", default="fuzz-work", help="folder of the cases (findings are kept)")
    parser.add_argument("--keep-all", action="store_true", help="keep every case's folder")
    parser.add_argument("--json", help="write every case's record here")
    args = parser.parse_args(argv)
    if not args.wsc and not args.self_check:
        parser.error("--wsc (or $WSC_EXE) is required")
    args.ranks = [int(r) for r in args.ranks.split(",")]
    if args.self_check:
        return self_check(args)
    campaign = Campaign(args)
    print("fuzz: %d configs, %d model files, %d saved states at %s rank(s); memory: %s" % (
        args.configs, args.models, args.states, args.ranks,
        "cgroup " + campaign.memory.kind if campaign.memory.kind else "polled"), flush=True)
    records, seconds = campaign.run()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(records, f, indent=1)
    print(table(records, seconds, args))
    findings = [r for r in records if r["outcome"] not in FINE]
    refusals = collections.Counter(" ".join(r["detail"].split()[2:5]) for r in records if r["outcome"] == "refused")
    print("fuzz: %d findings; %d distinct refusal beginnings" % (len(findings), len(refusals)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
