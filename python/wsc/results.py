"""Readers for wsc's outputs: one run's folder (read_run) and a sweep's
(read_sweep). The files and their columns are those of README.md, "Outputs"
and "Sweeps"; every missing or malformed file raises ResultsError naming it."""
import json
import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np
import pandas as pd

__all__ = ["ResultsError", "Encodability", "Run", "Sweep", "read_run", "read_sweep", "is_run_dir",
           "is_sweep_dir"]

# The columns a reader needs (files may have more).
CELL_COLUMNS = ["model", "primary_task", "primary_class", "metadata", "metadata_class", "cos", "p_perm",
                "p_fwer", "q_fdr", "permutations", "primary_class_index", "metadata_class_index",
                "cos_fold_mean", "cos_fold_sd", "folds", "boot_lo", "boot_hi", "bootstrap"]
PROBE_COLUMNS = ["model", "task", "classes", "accuracy", "f1_macro", "auroc_macro", "accuracy_sd",
                 "f1_macro_sd", "auroc_macro_sd", "folds", "evaluation", "role", "labelled_rows",
                 "fit_iterations", "fit_grad_max_norm", "fit_converged", "p_encoded",
                 "encodability_permutations", "verdict"]
SENSITIVITY_COLUMNS = ["model", "primary_task", "primary_class", "metadata", "metadata_class", "k", "projection",
                       "explained", "cos", "p_perm", "p_fwer", "q_fdr", "permutations", "primary_class_index",
                       "metadata_class_index", "cos_fold_mean", "cos_fold_sd", "folds"]
SWEEP_SUMMARY_COLUMNS = ["primary_task", "primary_class", "metadata", "metadata_class", "models", "cos_mean",
                         "cos_sd", "cos_lo", "cos_hi", "frac_p_fwer", "frac_q_fdr", "alpha"]
SWEEP_REFERENCE_COLUMNS = ["distribution", "count", "mean", "sd"]
SWEEP_MODELS_COLUMNS = ["model", "status", "reason"]
SWEEP_SENSITIVITY_COLUMNS = ["primary_task", "primary_class", "metadata", "metadata_class", "k", "projection",
                             "models", "cos_mean", "cos_sd", "cos_lo", "cos_hi", "frac_p_fwer", "frac_q_fdr",
                             "alpha"]
# Text columns: kept as written (a class named "nan" or "NA" stays a name).
TEXT_COLUMNS = {"model", "primary_task", "primary_class", "metadata", "metadata_class", "task", "evaluation",
                "role", "verdict", "projection", "distribution", "status", "reason"}
# Count and index columns: integers when every row has one.
INT_COLUMNS = {"permutations", "primary_class_index", "metadata_class_index", "folds", "bootstrap", "classes",
               "labelled_rows", "fit_iterations", "encodability_permutations", "models", "count", "k",
               "settled_at"}
# true/false columns ("" where not applicable, e.g. `settled` of a fixed-count run: None).
BOOL_COLUMNS = {"fit_converged", "settled", "tail_approximate", "perm_tail_approximate"}


# JSON read back nests at most this deep (a summary.json holds 6 levels), as
# in wsc's own reader: deeper text is refused before json recurses into it.
MAX_JSON_NESTING = 32
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _json_too_deep(text):
    """Whether arrays and objects (brackets outside strings) nest deeper than MAX_JSON_NESTING."""
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub("", text)):
        depth += 1 if m.group() in "[{" else -1
        if depth > MAX_JSON_NESTING:
            return True
    return False


class ResultsError(Exception):
    """A missing or malformed output file; the message names it."""


def _read_csv(path, required):
    """A CSV file with its text columns as strings and every other column
    numeric ("nan" -> NaN)."""
    if not os.path.isfile(path):
        raise ResultsError("%s: no such file" % path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ResultsError("%s: not a readable CSV file (%s)" % (path, str(e).strip().splitlines()[0]))
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ResultsError("%s: missing column%s %s" % (path, "s" if len(missing) > 1 else "", ", ".join(missing)))
    for column in frame.columns:
        if column in TEXT_COLUMNS:
            continue
        if column in BOOL_COLUMNS:
            mapped = frame[column].map({"true": True, "false": False, "1": True, "0": False, "": None})
            if mapped.isna().any() and (frame[column][mapped.isna()] != "").any():
                raise ResultsError("%s: column %s holds a value that is not true or false" % (path, column))
            frame[column] = mapped
            continue
        try:
            values = frame[column].replace("", "nan").astype(float)
        except (ValueError, TypeError):
            raise ResultsError("%s: column %s holds a value that is not a number" % (path, column))
        if column in INT_COLUMNS and np.isfinite(values).all() and (values == np.round(values)).all():
            values = values.astype(np.int64)
        frame[column] = values
    return frame


def _h5py():
    import h5py  # only when an HDF5 file is read
    return h5py


def _text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _strings(dataset):
    return [_text(v) for v in dataset[()]]


@dataclass
class Encodability:
    """Is a metadata task in the embedding at all: the probe's cross-validated
    macro AUROC against its permutation null."""
    task: str
    auroc: float
    null: np.ndarray
    p_encoded: float
    verdict: str


@dataclass
class Run:
    """One model's outputs (a `wsc run` output folder)."""
    dir: str
    model: str
    cells: pd.DataFrame                    # wsc.csv
    probes: pd.DataFrame                   # probes.csv
    summary: dict                          # summary.json
    sensitivity: Optional[pd.DataFrame]    # wsc_k.csv, None when not configured
    primary_task: str
    metadata_tasks: List[str]              # in wsc.csv's order
    class_names: Dict[str, List[str]]      # per task (primary and metadata)
    null_max: np.ndarray                   # /null/max_abs_cos, [permutations] (empty without)
    null_abs_cos: Optional[np.ndarray]     # /null/abs_cos [permutations, cells] when kept
    encodability: Dict[str, Encodability]  # per metadata task with an encodability test
    fold_cos: Dict[str, np.ndarray]        # per task: [folds, C_primary, C_task]
    boot_cos: Optional[np.ndarray]         # /bootstrap/cos [resamples, cells] when run
    k: int                                 # PCA components
    explained: float                       # variance they explain
    sensitivity_k: Optional[np.ndarray] = None          # /sensitivity/k (0 = no projection)
    sensitivity_explained: Optional[np.ndarray] = None
    sensitivity_null_max: Optional[np.ndarray] = None   # [permutations, K]
    quality: Dict[str, Dict[str, np.ndarray]] = field(default_factory=dict)  # per task: per-fold metrics

    @property
    def alpha(self):
        """The level of every significance call (encodability.alpha)."""
        value = self.summary.get("config", {}).get("encodability", {}).get("alpha")
        if value is None and "alpha" in self.summary:
            value = self.summary["alpha"]
        return 0.05 if value is None else float(value)

    @property
    def permutations(self):
        return int(self.cells["permutations"].max()) if len(self.cells) else 0

    @property
    def bootstrap(self):
        return int(self.cells["bootstrap"].max()) if len(self.cells) else 0

    @property
    def config(self):
        return self.summary.get("config", {})

    def task_cells(self, task):
        """wsc.csv's rows of one metadata task, in (primary class, metadata class) order."""
        rows = self.cells[self.cells["metadata"] == task]
        return rows.sort_values(["primary_class_index", "metadata_class_index"])

    def matrix(self, task, column="cos"):
        """One column of a task's cells as a [C_primary, C_task] array."""
        rows = self.task_cells(task)
        out = np.full((len(self.class_names[self.primary_task]), len(self.class_names[task])), np.nan)
        out[rows["primary_class_index"].astype(int), rows["metadata_class_index"].astype(int)] = rows[column]
        return out

    def probe(self, task):
        """probes.csv's row of a task (a pandas Series), or None."""
        rows = self.probes[self.probes["task"] == task]
        return rows.iloc[0] if len(rows) else None

    def observed_max_abs_cos(self, task=None):
        """The largest |cos| over a task's cells (or over all cells)."""
        cells = self.cells if task is None else self.cells[self.cells["metadata"] == task]
        return float(np.abs(cells["cos"]).max())


def is_run_dir(path):
    return os.path.isfile(os.path.join(path, "wsc.csv"))


def is_sweep_dir(path):
    return os.path.isfile(os.path.join(path, "sweep_summary.csv"))


def _read_results_h5(path, run):
    h5py = _h5py()
    if not os.path.isfile(path):
        raise ResultsError("%s: no such file" % path)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise ResultsError("%s: not a readable HDF5 file (%s)" % (path, e))
    try:
        with f:
            primaries = list(f["heads/primary"].keys())
            if len(primaries) != 1:
                raise ResultsError("%s: expected one primary head under /heads/primary, found %d"
                                   % (path, len(primaries)))
            run["primary_task"] = primaries[0]
            names = {primaries[0]: _strings(f["heads/primary"][primaries[0]]["class_names"])}
            for task in f["heads/metadata"].keys():
                names[task] = _strings(f["heads/metadata"][task]["class_names"])
            run["class_names"] = names
            run["k"] = int(f["pca"].attrs["k"]) if "pca" in f else 0
            run["explained"] = float(f["pca"].attrs["explained"]) if "pca" in f else float("nan")
            run["null_max"] = np.asarray(f["null/max_abs_cos"][()], dtype=float) if "null/max_abs_cos" in f \
                else np.zeros(0)
            run["null_abs_cos"] = np.asarray(f["null/abs_cos"][()], dtype=float) if "null/abs_cos" in f else None
            encod = {}
            for task in (f["encodability"].keys() if "encodability" in f else []):
                g = f["encodability"][task]
                encod[task] = Encodability(task=task, auroc=float(g.attrs["auroc_macro"]),
                                           null=np.asarray(g["null_auroc_macro"][()], dtype=float),
                                           p_encoded=float(g.attrs["p_encoded"]), verdict=_text(g.attrs["verdict"]))
            run["encodability"] = encod
            folds = {}
            for task in (f["wsc"].keys() if "wsc" in f else []):
                g = f["wsc"][task]
                if "cos_fold" in g:
                    keys = sorted(g["cos_fold"].keys(), key=int)
                    folds[task] = np.stack([np.asarray(g["cos_fold"][k][()], dtype=float) for k in keys])
            run["fold_cos"] = folds
            run["boot_cos"] = np.asarray(f["bootstrap/cos"][()], dtype=float) if "bootstrap/cos" in f else None
            quality = {}
            for task in (f["quality"].keys() if "quality" in f else []):
                g = f["quality"][task]
                quality[task] = {m: np.asarray(g[m][()], dtype=float) for m in ("accuracy", "f1_macro", "auroc_macro")
                                 if m in g}
            run["quality"] = quality
            if "sensitivity" in f and "k" in f["sensitivity"]:
                s = f["sensitivity"]
                run["sensitivity_k"] = np.asarray(s["k"][()], dtype=int)
                run["sensitivity_explained"] = np.asarray(s["explained"][()], dtype=float) if "explained" in s \
                    else None
                run["sensitivity_null_max"] = np.asarray(s["null_max_abs_cos"][()], dtype=float) \
                    if "null_max_abs_cos" in s else None
    except KeyError as e:
        raise ResultsError("%s: %s is missing" % (path, str(e).strip("'\"")))


def read_run(path):
    """Reads a run's output folder: wsc.csv, probes.csv, summary.json,
    results.h5 and wsc_k.csv when present."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ResultsError("%s: no such folder" % path)
    cells = _read_csv(os.path.join(path, "wsc.csv"), CELL_COLUMNS)
    probes = _read_csv(os.path.join(path, "probes.csv"), PROBE_COLUMNS)
    summary_path = os.path.join(path, "summary.json")
    if not os.path.isfile(summary_path):
        raise ResultsError("%s: no such file" % summary_path)
    try:
        with open(summary_path) as f:
            text = f.read()
        if _json_too_deep(text):
            raise ResultsError("%s: JSON nested deeper than %d levels" % (summary_path, MAX_JSON_NESTING))
        summary = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise ResultsError("%s: not valid JSON (%s)" % (summary_path, e))
    if not isinstance(summary, dict):
        raise ResultsError("%s: not a JSON object" % summary_path)
    k_path = os.path.join(path, "wsc_k.csv")
    sensitivity = _read_csv(k_path, SENSITIVITY_COLUMNS) if os.path.isfile(k_path) else None
    fields = {}
    _read_results_h5(os.path.join(path, "results.h5"), fields)
    metadata_tasks = list(dict.fromkeys(cells["metadata"]))
    for task in metadata_tasks:
        if task not in fields["class_names"]:
            raise ResultsError("%s: metadata task '%s' of wsc.csv has no head in results.h5"
                               % (os.path.join(path, "wsc.csv"), task))
    model = cells["model"].iloc[0] if len(cells) else os.path.basename(os.path.normpath(path))
    return Run(dir=path, model=model, cells=cells, probes=probes, summary=summary, sensitivity=sensitivity,
               metadata_tasks=metadata_tasks, **fields)


@dataclass
class Sweep:
    """A sweep's summary folder (`wsc merge --sweep`): per-cell statistics
    over the models, the reference distributions and each model's run
    (read on demand with run())."""
    dir: str
    summary: pd.DataFrame                   # sweep_summary.csv
    reference: pd.DataFrame                 # sweep_reference.csv
    models: pd.DataFrame                    # sweep_models.csv
    sensitivity: Optional[pd.DataFrame]     # sweep_sensitivity.csv, None when not configured
    model_names: List[str]                  # sweep_summary.h5 /models
    cell_names: List[str]                   # sweep_summary.h5 /cells (the order of summary's rows)
    cos: np.ndarray                         # [models, cells]; NaN rows for failed models
    intra: np.ndarray                       # pooled intra-task reference cosines
    inter: np.ndarray                       # pooled inter-task reference cosines
    sensitivity_cos: Optional[np.ndarray] = None   # [models, K, cells]
    manifest: str = ""
    _runs: Dict[str, Run] = field(default_factory=dict, repr=False)

    @property
    def alpha(self):
        return float(self.summary["alpha"].iloc[0]) if len(self.summary) else 0.05

    @property
    def complete(self):
        """The names of the models with complete results."""
        return list(self.models.loc[self.models["status"] == "complete", "model"])

    def run_dir(self, model):
        return os.path.join(self.dir, model)

    def run(self, model):
        """A model's run, read when first asked for."""
        if model not in self._runs:
            self._runs[model] = read_run(self.run_dir(model))
        return self._runs[model]

    def runs(self):
        """Every complete model's run, in the manifest's order."""
        return [self.run(m) for m in self.complete]


def read_sweep(path):
    """Reads a sweep's output folder: sweep_summary.csv, sweep_reference.csv,
    sweep_models.csv, sweep_summary.h5 and sweep_sensitivity.csv when
    present. The models' runs are read on demand (Sweep.run)."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        raise ResultsError("%s: no such folder" % path)
    summary = _read_csv(os.path.join(path, "sweep_summary.csv"), SWEEP_SUMMARY_COLUMNS)
    reference = _read_csv(os.path.join(path, "sweep_reference.csv"), SWEEP_REFERENCE_COLUMNS)
    models = _read_csv(os.path.join(path, "sweep_models.csv"), SWEEP_MODELS_COLUMNS)
    s_path = os.path.join(path, "sweep_sensitivity.csv")
    sensitivity = _read_csv(s_path, SWEEP_SENSITIVITY_COLUMNS) if os.path.isfile(s_path) else None
    h5_path = os.path.join(path, "sweep_summary.h5")
    if not os.path.isfile(h5_path):
        raise ResultsError("%s: no such file" % h5_path)
    h5py = _h5py()
    try:
        f = h5py.File(h5_path, "r")
    except OSError as e:
        raise ResultsError("%s: not a readable HDF5 file (%s)" % (h5_path, e))
    try:
        with f:
            model_names = _strings(f["models"])
            cell_names = _strings(f["cells"])
            cos = np.asarray(f["cos"][()], dtype=float).reshape(len(model_names), len(cell_names))
            intra = np.asarray(f["reference/intra_task"][()], dtype=float)
            inter = np.asarray(f["reference/inter_task"][()], dtype=float)
            sensitivity_cos = np.asarray(f["sensitivity/cos"][()], dtype=float) if "sensitivity/cos" in f else None
            manifest = _text(f.attrs["manifest"]) if "manifest" in f.attrs else ""
    except (KeyError, ValueError) as e:
        raise ResultsError("%s: %s" % (h5_path, str(e).strip("'\"")))
    if len(cell_names) != len(summary):
        raise ResultsError("%s: %d cells, but sweep_summary.csv has %d rows" % (h5_path, len(cell_names), len(summary)))
    return Sweep(dir=path, summary=summary, reference=reference, models=models, sensitivity=sensitivity,
                 model_names=model_names, cell_names=cell_names, cos=cos, intra=intra, inter=inter,
                 sensitivity_cos=sensitivity_cos, manifest=manifest)
