"""Writing emoflow node kinds in Python.

A kind is a function decorated with :func:`kind`, in a ``.py`` file of a
plugin directory (``--plugin-path`` or ``EMOFLOW_PLUGIN_PATH``). The Python
plugin (``nodes/python``, ``libemoflow_python.so``) imports the file and
offers the kind to graphs like any Rust kind: same ports, port types,
parameter validation (a JSON Schema made from the parameters dataclass),
caching and errors. Inputs arrive as ``pyarrow.Table`` through the Arrow C
stream interface without copying; outputs go back the same way and the host
checks them against their port type. See docs/python.md.
"""

from .kinds import Context, Input, Output, kind, port
from .tables import features, features_table, frame_period, series_table
from . import decode, testing

__all__ = [
    "Context",
    "Input",
    "Output",
    "kind",
    "port",
    "features",
    "features_table",
    "frame_period",
    "series_table",
    "decode",
    "testing",
]
