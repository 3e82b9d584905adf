"""The Python SDK's own tests: parameter schemas, the decoder helpers (the
same cases as nodes/decode/src/common.rs's tests) and the port checks."""

import dataclasses
from typing import Literal, Optional

import numpy as np
import pyarrow as pa
import pytest

import emoflow_sdk as ef
from emoflow_sdk import decode, tables
from emoflow_sdk.kinds import params_schema


def test_schemas_cover_optional_lists_literals_and_required_fields():
    @dataclasses.dataclass
    class P:
        """Parameters of a test kind."""

        orders: list[int]
        mode: Literal["utterance", "corpus"] = "utterance"
        scale: Optional[float] = None
        weights: list[float] = dataclasses.field(default_factory=lambda: [1.0])

    schema = params_schema(P)
    assert schema["required"] == ["orders"]
    assert schema["properties"]["orders"] == {"type": "array", "items": {"type": "integer"}}
    assert schema["properties"]["mode"] == {"enum": ["utterance", "corpus"], "default": "utterance"}
    assert schema["properties"]["scale"] == {"type": ["number", "null"], "default": None}
    assert schema["properties"]["weights"]["default"] == [1.0]
    assert schema["description"] == "Parameters of a test kind."
    assert schema["additionalProperties"] is False


def test_an_unsupported_parameter_type_is_an_error_naming_the_field():
    @dataclasses.dataclass
    class P:
        table: dict = dataclasses.field(default_factory=dict)

    with pytest.raises(TypeError, match="P.table"):
        params_schema(P)


def test_prior_scaling_divides_by_priors_and_renormalises():
    out = decode.log_scaled_posteriors(np.array([0.6, 0.4], np.float32), np.array([0.75, 0.25]))
    # 0.6/0.75 = 0.8 and 0.4/0.25 = 1.6, renormalised: 1/3 and 2/3.
    np.testing.assert_allclose(out[0], np.log([1 / 3, 2 / 3]), atol=1e-7)


def test_prior_scaling_rejects_non_probabilities_naming_the_frame():
    with pytest.raises(ValueError, match="dev_3.*frame 1"):
        decode.log_scaled_posteriors(np.array([0.5, 0.5, np.nan, 1.0], np.float32), np.array([0.5, 0.5]),
                                     "posteriors of utterance dev_3")
    with pytest.raises(ValueError, match="not a whole number of frames"):
        decode.log_scaled_posteriors(np.array([0.5, 0.5, 0.5], np.float32), np.array([0.5, 0.5]))


def codebook(means, priors, classes=None):
    k = len(means)
    classes = list(range(k)) if classes is None else classes
    return pa.table({
        "dim": ["arousal"] * k, "task": ["k3"] * k,
        "num_classes": pa.array([3] * k, pa.uint32()), "class": pa.array(classes, pa.uint32()),
        "mean": pa.array(means, pa.float64()), "lower": pa.array(means, pa.float64()),
        "upper": pa.array(means, pa.float64()), "prior": pa.array(priors, pa.float64()),
    })


def test_codebook_rejects_missing_duplicate_and_zero_prior_classes():
    ok = decode.Codebooks.from_table(codebook([-0.1, 0.0, 0.1], [0.2, 0.5, 0.3]))
    np.testing.assert_array_equal(ok.get("arousal", "k3").means, [-0.1, 0.0, 0.1])
    with pytest.raises(ValueError, match="class 2 is missing"):
        decode.Codebooks.from_table(codebook([-0.1, 0.0], [0.2, 0.5]))
    with pytest.raises(ValueError, match="class 1: listed twice"):
        decode.Codebooks.from_table(codebook([-0.1, 0.0, 0.1], [0.2, 0.5, 0.3], [0, 1, 1]))
    with pytest.raises(ValueError, match="prior 0.0 must be finite and > 0"):
        decode.Codebooks.from_table(codebook([-0.1, 0.0, 0.1], [0.2, 0.0, 0.3]))
    with pytest.raises(ValueError, match="no entry for valence/k3"):
        ok.get("valence", "k3")


def test_features_round_trip_through_a_conventional_table_without_copies():
    frames = np.arange(12, dtype=np.float32).reshape(4, 3)
    table = ef.features_table([("u", "dev", frames)], 0.01)
    tables.check("features", table)
    [(utt, split, back)] = list(ef.features(table))
    assert (utt, split) == ("u", "dev")
    np.testing.assert_array_equal(back, frames)
    assert not back.flags.owndata, "a view of the Arrow buffer"


def test_the_port_check_names_a_missing_or_mistyped_column():
    series = ef.series_table([("u", "dev", "arousal", np.zeros(3))], 0.04)
    tables.check("series", series)
    with pytest.raises(ValueError, match="missing column `dim`"):
        tables.check("series", series.drop_columns(["dim"]))
    wrong = series.set_column(3, pa.field("values", pa.list_(pa.float64())),
                              pa.array([[0.0, 0.0, 0.0]], pa.list_(pa.float64())))
    with pytest.raises(ValueError, match="column `values` is list<item: double>, port type `series` wants List<Float32>"):
        tables.check("series", wrong)


@ef.kind("sdktest.two_outputs", inputs=[], outputs=[ef.Output("a", ef.port.TABLE), ef.Output("b", ef.port.TABLE)])
def two_outputs(ctx, params, inputs):
    return two_outputs.returns


def test_outputs_must_be_the_declared_ports_as_tables():
    t = pa.table({"x": [1]})
    for returns, says in [
        ({"a": t}, r"did not produce its outputs \['b'\]"),
        ({"a": t, "b": t, "c": t}, r"produced outputs \['c'\], which it does not declare"),
        ({"a": t, "b": [1]}, "returned a list for output `b`"),
        ([t, t], "returned a list: return a dict"),
    ]:
        two_outputs.returns = returns
        with pytest.raises((ValueError, TypeError), match=says):
            ef.testing.run("sdktest.two_outputs", {})
    two_outputs.returns = {"a": t, "b": t.to_batches()[0]}
    assert ef.testing.run("sdktest.two_outputs", {})["b"] == t
