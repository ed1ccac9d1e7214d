"""A self-contained HTML report (report.html) of a run's output folder, of a
sweep's, or of a folder holding several runs (the demo's): the verdicts in
words first, then the figures, the tables, the config, timings and warnings.
Figures are embedded as PNG (base64), styles and the one small script are
inline: the file needs no network and opens anywhere.

    python3 -m wsc.report DIR      # writes DIR/report.html and prints its path
"""
import base64
import datetime
import html
import io
import json
import math
import os
import sys

try:
    import numpy as np

    from . import figures
    from .results import ResultsError, is_run_dir, is_sweep_dir, read_run, read_sweep, _read_csv, CELL_COLUMNS, \
        PROBE_COLUMNS
except ImportError as missing:  # one line, not a traceback, from the command line
    if __name__ == "__main__":
        print("wsc report: error: %s in %s: install python3-numpy python3-pandas python3-matplotlib python3-h5py "
              "(tools/install-deps.sh)" % (missing, sys.executable), file=sys.stderr)
        sys.exit(1)
    raise

__all__ = ["write_report", "fmt_cos", "fmt_p", "fmt_num", "main"]

FIGURE_DPI = 150
# A folder of more runs than this is a sweep's: its report is the sweep's.
MAX_RUNS_IN_FOLDER = 10


# ---------------------------------------------------------------------------
# Number formats (the tests read the tables back with the same rules)


def _finite(v):
    try:
        return v is not None and math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def fmt_cos(v):
    """A cosine: sign and 4 decimals; n/a when missing."""
    return "%+.4f" % float(v) if _finite(v) else "n/a"


def fmt_p(v):
    """A p-value or q-value: 4 significant digits; n/a when missing."""
    return "%.4g" % float(v) if _finite(v) else "n/a"


def fmt_num(v, digits=4):
    """Any other number: `digits` significant digits; n/a when missing."""
    return ("%%.%dg" % digits) % float(v) if _finite(v) else "n/a"


def _e(text):
    return html.escape(str(text), quote=True)


# ---------------------------------------------------------------------------
# HTML pieces

STYLE = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1d1d1d;background:#fafafa;
  line-height:1.45;font-size:15px}
main{max-width:1180px;margin:0 auto;padding:18px 28px 60px;background:#fff;box-shadow:0 0 8px #0001}
h1{font-size:1.6em;margin:.4em 0 .1em}h2{font-size:1.3em;margin-top:1.8em;border-bottom:2px solid #e3e3e3;
  padding-bottom:.2em}h3{font-size:1.08em;margin-top:1.4em}
.sub{color:#555;font-size:.92em}
nav{font-size:.9em;margin:.8em 0;padding:.5em .8em;background:#f3f5f7;border-radius:6px}
nav a{margin-right:1.1em;color:#1a5fb4;text-decoration:none}
.verdicts{list-style:none;padding:0}.verdicts li{margin:.55em 0;padding:.6em .9em;border-left:5px solid #999;
  background:#f7f7f7;border-radius:0 6px 6px 0}
.verdicts li.encoded_used{border-color:#c62828;background:#fdf0f0}
.verdicts li.encoded_not_used{border-color:#2e7d32;background:#f0f8f0}
.verdicts li.not_encoded{border-color:#757575}.verdicts li.encoded,.verdicts li.untested{border-color:#f9a825}
.badge{display:inline-block;padding:0 .45em;border-radius:4px;font-size:.85em;font-weight:600;white-space:nowrap}
.badge.encoded_used{background:#c62828;color:#fff}.badge.encoded_not_used{background:#2e7d32;color:#fff}
.badge.not_encoded{background:#9e9e9e;color:#fff}.badge.encoded,.badge.untested{background:#f9a825;color:#000}
.badge.failed{background:#000;color:#fff}
.legend{font-size:.9em;color:#333;background:#f3f5f7;padding:.6em .9em;border-radius:6px}
.legend dt{font-weight:600;display:inline}.legend dd{display:inline;margin:0 0 0 .3em}
.legend div{margin:.2em 0}
figure{margin:1em 0;text-align:center}figure img{max-width:100%;height:auto}
figcaption{font-size:.88em;color:#444;max-width:900px;margin:.3em auto}
.scroll{max-height:520px;overflow:auto;border:1px solid #ddd;border-radius:4px}
table{border-collapse:collapse;font-size:.86em;font-variant-numeric:tabular-nums}
th,td{padding:.22em .6em;border-bottom:1px solid #eee;text-align:right;white-space:nowrap}
th{background:#f0f2f4;position:sticky;top:0;cursor:pointer;user-select:none;text-align:center}
th.sorted-asc::after{content:" \\25B2"}th.sorted-desc::after{content:" \\25BC"}
td.t{text-align:left}tr.sig td{background:#fff4f4}tr:hover td{background:#eef4ff}
pre{background:#f5f5f5;padding:.8em;border-radius:6px;overflow:auto;font-size:.82em;max-height:420px}
.warn{color:#8a4b00}.note{font-size:.88em;color:#555}
"""

# Sortable tables (click a header); marks the page as rendered for tests.
SCRIPT = """
(function(){
  function key(td){var v=td.getAttribute('data-sort');if(v===null)v=td.textContent.trim();
    var n=parseFloat(v);return isNaN(n)?[1,v.toLowerCase()]:[0,n];}
  document.querySelectorAll('table.sortable').forEach(function(table){
    table.querySelectorAll('thead th').forEach(function(th,col){
      th.addEventListener('click',function(){
        var body=table.tBodies[0],rows=Array.prototype.slice.call(body.rows);
        var asc=!th.classList.contains('sorted-asc');
        table.querySelectorAll('thead th').forEach(function(h){h.classList.remove('sorted-asc','sorted-desc');});
        th.classList.add(asc?'sorted-asc':'sorted-desc');
        rows.sort(function(a,b){var x=key(a.cells[col]),y=key(b.cells[col]);
          var c=x[0]-y[0]||(x[1]<y[1]?-1:x[1]>y[1]?1:0);return asc?c:-c;});
        rows.forEach(function(r){body.appendChild(r);});
      });
    });
  });
  document.documentElement.setAttribute('data-report-ready','1');
})();
"""


def _figure_html(fig, caption, name):
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight", pad_inches=0.08)
    png = buffer.getvalue()
    width_px = int(round(int.from_bytes(png[16:20], "big") / FIGURE_DPI * 96))  # the IHDR width, at 96 px/inch
    data = base64.b64encode(png).decode("ascii")
    return ('<figure data-figure="%s"><img alt="%s" style="width:%dpx" src="data:image/png;base64,%s">'
            "<figcaption>%s</figcaption></figure>" % (_e(name), _e(caption), width_px, data, caption))


def _table(headers, rows, cls="sortable", attrs=""):
    """headers: list of (text, title), or None; rows: lists of a <tr>'s
    attributes and its <td>s."""
    head = "<thead><tr>%s</tr></thead>" % "".join(
        '<th title="%s">%s</th>' % (_e(t), _e(h)) for h, t in headers) if headers else ""
    body = "".join("<tr%s>%s</tr>" % (row[0], "".join(row[1:])) for row in rows)
    return '<div class="scroll"><table class="%s"%s>%s<tbody>%s</tbody></table></div>' % (cls, attrs, head, body)


def _td(text, cls="", sort=None, extra=""):
    return "<td%s%s%s>%s</td>" % (' class="%s"' % cls if cls else "",
                                  ' data-sort="%s"' % _e(sort) if sort is not None else "", extra, text)


def _page(title, subtitle, nav, body):
    generated = datetime.datetime.now().strftime("%Y-%m-%d %H:%M")
    links = "".join('<a href="#%s">%s</a>' % (_e(a), _e(t)) for a, t in nav)
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            "<title>%s</title><style>%s</style></head><body><main>"
            "<h1>%s</h1><div class=\"sub\">%s &middot; report written %s</div><nav>%s</nav>%s"
            "</main><script>%s</script></body></html>\n"
            % (_e(title), STYLE, _e(title), subtitle, _e(generated), links, body, SCRIPT))


LEGEND = """<div class="legend"><div><b>How to read the verdicts.</b> A metadata task is <i>encoded</i> when a
linear probe predicts it from the embedding better than probes fitted to randomly permuted labels
(cross-validated macro AUROC; p_encoded &le; {a}). It is called <i>used</i> when the model's {p} head
points along it: some cell's cosine between a row of the {p} head and a row of the metadata probe (after
projection onto the embedding's top {k} principal components) is larger in magnitude than
permutations allow, family-wise over all cells (p_fwer &le; {a}).</div>
<div><dt><span class="badge encoded_used">encoded and used</span></dt><dd>the head is aligned with this
information beyond chance: a possible shortcut, to be confirmed by intervention (the same inputs under each
metadata value); alignment alone does not prove that the model's decisions depend on it.</dd></div>
<div><dt><span class="badge encoded_not_used">encoded, not used</span></dt><dd>the information is in the
embedding, but the head does not point along it (no cell with p_fwer &le; {a}).</dd></div>
<div><dt><span class="badge not_encoded">not encoded</span></dt><dd>no probe finds the task in the
embedding (p_encoded &gt; {a}): its probe is fitted to noise, so its cosines mean nothing.</dd></div>
<div><dt><span class="badge encoded">encoded (use not tested)</span></dt><dd>no permutations of the
cells were run (permutation.count = 0).</dd></div>
<div><dt><span class="badge untested">encodability not tested</span></dt><dd>encodability.permutations = 0:
read the cosines only if the probe's AUROC is clearly above 0.5.</dd></div>
<div>p_perm: the cell's own permutation p-value; p_fwer: family-wise over all cells (max statistic);
q_fdr: Benjamini-Hochberg over all cells.</div></div>"""


def _badge(verdict):
    return '<span class="badge %s">%s</span>' % (_e(verdict), _e(figures.VERDICT_WORDS.get(verdict, verdict)))


# ---------------------------------------------------------------------------
# A run


def _largest_cell(cells):
    """The row of the largest |cos| (the first of ties)."""
    values = np.abs(cells["cos"].to_numpy())
    return cells.iloc[int(np.nanargmax(values))] if len(cells) and np.isfinite(values).any() else None


def verdict_sentence(run, task):
    """One task's verdict in plain words (HTML)."""
    probe = run.probe(task)
    cells = run.task_cells(task)
    top = _largest_cell(cells)
    alpha = run.alpha
    verdict = probe["verdict"] if probe is not None else "untested"
    auroc = "probe AUROC %s" % fmt_num(probe["auroc_macro"], 3) if probe is not None else "no probe quality"
    p_enc = probe["p_encoded"] if probe is not None else float("nan")
    t, p = "<b>%s</b>" % _e(task), _e(run.primary_task)

    def cell(row):
        text = "cell %s &times; %s, cos = %s" % (_e(row["primary_class"]), _e(row["metadata_class"]), fmt_cos(row["cos"]))
        return text + (", p_fwer = %s" % fmt_p(row["p_fwer"]) if _finite(row["p_fwer"]) else "")

    if verdict == "encoded_used":
        sig = cells[cells["p_fwer"] <= alpha]
        sig = sig.reindex(sig["cos"].abs().sort_values(ascending=False).index)
        others = ""
        if len(sig) > 1:
            more = ["%s &times; %s (%s)" % (_e(r["primary_class"]), _e(r["metadata_class"]), fmt_cos(r["cos"]))
                    for _, r in sig.iloc[1:4].iterrows()]
            rest = " and %d more" % (len(sig) - 4) if len(sig) > 4 else ""
            others = "; %d of %d cells have p_fwer &le; %g, also %s%s" % (len(sig), len(cells), alpha,
                                                                          ", ".join(more), rest)
        return ("%s is encoded in the embedding (%s, p_encoded = %s) and the %s head points along it: %s%s. "
                "This is consistent with %s being used as a shortcut, not proof of it: check it by "
                "intervention." % (t, auroc, fmt_p(p_enc), p, cell(sig.iloc[0]), others,
                                                             _e(task)))
    if verdict == "encoded_not_used":
        return ("%s is encoded in the embedding (%s, p_encoded = %s), but the %s head does not point along it: "
                "no cell has p_fwer &le; %g (the largest is %s)." % (t, auroc, fmt_p(p_enc), p, alpha, cell(top)))
    if verdict == "not_encoded":
        return ("%s is not detectably encoded in the embedding (%s, p_encoded = %s &gt; %g): its probe is fitted "
                "to noise, so its WSC says nothing about the %s head (largest %s, not to be interpreted)."
                % (t, auroc, fmt_p(p_enc), alpha, p, cell(top) if top is not None else "cell: none"))
    if verdict == "encoded":
        return ("%s is encoded in the embedding (%s, p_encoded = %s); whether the %s head uses it was not tested "
                "(no permutations of the cells). Largest cell %s &times; %s, cos = %s."
                % (t, auroc, fmt_p(p_enc), p, _e(top["primary_class"]), _e(top["metadata_class"]),
                   fmt_cos(top["cos"])))
    line = ("The encodability of %s was not tested (encodability.permutations = 0; %s). " % (t, auroc))
    if top is not None:
        line += "Largest %s" % cell(top)
        line += (": some cell has p_fwer &le; %g." % alpha) if (cells["p_fwer"] <= alpha).any() else \
            ": no cell has p_fwer &le; %g." % alpha
    return line


def _cells_table(run):
    headers = [("metadata", "metadata task"), ("primary class", "class of the primary head"),
               ("metadata class", "class of the metadata probe"), ("cos", "WSC cosine"),
               ("p_perm", "per-cell permutation p"), ("p_fwer", "family-wise p (max statistic)"),
               ("q_fdr", "Benjamini-Hochberg q"), ("fold mean", "mean cosine over the CV folds' probes"),
               ("fold sd", "sd over the CV folds"), ("boot lo", "bootstrap interval, lower end"),
               ("boot hi", "bootstrap interval, upper end")]
    rows = []
    alpha = run.alpha
    for _, r in run.cells.iterrows():
        key = _e("%s|%s|%s" % (r["metadata"], r["primary_class"], r["metadata_class"]))

        def num(column, text):
            return _td(text, sort=repr(float(r[column])) if _finite(r[column]) else "",
                       extra=' data-cell="%s" data-col="%s"' % (key, column))
        sig = ' class="sig"' if _finite(r["p_fwer"]) and r["p_fwer"] <= alpha else ""
        rows.append([sig, _td(_e(r["metadata"]), "t"), _td(_e(r["primary_class"]), "t"),
                     _td(_e(r["metadata_class"]), "t"), num("cos", fmt_cos(r["cos"])),
                     num("p_perm", fmt_p(r["p_perm"])), num("p_fwer", fmt_p(r["p_fwer"])),
                     num("q_fdr", fmt_p(r["q_fdr"])), num("cos_fold_mean", fmt_cos(r["cos_fold_mean"])),
                     num("cos_fold_sd", fmt_num(r["cos_fold_sd"])), num("boot_lo", fmt_cos(r["boot_lo"])),
                     num("boot_hi", fmt_cos(r["boot_hi"]))])
    return _table(headers, rows, attrs=' data-table="cells" data-model="%s"' % _e(run.model))


def _probes_table(run):
    headers = [("task", ""), ("role", ""), ("classes", ""), ("accuracy", "held-out CV mean"), ("sd", ""),
               ("macro F1", ""), ("sd", ""), ("macro AUROC", ""), ("sd", ""), ("folds", ""),
               ("labelled rows", ""), ("p_encoded", "permutation p of the CV AUROC"), ("verdict", "")]
    rows = []
    for _, r in run.probes.iterrows():
        verdict = r["verdict"]
        rows.append(["", _td(_e(r["task"]), "t"), _td(_e(r["role"]), "t"), _td(_e(r["classes"])),
                     _td(fmt_num(r["accuracy"])), _td(fmt_num(r["accuracy_sd"], 2)), _td(fmt_num(r["f1_macro"])),
                     _td(fmt_num(r["f1_macro_sd"], 2)), _td(fmt_num(r["auroc_macro"])),
                     _td(fmt_num(r["auroc_macro_sd"], 2)), _td(_e(r["folds"])), _td(_e(r["labelled_rows"])),
                     _td(fmt_p(r["p_encoded"])), _td(_badge(verdict) if verdict else "", "t", sort=verdict)])
    return _table(headers, rows, attrs=' data-table="probes"')


def _run_details(run, anchor):
    s = run.summary
    timings = s.get("timings_seconds", {})
    timing_rows = [["", _td(_e(k), "t"), _td("%.3f" % v if _finite(v) else _e(v))] for k, v in timings.items()]
    warnings = s.get("warnings", [])
    info = [("model", run.model), ("folder", os.path.abspath(run.dir)), ("wsc", "%s (%s)" % (
        s.get("wsc_version", "?"), s.get("git_commit", "?"))), ("rows N", s.get("rows", "?")),
        ("dimension d", s.get("dim", "?")), ("PCA components k", "%d (%.1f%% of the variance)" % (
            run.k, 100 * run.explained) if _finite(run.explained) else run.k),
        ("permutations", run.permutations), ("bootstrap resamples", run.bootstrap),
        ("ranks", s.get("ranks", "?")), ("layout", s.get("layout", {}).get("reason", "")),
        ("peak memory per rank", ", ".join("%.0f MB" % (v / 1e6) for v in s.get("peak_rss_bytes_per_rank", [])))]
    out = ['<h3 id="%s-warnings">Warnings</h3>' % anchor]
    out.append("<ul>%s</ul>" % "".join('<li class="warn">%s</li>' % _e(w) for w in warnings) if warnings
               else '<p class="note">none</p>')
    out.append('<h3 id="%s-run">Run</h3>' % anchor)
    out.append(_table(None, [["", _td(_e(k), "t"), _td(_e(v), "t")] for k, v in info], cls="plain"))
    out.append("<h3>Timings (seconds)</h3>")
    out.append(_table([("phase", ""), ("seconds", "")], timing_rows, cls="plain"))
    out.append('<h3 id="%s-config">Config (as run)</h3><pre>%s</pre>' % (anchor, _e(json.dumps(
        s.get("config", {}), indent=2))))
    if "build" in s:
        out.append("<details><summary>Build</summary><pre>%s</pre></details>" % _e(json.dumps(s["build"], indent=2)))
    return "".join(out)


def _run_body(run, anchor, heading_level=2, legend=""):
    h = "h%d" % heading_level
    h3 = "h%d" % (heading_level + 1)
    out = ['<%s id="%s-verdicts">Verdicts: %s</%s>' % (h, anchor, _e(run.model), h)]
    out.append('<ul class="verdicts">%s</ul>' % "".join(
        '<li class="%s" data-task="%s">%s %s</li>' % (
            _e(run.probe(t)["verdict"] if run.probe(t) is not None else "untested"), _e(t),
            _badge(run.probe(t)["verdict"] if run.probe(t) is not None else "untested"), verdict_sentence(run, t))
        for t in run.metadata_tasks))
    primary = run.probe(run.primary_task)
    if primary is not None:
        out.append('<p class="note">The %s head itself: accuracy %s, macro AUROC %s (%s, %s labelled rows).</p>' % (
            _e(run.primary_task), fmt_num(primary["accuracy"], 3), fmt_num(primary["auroc_macro"], 3),
            _e(primary["evaluation"]), _e(primary["labelled_rows"])))
    out.append(legend)
    out.append('<%s id="%s-figures">Figures</%s>' % (h, anchor, h))
    for task in run.metadata_tasks:
        out.append(_figure_html(figures.wsc_heatmap(run, task),
                                "WSC matrix of %s: cosine between each row of the %s head and each row of the %s probe "
                                "(blue negative, red positive)." % (_e(task), _e(run.primary_task), _e(task)),
                                "heatmap:%s" % task))
    out.append(_figure_html(figures.null_max(run), "Permutation null of the largest |cos| over all cells; an "
                            "observed maximum to the right of the dashed line has p_fwer &le; %g." % run.alpha,
                            "null_max"))
    out.append(_figure_html(figures.encodability(run), "Each metadata probe's cross-validated AUROC (line) "
                            "against probes fitted to permuted labels (grey).", "encodability"))
    if run.sensitivity is not None:
        for task in run.metadata_tasks:
            out.append(_figure_html(figures.sensitivity(run, task), "How the cosines of %s change with the number "
                                    "of principal components kept." % _e(task), "sensitivity:%s" % task))
    out.append('<%s id="%s-tables">Tables</%s>' % (h, anchor, h))
    out.append("<%s>Cells (wsc.csv)</%s>" % (h3, h3))
    out.append('<p class="note">Click a column to sort; shaded rows have p_fwer &le; %g.</p>' % run.alpha)
    out.append(_cells_table(run))
    out.append("<%s>Probes (probes.csv)</%s>" % (h3, h3))
    out.append(_probes_table(run))
    out.append(_run_details(run, anchor))
    return "".join(out)


def run_report_html(run):
    anchor = "run"
    nav = [("run-verdicts", "Verdicts"), ("run-figures", "Figures"), ("run-tables", "Tables"),
           ("run-warnings", "Warnings"), ("run-run", "Run"), ("run-config", "Config")]
    body = _run_body(run, anchor, legend=LEGEND.format(a=run.alpha, p=_e(run.primary_task), k="k = %d" % run.k))
    subtitle = "%s head &times; %s; %d permutations; folder %s" % (
        _e(run.primary_task), ", ".join(_e(t) for t in run.metadata_tasks), run.permutations, _e(os.path.abspath(run.dir)))
    return _page("WSC report: %s" % run.model, subtitle, nav, body)


# ---------------------------------------------------------------------------
# A folder of runs (e.g. the demo's)


def _run_dirs(path):
    return sorted(os.path.join(path, d) for d in os.listdir(path)
                  if os.path.isdir(os.path.join(path, d)) and is_run_dir(os.path.join(path, d)))


def runs_report_html(path, runs):
    rows = []
    for run in runs:
        for task in run.metadata_tasks:
            probe = run.probe(task)
            top = _largest_cell(run.task_cells(task))
            verdict = probe["verdict"] if probe is not None else "untested"
            rows.append(["", _td('<a href="#%s">%s</a>' % (_e(_anchor(run)), _e(run.model)), "t", sort=run.model),
                         _td(_e(task), "t"), _td(fmt_num(probe["auroc_macro"], 3) if probe is not None else "n/a"),
                         _td(fmt_p(probe["p_encoded"] if probe is not None else None)),
                         _td("%s &times; %s" % (_e(top["primary_class"]), _e(top["metadata_class"])), "t"),
                         _td(fmt_cos(top["cos"])), _td(fmt_p(top["p_fwer"])), _td(_badge(verdict), "t", sort=verdict)])
    headers = [("model", ""), ("metadata", ""), ("CV AUROC", ""), ("p_encoded", ""), ("largest cell", ""),
               ("cos", ""), ("p_fwer", ""), ("verdict", "")]
    body = ['<h2 id="comparison">Verdicts of every model</h2>', _table(headers, rows, attrs=' data-table="comparison"'),
            LEGEND.format(a=runs[0].alpha, p=_e(runs[0].primary_task), k="k")]
    for run in runs:
        body.append('<h2 id="%s" style="margin-top:2.4em">Model %s</h2>' % (_e(_anchor(run)), _e(run.model)))
        body.append(_run_body(run, _anchor(run), heading_level=3).replace(
            'id="%s-verdicts">Verdicts: ' % _anchor(run), 'id="%s-verdicts">Verdicts of ' % _anchor(run)))
    nav = [("comparison", "Comparison")] + [(_anchor(r), r.model) for r in runs]
    subtitle = "%d runs in %s" % (len(runs), _e(os.path.abspath(path)))
    return _page("WSC report: %s" % ", ".join(r.model for r in runs), subtitle, nav, "".join(body))


def _anchor(run):
    return "model-" + "".join(c if c.isalnum() else "-" for c in run.model)


# ---------------------------------------------------------------------------
# A sweep


def model_verdicts(sweep):
    """Per complete model and metadata task: CV AUROC, p_encoded, verdict and
    its largest cell (from each model's probes.csv and wsc.csv)."""
    import pandas as pd
    records = []
    for model in sweep.complete:
        folder = sweep.run_dir(model)
        cells = _read_csv(os.path.join(folder, "wsc.csv"), CELL_COLUMNS)
        probes = _read_csv(os.path.join(folder, "probes.csv"), PROBE_COLUMNS)
        for task in dict.fromkeys(cells["metadata"]):
            tc = cells[cells["metadata"] == task]
            top = _largest_cell(tc)
            p = probes[probes["task"] == task]
            records.append(dict(model=model, task=task,
                                auroc=float(p["auroc_macro"].iloc[0]) if len(p) else float("nan"),
                                p_encoded=float(p["p_encoded"].iloc[0]) if len(p) else float("nan"),
                                verdict=p["verdict"].iloc[0] if len(p) else "untested",
                                cell="%s \u00d7 %s" % (top["primary_class"], top["metadata_class"]),
                                cos=float(top["cos"]), p_fwer=float(tc["p_fwer"].min()),
                                significant=int((tc["p_fwer"] <= sweep.alpha).sum())))
    return pd.DataFrame.from_records(records, columns=["model", "task", "auroc", "p_encoded", "verdict", "cell",
                                                       "cos", "p_fwer", "significant"])


def _sweep_sentences(sweep, verdicts):
    total = len(sweep.models)
    complete = len(sweep.complete)
    out = ["<p>%d models in the sweep: %d complete%s.</p>" % (
        total, complete, ", %d without results (see Models)" % (total - complete) if total > complete else "")]
    items = []
    for task in dict.fromkeys(sweep.summary["metadata"]):
        v = verdicts[verdicts["task"] == task]["verdict"]
        counts = {k: int((v == k).sum()) for k in figures.VERDICT_WORDS}
        n = len(v)
        rows = sweep.summary[sweep.summary["metadata"] == task]
        # Among the cells most models have (binned classes can differ by model).
        rows = rows[rows["models"] == rows["models"].max()]
        top = rows.iloc[int(np.argmax(np.abs(rows["cos_mean"].to_numpy())))]
        encoded = counts["encoded_used"] + counts["encoded_not_used"] + counts["encoded"]
        text = ("<b>%s</b>: encoded in %d of %d models, used (some cell with p_fwer &le; %g) in %d of them, "
                "not encoded in %d%s." % (_e(task), encoded, n, sweep.alpha, counts["encoded_used"],
                                          counts["not_encoded"],
                                          ", encodability untested in %d" % counts["untested"] if counts["untested"]
                                          else ""))
        text += (" Its strongest cell on average: %s &times; %s, mean cos = %s (95%% of models in [%s, %s]), "
                 "p_fwer &le; %g in %.0f%% of the %d models that have it." % (
                     _e(top["primary_class"]), _e(top["metadata_class"]), fmt_cos(top["cos_mean"]),
                     fmt_cos(top["cos_lo"]), fmt_cos(top["cos_hi"]), sweep.alpha, 100 * top["frac_p_fwer"],
                     top["models"]))
        majority = max(("encoded_used", "encoded_not_used", "not_encoded", "encoded", "untested"),
                       key=lambda k: counts[k])
        items.append('<li class="%s" data-task="%s">%s %s</li>' % (majority, _e(task), _badge(majority), text))
    out.append('<ul class="verdicts">%s</ul>' % "".join(items))
    if sweep.intra.size and sweep.inter.size:
        lo, hi = np.percentile(sweep.inter, [2.5, 97.5])
        out.append('<p class="note">Reference: cosines between rows of two different heads (inter-task) fall in '
                   "[%s, %s] for 95%% of the %d pairs pooled over the models; between rows of one head (intra-task) "
                   "their median is %s. A WSC cell far outside the inter-task range is unusual for unrelated heads."
                   "</p>" % (fmt_cos(lo), fmt_cos(hi), sweep.inter.size, fmt_cos(np.median(sweep.intra))))
    return "".join(out)


def _models_table(sweep, verdicts):
    tasks = list(dict.fromkeys(sweep.summary["metadata"]))
    headers = [("model", ""), ("status", "")]
    for t in tasks:
        headers += [("%s verdict" % t, ""), ("AUROC", "CV macro AUROC of the %s probe" % t),
                    ("p_enc", "p_encoded of %s" % t), ("largest cell", ""), ("cos", ""),
                    ("min p_fwer", "smallest p_fwer over the cells of %s" % t)]
    by = {(r.model, r.task): r for r in verdicts.itertuples()}
    rows = []
    for m in sweep.models.itertuples():
        row = ["", _td(_e(m.model), "t"), _td(_e(m.status) if m.status == "complete" else
                                              '<span class="badge failed" title="%s">%s</span>' % (
                                                  _e(m.reason), _e(m.status)), "t", sort=m.status)]
        for t in tasks:
            r = by.get((m.model, t))
            if r is None:
                row += [_td("", "t")] + [_td("")] * 5
                continue
            row += [_td(_badge(r.verdict), "t", sort=r.verdict), _td(fmt_num(r.auroc, 3)), _td(fmt_p(r.p_encoded)),
                    _td(_e(r.cell), "t"), _td(fmt_cos(r.cos)), _td(fmt_p(r.p_fwer))]
        rows.append(row)
    return _table(headers, rows, attrs=' data-table="models"')


def _sweep_summary_table(sweep):
    headers = [("metadata", ""), ("primary class", ""), ("metadata class", ""), ("models", ""), ("mean cos", ""),
               ("sd", ""), ("2.5%", "2.5 percentile across models"), ("97.5%", "97.5 percentile across models"),
               ("p_fwer \u2264 \u03b1", "fraction of models"), ("q_fdr \u2264 \u03b1", "fraction of models")]
    rows = []
    for _, r in sweep.summary.iterrows():
        key = _e("%s|%s|%s" % (r["metadata"], r["primary_class"], r["metadata_class"]))

        def num(column, text):
            return _td(text, sort=repr(float(r[column])) if _finite(r[column]) else "",
                       extra=' data-cell="%s" data-col="%s"' % (key, column))
        rows.append(["", _td(_e(r["metadata"]), "t"), _td(_e(r["primary_class"]), "t"),
                     _td(_e(r["metadata_class"]), "t"), num("models", _e(r["models"])),
                     num("cos_mean", fmt_cos(r["cos_mean"])), num("cos_sd", fmt_num(r["cos_sd"])),
                     num("cos_lo", fmt_cos(r["cos_lo"])), num("cos_hi", fmt_cos(r["cos_hi"])),
                     num("frac_p_fwer", fmt_num(r["frac_p_fwer"])), num("frac_q_fdr", fmt_num(r["frac_q_fdr"]))])
    return _table(headers, rows, attrs=' data-table="sweep_summary"')


def _reference_table(sweep):
    columns = list(sweep.reference.columns)
    rows = [["", _td(_e(r["distribution"]), "t")] + [_td(fmt_num(r[c])) for c in columns[1:]]
            for _, r in sweep.reference.iterrows()]
    return _table([(c, "") for c in columns], rows, attrs=' data-table="reference"')


def sweep_report_html(sweep):
    verdicts = model_verdicts(sweep)
    tasks = list(dict.fromkeys(sweep.summary["metadata"]))
    body = ['<h2 id="verdicts">Verdicts across models</h2>', _sweep_sentences(sweep, verdicts),
            LEGEND.format(a=sweep.alpha, p=_e(sweep.summary["primary_task"].iloc[0] if len(sweep.summary) else ""),
                          k="k"),
            '<h2 id="models">Models</h2>',
            '<p class="note">One row per model (click a column to sort); a model without results shows its reason '
            "when hovered.</p>", _models_table(sweep, verdicts)]
    failed = sweep.models[sweep.models["status"] != "complete"]
    if len(failed):
        body.append("<h3>Models without results</h3><ul>%s</ul>" % "".join(
            '<li class="warn"><b>%s</b>: %s</li>' % (_e(r.model), _e(r.reason)) for r in failed.itertuples()))
    body.append('<h2 id="figures">Figures</h2>')
    body.append(_figure_html(figures.reference_distributions(sweep),
                             "Top: densities of the cosines between rows of one head (intra-task) and between rows of "
                             "two different heads (inter-task), pooled over the models (the paper's Fig. 2). Bottom: "
                             "every model's WSC cells, one row of points per metadata task.", "reference"))
    for task in tasks:
        body.append(_figure_html(figures.cells_across_models(sweep, task),
                                 "Each cell of %s across the models: box = quartiles, whiskers = 2.5 and 97.5 "
                                 "percentiles, points = models; right: the share of models with p_fwer &le; %g."
                                 % (_e(task), sweep.alpha), "cells:%s" % task))
    if sweep.sensitivity is not None:
        for task in tasks:
            body.append(_figure_html(figures.sensitivity_across_models(sweep, task),
                                     "Mean cosine of %s's cells against the number of principal components, with the "
                                     "2.5-97.5 percentile band across models." % _e(task), "sensitivity:%s" % task))
    body.append('<h2 id="tables">Tables</h2><h3>Cells across models (sweep_summary.csv)</h3>')
    body.append(_sweep_summary_table(sweep))
    body.append("<h3>Reference distributions (sweep_reference.csv)</h3>")
    body.append(_reference_table(sweep))
    body.append('<h3 id="sweep">Sweep</h3><table class="plain">%s</table>' % "".join(
        "<tr><td class=\"t\">%s</td><td class=\"t\">%s</td></tr>" % (_e(k), _e(v)) for k, v in (
            ("folder", os.path.abspath(sweep.dir)), ("manifest", sweep.manifest), ("alpha", sweep.alpha))))
    nav = [("verdicts", "Verdicts"), ("models", "Models"), ("figures", "Figures"), ("tables", "Tables"),
           ("sweep", "Sweep")]
    subtitle = "%d models; %s" % (len(sweep.models), _e(os.path.abspath(sweep.dir)))
    return _page("WSC sweep report: %s" % os.path.basename(os.path.abspath(sweep.dir)), subtitle, nav,
                 "".join(body))


# ---------------------------------------------------------------------------


def write_report(path, out=None):
    """Writes `path`/report.html (or `out`) for a run's folder, a sweep's
    folder or a folder of runs; returns the path written."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ResultsError("%s: no such folder" % path)
    if is_sweep_dir(path):
        text = sweep_report_html(read_sweep(path))
    elif is_run_dir(path):
        text = run_report_html(read_run(path))
    else:
        runs = _run_dirs(path)
        if not runs:
            raise ResultsError("%s: not a wsc output folder (no wsc.csv, no sweep_summary.csv, no run folders "
                               "inside)" % path)
        if len(runs) > MAX_RUNS_IN_FOLDER:
            raise ResultsError("%s: holds %d run folders but no sweep_summary.csv: summarise the sweep first (wsc "
                               "merge --sweep MANIFEST), or report one run's folder" % (path, len(runs)))
        text = runs_report_html(path, [read_run(d) for d in runs])
    out = out or os.path.join(path, "report.html")
    temp = out + ".tmp.%d" % os.getpid()
    with open(temp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(temp, out)
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python3 -m wsc.report DIR  (a run's, a sweep's or the demo's output folder)", file=sys.stderr)
        return 2
    try:
        print(write_report(argv[0]))
    except ResultsError as e:
        print("wsc report: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
