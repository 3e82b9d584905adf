"""`pyexample.delta`: appends delta and delta-delta features, in Python."""

import logging
from dataclasses import dataclass, field

import numpy as np

import emoflow_sdk as ef
from regression import deltas

log = logging.getLogger(__name__)


@dataclass
class DeltaParams:
    """Parameters of `pyexample.delta`."""

    window: int = field(default=2, metadata={"doc": "frames on each side of the regression (N)"})


@ef.kind(
    "pyexample.delta",
    inputs=[ef.Input("features", ef.port.FEATURES, "frame features")],
    outputs=[ef.Output("features", ef.port.FEATURES, "the features, their deltas and delta-deltas")],
    params=DeltaParams,
)
def delta(ctx: ef.Context, params: DeltaParams, inputs):
    """Appends regression deltas and delta-deltas to every frame: D dims in,
    3 D out."""
    table = inputs["features"]
    period = ef.frame_period(table, "features")
    dims = table.schema.field("features").type.value_type.list_size
    rows = []
    for i, (utt, split, frames) in enumerate(ef.features(table)):
        ctx.check_cancelled()
        d1 = deltas(frames, params.window)
        rows.append((utt, split, np.hstack([frames, d1, deltas(d1, params.window)])))
        ctx.progress(i + 1, table.num_rows, "deltas")
    log.info("%d utterances, %d -> %d dims", len(rows), dims, 3 * dims)
    return {"features": ef.features_table(rows, period, dims=3 * dims)}
