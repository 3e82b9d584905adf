"""Declaring a kind: its ports, parameters and body."""

from __future__ import annotations

import dataclasses
import inspect
import typing
from pathlib import Path
from typing import Any, Callable, Optional

import pyarrow as pa


class port:
    """The port types, as ``emoflow plugins`` shows them (core/sdk conventions)."""

    AUDIO = "audio"
    FEATURES = "features"
    SERIES = "series"
    CLASSES = "classes"
    POSTERIORS = "posteriors"
    CODEBOOK = "codebook"
    METRICS = "metrics"
    FILES = "files"
    LOSS = "loss"
    TABLE = "table"
    ANY = "any"


@dataclasses.dataclass(frozen=True)
class Input:
    name: str
    type: str
    doc: str = ""
    optional: bool = False


@dataclasses.dataclass(frozen=True)
class Output:
    name: str
    type: str
    doc: str = ""


class Context:
    """What a running node gets from the host: its name, thread budget,
    device, artifact directory, progress and the cancel flag. ``logging``
    records emitted while the node runs reach the host's log under the
    node's name."""

    def __init__(self, node_name: str, threads: int = 1, device: str = "cpu",
                 artifact_dir: str = ".", host: Any = None):
        self.node_name = node_name
        self.threads = threads
        self.device = device
        self.artifact_dir = Path(artifact_dir)
        self._host = host

    def progress(self, position: int, total: int, message: str = "") -> None:
        if self._host is not None:
            self._host.progress(position, total, message)

    def is_cancelled(self) -> bool:
        return self._host is not None and self._host.is_cancelled()

    def check_cancelled(self) -> None:
        """Raises :class:`Cancelled` once the host asked the node to stop."""
        if self.is_cancelled():
            raise Cancelled(f"{self.node_name} was cancelled")


class Cancelled(Exception):
    pass


@dataclasses.dataclass
class Kind:
    """A declared kind (what :func:`kind` registers)."""

    name: str
    doc: str
    inputs: list[Input]
    outputs: list[Output]
    params: Optional[type]
    run: Callable[..., dict]
    source_file: str
    own_process: bool = True
    cacheable: bool = True

    def describe(self) -> dict:
        return {
            "kind": self.name,
            "doc": self.doc,
            "source_file": self.source_file,
            "inputs": [dataclasses.asdict(p) for p in self.inputs],
            "outputs": [dataclasses.asdict(p) for p in self.outputs],
            "params": params_schema(self.params),
            "own_process": self.own_process,
            "cacheable": self.cacheable,
        }

    def parse_params(self, values: dict) -> Any:
        if self.params is None:
            if values:
                raise ValueError(f"`{self.name}` has no parameters, got {sorted(values)}")
            return None
        known = {f.name for f in dataclasses.fields(self.params)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown parameters for `{self.name}`: {unknown}")
        return self.params(**values)


    def outputs_of(self, produced) -> dict:
        """What the body returned, as tables by output port, checked to be
        exactly the declared ports."""
        if not isinstance(produced, dict):
            raise TypeError(f"`{self.name}` returned a {type(produced).__name__}: return a dict of "
                            "tables by output port")
        declared = [o.name for o in self.outputs]
        extra = sorted(set(produced) - set(declared))
        if extra:
            raise ValueError(f"`{self.name}` produced outputs {extra}, which it does not declare "
                             f"(it declares {declared})")
        missing = [p for p in declared if p not in produced]
        if missing:
            raise ValueError(f"`{self.name}` did not produce its outputs {missing}")
        return {port: self._table(port, produced[port]) for port in declared}

    def _table(self, port: str, value):
        if isinstance(value, pa.Table):
            return value
        if isinstance(value, pa.RecordBatch):
            return pa.Table.from_batches([value])
        raise TypeError(f"`{self.name}` returned a {type(value).__name__} for output `{port}`: "
                        "return a pyarrow.Table or RecordBatch")


#: Every kind declared so far, by name.
KINDS: dict[str, Kind] = {}


def kind(name: str, *, inputs: list[Input], outputs: list[Output], params: Optional[type] = None,
         doc: Optional[str] = None, own_process: bool = True, cacheable: bool = True):
    """Declares the decorated function as the node kind ``name``.

    The function is called as ``run(ctx, params, inputs)``, ``inputs`` a dict
    of ``pyarrow.Table`` by input port (an unwired optional input is
    absent), and returns a dict of tables (or record batches) by output
    port. ``params`` is a dataclass: its fields, types, defaults and
    ``field(metadata={"doc": ...})`` make the JSON Schema the host
    validates graphs against. Nodes run in worker processes of their own
    (``own_process``) so that the GIL never serialises parallel nodes; pass
    ``own_process=False`` for a light kind to skip the process start.
    """

    def register(run: Callable[..., dict]) -> Callable[..., dict]:
        if name in KINDS and KINDS[name].run is not run:
            raise ValueError(f"kind `{name}` is declared twice: {KINDS[name].source_file} and "
                             f"{inspect.getsourcefile(run)}")
        if params is not None and not dataclasses.is_dataclass(params):
            raise TypeError(f"parameters of `{name}` must be a dataclass, not {params!r}")
        KINDS[name] = Kind(
            name=name,
            # One line, as Rust kinds write theirs.
            doc=" ".join((doc if doc is not None else (run.__doc__ or "")).split()),
            inputs=list(inputs),
            outputs=list(outputs),
            params=params,
            run=run,
            source_file=str(Path(inspect.getsourcefile(run)).resolve()),
            own_process=own_process,
            cacheable=cacheable,
        )
        run.emoflow_kind = KINDS[name]
        return run

    return register


_SCALARS = {int: {"type": "integer"}, float: {"type": "number"}, str: {"type": "string"},
            bool: {"type": "boolean"}}


def _type_schema(t: Any, where: str) -> dict:
    if t in _SCALARS:
        return dict(_SCALARS[t])
    origin, args = typing.get_origin(t), typing.get_args(t)
    if origin in (list, tuple) and args:
        return {"type": "array", "items": _type_schema(args[0], where)}
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        options = [a for a in args if a is not type(None)]
        if len(options) == 1 and len(args) == 2:
            inner = _type_schema(options[0], where)
            if "type" in inner:
                inner["type"] = [inner["type"], "null"]
                return inner
            return {"anyOf": [inner, {"type": "null"}]}
    raise TypeError(f"{where}: type {t!r} has no JSON Schema here (use int, float, str, bool, "
                    "list[...], Literal[...] or Optional[...])")


def params_schema(params: Optional[type]) -> dict:
    """The JSON Schema of a parameters dataclass (draft 2020-12, no
    references), as the Rust SDK derives one from a serde struct."""
    schema: dict = {"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object",
                    "additionalProperties": False, "properties": {}}
    if params is None:
        return schema
    schema["title"] = params.__name__
    if params.__doc__ and not params.__doc__.startswith(params.__name__ + "("):
        schema["description"] = inspect.cleandoc(params.__doc__)
    hints = typing.get_type_hints(params)
    required = []
    for f in dataclasses.fields(params):
        prop = _type_schema(hints[f.name], f"{params.__name__}.{f.name}")
        if f.metadata.get("doc"):
            prop["description"] = f.metadata["doc"]
        if f.default is not dataclasses.MISSING:
            prop["default"] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            prop["default"] = f.default_factory()
        else:
            required.append(f.name)
        schema["properties"][f.name] = prop
    if required:
        schema["required"] = required
    return schema
