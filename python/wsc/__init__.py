"""wsc's Python package: write model files for `wsc run` (write_model,
validate_model) and read what it writes (read_run, read_sweep)."""
import os as _os
import re as _re

from .model import ModelError, validate_model, write_model

__all__ = ["write_model", "validate_model", "ModelError", "read_run", "read_sweep", "Run", "Sweep",
           "__version__"]

_RESULTS = ("read_run", "read_sweep", "Run", "Sweep")


def _project_version():
    """The version of the CMake project (`project(wsc VERSION x.y.z)`) in a source
    checkout, else the installed distribution's, else "unknown"."""
    source = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), _os.pardir, _os.pardir, "CMakeLists.txt")
    try:
        with open(source, encoding="utf-8") as f:
            match = _re.search(r"project\s*\(\s*wsc\s+VERSION\s+([0-9][0-9.]*)", f.read())
        if match:
            return match.group(1)
    except OSError:
        pass
    try:
        from importlib.metadata import PackageNotFoundError, version
        try:
            return version("wsc")
        except PackageNotFoundError:
            pass
    except ImportError:
        pass
    return "unknown"


__version__ = _project_version()


def __getattr__(name):
    # The results readers load on first use (they need pandas).
    if name in _RESULTS:
        from . import results
        return getattr(results, name)
    raise AttributeError("module 'wsc' has no attribute %r" % name)
