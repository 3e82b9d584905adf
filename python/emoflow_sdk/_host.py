"""The Python plugin's side of the crossing (called from nodes/python):
finding kinds, creating nodes, and running them on Arrow C streams."""

from __future__ import annotations

import importlib
import json
import logging
import sys
import threading
import traceback
from pathlib import Path

import pyarrow as pa

from .kinds import KINDS, Context, Kind

# Kind files are the top-level .py files of a plugin directory that use this
# SDK; tests and conftest files are not imported.
_SKIPPED = ("test_", "conftest", "setup")

#: The interpreter whose packages the plugin uses (set by the plugin).
python = "python3"


def _kind_files(directory: Path) -> list[Path]:
    files = []
    for path in sorted(directory.glob("*.py")):
        if path.name.startswith(_SKIPPED):
            continue
        if "emoflow_sdk" in path.read_text(errors="replace"):
            files.append(path)
    return files


def discover(dirs: list[str]) -> str:
    """Imports the kind modules of ``dirs``; JSON: the kinds' descriptions and
    the modules that failed to import, with their tracebacks."""
    described, problems, modules = [], [], {}
    for directory in (Path(d).resolve() for d in dirs):
        files = _kind_files(directory) if directory.is_dir() else []
        if files and str(directory) not in sys.path:
            # Kind modules import their neighbours as top-level modules.
            sys.path.insert(0, str(directory))
        for path in files:
            name = path.stem
            if name in modules:
                problems.append(f"{path}: a module `{name}` was already imported from {modules[name]}")
                continue
            modules[name] = path
            taken = sys.modules.get(name)
            if taken is not None and Path(getattr(taken, "__file__", None) or "").resolve() != path.resolve():
                problems.append(f"{path}: the module name `{name}` is taken by {taken!r}; rename the file")
                continue
            try:
                importlib.import_module(name)
            except BaseException as e:  # noqa: BLE001 - reported to the host
                problems.append(f"{path}: importing it failed:\n{format_exception(e)}")
    for kind in KINDS.values():
        described.append(kind.describe())
    return json.dumps({"kinds": described, "problems": problems})


def format_exception(e: BaseException) -> str:
    text = "".join(traceback.format_exception(e)).rstrip()
    if isinstance(e, ModuleNotFoundError) and e.name:
        text += (f"\nthe package `{e.name}` is missing: install it into the Python environment the "
                 f"plugin uses ({python}): `{python} -m pip install {e.name}` (EMOFLOW_PYTHON names "
                 "that environment's interpreter)")
    return text


class Node:
    def __init__(self, kind: Kind, params):
        self.kind = kind
        self.params = params


def create(name: str, params_json: str) -> Node:
    kind = KINDS[name]
    return Node(kind, kind.parse_params(json.loads(params_json)))


def files(node: Node) -> list[str]:
    """The kind's source file and every module imported from its directory
    (the plugin's own package): the host keys its cache on their contents."""
    root = Path(node.kind.source_file).parent
    found = {node.kind.source_file}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and Path(path).resolve().is_relative_to(root):
            found.add(str(Path(path).resolve()))
    return sorted(found)


class _Forward(logging.Handler):
    """Sends the records of a running node's thread to the host's log."""

    LEVELS = [(logging.ERROR, 1), (logging.WARNING, 2), (logging.INFO, 3), (logging.DEBUG, 4)]

    def emit(self, record: logging.LogRecord) -> None:
        host = getattr(_running, "host", None)
        if host is None:
            return
        level = next((lv for threshold, lv in self.LEVELS if record.levelno >= threshold), 5)
        try:
            host.log(level, self.format(record))
        except Exception:  # noqa: BLE001 - logging must not fail the node
            self.handleError(record)


_running = threading.local()
_handler = _Forward()
_handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
logging.getLogger().addHandler(_handler)
# The host filters by level; forward everything from INFO up.
logging.getLogger().setLevel(logging.INFO)


def run(node: Node, host, inputs: dict[str, int], outputs: dict[str, int]):
    """Runs a node: ``inputs`` and ``outputs`` map ports to the addresses of
    ArrowArrayStream structs (inputs to import, outputs to fill). None on
    success, else the error text with the traceback."""
    kind = node.kind
    ctx = Context(host.node_name, host.threads, host.device, host.artifact_dir, host)
    _running.host = host
    try:
        tables = {port: pa.RecordBatchReader._import_from_c(address).read_all()
                  for port, address in inputs.items()}
        produced = kind.run(ctx, node.params, tables)
        export(kind, produced, outputs)
        return None
    except BaseException as e:  # noqa: BLE001 - the node fails, the host survives
        # The traceback starts in the kind: this frame is the SDK's.
        if e.__traceback__ is not None and e.__traceback__.tb_next is not None:
            e = e.with_traceback(e.__traceback__.tb_next)
        return format_exception(e)
    finally:
        _running.host = None


def export(kind: Kind, produced, outputs: dict[str, int]) -> None:
    for port, table in kind.outputs_of(produced).items():
        # A reader over the table's batches is pure C++: the host pulls it
        # after `run` returns, on its own thread.
        reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches())
        reader._export_to_c(outputs[port])


def ports(node: Node) -> tuple[list[str], list[str]]:
    """The node's input and output port names, as declared."""
    return [p.name for p in node.kind.inputs], [p.name for p in node.kind.outputs]
