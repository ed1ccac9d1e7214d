"""wsc report and the Python package python/wsc (readers, figures, report):
the report of a run, of a sweep and of the demo's folder loads in headless
chromium without a console message, runs its script, holds no external
reference, and shows every cell's numbers as wsc.csv (sweep_summary.csv) has
them; a run without permutations still renders; the figures hold what they
claim; bad folders get one line."""
import base64
import csv
import html.parser
import math
import os
import re
import shutil
import subprocess
import sys

import h5py
import numpy as np

from wsctest import check, main, make_model, read_csv, run_wsc, write_config

SOURCE = os.environ.get("WSC_SOURCE_DIR", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "python"))


# The report's number formats, written out here (not imported) so that a
# change of format in report.py fails the comparison.
def shown_cos(v):
    return "n/a" if not math.isfinite(v) else "%+.4f" % v


def shown_p(v):
    return "n/a" if not math.isfinite(v) else "%.4g" % v


def shown_num(v):
    return "n/a" if not math.isfinite(v) else "%.4g" % v


RUN_FORMATS = {"cos": shown_cos, "p_perm": shown_p, "p_fwer": shown_p, "q_fdr": shown_p,
               "cos_fold_mean": shown_cos, "cos_fold_sd": shown_num, "boot_lo": shown_cos, "boot_hi": shown_cos}
SWEEP_FORMATS = {"models": lambda v: "%d" % v, "cos_mean": shown_cos, "cos_sd": shown_num, "cos_lo": shown_cos,
                 "cos_hi": shown_cos, "frac_p_fwer": shown_num, "frac_q_fdr": shown_num}


class Dom(html.parser.HTMLParser):
    """What the tests read back from the DOM chromium dumps: the cells'
    numbers (data-cell, data-col), the figures, the verdict items, table
    rows per data-table and every URL-like attribute."""

    def __init__(self):
        super().__init__()
        self.cells = {}         # (cell, column) -> text, of the last table with cells
        self.model_cells = {}   # per data-model of a cells table
        self.figures = []
        self.verdicts = {}
        self.rows = {}
        self.urls = []
        self.ready = False
        self._stack = []
        self._table = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html" and a.get("data-report-ready") == "1":
            self.ready = True
        for name in ("src", "href"):
            if name in a:
                self.urls.append(a[name])
        if tag == "figure":
            self.figures.append(a.get("data-figure"))
        if tag == "table":
            self._table.append(a.get("data-table"))
            if "data-model" in a:
                self.cells = self.model_cells.setdefault(a["data-model"], {})
        if tag == "tr" and self._table and self._table[-1]:
            self.rows[self._table[-1]] = self.rows.get(self._table[-1], 0) + 1
        if tag == "td" and "data-cell" in a:
            self._stack.append(("cell", (a["data-cell"], a["data-col"]), []))
        elif tag == "li" and "data-task" in a:
            self._stack.append(("li", (a["data-task"], a.get("class", "")), []))

    def handle_endtag(self, tag):
        if tag == "table" and self._table:
            self._table.pop()
        if self._stack and ((tag == "td" and self._stack[-1][0] == "cell") or (tag == "li" and self._stack[-1][0] == "li")):
            kind, key, text = self._stack.pop()
            if kind == "cell":
                check(key not in self.cells, "cell %s shown twice" % (key,))
                self.cells[key] = "".join(text).strip()
            else:
                self.verdicts[key[0]] = (key[1], " ".join("".join(text).split()))

    def handle_data(self, data):
        for item in self._stack:
            item[2].append(data)


def chromium_dom(page, tmp):
    """Loads `page` in headless chromium; returns the DOM after its scripts ran
    and the console messages (chromium logs them as INFO:CONSOLE lines)."""
    exe = shutil.which("chromium")
    check(exe is not None, "chromium is not installed (tools/install-deps.sh installs it)")
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--log-level=0", "--user-data-dir=" + os.path.join(tmp, "chromium-profile"),
                           "--dump-dom", "file://" + os.path.abspath(page)],
                          capture_output=True, text=True, timeout=120)
    check(proc.returncode == 0, "chromium failed (%d): %s" % (proc.returncode, proc.stderr[-2000:]))
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
    dom = Dom()
    dom.feed(proc.stdout)
    return dom, console, proc.stdout


def check_loads_cleanly(page, tmp):
    dom, console, text = chromium_dom(page, tmp)
    check(not console, "console messages while loading %s: %s" % (page, console))
    check(dom.ready, "the report's script did not run (no data-report-ready on <html>)")
    external = [u for u in dom.urls if not (u.startswith("data:") or u.startswith("#"))]
    check(not external, "references outside the file: %s" % external[:5])
    check(not re.search(r"url\(\s*['\"]?(https?:|//)", text), "a CSS url() outside the file")
    return dom


def check_console_is_seen(tmp):
    """The console check is not vacuous: a page with a script error is caught."""
    page = os.path.join(tmp, "broken.html")
    with open(page, "w") as f:
        f.write("<!DOCTYPE html><html><body><script>noSuchFunction();</script></body></html>")
    _, console, _ = chromium_dom(page, tmp)
    check(any("noSuchFunction" in line for line in console), "a script error is not seen in chromium's log")


def report(folder, expect_ok=True):
    proc = run_wsc(["report", folder], check_ok=False)
    if expect_ok:
        check(proc.returncode == 0, "wsc report %s failed (%d): %s" % (folder, proc.returncode, proc.stderr))
        path = os.path.join(folder, "report.html")
        check(proc.stdout.strip() == path, "wsc report prints the report's path: %r" % proc.stdout)
        check(os.path.getsize(path) > 10000, "report.html is written")
    return proc


def check_cells_shown(dom, rows, formats, what):
    """Every row's every column shown, as the formats print the file's value."""
    expected = {}
    for r in rows:
        key = "%s|%s|%s" % (r["metadata"], r["primary_class"], r["metadata_class"])
        for column, fmt in formats.items():
            expected[(key, column)] = fmt(float(r[column]))
    check(set(dom.cells) == set(expected), "%s: cells shown %d, expected %d (missing %s, extra %s)" % (
        what, len(dom.cells), len(expected), sorted(set(expected) - set(dom.cells))[:3],
        sorted(set(dom.cells) - set(expected))[:3]))
    wrong = [(k, dom.cells[k], v) for k, v in expected.items() if dom.cells[k] != v]
    check(not wrong, "%s: %d numbers differ from the file, e.g. %s" % (what, len(wrong), wrong[:3]))


def bias_head(path, arrays):
    """Turns the model's primary head towards the site classes' mean
    embeddings: site becomes encoded and used."""
    z, site = arrays["embeddings"], arrays["site"]
    site_means = np.stack([z[site == c].mean(axis=0) - z.mean(axis=0) for c in range(3)])
    with h5py.File(path, "a") as f:
        f["heads/plane/weight"][...] = arrays["head_w"] * 0.2 + 3 * site_means


def small_run(tmp, permutations=49, encodability=19, bootstrap=20, name="out", sensitivity=False):
    """A run of a small model; with `sensitivity`, [pca] sensitivity = [3, 5, 0]
    when this wsc knows the key (the k-sensitivity output)."""
    model = os.path.join(tmp, "model.h5")
    if not os.path.exists(model):
        bias_head(model, make_model(model, n=300, d=10, seed=5))
    config = os.path.join(tmp, name + ".toml")
    write_config(config, "model.h5", name, metadata=("site", "sex", ("age", 3)), permutations=permutations,
                 extra="\n[encodability]\npermutations = %d\n\n[bootstrap]\ncount = %d\n" % (encodability, bootstrap))
    if sensitivity:
        proc = run_wsc(["run", config, "-q", "--set", "pca.sensitivity=[3, 5, 0]"], check_ok=False)
        if proc.returncode == 0:
            return os.path.join(tmp, name)
        check("unknown key 'pca.sensitivity'" in proc.stderr, "wsc run failed: %s" % proc.stderr)
    run_wsc(["run", config, "-q"])
    return os.path.join(tmp, name)


def test_run_report(tmp):
    out = small_run(tmp, sensitivity=True)
    report(out)
    check_console_is_seen(tmp)
    dom = check_loads_cleanly(os.path.join(out, "report.html"), tmp)
    cells = read_csv(os.path.join(out, "wsc.csv"))
    check(all(r["p_fwer"] != "nan" and r["boot_lo"] != "nan" for r in cells), "fixture has p-values and intervals")
    check_cells_shown(dom, cells, RUN_FORMATS, "wsc.csv")
    probes = {r["task"]: r for r in read_csv(os.path.join(out, "probes.csv"))}
    for task in ("site", "sex", "age"):
        check(task in dom.verdicts, "a verdict sentence for %s" % task)
        cls, text = dom.verdicts[task]
        check(cls == probes[task]["verdict"], "verdict of %s: %s vs probes.csv %s" % (task, cls, probes[task]["verdict"]))
        check("p_encoded = %s" % shown_p(float(probes[task]["p_encoded"])) in text, "p_encoded in the sentence: %s" % text)
    site_cls, site_text = dom.verdicts["site"]
    check(site_cls == "encoded_used", "the fixture's site is encoded and used (%s)" % site_cls)
    best = max((r for r in cells if r["metadata"] == "site" and float(r["p_fwer"]) <= 0.05),
               key=lambda r: abs(float(r["cos"])))
    check("cell %s \u00d7 %s, cos = %s" % (best["primary_class"], best["metadata_class"],
                                          shown_cos(float(best["cos"]))) in site_text,
          "the sentence names the largest significant cell: %s" % site_text)
    expected_figures = ["heatmap:site", "heatmap:sex", "heatmap:age", "null_max", "encodability"]
    if os.path.exists(os.path.join(out, "wsc_k.csv")):
        expected_figures += ["sensitivity:site", "sensitivity:sex", "sensitivity:age"]
    check(dom.figures == expected_figures, "figures %s" % dom.figures)
    check(dom.rows.get("probes") == 1 + len(probes), "probes table rows %s" % dom.rows)
    # The embedded images are PNGs.
    with open(os.path.join(out, "report.html")) as f:
        images = re.findall(r'src="data:image/png;base64,([^"]+)"', f.read())
    check(len(images) == len(expected_figures), "one PNG per figure")
    check(all(base64.b64decode(i)[:8] == b"\x89PNG\r\n\x1a\n" for i in images), "PNG data")


def test_no_permutations(tmp):
    out = small_run(tmp, permutations=0, encodability=0, bootstrap=0)
    report(out)
    dom = check_loads_cleanly(os.path.join(out, "report.html"), tmp)
    cells = read_csv(os.path.join(out, "wsc.csv"))
    check(all(r["p_perm"] == "nan" and r["boot_lo"] == "nan" for r in cells), "no p-values in the fixture")
    check_cells_shown(dom, cells, RUN_FORMATS, "wsc.csv")
    check(all(dom.cells[(k, c)] == "n/a" for (k, c) in dom.cells if c in ("p_perm", "p_fwer", "q_fdr")),
          "missing p-values shown as n/a")
    check(all(dom.verdicts[t][0] == "untested" for t in ("site", "sex", "age")), "verdicts %s" % dom.verdicts)
    check("not tested" in dom.verdicts["site"][1], "the sentence says encodability was not tested")


def make_sweep(tmp, models, broken=None):
    """`models` small models; every third one's primary head points along
    the site classes (biased); model `broken` has a NaN row."""
    for s in range(models):
        path = os.path.join(tmp, "runs", "m%03d" % s, "model.h5")
        os.makedirs(os.path.dirname(path))
        arrays = make_model(path, n=200, d=8, seed=300 + s)
        if s % 3 == 0:
            bias_head(path, arrays)
        if s == broken:
            with h5py.File(path, "a") as f:
                e = f["embeddings"][()]
                e[3, 2] = np.nan
                del f["embeddings"]
                f["embeddings"] = e
    write_config(os.path.join(tmp, "analysis.toml"), "placeholder.h5", "placeholder", metadata=("site", "sex"),
                 permutations=19, extra="\n[encodability]\npermutations = 19\n")
    manifest = os.path.join(tmp, "sweep.toml")
    with open(manifest, "w") as f:
        f.write('config = "analysis.toml"\noutput = "out"\nmodels = ["runs/*/model.h5"]\n')
    return manifest


def test_sweep_report(tmp):
    count = 12
    manifest = make_sweep(tmp, count, broken=4)
    run_wsc(["sweep", manifest, "-q"], check_ok=False)
    proc = run_wsc(["merge", "--sweep", manifest], check_ok=False)
    check(proc.returncode == 1, "the merge reports the broken model")
    out = os.path.join(tmp, "out")
    report(out)
    dom = check_loads_cleanly(os.path.join(out, "report.html"), tmp)
    summary = read_csv(os.path.join(out, "sweep_summary.csv"))
    check_cells_shown(dom, summary, SWEEP_FORMATS, "sweep_summary.csv")
    check(dom.rows.get("models") == 1 + count, "one row per model: %s" % dom.rows)
    check(dom.figures == ["reference", "cells:sex", "cells:site"], "figures %s" % dom.figures)
    with open(os.path.join(out, "report.html")) as f:
        text = f.read()
    check("m004_model" in text and "NaN" in text, "the failed model and its reason are shown")
    check("%d models in the sweep: %d complete" % (count, count - 1) in text, "model counts in words")
    # Site: encoded and used in the biased models (every third), in words.
    site = dom.verdicts["site"][1]
    used = sum(1 for s in range(count) if s != 4 and {r["task"]: r for r in read_csv(
        os.path.join(out, "runs_m%03d_model" % s, "probes.csv"))}["site"]["verdict"] == "encoded_used")
    check(used >= 3, "the fixture's biased models use site (%d)" % used)
    check(re.search(r"used \(some cell with p_fwer \u2264 0.05\) in %d of them" % used, site),
          "the sentence counts the models that use site: %s" % site)


def test_demo_report(tmp):
    demo = os.path.join(tmp, "demo")
    run_wsc(["demo", demo, "--permutations", "19"], ranks=2)
    report(demo)
    dom = check_loads_cleanly(os.path.join(demo, "report.html"), tmp)
    check(dom.rows.get("comparison") == 1 + 6, "2 models x 3 tasks compared: %s" % dom.rows)
    check(len([f for f in dom.figures if f.startswith("heatmap:")]) == 6, "a heatmap per model and task")
    check(sorted(dom.model_cells) == ["balanced", "biased"], "both models' cells tables")
    for model, cells in dom.model_cells.items():
        dom.cells = cells
        check_cells_shown(dom, read_csv(os.path.join(demo, model, "wsc.csv")), RUN_FORMATS, model + "/wsc.csv")
    check(dom.verdicts["scanner"][0] in ("encoded_used", "encoded_not_used"), "scanner encoded in the demo")


def test_errors(tmp):
    cases = []
    cases.append((os.path.join(tmp, "nothing"), "nothing: no such folder"))
    os.makedirs(os.path.join(tmp, "empty"))
    cases.append((os.path.join(tmp, "empty"), "empty: not a wsc output folder"))
    out = small_run(tmp, permutations=9, encodability=0, bootstrap=0)
    bad = os.path.join(tmp, "bad")
    shutil.copytree(out, bad)
    with open(os.path.join(bad, "wsc.csv")) as f:
        rows = list(csv.reader(f))
    with open(os.path.join(bad, "wsc.csv"), "w", newline="") as f:
        csv.writer(f).writerows([r[:5] + r[6:] for r in rows])  # no cos column
    cases.append((bad, "bad/wsc.csv: missing column cos"))
    nojson = os.path.join(tmp, "nojson")
    shutil.copytree(out, nojson)
    with open(os.path.join(nojson, "summary.json"), "w") as f:
        f.write("{ truncated")
    cases.append((nojson, "nojson/summary.json: not valid JSON"))
    deep = os.path.join(tmp, "deep")
    shutil.copytree(out, deep)
    with open(os.path.join(deep, "summary.json"), "w") as f:
        f.write("[" * 100000 + "]" * 100000)  # json recursed out of the stack: a traceback
    cases.append((deep, "deep/summary.json: JSON nested deeper than 32 levels"))
    noh5 = os.path.join(tmp, "noh5")
    shutil.copytree(out, noh5)
    os.remove(os.path.join(noh5, "results.h5"))
    cases.append((noh5, "noh5/results.h5: no such file"))
    for folder, expected in cases:
        proc = report(folder, expect_ok=False)
        check(proc.returncode == 1 and expected in proc.stderr and proc.stderr.count("\n") == 1,
              "%s: %d %r" % (folder, proc.returncode, proc.stderr))
        check(not os.path.exists(os.path.join(folder, "report.html")), "no report for %s" % folder)
    many = os.path.join(tmp, "many")
    for i in range(11):
        shutil.copytree(out, os.path.join(many, "run%d" % i))
    cases.append((many, "many: holds 11 run folders but no sweep_summary.csv"))
    for folder, expected in cases[-1:]:
        proc = report(folder, expect_ok=False)
        check(proc.returncode == 1 and expected in proc.stderr and proc.stderr.count("\n") == 1,
              "%s: %d %r" % (folder, proc.returncode, proc.stderr))
    env = dict(os.environ, WSC_PYTHON_DIR=tmp)
    proc = subprocess.run([os.environ.get("WSC_EXE", "wsc"), "report", out], capture_output=True, text=True, env=env)
    check(proc.returncode == 1 and "WSC_PYTHON_DIR=%s holds no wsc/report.py" % tmp in proc.stderr,
          "a wrong WSC_PYTHON_DIR: %r" % proc.stderr)


# ---------------------------------------------------------------------------
# Figures, called from Python on a known run


def fake_sensitivity(out, ks=(3, 5, 0)):
    """wsc_k.csv and /sensitivity of the documented shape, made from wsc.csv
    (for the figures, whether or not this wsc writes them)."""
    rows = read_csv(os.path.join(out, "wsc.csv"))
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        d = f["pca/mean"].shape[0]
    lines = []
    header = ["model", "primary_task", "primary_class", "metadata", "metadata_class", "k", "projection", "explained",
              "cos", "p_perm", "p_fwer", "q_fdr", "permutations", "primary_class_index", "metadata_class_index",
              "cos_fold_mean", "cos_fold_sd", "folds"]
    for k in ks:
        for r in rows:
            cos = float(r["cos"]) * (1.0 if k == 0 else k / (k + 2.0))
            lines.append([r["model"], r["primary_task"], r["primary_class"], r["metadata"], r["metadata_class"],
                          str(d if k == 0 else k), "none" if k == 0 else "pca", "1" if k == 0 else "0.5",
                          repr(cos), r["p_perm"], r["p_fwer"], r["q_fdr"], r["permutations"],
                          r["primary_class_index"], r["metadata_class_index"], repr(cos), "0.01", r["folds"]])
    with open(os.path.join(out, "wsc_k.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(lines)
    return rows


def test_figures(tmp):
    from wsc import figures, results
    out = small_run(tmp, permutations=29, encodability=9, bootstrap=0)
    run = results.read_run(out)
    check(run.sensitivity is None or os.path.exists(os.path.join(out, "wsc_k.csv")), "no wsc_k.csv, no sensitivity")
    cells = read_csv(os.path.join(out, "wsc.csv"))
    check(run.metadata_tasks == ["site", "sex", "age"], "tasks %s" % run.metadata_tasks)
    with h5py.File(os.path.join(out, "results.h5"), "r") as f:
        check(np.array_equal(run.null_max, f["null/max_abs_cos"][()]), "null_max from results.h5")
        check(np.array_equal(run.matrix("site"), f["wsc/site/cos"][()]), "matrix(site) = /wsc/site/cos")
        check(np.array_equal(run.fold_cos["site"][1], f["wsc/site/cos_fold/1"][()]), "fold cosines")

    for task in run.metadata_tasks:
        fig = figures.wsc_heatmap(run, task)
        ax = fig.axes[0]
        image = ax.images[0]
        check(image.get_clim() == (-1, 1), "colour scale fixed to [-1, 1]: %s" % (image.get_clim(),))
        names = run.class_names[task]
        check([t.get_text() for t in ax.get_xticklabels()] == names, "metadata classes on x")
        check([t.get_text() for t in ax.get_yticklabels()] == run.class_names["plane"], "primary classes on y")
        texts = [t.get_text() for t in ax.texts]
        for r in cells:
            if r["metadata"] != task:
                continue
            mark = "**" if float(r["p_fwer"]) <= 0.05 else "*" if float(r["q_fdr"]) <= 0.05 else ""
            check("%+.2f%s" % (float(r["cos"]), mark) in texts, "cell %s x %s annotated" % (r["primary_class"],
                                                                                       r["metadata_class"]))
            check("\u00b1%.2f" % float(r["cos_fold_sd"]) in texts, "fold sd under the cosine")
        check(len(fig.axes) == 2, "heatmap and colour bar")
    fig = figures.null_max(run)
    ax = fig.axes[0]
    check(sum(p.get_height() for p in ax.patches) == 29, "histogram of the 29 permutations")
    labels = ax.get_legend_handles_labels()[1]
    for task in run.metadata_tasks:
        observed = max(abs(float(r["cos"])) for r in cells if r["metadata"] == task)
        check(any(label.startswith("%s: observed max |cos| %.3f" % (task, observed)) for label in labels),
              "%s's observed maximum marked: %s" % (task, labels))
    fig = figures.encodability(run)
    check(len(fig.axes) == 3, "one panel per task")
    probes = {r["task"]: r for r in read_csv(os.path.join(out, "probes.csv"))}
    for ax, task in zip(fig.axes, run.metadata_tasks):
        check(ax.get_title().startswith("%s: p_encoded = " % task), "panel title %s" % ax.get_title())
        check(figures.VERDICT_WORDS[probes[task]["verdict"]] in ax.get_title(), "verdict in %s" % ax.get_title())
        check(any(abs(line.get_xdata()[0] - float(probes[task]["auroc_macro"])) < 1e-12 for line in ax.lines),
              "observed AUROC of %s marked" % task)
    # k-sensitivity: absent -> a figure that says so; present -> one line per cell.
    if run.sensitivity is None:
        fig = figures.sensitivity(run, "site")
        check(any("not configured" in t.get_text() for t in fig.texts), "absent sensitivity said")
        fake_sensitivity(out)
        run = results.read_run(out)
    fig = figures.sensitivity(run, "site")
    ax = fig.axes[0]
    check(ax.get_xscale() == "log", "log k axis")
    check([t.get_text() for t in ax.get_xticklabels()][-1] == "none", "no projection as its own position")
    check(len(ax.get_legend().get_texts()) == 9, "9 site cells in the legend")
    curves = ax.get_legend_handles_labels()[0]
    check(len(curves) == 9 and all(list(c.get_xdata()) == [3, 5] for c in curves), "a curve over k = 3, 5 per cell")
    from wsc import report
    with open(report.write_report(out)) as f:
        shown = re.findall(r'data-figure="([^"]+)"', f.read())
    check(shown[-3:] == ["sensitivity:site", "sensitivity:sex", "sensitivity:age"], "run report figures %s" % shown)
    for stem in ("heat", "null"):
        png, pdf = figures.save(figures.wsc_heatmap(run, "site") if stem == "heat" else figures.null_max(run),
                                os.path.join(tmp, stem))
        with open(png, "rb") as f:
            check(f.read(8) == b"\x89PNG\r\n\x1a\n", "PNG written")
        with open(pdf, "rb") as f:
            check(f.read(5) == b"%PDF-", "PDF written")

    # Many classes: no numbers past MAX_ANNOTATED_CELLS, labels cut short.
    run.class_names["site"] = ["a very long scanner name %d" % i for i in range(50)]
    wide = run.cells[run.cells["metadata"] == "site"]
    many = []
    for j in range(50):
        block = wide[wide["metadata_class_index"] == j % 3].copy()
        block["metadata_class_index"] = j
        many.append(block)
    import pandas as pd
    run.cells = pd.concat([run.cells[run.cells["metadata"] != "site"]] + many)
    run.class_names["plane"] = run.class_names["plane"]
    fig = figures.wsc_heatmap(run, "site")
    ax = fig.axes[0]
    check(len(ax.texts) <= 3 * 50 and not any(t.get_text().startswith(("+", "-")) for t in ax.texts),
          "150 cells are annotated with marks only")
    check(all(len(t.get_text()) <= 22 for t in ax.get_xticklabels()), "long class names cut")
    check(fig.get_figwidth() <= 24, "width capped")


def test_sweep_figures(tmp):
    from wsc import figures, results
    manifest = make_sweep(tmp, 6)
    run_wsc(["sweep", manifest, "-q"])
    run_wsc(["merge", "--sweep", manifest])
    out = os.path.join(tmp, "out")
    sweep = results.read_sweep(out)
    check(sweep.cos.shape == (6, 15), "cos models x cells %s" % (sweep.cos.shape,))
    check(len(sweep.complete) == 6 and sweep.sensitivity is None, "complete models, no sensitivity")
    check(sweep.run("runs_m002_model").model == "fixture", "a model's run read on demand")
    fig = figures.reference_distributions(sweep)
    ax, strip = fig.axes
    labels = ax.get_legend_handles_labels()[1]
    check(labels[0].endswith("%d cosines" % sweep.intra.size) and labels[1].endswith("%d cosines" % sweep.inter.size),
          "reference legend %s" % labels)
    check([t.get_text() for t in strip.get_yticklabels()] == ["sex", "site"], "a strip per metadata task")
    check(sum(len(c.get_offsets()) for c in strip.collections) == 6 * 15, "every model's every cell placed")
    fig = figures.cells_across_models(sweep, "site")
    check(len(fig.axes[0].get_yticklabels()) == 9, "9 site cells")
    right = [t.get_text() for t in fig.axes[1].get_yticklabels()]
    summary = [r for r in read_csv(os.path.join(out, "sweep_summary.csv")) if r["metadata"] == "site"]
    check(right == ["%.0f%%" % (100 * float(r["frac_p_fwer"])) for r in summary], "fractions %s" % right)
    fig = figures.sensitivity_across_models(sweep, "site")
    check(any("not configured" in t.get_text() for t in fig.texts), "absent sweep sensitivity said")

    # sweep_sensitivity.csv of the documented shape: a panel per cell.
    header = ["primary_task", "primary_class", "metadata", "metadata_class", "k", "projection", "models", "cos_mean",
              "cos_sd", "cos_lo", "cos_hi", "frac_p_fwer", "frac_q_fdr", "alpha"]
    with open(os.path.join(out, "sweep_sensitivity.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        for k in (3, 5, 0):
            for r in read_csv(os.path.join(out, "sweep_summary.csv")):
                w.writerow([r["primary_task"], r["primary_class"], r["metadata"], r["metadata_class"], 8 if k == 0 else k,
                            "none" if k == 0 else "pca", r["models"], r["cos_mean"], r["cos_sd"], r["cos_lo"],
                            r["cos_hi"], r["frac_p_fwer"], r["frac_q_fdr"], r["alpha"]])
    sweep = results.read_sweep(out)
    fig = figures.sensitivity_across_models(sweep, "site")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    check(len(panels) == 9, "a panel per site cell (%d)" % len(panels))
    titles = sorted(ax.get_title() for ax in panels)
    check(titles == sorted("%s \u00d7 %s" % (r["primary_class"], r["metadata_class"]) for r in summary),
          "panel titles %s" % titles)
    check(all([t.get_text() for t in ax.get_xticklabels()] == ["3", "5", "none"] for ax in panels), "k ticks")
    from wsc import report
    with open(report.write_report(out)) as f:
        shown = re.findall(r'data-figure="([^"]+)"', f.read())
    check(shown == ["reference", "cells:sex", "cells:site", "sensitivity:sex", "sensitivity:site"],
          "sweep report figures %s" % shown)


if __name__ == "__main__":
    main({"run": test_run_report, "no_permutations": test_no_permutations, "sweep": test_sweep_report,
          "demo": test_demo_report, "errors": test_errors, "figures": test_figures,
          "sweep_figures": test_sweep_figures})
