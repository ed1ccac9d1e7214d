"""Figures of a run (wsc_heatmap, null_max, encodability, sensitivity) and of a
sweep (reference_distributions, cells_across_models, sensitivity_across_models).
Each function returns a matplotlib Figure (Agg: no display needed); save()
writes it as PNG (200 dpi) and PDF."""
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["wsc_heatmap", "null_max", "encodability", "sensitivity", "reference_distributions",
           "cells_across_models", "sensitivity_across_models", "save", "ellipsize", "short_labels", "VERDICT_WORDS", "MAX_ANNOTATED_CELLS",
           "MAX_CELLS_SHOWN"]

# Past this many cells, or classes on a side, a heatmap carries no numbers
# (colours and significance marks only; the numbers are in the tables).
MAX_ANNOTATED_CELLS = 400
MAX_ANNOTATED_SIDE = 20
# Plots with one line or box per cell show at most this many (the largest |cos|).
MAX_CELLS_SHOWN = 30
TASK_COLOURS = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666"]

plt.rcParams.update({"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "xtick.labelsize": 9,
                     "ytick.labelsize": 9, "legend.fontsize": 8.5, "figure.titlesize": 12,
                     "pdf.fonttype": 42, "svg.fonttype": "none"})
# Short words for probes.csv's verdicts.
VERDICT_WORDS = {"encoded_used": "encoded and used", "encoded_not_used": "encoded, not used",
                 "not_encoded": "not encoded", "encoded": "encoded (use not tested)",
                 "untested": "encodability not tested"}


def ellipsize(text, width=18):
    """`text` cut to `width` characters with an ellipsis in the middle."""
    text = str(text)
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "\u2026" + text[len(text) - (width - 1 - head):]


def short_labels(names, width=18):
    """Labels of at most `width` characters that still tell the names apart:
    the middle cut out, else the end, else the start; else numbered."""
    names = [str(n) for n in names]
    if all(len(n) <= width for n in names):
        return names
    tries = [
        [ellipsize(n, width) for n in names],
        [n if len(n) <= width else n[:width - 1] + "\u2026" for n in names],
        [n if len(n) <= width else "\u2026" + n[len(n) - width + 1:] for n in names],
    ]
    for labels in tries:
        if len(set(labels)) == len(set(names)):
            return labels
    return ["%d: %s" % (i, ellipsize(n, max(width - len(str(i)) - 2, 4))) for i, n in enumerate(names)]


def _figure(width, height):
    fig = plt.figure(figsize=(width, height))
    plt.close(fig)  # kept out of pyplot's registry: callers own it
    return fig


def _message_figure(title, message):
    fig = _figure(6.4, 1.6)
    fig.text(0.5, 0.62, title, ha="center", va="center", fontsize=11, weight="bold")
    fig.text(0.5, 0.32, message, ha="center", va="center", fontsize=10, color="#444444")
    return fig


def _fmt_p(p):
    if p is None or not np.isfinite(p):
        return "n/a"
    return "%.2g" % p if p < 0.001 else "%.4f" % p if p < 0.1 else "%.3f" % p


def _cell_label(primary_class, metadata_class, width=16):
    return "%s \u00d7 %s" % (ellipsize(primary_class, width), ellipsize(metadata_class, width))


# ---------------------------------------------------------------------------
# One run


def wsc_heatmap(run, task):
    """The WSC matrix of one metadata task: primary classes (rows) x metadata
    classes (columns), the cosine in each cell on a diverging scale fixed to
    [-1, 1]; ** marks p_fwer <= alpha, * q_fdr <= alpha (only); under the
    cosine its bootstrap interval, or else its sd over the CV folds."""
    primary = run.class_names[run.primary_task]
    meta = run.class_names[task]
    cos = run.matrix(task, "cos")
    fwer = run.matrix(task, "p_fwer")
    fdr = run.matrix(task, "q_fdr")
    lo, hi = run.matrix(task, "boot_lo"), run.matrix(task, "boot_hi")
    fold_sd = run.matrix(task, "cos_fold_sd")
    rows, cols = cos.shape
    annotate = rows * cols <= MAX_ANNOTATED_CELLS and max(rows, cols) <= MAX_ANNOTATED_SIDE
    label_width = 22 if max(rows, cols) <= 12 else 14
    col_labels = short_labels(meta, label_width)
    row_labels = short_labels(primary, label_width)
    longest_col = max(len(c) for c in col_labels)
    longest_row = max(len(c) for c in row_labels)
    rotate = cols > 4 or longest_col > 8
    cell_w = 0.95 if annotate else 0.22
    cell_h = 0.62 if annotate else 0.22
    width = min(max(2.2 + 0.075 * longest_row + cell_w * cols + 1.2, 5.2), 24)
    height = min(max(1.6 + (0.075 * longest_col if rotate else 0.3) + cell_h * rows + 0.9, 3.2), 24)
    fig = _figure(width, height)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(cos, cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xticklabels(col_labels, rotation=45 if rotate else 0, ha="right" if rotate else "center",
                       rotation_mode="anchor")
    ax.set_yticklabels(row_labels)
    ax.set_xlabel("%s (metadata probe class)" % task)
    ax.set_ylabel("%s (primary head class)" % run.primary_task)
    ax.set_xticks(np.arange(cols + 1) - 0.5, minor=True)
    ax.set_yticks(np.arange(rows + 1) - 0.5, minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5 if annotate else 0.3)
    ax.tick_params(which="minor", length=0)
    alpha = run.alpha
    have_boot = np.isfinite(lo).any()
    have_folds = np.isfinite(fold_sd).any()
    for i in range(rows):
        for j in range(cols):
            c = cos[i, j]
            if not np.isfinite(c):
                continue
            mark = "**" if fwer[i, j] <= alpha else "*" if fdr[i, j] <= alpha else ""
            colour = "white" if abs(c) > 0.6 else "black"
            if annotate:
                size = 9 if cols <= 10 else 7.5
                ax.text(j, i - 0.12, "%+.2f%s" % (c, mark), ha="center", va="center", fontsize=size,
                        color=colour, weight="bold" if mark else "normal")
                if have_boot and np.isfinite(lo[i, j]):
                    sub = "[%+.2f, %+.2f]" % (lo[i, j], hi[i, j])
                elif have_folds and np.isfinite(fold_sd[i, j]):
                    sub = "\u00b1%.2f" % fold_sd[i, j]
                else:
                    sub = ""
                if sub:
                    ax.text(j, i + 0.24, sub, ha="center", va="center", fontsize=size - 2, color=colour)
            elif mark:
                ax.text(j, i, "\u2022", ha="center", va="center", fontsize=6, color=colour)
    bar = fig.colorbar(image, ax=ax, fraction=0.06 if cols > 3 else 0.1, pad=0.03)
    bar.set_label("cosine (WSC)")
    bar.set_ticks([-1, -0.5, 0, 0.5, 1])
    notes = []
    tested = run.permutations > 0
    if annotate:
        if tested:
            notes.append("** p_fwer \u2264 %g, * q_fdr \u2264 %g" % (alpha, alpha))
        if have_boot:
            notes.append("under: %d-resample bootstrap interval" % run.bootstrap)
        elif have_folds:
            notes.append("under: sd over %d CV folds" % int(np.nanmax(run.task_cells(task)["folds"])))
    elif tested:
        notes.append("\u2022 p_fwer \u2264 %g or q_fdr \u2264 %g (numbers in the table)" % (alpha, alpha))
    if not tested:
        notes.append("no permutations: no p-values")
    ax.set_title("WSC: %s head \u00d7 %s probe (k = %d)" % (run.primary_task, task, run.k))
    fig.text(0.01, 0.01, "; ".join(notes), fontsize=8, color="#444444", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def null_max(run):
    """The permutation null of max |cos| over all cells (the reference of
    p_fwer), with each task's observed max |cos| marked."""
    null = run.null_max
    if null.size == 0:
        return _message_figure("Permutation null of max |cos|", "no permutations in this run (permutation.count = 0)")
    entries = 2 + len(run.metadata_tasks)
    legend_in = 0.2 * entries + 0.75  # the legend's and the x label's inches under the axes
    fig = _figure(7.0, 3.0 + legend_in)
    ax = fig.add_subplot(1, 1, 1)
    observed = {t: run.observed_max_abs_cos(t) for t in run.metadata_tasks}
    top = max([null.max()] + list(observed.values()))
    bins = np.linspace(0, max(top * 1.05, 1e-3), 41)
    ax.hist(null, bins=bins, color="#9e9e9e", edgecolor="white", linewidth=0.5,
            label="null: max |cos| over all cells, %d permutations" % null.size)
    critical = np.quantile(null, 1 - run.alpha)
    ax.axvline(critical, color="#555555", linestyle="--", linewidth=1,
               label="%g quantile of the null (%.3f)" % (1 - run.alpha, critical))
    for n, (task, value) in enumerate(observed.items()):
        p = float(run.cells[run.cells["metadata"] == task]["p_fwer"].min())
        ax.axvline(value, color=TASK_COLOURS[n % len(TASK_COLOURS)], linewidth=2,
                   label="%s: observed max |cos| %.3f (min p_fwer %s)" % (task, value, _fmt_p(p)))
    ax.set_xlabel("max |cos| over the cells of all metadata tasks")
    ax.set_ylabel("permutations")
    ax.set_title("Permutation null of the largest |cos| (family-wise test)")
    ax.set_xlim(0, bins[-1])
    ax.spines[["top", "right"]].set_visible(False)
    height = fig.get_figheight()
    fig.subplots_adjust(left=0.1, right=0.97, top=1 - 0.45 / height, bottom=legend_in / height)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.55 / (3.0 - 0.45)), frameon=False, ncol=1)
    return fig


def encodability(run):
    """Per metadata task: the probe's CV macro AUROC against the AUROCs of
    probes fitted to permuted labels, with p_encoded and the verdict."""
    tasks = [t for t in run.metadata_tasks if t in run.encodability and run.encodability[t].null.size]
    if not tasks:
        return _message_figure("Encodability", "not tested in this run (encodability.permutations = 0)")
    n = len(tasks)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = _figure(3.6 * cols + 0.4, 2.9 * rows + 0.3)
    for i, task in enumerate(tasks):
        e = run.encodability[task]
        ax = fig.add_subplot(rows, cols, i + 1)
        low = min(e.null.min(), e.auroc, 0.5)
        bins = np.linspace(max(0.0, low - 0.02), min(1.0, max(e.null.max(), e.auroc) + 0.02), 31)
        ax.hist(e.null, bins=bins, color="#9e9e9e", edgecolor="white", linewidth=0.5, label="permuted labels")
        colour = "#c62828" if e.verdict.startswith("encoded") else "#1565c0"
        ax.axvline(e.auroc, color=colour, linewidth=2, label="observed %.3f" % e.auroc)
        ax.axvline(0.5, color="#555555", linestyle=":", linewidth=1)
        ax.set_title("%s: p_encoded = %s\n%s" % (ellipsize(task, 24), _fmt_p(e.p_encoded),
                                                 VERDICT_WORDS.get(e.verdict, e.verdict)), fontsize=10)
        ax.set_xlabel("CV macro AUROC")
        if i % cols == 0:
            ax.set_ylabel("permutations")
        ax.set_ylim(0, ax.get_ylim()[1] * 1.45)
        ax.legend(loc="upper left", frameon=False, fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle("Encodability: is each metadata task in the embedding? (%d permutations)"
                 % run.encodability[tasks[0]].null.size, fontsize=11)
    fig.tight_layout()
    return fig


def _top_cells(frame, value, limit):
    """The (primary_class, metadata_class) pairs of the `limit` largest |value|."""
    order = frame.groupby(["primary_class", "metadata_class"], sort=False)[value].apply(
        lambda v: np.nanmax(np.abs(v.to_numpy())) if np.isfinite(v.to_numpy()).any() else -1.0)
    order = order.sort_values(ascending=False)
    return list(order.index[:limit]), len(order)


def _k_axis(ax, ks, none_x):
    ticks = list(ks) + ([none_x] if none_x is not None else [])
    ax.set_xscale("log")
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(k) for k in ks] + (["none"] if none_x is not None else []))
    ax.minorticks_off()
    ax.set_xlabel("PCA components k (log scale; none = no projection)")


def sensitivity(run, task):
    """The cells' cosines against the number of PCA components k (log x),
    the unprojected cosine as a separate marker; at most MAX_CELLS_SHOWN
    cells (the largest |cos|); filled markers where p_fwer <= alpha."""
    s = run.sensitivity
    if s is None or not len(s[s["metadata"] == task]):
        return _message_figure("k-sensitivity: %s" % task, "not configured in this run ([pca] sensitivity)")
    s = s[s["metadata"] == task]
    top, total = _top_cells(s, "cos", MAX_CELLS_SHOWN)
    pca = s[s["projection"] == "pca"]
    ks = sorted(set(int(k) for k in pca["k"]))
    none_x = ks[-1] * 2.2 if ks and (s["projection"] == "none").any() else None
    if not ks:
        none_x = 1.0
    fig = _figure(7.6, 4.4)
    ax = fig.add_subplot(1, 1, 1)
    cmap = plt.get_cmap("tab10" if len(top) <= 10 else "tab20")
    for n, (pc, mc) in enumerate(top):
        rows = pca[(pca["primary_class"] == pc) & (pca["metadata_class"] == mc)].sort_values("k")
        colour = cmap(n % cmap.N)
        label = _cell_label(pc, mc) if len(top) <= 12 else None
        ax.plot(rows["k"], rows["cos"], "-", color=colour, linewidth=1.4, label=label)
        sig = rows["p_fwer"] <= run.alpha
        ax.plot(rows["k"][sig], rows["cos"][sig], "o", color=colour, markersize=5)
        ax.plot(rows["k"][~sig], rows["cos"][~sig], "o", markerfacecolor="white", color=colour, markersize=5)
        none = s[(s["projection"] == "none") & (s["primary_class"] == pc) & (s["metadata_class"] == mc)]
        if none_x is not None and len(none):
            filled = bool(none["p_fwer"].iloc[0] <= run.alpha)
            ax.plot([none_x], [none["cos"].iloc[0]], "D", color=colour, markersize=6,
                    markerfacecolor=colour if filled else "white")
    if ks:
        ax.axvline(run.k, color="#888888", linestyle=":", linewidth=1)
        ax.text(run.k, 1.02, "run's k = %d" % run.k, ha="center", va="bottom", fontsize=8, color="#555555",
                transform=ax.get_xaxis_transform())
    _k_axis(ax, ks, none_x)
    ax.axhline(0, color="#555555", linewidth=0.6)
    ax.set_ylim(-1.05, 1.05)
    ax.set_ylabel("cosine (WSC)")
    title = "k-sensitivity: %s \u00d7 %s" % (run.primary_task, task)
    if total > len(top):
        title += " (the %d largest of %d cells)" % (len(top), total)
    ax.set_title(title, pad=16)
    if len(top) <= 12:
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False, title="cell (primary \u00d7 metadata)")
    ax.spines[["top", "right"]].set_visible(False)
    fig.text(0.01, 0.01, "filled: p_fwer \u2264 %g at that k; \u25c6: no projection (k = d)" % run.alpha,
             fontsize=8, color="#444444")
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


# ---------------------------------------------------------------------------
# A sweep


def _density(values, grid, bandwidth=None):
    """Gaussian kernel density of `values` on `grid` (binned, then smoothed)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.zeros_like(grid)
    if bandwidth is None:
        sd = values.std() if values.size > 1 else 0.1
        bandwidth = max(1.06 * sd * values.size ** -0.2, 0.01)
    step = grid[1] - grid[0]
    edges = np.concatenate([grid - step / 2, [grid[-1] + step / 2]])
    counts, _ = np.histogram(values, bins=edges)
    half = int(4 * bandwidth / step) + 1
    x = np.arange(-half, half + 1) * step
    kernel = np.exp(-0.5 * (x / bandwidth) ** 2)
    kernel /= kernel.sum()
    smooth = np.convolve(counts, kernel, mode="same")
    return smooth / (values.size * step)


def reference_distributions(sweep):
    """The paper's reference distributions (Fig. 2): densities of the cosines
    between rows of one head (intra-task) and of two different heads
    (inter-task), pooled over the models, and under them every model's WSC
    cells (one row of points per metadata task)."""
    tasks = list(dict.fromkeys(sweep.summary["metadata"]))
    fig = _figure(8.0, 3.6 + 0.42 * len(tasks))
    grid = np.linspace(-1, 1, 401)
    heights = [3.0, 0.5 + 0.42 * len(tasks)]
    ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": heights, "hspace": 0.08})
    for values, name, colour in ((sweep.intra, "intra-task (rows of one head)", "#7570b3"),
                                 (sweep.inter, "inter-task (rows of two heads)", "#e6ab02")):
        if values.size:
            d = _density(values, grid)
            ax.plot(grid, d, color=colour, linewidth=2, label="%s, %d cosines" % (name, values.size))
            ax.fill_between(grid, d, color=colour, alpha=0.15)
    if sweep.inter.size:
        lo, hi = np.percentile(sweep.inter, [2.5, 97.5])
        for n, v in enumerate((lo, hi)):
            ax.axvline(v, color="#b8860b", linestyle="--", linewidth=1,
                       label="inter-task 2.5 and 97.5 percentiles (%+.2f, %+.2f)" % (lo, hi) if n == 0 else None)
    ax.set_ylabel("density")
    ax.legend(loc="upper left", frameon=False)
    ax.set_title("Reference distributions over %d models, and every model's WSC cells" % len(sweep.complete))
    ax.spines[["top", "right"]].set_visible(False)
    rng = np.random.default_rng(0)
    cos = sweep.cos
    for n, task in enumerate(tasks):
        columns = np.flatnonzero(sweep.summary["metadata"].to_numpy() == task)
        values = cos[:, columns].ravel()
        values = values[np.isfinite(values)]
        y = n + rng.uniform(-0.28, 0.28, values.size)
        size = 10 if values.size < 500 else 5 if values.size < 5000 else 2
        strip.scatter(values, y, s=size, color=TASK_COLOURS[n % len(TASK_COLOURS)],
                      alpha=0.6 if values.size < 2000 else 0.25, linewidths=0)
    strip.set_yticks(range(len(tasks)))
    strip.set_yticklabels([ellipsize(t, 16) for t in tasks])
    strip.set_ylim(len(tasks) - 0.5, -0.5)
    strip.set_xlim(-1, 1)
    strip.set_xlabel("cosine")
    strip.set_ylabel("WSC cells")
    strip.spines[["top", "right"]].set_visible(False)
    fig.subplots_adjust(left=0.14, right=0.97, top=0.92, bottom=0.12 + 0.02 * (4 - min(len(tasks), 4)))
    return fig


def cells_across_models(sweep, task):
    """Each cell's cosine across the models: a box (quartiles, whiskers at
    the 2.5 and 97.5 percentiles) with the models as points, and the
    fraction of models with p_fwer <= alpha; at most MAX_CELLS_SHOWN cells
    (the largest |mean cos|)."""
    rows = sweep.summary[sweep.summary["metadata"] == task].copy()
    if not len(rows):
        return _message_figure("Cells across models: %s" % task, "no cells")
    rows["order"] = np.abs(rows["cos_mean"])
    shown = rows.sort_values("order", ascending=False).head(MAX_CELLS_SHOWN)
    shown = shown.sort_index()
    n = len(shown)
    fig = _figure(8.0, 1.5 + 0.32 * n)
    ax = fig.add_subplot(1, 1, 1)
    data = [sweep.cos[:, i][np.isfinite(sweep.cos[:, i])] for i in shown.index]
    ax.boxplot(data, vert=False, whis=(2.5, 97.5), showfliers=False, widths=0.55,
               medianprops={"color": "black"}, boxprops={"color": "#555555"}, whiskerprops={"color": "#555555"},
               capprops={"color": "#555555"})
    rng = np.random.default_rng(1)
    for i, values in enumerate(data):
        if values.size <= 400:
            ax.scatter(values, i + 1 + rng.uniform(-0.18, 0.18, values.size), s=7, alpha=0.5, color="#1f77b4",
                       linewidths=0, zorder=3)
    labels = [_cell_label(r.primary_class, r.metadata_class, 14) for r in shown.itertuples()]
    ax.set_yticks(range(1, n + 1))
    ax.set_yticklabels(labels)
    ax.set_ylim(n + 0.6, 0.4)
    ax.set_xlim(-1.0, 1.0)
    ax.axvline(0, color="#999999", linewidth=0.6)
    right = ax.twinx()
    right.set_ylim(ax.get_ylim())
    right.set_yticks(range(1, n + 1))
    right.set_yticklabels(["%.0f%%" % (100 * f) for f in shown["frac_p_fwer"]])
    right.set_ylabel("models with p_fwer \u2264 %g" % sweep.alpha)
    ax.set_xlabel("cosine (WSC) across models")
    ax.set_ylabel("cell (%s class \u00d7 %s class)" % (ellipsize(shown["primary_task"].iloc[0], 16), ellipsize(task, 16)))
    title = "%s \u00d7 %s across %d models" % (shown["primary_task"].iloc[0], task, len(sweep.complete))
    if len(rows) > n:
        title += " (the %d largest |mean| of %d cells)" % (n, len(rows))
    ax.set_title(title)
    ax.spines[["top"]].set_visible(False)
    right.spines[["top"]].set_visible(False)
    fig.tight_layout()
    return fig


def sensitivity_across_models(sweep, task):
    """One panel per cell: the mean cosine across the models against k (log
    x) with the band of the 2.5-97.5 percentiles, the unprojected cosine as
    a separate marker; at most 12 cells (the largest |mean cos|)."""
    s = sweep.sensitivity
    if s is None or not len(s[s["metadata"] == task]):
        return _message_figure("k-sensitivity across models: %s" % task, "not configured in this sweep")
    s = s[s["metadata"] == task]
    top, total = _top_cells(s, "cos_mean", 12)
    pca = s[s["projection"] == "pca"]
    ks = sorted(set(int(k) for k in pca["k"]))
    none_x = (ks[-1] * 2.2 if ks else 1.0) if (s["projection"] == "none").any() else None
    cols = min(len(top), 4)
    rows = math.ceil(len(top) / cols)
    fig = _figure(2.6 * cols + 0.6, 2.2 * rows + 0.9)
    axes = fig.subplots(rows, cols, sharex=True, sharey=True, squeeze=False)
    for n, (pc, mc) in enumerate(top):
        ax = axes[n // cols][n % cols]
        cell = pca[(pca["primary_class"] == pc) & (pca["metadata_class"] == mc)].sort_values("k")
        ax.fill_between(cell["k"], cell["cos_lo"], cell["cos_hi"], color="#1f77b4", alpha=0.18, linewidth=0)
        ax.plot(cell["k"], cell["cos_mean"], "o-", color="#1f77b4", linewidth=1.5, markersize=3.5)
        none = s[(s["projection"] == "none") & (s["primary_class"] == pc) & (s["metadata_class"] == mc)]
        if none_x is not None and len(none):
            r = none.iloc[0]
            ax.errorbar([none_x], [r["cos_mean"]], yerr=[[r["cos_mean"] - r["cos_lo"]], [r["cos_hi"] - r["cos_mean"]]],
                        fmt="D", color="#d62728", markersize=4, capsize=2.5, linewidth=1)
        ax.axhline(0, color="#777777", linewidth=0.6)
        ax.set_title(_cell_label(pc, mc, 12), fontsize=9)
        ax.set_ylim(-1.05, 1.05)
        ax.spines[["top", "right"]].set_visible(False)
        _k_axis(ax, ks, none_x)
        ax.set_xlabel("")
        ax.tick_params(labelbottom=True)
    for n in range(len(top), rows * cols):
        axes[n // cols][n % cols].set_visible(False)
    fig.supxlabel("PCA components k (log scale; none = no projection, red)", fontsize=9.5)
    fig.supylabel("cosine: mean across models, band 2.5-97.5%", fontsize=9.5)
    title = "k-sensitivity across %d models: %s \u00d7 %s" % (len(sweep.complete), s["primary_task"].iloc[0], task)
    if total > len(top):
        title += " (the %d largest of %d cells)" % (len(top), total)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig


def save(fig, path_stem):
    """Writes `path_stem`.png (200 dpi) and `path_stem`.pdf; returns both paths."""
    png, pdf = str(path_stem) + ".png", str(path_stem) + ".pdf"
    fig.savefig(png, dpi=200, bbox_inches="tight", pad_inches=0.08)
    fig.savefig(pdf, bbox_inches="tight", pad_inches=0.08)
    return png, pdf

