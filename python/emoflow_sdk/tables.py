"""Reading and writing the conventional tables of the port types (the
columns are those of core/sdk/src/conventions.rs). Readers give NumPy views
of the Arrow buffers, without copying."""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import pyarrow as pa

#: The field metadata key holding a time series' frame period in seconds.
FRAME_PERIOD_KEY = b"emoflow.frame_period"


def frame_period(table: pa.Table, column: str) -> float:
    """The frame period (seconds) stored on a time-series column."""
    metadata = table.schema.field(column).metadata or {}
    if FRAME_PERIOD_KEY not in metadata:
        raise ValueError(f"column `{column}` lacks its `{FRAME_PERIOD_KEY.decode()}` metadata")
    return float(metadata[FRAME_PERIOD_KEY])


def _timed(name: str, type_: pa.DataType, period: float) -> pa.Field:
    return pa.field(name, type_, nullable=False, metadata={FRAME_PERIOD_KEY: repr(float(period))})


def _list_rows(column: pa.ChunkedArray) -> Iterator[pa.Array]:
    for chunk in column.chunks:
        offsets = chunk.offsets.to_numpy()
        values = chunk.values
        for i in range(len(chunk)):
            yield values.slice(offsets[i], offsets[i + 1] - offsets[i])


def features(table: pa.Table) -> Iterator[tuple[str, str, np.ndarray]]:
    """(utt_id, split, frames x dims float32 array) per row of a ``features`` table."""
    ids, splits = table.column("utt_id").to_pylist(), table.column("split").to_pylist()
    dims = table.schema.field("features").type.value_type.list_size
    for i, vectors in enumerate(_list_rows(table.column("features"))):
        flat = vectors.flatten().to_numpy(zero_copy_only=True)
        yield ids[i], splits[i], flat.reshape(-1, dims)


def lists(table: pa.Table, column: str) -> Iterator[np.ndarray]:
    """Each row's values of a List<primitive> column, as NumPy views."""
    for values in _list_rows(table.column(column)):
        yield values.to_numpy(zero_copy_only=True)


def features_table(rows: Iterable[tuple[str, str, np.ndarray]], frame_period: float,
                   dims: int | None = None) -> pa.Table:
    """A ``features`` table from (utt_id, split, frames x dims) rows."""
    rows = list(rows)
    if dims is None:
        if not rows:
            raise ValueError("an empty features table needs its `dims`")
        dims = rows[0][2].shape[1]
    for utt, _, frames in rows:
        if frames.ndim != 2 or frames.shape[1] != dims:
            raise ValueError(f"utterance {utt}: frames of shape {frames.shape}, expected (n, {dims})")
    flat = np.concatenate([np.ascontiguousarray(f, dtype=np.float32).ravel() for _, _, f in rows]) \
        if rows else np.zeros(0, np.float32)
    item = pa.field("item", pa.float32(), nullable=False)
    vectors = pa.FixedSizeListArray.from_arrays(pa.array(flat, pa.float32()), type=pa.list_(item, dims))
    vector_field = pa.field("item", vectors.type, nullable=False)
    offsets = np.concatenate([[0], np.cumsum([f.shape[0] for _, _, f in rows])]).astype(np.int32)
    feats = pa.ListArray.from_arrays(pa.array(offsets), vectors, type=pa.list_(vector_field))
    schema = pa.schema([
        pa.field("utt_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        _timed("features", feats.type, frame_period),
    ])
    return pa.Table.from_arrays(
        [pa.array([r[0] for r in rows], pa.string()), pa.array([r[1] for r in rows], pa.string()), feats],
        schema=schema)


def series_table(rows: Iterable[tuple[str, str, str, np.ndarray]], frame_period: float) -> pa.Table:
    """A ``series`` table from (utt_id, split, dim, values) rows."""
    rows = list(rows)
    item = pa.field("item", pa.float32(), nullable=False)
    values = pa.array([np.asarray(r[3], dtype=np.float32) for r in rows], pa.list_(item))
    schema = pa.schema([
        pa.field("utt_id", pa.string(), nullable=False),
        pa.field("split", pa.string(), nullable=False),
        pa.field("dim", pa.string(), nullable=False),
        _timed("values", values.type, frame_period),
    ])
    columns = [pa.array([r[i] for r in rows], pa.string()) for i in range(3)]
    return pa.Table.from_arrays(columns + [values], schema=schema)


# Required columns of each port type (core/sdk/src/conventions.rs `columns`):
# name, a test of the Arrow type with what it wants, and whether the column
# carries a frame period.
def _list_of(t):
    return lambda d: pa.types.is_list(d) and d.value_type == t


_VECTORS = ("List<FixedSizeList<Float32, D>>",
            lambda d: pa.types.is_list(d) and pa.types.is_fixed_size_list(d.value_type)
            and d.value_type.value_type == pa.float32())
_UTF8 = ("Utf8", lambda d: d == pa.string())
_U32 = ("UInt32", lambda d: d == pa.uint32())
_F64 = ("Float64", lambda d: d == pa.float64())
_LF32 = ("List<Float32>", _list_of(pa.float32()))
_LU32 = ("List<UInt32>", _list_of(pa.uint32()))

COLUMNS = {
    "audio": [("utt_id", _UTF8, False), ("split", _UTF8, False), ("sample_rate", _U32, False),
              ("samples", _LF32, False)],
    "features": [("utt_id", _UTF8, False), ("split", _UTF8, False), ("features", _VECTORS, True)],
    "series": [("utt_id", _UTF8, False), ("split", _UTF8, False), ("dim", _UTF8, False),
               ("values", _LF32, True)],
    "classes": [("utt_id", _UTF8, False), ("split", _UTF8, False), ("dim", _UTF8, False),
                ("task", _UTF8, False), ("num_classes", _U32, False), ("classes", _LU32, False)],
    "posteriors": [("utt_id", _UTF8, False), ("split", _UTF8, False), ("dim", _UTF8, False),
                   ("task", _UTF8, False), ("num_classes", _U32, False), ("posteriors", _LF32, True)],
    "codebook": [("dim", _UTF8, False), ("task", _UTF8, False), ("num_classes", _U32, False),
                 ("class", _U32, False), ("mean", _F64, False), ("lower", _F64, False),
                 ("upper", _F64, False), ("prior", _F64, False)],
    "metrics": [("name", _UTF8, False), ("dim", _UTF8, False), ("split", _UTF8, False),
                ("value", _F64, False)],
    "files": [("path", _UTF8, False), ("format", _UTF8, False)],
    "loss": [("kind", _UTF8, False), ("params", _UTF8, False)],
}


def check(port_type: str, table: pa.Table) -> None:
    """Raises ValueError naming the column when ``table`` breaks the port
    type's conventions, as the host does on every edge (the host's check,
    which also looks at values, stays the one that counts)."""
    for name, (wants, matches), timed in COLUMNS.get(port_type, []):
        if name not in table.schema.names:
            raise ValueError(f"missing column `{name}` ({wants}) of port type `{port_type}`")
        field = table.schema.field(name)
        if not matches(field.type):
            raise ValueError(f"column `{name}` is {field.type}, port type `{port_type}` wants {wants}")
        if timed:
            frame_period(table, name)
        if table.column(name).null_count:
            raise ValueError(f"column `{name}` has {table.column(name).null_count} null values")
