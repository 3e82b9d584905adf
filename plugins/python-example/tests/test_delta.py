import numpy as np
import pytest

import emoflow_sdk as ef
from emoflow_sdk import testing

import pyexample_features  # noqa: F401 - declares the kind
from regression import deltas


def features(rows, period=0.01):
    return ef.features_table(rows, period)


def test_a_linear_ramp_has_a_constant_delta_inside_and_zero_delta_delta():
    ramp = np.arange(20, dtype=np.float32).reshape(10, 2)  # each dim rises by 2 per frame
    out = testing.run("pyexample.delta", {"features": features([("u1", "train", ramp)])})["features"]
    [(utt, split, frames)] = list(ef.features(out))
    assert (utt, split, frames.shape) == ("u1", "train", (10, 6))
    np.testing.assert_array_equal(frames[:, :2], ramp)
    np.testing.assert_allclose(frames[2:-2, 2:4], 2.0)
    # Delta-deltas vanish where the deltas are constant over the window.
    np.testing.assert_allclose(frames[4:-4, 4:], 0.0, atol=1e-6)
    assert ef.frame_period(out, "features") == 0.01


def test_edges_repeat_the_first_and_last_frames():
    x = np.array([[0.0], [1.0], [4.0]], dtype=np.float32)
    # window 1: (c[t+1] - c[t-1]) / 2 with c[-1] = c[0], c[3] = c[2].
    np.testing.assert_allclose(deltas(x, 1)[:, 0], [0.5, 2.0, 1.5])


def test_every_utterance_keeps_its_frames_and_split():
    rows = [("a", "train", np.ones((3, 4), np.float32)), ("b", "dev", np.zeros((5, 4), np.float32))]
    out = testing.run("pyexample.delta", {"features": features(rows)}, {"window": 1})["features"]
    assert [(u, s, f.shape) for u, s, f in ef.features(out)] == [("a", "train", (3, 12)), ("b", "dev", (5, 12))]


def test_a_window_below_one_and_unknown_parameters_are_errors():
    rows = [("a", "train", np.ones((3, 4), np.float32))]
    with pytest.raises(ValueError, match="window must be at least 1"):
        testing.run("pyexample.delta", {"features": features(rows)}, {"window": 0})
    with pytest.raises(ValueError, match="unknown parameters.*'size'"):
        testing.run("pyexample.delta", {"features": features(rows)}, {"size": 3})


def test_the_parameter_schema_comes_from_the_dataclass():
    schema = testing.kind_of("pyexample.delta").describe()["params"]
    assert schema["properties"]["window"] == {
        "type": "integer", "default": 2, "description": "frames on each side of the regression (N)"}
    assert schema["additionalProperties"] is False
