"""Multi-level block permutation (permutation.scheme = "tree", FSL PALM's -eb
layout) end to end.

Null data with a family/site structure: every row of a family has the same
metadata label, the embeddings carry a family effect (in a plane that holds the
primary head's class-0 direction) and a site effect, and the sites differ in
how many families carry label 1. The labels are exchangeable only as whole
families within a site, which is what the tree [-1, +site, -family, row]
says. Under the tree the p-values of null cells are uniform; under the free
scheme (rows shuffled one by one, across sites) they are not: the observed
probe follows the family effects, the freely permuted ones follow the noise,
so the observed |cos| is too large and p_perm too small.

Case "blocks_unequal": scheme "blocks" with blocks of several sizes runs and
warns in summary.json about a block alone in its size; a tree allowing fewer
permutations than permutation.count is warned about and gives no others."""
import math
import os
import sys

import h5py
import numpy as np

from wsctest import check, main, read_csv, read_summary, run_wsc

SITES = 2
FAMILIES = 12          # per site
FAMILY_ROWS = 4
ONES = (8, 4)          # families with label 1 in each site
D = 8
TASKS = 20             # independent null metadata tasks per dataset
DATASETS = 10
PERMUTATIONS = 99


def write_null_model(path, seed):
    rng = np.random.default_rng(seed)
    n = SITES * FAMILIES * FAMILY_ROWS
    site = np.repeat(np.arange(SITES), FAMILIES * FAMILY_ROWS)
    family = np.repeat(np.arange(SITES * FAMILIES), FAMILY_ROWS)
    # Primary head: class 0 along e0 (plus a little elsewhere), class 1 opposite.
    w0 = np.zeros(D)
    w0[0] = 1.0
    w0[2:] = 0.2 * rng.normal(size=D - 2)
    w = np.stack([w0, -w0])
    # Family effects in the plane (e0, e1); site effects along e0; isotropic noise.
    fam_effect = np.zeros((SITES * FAMILIES, D))
    fam_effect[:, :2] = 2.0 * rng.normal(size=(SITES * FAMILIES, 2))
    site_effect = np.zeros((SITES, D))
    site_effect[:, 0] = [-1.0, 1.0]
    z = fam_effect[family] + site_effect[site] + 0.7 * rng.normal(size=(n, D))
    # Rows in random order: the blocks of the tree are not contiguous.
    order = rng.permutation(n)
    z, site, family = z[order], site[order], family[order]
    tree = np.stack([-np.ones(n, dtype=np.int64), site + 1, -(family + 1), np.arange(n) + 1], axis=1)
    with h5py.File(path, "w") as f:
        f["embeddings"] = z
        f["heads/plane/weight"] = w
        f["heads/plane/bias"] = np.zeros(2)
        for t in range(TASKS):
            label_of_family = np.zeros(SITES * FAMILIES, dtype=np.int64)
            for s in range(SITES):
                fams = np.arange(s * FAMILIES, (s + 1) * FAMILIES)
                label_of_family[rng.choice(fams, ONES[s], replace=False)] = 1
            f["labels/m%02d" % t] = label_of_family[family]
        f["groups/tree"] = tree.astype(np.int64)
        f["groups/family"] = family.astype(np.int64)
        f.attrs["model"] = "null"
    return n


def config(path, model, out, scheme_lines, permutations=PERMUTATIONS, metadata=None):
    names = metadata or ["m%02d" % t for t in range(TASKS)]
    lines = ["[input]", 'embeddings = "%s"' % model, "",
             "[primary]", 'task = "plane"', 'source = "file"', ""]
    for m in names:
        lines += ["[[metadata]]", 'name = "%s"' % m, ""]
    lines += ["[pca]", "variance = 1.0", "",
              "[probe]", "l2 = 1e-2", "tol = 1e-8", "max_iter = 200", "",
              "[cv]", "folds = 2", "",
              "[permutation]", "count = %d" % permutations, "seed = 5"] + scheme_lines + ["",
              "[encodability]", "permutations = 0", "",
              "[output]", 'dir = "%s"' % out, ""]
    with open(path, "w") as f:
        f.write("\n".join(lines))
    return path


def null_p_values(tmp, scheme_lines, tag):
    """p_perm of one cell per task (primary class 0, metadata class 1) over all datasets."""
    ps = []
    for k in range(DATASETS):
        model = os.path.join(tmp, "null%d.h5" % k)
        if not os.path.exists(model):
            write_null_model(model, 1000 + k)
        out = os.path.join(tmp, "%s%d" % (tag, k))
        cfg = config(os.path.join(tmp, "%s%d.toml" % (tag, k)), model, out, scheme_lines)
        run_wsc(["run", cfg, "-q"], ranks=2)
        for r in read_csv(os.path.join(out, "wsc.csv")):
            if r["primary_class_index"] == "0" and r["metadata_class_index"] == "1":
                ps.append(float(r["p_perm"]))
    check(len(ps) == DATASETS * TASKS, "expected %d cells, got %d" % (DATASETS * TASKS, len(ps)))
    return np.array(ps)


def binomial_upper(n, p, z=4.0):
    return n * p + z * math.sqrt(n * p * (1 - p))


def test_tree_null_uniform(tmp):
    n = DATASETS * TASKS
    tree = null_p_values(tmp, ['scheme = "tree"', 'tree = "tree"'], "tree")
    free = null_p_values(tmp, ['scheme = "free"'], "free")
    grid = np.arange(1, PERMUTATIONS + 2) / (PERMUTATIONS + 1.0)  # the values p_perm can take

    def ks(ps):
        return max(abs(np.mean(ps <= g + 1e-12) - g) for g in grid)

    # P(p <= 0.05) = 5/100 exactly for an exchangeable null (no ties); 4 sd binomial bounds.
    small_tree = int(np.sum(tree <= 0.05 + 1e-12))
    small_free = int(np.sum(free <= 0.05 + 1e-12))
    d_tree, d_free = ks(tree), ks(free)
    # KS at the 0.001 level: 1.95 / sqrt(n).
    ks_bound = 1.95 / math.sqrt(n)
    print("tree: %d of %d p <= 0.05, KS %.3f; free: %d, KS %.3f (bound %.3f)"
          % (small_tree, n, d_tree, small_free, d_free, ks_bound))
    check(small_tree <= binomial_upper(n, 0.05), "tree: %d of %d p-values <= 0.05" % (small_tree, n))
    check(small_tree >= n * 0.05 - 4.0 * math.sqrt(n * 0.05 * 0.95),
          "tree: only %d of %d p-values <= 0.05" % (small_tree, n))
    check(d_tree < ks_bound, "tree: KS distance %.3f >= %.3f" % (d_tree, ks_bound))
    # The free scheme ignores the families: anti-conservative here.
    check(small_free > binomial_upper(n, 0.05), "free: only %d of %d p-values <= 0.05" % (small_free, n))
    check(d_free > ks_bound, "free: KS distance %.3f not above %.3f" % (d_free, ks_bound))


def test_blocks_unequal(tmp):
    model = os.path.join(tmp, "null.h5")
    write_null_model(model, 7)
    with h5py.File(model, "a") as f:
        family = f["groups/family"][()]
        # Family 0 merged into family 1 (8 rows), family 2 split (2 + 2 rows):
        # sizes 8 (one block: stays), 2 (two blocks), 4 (the other 21).
        family = np.where(family == 0, 1, family)
        rows2 = np.flatnonzero(family == 2)
        family[rows2[:2]] = 1000
        del f["groups/family"]
        f["groups/family"] = family
    out = os.path.join(tmp, "out")
    cfg = config(os.path.join(tmp, "c.toml"), model, out, ['scheme = "blocks"', 'blocks = "family"'],
                 permutations=20, metadata=["m00"])
    run_wsc(["run", cfg, "-q"], ranks=2)
    warnings = read_summary(out)["warnings"]
    check(any("1 of 24 permutation blocks are the only ones of their size" in w for w in warnings),
          "no warning about the block alone in its size: %s" % warnings)
    # Against the free scheme the null differs (blocks move, but as blocks).
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        null = f["null/abs_cos"][()]
    check(null.shape[0] == 20 and np.ptp(null) > 0, "the blocks null does not vary: %s" % null)

    # A tree allowing 2 permutations (the two sites exchanged whole, nothing
    # else): fewer than permutation.count = 20, said in summary.json.
    with h5py.File(model, "a") as f:
        tree = f["groups/tree"][()]
        two = np.stack([np.ones(len(tree), dtype=np.int64), -tree[:, 1], tree[:, 3]], axis=1)
        f["groups/two"] = two
    out2 = os.path.join(tmp, "out2")
    cfg = config(os.path.join(tmp, "c2.toml"), model, out2, ['scheme = "tree"', 'tree = "two"'],
                 permutations=20, metadata=["m00"])
    run_wsc(["run", cfg, "-q"], ranks=2)
    warnings = read_summary(out2)["warnings"]
    check(any("allows only 2 distinct permutations" in w and "permutation.count = 20" in w for w in warnings),
          "no warning about 2 permutations < 20: %s" % warnings)
    with h5py.File(os.path.join(out2, "results.h5"), "r") as f:
        null = f["null/abs_cos"][()]
    # Two permutations only: the identity's null row and the swapped one, nothing else.
    distinct = {tuple(np.round(row, 12)) for row in null}
    check(len(distinct) <= 2, "%d distinct null rows from a tree with 2 permutations" % len(distinct))


if __name__ == "__main__":
    main({"tree_null": test_tree_null_uniform, "blocks_unequal": test_blocks_unequal})
