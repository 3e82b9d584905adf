"""Python kinds that misbehave, for tests/faults/tests/python.rs; each reads
a series (`test.source`) and claims to write one."""

import logging

import numpy as np
import pyarrow as pa

import emoflow_sdk as ef

IN = [ef.Input("in", ef.port.SERIES, "any series")]
OUT = [ef.Output("out", ef.port.SERIES, "a series")]
log = logging.getLogger("pyfaults")


def _check(values: list) -> None:
    raise ValueError(f"utterance has {len(values)} rows, this kind always fails")


@ef.kind("pyfaults.raises", inputs=IN, outputs=OUT, doc="Raises an exception from a helper.")
def raises(ctx, params, inputs):
    _check(inputs["in"].column("utt_id").to_pylist())


@ef.kind("pyfaults.wrong_type", inputs=IN, outputs=OUT, doc="Writes `values` as List<Float64>.")
def wrong_type(ctx, params, inputs):
    table = inputs["in"]
    values = pa.array([np.asarray(v, np.float64) for v in table.column("values").to_pylist()],
                      pa.list_(pa.float64()))
    field = table.schema.field("values").with_type(values.type)
    index = table.schema.get_field_index("values")
    return {"out": table.set_column(index, field, values)}


@ef.kind("pyfaults.missing_package", inputs=IN, outputs=OUT, doc="Imports a package nobody has.")
def missing_package(ctx, params, inputs):
    import emoflow_package_nobody_installed  # noqa: F401

    return {"out": inputs["in"]}


@ef.kind("pyfaults.logs", inputs=IN, outputs=OUT, doc="Logs a warning and passes its input on.",
         own_process=False)
def logs(ctx, params, inputs):
    log.warning("%d rows passed through Python", inputs["in"].num_rows)
    return {"out": inputs["in"]}
