"""Running a kind from pytest, as the host would: its parameters parsed
from a dict, its inputs checked against their port types, the body run, and
its outputs checked to be the declared ports and to follow their port
types' conventions."""

from __future__ import annotations

from typing import Callable, Optional, Union

import pyarrow as pa

from . import tables
from .kinds import KINDS, Context, Kind


def kind_of(kind: Union[str, Callable, Kind]) -> Kind:
    if isinstance(kind, Kind):
        return kind
    if isinstance(kind, str):
        return KINDS[kind]
    return kind.emoflow_kind


def run(kind: Union[str, Callable, Kind], inputs: dict[str, pa.Table], params: Optional[dict] = None,
        ctx: Optional[Context] = None) -> dict[str, pa.Table]:
    """Runs ``kind`` (its name or decorated function) on ``inputs`` (tables
    by input port) and returns its outputs by port."""
    k = kind_of(kind)
    for port in k.inputs:
        if port.name not in inputs:
            if not port.optional:
                raise ValueError(f"input `{port.name}` of `{k.name}` is required")
            continue
        tables.check(port.type, inputs[port.name])
    unknown = sorted(set(inputs) - {p.name for p in k.inputs})
    if unknown:
        raise ValueError(f"`{k.name}` has no inputs {unknown}")
    produced = k.run(ctx or Context(f"test-{k.name}"), k.parse_params(params or {}), dict(inputs))
    outputs = k.outputs_of(produced)
    for port in k.outputs:
        try:
            tables.check(port.type, outputs[port.name])
        except ValueError as e:
            raise ValueError(f"output `{port.name}` of `{k.name}`: {e}") from None
    return outputs
