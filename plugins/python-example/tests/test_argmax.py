import numpy as np
import pyarrow as pa
import pytest

from emoflow_sdk import testing

import pyexample_decode  # noqa: F401 - declares the kind

F32 = pa.list_(pa.field("item", pa.float32(), nullable=False))


def codebook(rows):
    """rows: (dim, task, class, mean, prior); every task has len-of-its-rows classes."""
    counts = {}
    for dim, task, *_ in rows:
        counts[(dim, task)] = counts.get((dim, task), 0) + 1
    return pa.table({
        "dim": pa.array([r[0] for r in rows], pa.string()),
        "task": pa.array([r[1] for r in rows], pa.string()),
        "num_classes": pa.array([counts[(r[0], r[1])] for r in rows], pa.uint32()),
        "class": pa.array([r[2] for r in rows], pa.uint32()),
        "mean": pa.array([r[3] for r in rows], pa.float64()),
        "lower": pa.array([r[3] - 0.5 for r in rows], pa.float64()),
        "upper": pa.array([r[3] + 0.5 for r in rows], pa.float64()),
        "prior": pa.array([r[4] for r in rows], pa.float64()),
    })


def posteriors(rows, period=0.04):
    """rows: (utt_id, split, dim, task, num_classes, values)."""
    values = pa.array([list(r[5]) for r in rows], F32)
    schema = pa.schema([
        pa.field("utt_id", pa.string()), pa.field("split", pa.string()), pa.field("dim", pa.string()),
        pa.field("task", pa.string()), pa.field("num_classes", pa.uint32()),
        pa.field("posteriors", values.type, metadata={b"emoflow.frame_period": repr(period).encode()}),
    ])
    columns = [pa.array([r[i] for r in rows], t) for i, t in
               [(0, pa.string()), (1, pa.string()), (2, pa.string()), (3, pa.string()), (4, pa.uint32())]]
    return pa.Table.from_arrays(columns + [values], schema=schema)


def test_prior_scaling_can_change_the_winner():
    # The Rust decode.argmax's test: class 0 is common (prior 0.8), so 0.6 vs
    # 0.4 becomes 0.75 vs 2.0; frame 1 keeps class 0 (1.125 vs 0.5).
    cb = codebook([("valence", "k2", 0, -0.2, 0.8), ("valence", "k2", 1, 0.3, 0.2)])
    post = posteriors([("dev_1", "dev", "valence", "k2", 2, [0.6, 0.4, 0.9, 0.1])])
    out = testing.run("pyexample.argmax", {"posteriors": post, "codebook": cb})["predictions"]
    assert out.column("utt_id").to_pylist() == ["dev_1"]
    np.testing.assert_allclose(out.column("values").to_pylist()[0], [0.3, -0.2], rtol=1e-6)


def test_tasks_are_averaged_per_utterance_and_dimension():
    cb = codebook([("arousal", "a", 0, 0.0, 0.5), ("arousal", "a", 1, 1.0, 0.5),
                   ("arousal", "b", 0, -1.0, 0.5), ("arousal", "b", 1, 2.0, 0.5)])
    post = posteriors([("u", "test", "arousal", "a", 2, [0.9, 0.1, 0.2, 0.8]),
                       ("u", "test", "arousal", "b", 2, [0.1, 0.9, 0.9, 0.1])])
    out = testing.run("pyexample.argmax", {"posteriors": post, "codebook": cb})["predictions"]
    # Frame 0: (0.0 + 2.0) / 2; frame 1: (1.0 - 1.0) / 2.
    np.testing.assert_allclose(out.column("values").to_pylist()[0], [1.0, 0.0])
    assert out.schema.field("values").metadata[b"emoflow.frame_period"] == b"0.04"


def test_a_missing_codebook_class_is_an_error_naming_it():
    cb = codebook([("valence", "k2", 0, -0.2, 0.8), ("valence", "k2", 0, 0.3, 0.2)])
    post = posteriors([("dev_1", "dev", "valence", "k2", 2, [0.6, 0.4])])
    with pytest.raises(ValueError, match="codebook valence/k2 class 0: listed twice"):
        testing.run("pyexample.argmax", {"posteriors": post, "codebook": cb})
