"""Writing and checking wsc model files (the input contract of `wsc run`).

    /embeddings            [N, d] float32 or float64
    /heads/<task>/weight   [C, d] float (a 1-row head is the 2-class head)
    /heads/<task>/bias     [C] float, optional
    /labels/<name>         [N] integer (0..C-1, -1 missing) or float (NaN missing)
    /groups/<name>         [N] integer
    attribute class_names  strings, on a /labels/<name> or /heads/<task>/weight dataset
    root attribute model   the display name

`write_model` checks its inputs by the rules of `wsc inspect` before writing
anything and writes atomically; `validate_model` checks an existing file by
those rules and returns its problems.
"""
import os
import tempfile

import numpy as np

__all__ = ["ModelError", "write_model", "validate_model"]

EMBEDDINGS = "/embeddings"
CLASS_NAMES = "class_names"
# Rows checked for NaN or Inf at a time (bounds the temporary memory).
_CHUNK_VALUES = 1 << 22


class ModelError(ValueError):
    """A model that wsc would refuse; the message is one line naming the dataset."""


# ---------------------------------------------------------------------------
# Inputs: numpy arrays, torch tensors, lists


def _is_tensor(value):
    return type(value).__module__.split(".")[0] == "torch" and hasattr(value, "detach")


def _as_array(value, fname, what):
    """A numpy array of `value` (a torch tensor is detached and moved to the CPU)."""
    if _is_tensor(value):
        tensor = value.detach().cpu()
        try:
            return tensor.numpy()
        except TypeError as e:  # bfloat16 and other types numpy lacks
            raise ModelError("%s: %s has type %s, which numpy cannot hold (%s)"
                             % (fname, what, str(tensor.dtype).replace("torch.", ""), e)) from None
    try:
        return np.asarray(value)
    except (TypeError, ValueError) as e:
        raise ModelError("%s: %s cannot be read as an array (%s)" % (fname, what, e)) from None


def _type_name(dtype):
    """How wsc names an element type: int64, uint8, float32, string, ..."""
    if dtype.kind in "iu":
        return "%sint%d" % ("u" if dtype.kind == "u" else "", dtype.itemsize * 8)
    if dtype.kind == "f":
        return "float%d" % (dtype.itemsize * 8)
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "USO":
        return "string" if dtype.kind in "US" else "object"
    if dtype.kind == "c":
        return "complex%d" % (dtype.itemsize * 8)
    return str(dtype)


def _check_name(fname, kind, name):
    if not isinstance(name, str) or not name or "/" in name or name in (".", ".."):
        raise ModelError("%s: %s name %r is not usable (a non-empty string without '/')"
                         % (fname, kind, name))


def _first_bad_row(rows):
    """The index of the first row of a 2-D float array holding NaN or Inf, or None."""
    step = max(1, _CHUNK_VALUES // max(1, rows.shape[1]))
    for begin in range(0, rows.shape[0], step):
        ok = np.isfinite(rows[begin:begin + step]).all(axis=1)
        if not ok.all():
            return begin + int(np.argmin(ok))
    return None


def _rank_message(fname, dpath, rank, expected, shape):
    return "%s: dataset %s has rank %d, expected %d (%s)" % (fname, dpath, rank, expected, shape)


def _row_count_message(fname, dpath, got, expected):
    return "%s: %s has %d entries, expected %d (one per embedding row)" % (fname, dpath, got, expected)


def _embeddings(value, fname):
    z = _as_array(value, fname, EMBEDDINGS)
    if z.ndim != 2:
        raise ModelError(_rank_message(fname, EMBEDDINGS, z.ndim, 2, "[N, d]"))
    if z.dtype.kind in "iub":
        raise ModelError("%s: dataset %s has type %s, expected float32 or float64 (integer embeddings "
                         "are not accepted; store them as float)" % (fname, EMBEDDINGS, _type_name(z.dtype)))
    if z.dtype not in (np.float32, np.float64):
        raise ModelError("%s: dataset %s has type %s, expected float32 or float64"
                         % (fname, EMBEDDINGS, _type_name(z.dtype)))
    if z.shape[0] < 1:
        raise ModelError("%s: dataset %s is empty (N = 0 rows, expected N >= 1)" % (fname, EMBEDDINGS))
    if z.shape[1] < 1:
        raise ModelError("%s: dataset %s is empty (d = 0 columns, expected d >= 1)" % (fname, EMBEDDINGS))
    bad = _first_bad_row(z)
    if bad is not None:
        raise ModelError("%s: %s row %d contains NaN or Inf" % (fname, EMBEDDINGS, bad))
    return z


def _float_array(value, fname, dpath, rank, shape):
    a = _as_array(value, fname, dpath)
    if a.ndim != rank:
        raise ModelError(_rank_message(fname, dpath, a.ndim, rank, shape))
    if a.dtype.kind != "f":
        raise ModelError("%s: %s has type %s, expected float" % (fname, dpath, _type_name(a.dtype)))
    if not np.isfinite(a).all():
        raise ModelError("%s: %s contains NaN or Inf" % (fname, dpath))
    return a


def _head(task, value, dim, fname):
    """(weight, bias or None) of one head, checked."""
    _check_name(fname, "head", task)
    wpath = "/heads/%s/weight" % task
    bpath = "/heads/%s/bias" % task
    if hasattr(value, "weight") and not isinstance(value, (tuple, list, np.ndarray)):
        weight, bias = value.weight, getattr(value, "bias", None)
    elif isinstance(value, (tuple, list)) and len(value) == 2:
        weight, bias = value
    else:
        raise ModelError("%s: head %s must be (weight, bias or None) or a torch.nn.Linear, got %s"
                         % (fname, "/heads/" + task, type(value).__name__))
    w = _float_array(weight, fname, wpath, 2, "[C, d]")
    if w.shape[0] < 1:
        raise ModelError("%s: %s has 0 rows, expected C >= 1 (one per class)" % (fname, wpath))
    if w.shape[1] != dim:
        raise ModelError("%s: %s has %d columns, expected d = %d" % (fname, wpath, w.shape[1], dim))
    b = None
    if bias is not None:
        b = _float_array(bias, fname, bpath, 1, "[C]")
        if b.shape[0] != w.shape[0]:
            raise ModelError("%s: %s has %d entries, expected C = %d (one per row of %s)"
                             % (fname, bpath, b.shape[0], w.shape[0], wpath))
    return w, b


def _integers(a, fname, dpath):
    """Integer (or bool) values as int64, refusing values int64 cannot hold."""
    if a.dtype.kind == "u" and a.size and a.max() > np.iinfo(np.int64).max:
        raise ModelError("%s: %s holds %d, too large for int64" % (fname, dpath, a.max()))
    return a.astype(np.int64)


def _label(name, value, rows, fname):
    _check_name(fname, "labels", name)
    dpath = "/labels/" + name
    a = _as_array(value, fname, dpath)
    if a.ndim != 1:
        raise ModelError(_rank_message(fname, dpath, a.ndim, 1, "[N]"))
    if a.dtype.kind not in "iubf":
        raise ModelError("%s: %s has type %s, expected integer or float" % (fname, dpath, _type_name(a.dtype)))
    if a.shape[0] != rows:
        raise ModelError(_row_count_message(fname, dpath, a.shape[0], rows))
    if a.dtype.kind == "f":
        infinite = np.isinf(a)
        if infinite.any():
            raise ModelError("%s: %s: row %d is infinite (NaN marks a missing value)"
                             % (fname, dpath, int(np.argmax(infinite))))
        return a.astype(np.float64)
    a = _integers(a, fname, dpath)
    below = a < -1
    if below.any():
        row = int(np.argmax(below))
        raise ModelError("%s: %s: row %d has label %d (class labels are 0..C-1, -1 = missing)"
                         % (fname, dpath, row, a[row]))
    return a


def _groups(name, value, rows, fname):
    _check_name(fname, "groups", name)
    dpath = "/groups/" + name
    a = _as_array(value, fname, dpath)
    if a.ndim != 1:
        raise ModelError(_rank_message(fname, dpath, a.ndim, 1, "[N]"))
    if a.dtype.kind not in "iu":
        raise ModelError("%s: %s has type %s, expected integer" % (fname, dpath, _type_name(a.dtype)))
    if a.shape[0] != rows:
        raise ModelError(_row_count_message(fname, dpath, a.shape[0], rows))
    return _integers(a, fname, dpath)


def _class_names(name, value, fname):
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ModelError("%s: class_names for '%s' must be a list of strings, got %s"
                         % (fname, name, type(value).__name__))
    names = list(value)
    for i, n in enumerate(names):
        if not isinstance(n, str) or not n:
            raise ModelError("%s: class_names for '%s': entry %d (%r) is not a non-empty string"
                             % (fname, name, i, n))
    if not names:
        raise ModelError("%s: class_names for '%s' is empty" % (fname, name))
    return names


def _checked(path, embeddings, heads, labels, groups, class_names, model):
    """Every input converted and checked; raises ModelError at the first problem."""
    fname = os.path.basename(os.fspath(path)) or os.fspath(path)
    z = _embeddings(embeddings, fname)
    rows, dim = z.shape
    if model is not None and (not isinstance(model, str) or not model):
        raise ModelError("%s: root attribute model must be a non-empty string, got %r" % (fname, model))
    for kind, given in (("heads", heads), ("labels", labels), ("groups", groups),
                        ("class_names", class_names)):
        if given is not None and not isinstance(given, dict):
            raise ModelError("%s: %s must be a dict, got %s" % (fname, kind, type(given).__name__))
    out_heads = {t: _head(t, v, dim, fname) for t, v in (heads or {}).items()}
    out_labels = {n: _label(n, v, rows, fname) for n, v in (labels or {}).items()}
    out_groups = {n: _groups(n, v, rows, fname) for n, v in (groups or {}).items()}
    out_names = {}
    for name, value in (class_names or {}).items():
        names = _class_names(name, value, fname)
        if name not in out_heads and name not in out_labels:
            raise ModelError("%s: class_names for '%s', which is neither a head nor labels (heads: %s; labels: %s)"
                             % (fname, name, ", ".join(out_heads) or "none", ", ".join(out_labels) or "none"))
        if name in out_heads:
            c = out_heads[name][0].shape[0]
            classes = 2 if c == 1 else c
            if len(names) != classes:
                raise ModelError("%s: attribute class_names of /heads/%s/weight has %d entries, expected %d "
                                 "(one per class)" % (fname, name, len(names), classes))
        if name in out_labels:
            a = out_labels[name]
            if a.dtype.kind == "f":
                if name not in out_heads:
                    raise ModelError("%s: class_names given for /labels/%s, which holds continuous values "
                                     "(the config bins them and names the bins)" % (fname, name))
            elif a.size and a.max() >= len(names):
                raise ModelError("%s: attribute class_names of /labels/%s has %d entries but the labels go up "
                                 "to %d" % (fname, name, len(names), a.max()))
        out_names[name] = names
    return z, out_heads, out_labels, out_groups, out_names


def _write_file(target, z, heads, labels, groups, class_names, model):
    import h5py

    text = h5py.string_dtype("utf-8")
    with h5py.File(target, "w") as f:
        f.create_dataset("embeddings", data=z)
        for task, (w, b) in heads.items():
            wset = f.create_dataset("heads/%s/weight" % task, data=w)
            if b is not None:
                f.create_dataset("heads/%s/bias" % task, data=b)
            if task in class_names:
                wset.attrs.create(CLASS_NAMES, np.array(class_names[task], dtype=object), dtype=text)
        for name, a in labels.items():
            lset = f.create_dataset("labels/" + name, data=a)
            if name in class_names and a.dtype.kind != "f":
                lset.attrs.create(CLASS_NAMES, np.array(class_names[name], dtype=object), dtype=text)
        for name, a in groups.items():
            f.create_dataset("groups/" + name, data=a)
        if model is not None:
            f.attrs.create("model", model, dtype=text)


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_model(path, embeddings, heads=None, labels=None, groups=None, class_names=None,
                model=None, overwrite=False):
    """Writes a model file for `wsc run`.

    embeddings   N x d numpy array or torch tensor, float32 or float64 (kept as given)
    heads        {task: (weight C x d, bias C or None)} or {task: torch.nn.Linear}
    labels       {name: integer array (0..C-1, -1 missing) or float array (NaN missing)}, N each
    groups       {name: integer array}, N each (e.g. patient ids for grouped CV folds)
    class_names  {name: [str, ...]} for labels or heads of that name
    model        display name (root attribute `model`; default: the file's stem)
    overwrite    replace an existing file (otherwise an existing file is an error)

    Everything is checked before anything is written (the rules of `wsc
    inspect`); a problem raises ModelError with a one-line message naming the
    dataset. The file is written under a temporary name in the same folder and
    renamed into place, so an error or a crash leaves no partial file.
    """
    path = os.fspath(path)
    fname = os.path.basename(path) or path
    z, h, lab, grp, names = _checked(path, embeddings, heads, labels, groups, class_names, model)
    if os.path.isdir(path):
        raise ModelError("%s: is a folder" % path)
    if not overwrite and os.path.lexists(path):
        raise ModelError("%s: exists (write_model(..., overwrite=True) replaces it)" % path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ModelError("%s: folder %s does not exist" % (fname, folder))
    fd, tmp = tempfile.mkstemp(prefix="." + fname + ".", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        _write_file(tmp, z, h, lab, grp, names, model)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(tmp, path)
        else:
            # link() refuses an existing target: no file written meanwhile is replaced.
            try:
                os.link(tmp, path)
            except FileExistsError:
                raise ModelError("%s: exists (write_model(..., overwrite=True) replaces it)" % path) from None
            os.unlink(tmp)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)
    return path


# ---------------------------------------------------------------------------
# Checking an existing file (what `wsc inspect` reports as problems)


def _h5_type(type_id):
    """(kind, name) of an HDF5 element type as wsc sees it: kind is 'integer',
    'float', 'string' or 'other'; an enum over integers (h5py's bool) is an integer."""
    import h5py

    cls = type_id.get_class()
    size = type_id.get_size()
    if cls == h5py.h5t.INTEGER:
        return "integer", "%sint%d" % ("u" if type_id.get_sign() == h5py.h5t.SGN_NONE else "", size * 8)
    if cls == h5py.h5t.FLOAT:
        return "float", "float%d" % (size * 8)
    if cls == h5py.h5t.STRING:
        return "string", "string"
    if cls == h5py.h5t.ENUM:
        base = type_id.get_super()
        if base.get_class() == h5py.h5t.INTEGER:
            sign = "u" if base.get_sign() == h5py.h5t.SGN_NONE else ""
            return "integer", "enum(%sint%d)" % (sign, base.get_size() * 8)
        return "other", "enum"
    names = {h5py.h5t.COMPOUND: "compound", h5py.h5t.BITFIELD: "bitfield", h5py.h5t.OPAQUE: "opaque",
             h5py.h5t.REFERENCE: "reference", h5py.h5t.VLEN: "variable-length sequence",
             h5py.h5t.ARRAY: "array", h5py.h5t.TIME: "time"}
    return "other", names.get(cls, "unknown")


def _dataset(f, fname, dpath):
    import h5py

    obj = f.get(dpath)
    if obj is None:
        raise ModelError("%s: dataset %s is missing" % (fname, dpath))
    if not isinstance(obj, h5py.Dataset):
        raise ModelError("%s: %s is not a dataset" % (fname, dpath))
    return obj


def _require_storage(dset, fname, dpath, type_name):
    import h5py

    nbytes = dset.id.get_type().get_size()
    for n in dset.shape or ():
        nbytes *= n
    if nbytes == 0:
        return
    layout = dset.id.get_create_plist().get_layout()
    if layout == h5py.h5d.VIRTUAL:
        return
    storage = dset.id.get_storage_size()
    if storage == 0 or (layout == h5py.h5d.CONTIGUOUS and storage < nbytes):
        raise ModelError("%s: dataset %s declares %s %s (%d bytes) but holds only %d bytes (unwritten or truncated)"
                         % (fname, dpath, " x ".join(str(n) for n in dset.shape) or "a scalar", type_name,
                            nbytes, storage))


def _string_attribute(obj, name, what):
    """The strings of attribute `name` (a string or a 1-D array of strings)."""
    attr_id = obj.attrs.get_id(name)
    kind, type_name = _h5_type(attr_id.get_type())
    if kind != "string":
        raise ModelError("%s: attribute %s has type %s, expected string" % (what, name, type_name))
    if len(attr_id.shape) > 1:
        raise ModelError("%s: attribute %s has rank %d, expected a string or a 1-D array of strings"
                         % (what, name, len(attr_id.shape)))
    value = obj.attrs[name]
    values = [value] if np.ndim(value) == 0 else list(np.asarray(value).ravel())
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in values]


def _column(f, fname, dpath, rows, accept_float):
    """A rank-1 labels or groups dataset: (values, kind, dataset), checked as wsc reads it."""
    dset = _dataset(f, fname, dpath)
    kind, type_name = _h5_type(dset.id.get_type())
    if len(dset.shape or ()) != 1:
        raise ModelError(_rank_message(fname, dpath, len(dset.shape or ()), 1, "[N]"))
    if not (kind == "integer" or (accept_float and kind == "float")):
        raise ModelError("%s: %s has type %s, expected %s" % (fname, dpath, type_name,
                                                            "integer or float" if accept_float else "integer"))
    _require_storage(dset, fname, dpath, type_name)
    values = dset[()]
    values = values.astype(np.float64) if kind == "float" else values.astype(np.int64)
    return values, kind, dset


def _members(f, fname, group_path, problems):
    import h5py

    obj = f.get(group_path)
    if obj is None:
        return []
    if not isinstance(obj, h5py.Group):
        problems.append("%s: %s is not a group" % (fname, group_path))
        return []
    return list(obj.keys())


def _check_embeddings(f, fname, problems):
    """(rows, dim) of a usable /embeddings, else (-1, -1) with its problem recorded."""
    try:
        dset = _dataset(f, fname, EMBEDDINGS)
        kind, type_name = _h5_type(dset.id.get_type())
        shape = dset.shape or ()
        if len(shape) != 2:
            raise ModelError(_rank_message(fname, EMBEDDINGS, len(shape), 2, "[N, d]"))
        if kind == "integer":
            raise ModelError("%s: dataset %s has type %s, expected float32 or float64 (integer embeddings "
                             "are not accepted; store them as float)" % (fname, EMBEDDINGS, type_name))
        if kind != "float" or dset.id.get_type().get_size() not in (4, 8):
            raise ModelError("%s: dataset %s has type %s, expected float32 or float64"
                             % (fname, EMBEDDINGS, type_name))
        if shape[0] < 1:
            raise ModelError("%s: dataset %s is empty (N = 0 rows, expected N >= 1)" % (fname, EMBEDDINGS))
        if shape[1] < 1:
            raise ModelError("%s: dataset %s is empty (d = 0 columns, expected d >= 1)" % (fname, EMBEDDINGS))
        _require_storage(dset, fname, EMBEDDINGS, type_name)
    except (ModelError, OSError, KeyError, ValueError, TypeError) as e:
        problems.append(str(e))
        return -1, -1
    rows, dim = shape
    try:
        step = max(1, _CHUNK_VALUES // dim)
        bad_rows, first_bad = 0, -1
        for begin in range(0, rows, step):
            ok = np.isfinite(dset[begin:begin + step]).all(axis=1)
            if not ok.all():
                if first_bad < 0:
                    first_bad = begin + int(np.argmin(ok))
                bad_rows += int((~ok).sum())
        if bad_rows:
            problems.append("%s: %s has %d row(s) containing NaN or Inf (first: row %d)"
                            % (fname, EMBEDDINGS, bad_rows, first_bad))
    except (OSError, ValueError, TypeError) as e:
        problems.append("%s: %s cannot be read (%s)" % (fname, EMBEDDINGS, e))
    return rows, dim


def _check_head(f, fname, task, dim):
    wpath = "/heads/%s/weight" % task
    bpath = "/heads/%s/bias" % task
    if wpath not in f:
        raise ModelError("%s: head /heads/%s has no weight dataset %s" % (fname, task, wpath))
    wset = _dataset(f, fname, wpath)
    kind, type_name = _h5_type(wset.id.get_type())
    if len(wset.shape or ()) != 2:
        raise ModelError(_rank_message(fname, wpath, len(wset.shape or ()), 2, "[C, d]"))
    if kind != "float":
        raise ModelError("%s: %s has type %s, expected float" % (fname, wpath, type_name))
    classes, width = wset.shape
    if classes < 1:
        raise ModelError("%s: %s has 0 rows, expected C >= 1 (one per class)" % (fname, wpath))
    if dim >= 0 and width != dim:
        raise ModelError("%s: %s has %d columns, expected d = %d" % (fname, wpath, width, dim))
    _require_storage(wset, fname, wpath, type_name)
    if not np.isfinite(wset[()]).all():
        raise ModelError("%s: %s contains NaN or Inf" % (fname, wpath))
    if bpath in f:
        bset = _dataset(f, fname, bpath)
        bkind, btype = _h5_type(bset.id.get_type())
        if len(bset.shape or ()) != 1:
            raise ModelError(_rank_message(fname, bpath, len(bset.shape or ()), 1, "[C]"))
        if bkind != "float":
            raise ModelError("%s: %s has type %s, expected float" % (fname, bpath, btype))
        if bset.shape[0] != classes:
            raise ModelError("%s: %s has %d entries, expected C = %d (one per row of %s)"
                             % (fname, bpath, bset.shape[0], classes, wpath))
        _require_storage(bset, fname, bpath, btype)
        if not np.isfinite(bset[()]).all():
            raise ModelError("%s: %s contains NaN or Inf" % (fname, bpath))
    if CLASS_NAMES in wset.attrs:
        names = _string_attribute(wset, CLASS_NAMES, "%s: %s" % (fname, wpath))
        expected = 2 if classes == 1 else classes
        if names and len(names) != expected:
            raise ModelError("%s: attribute %s of %s has %d entries, expected %d (one per class)"
                             % (fname, CLASS_NAMES, wpath, len(names), expected))


def _check_label(f, fname, name, rows, problems):
    dpath = "/labels/" + name
    values, kind, dset = _column(f, fname, dpath, -1, accept_float=True)
    names = _string_attribute(dset, CLASS_NAMES, "%s: %s" % (fname, dpath)) if CLASS_NAMES in dset.attrs else []
    if rows >= 0 and values.shape[0] != rows:
        problems.append(_row_count_message(fname, dpath, values.shape[0], rows))
    if kind == "float":
        infinite = int(np.isinf(values).sum())
        if infinite:
            problems.append("%s: %s contains %d infinite value(s) (use NaN for missing)" % (fname, dpath, infinite))
        return
    below = values < -1
    if below.any():
        row = int(np.argmax(below))
        problems.append("%s: %s has %d value(s) below -1 (first at row %d: %d); use -1 for missing"
                        % (fname, dpath, int(below.sum()), row, values[row]))
    present = values[values >= 0]
    if names and present.size and present.max() >= len(names):
        problems.append("%s: attribute %s of %s has %d entries but the labels go up to %d"
                        % (fname, CLASS_NAMES, dpath, len(names), present.max()))


def validate_model(path):
    """The problems `wsc inspect` would report for the model file at `path`, in
    its words and order (an empty list: wsc can read it). Each problem is one
    line naming the file (as given when it cannot be opened, else its name)
    and the dataset."""
    import h5py

    path = os.fspath(path)
    fname = os.path.basename(path) or path
    if not os.path.exists(path):
        return ["%s: cannot open: no such file" % path]
    if os.path.isdir(path):
        return ["%s: cannot open: is a folder" % path]
    try:
        with open(path, "rb"):
            pass
    except OSError as e:
        return ["%s: cannot open: %s" % (path, e.strerror or e)]
    if not h5py.is_hdf5(path):
        return ["%s: not an HDF5 file" % path]
    problems = []
    try:
        f = h5py.File(path, "r")
    except OSError:
        return ["%s: cannot open (truncated or damaged HDF5 file)" % path]
    with f:
        try:
            if "model" in f.attrs:
                values = _string_attribute(f, "model", "%s: /" % fname)
                if len(values) != 1:
                    problems.append("%s: root attribute model has %d strings, expected one" % (fname, len(values)))
        except (ModelError, OSError, TypeError, ValueError) as e:
            problems.append(str(e))
        rows, dim = _check_embeddings(f, fname, problems)
        for task in _members(f, fname, "/heads", problems):
            try:
                _check_head(f, fname, task, dim)
            except (ModelError, OSError, TypeError, ValueError) as e:
                problems.append(str(e))
        for name in _members(f, fname, "/labels", problems):
            try:
                _check_label(f, fname, name, rows, problems)
            except (ModelError, OSError, TypeError, ValueError) as e:
                problems.append(str(e))
        for name in _members(f, fname, "/groups", problems):
            try:
                dpath = "/groups/" + name
                values, _, _ = _column(f, fname, dpath, -1, accept_float=False)
                if rows >= 0 and values.shape[0] != rows:
                    problems.append(_row_count_message(fname, dpath, values.shape[0], rows))
            except (ModelError, OSError, TypeError, ValueError) as e:
                problems.append(str(e))
    return problems
