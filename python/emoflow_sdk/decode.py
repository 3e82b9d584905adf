"""What every decoder shares, as the Rust decoders have it
(nodes/decode/src/common.rs): the codebook lookup, prior scaling of the
posteriors, and reconstruction to values averaged over tasks.

A decoder only maps one task's log prior-scaled posteriors (frames x
classes) to a class per frame; :func:`decode_and_average` does the rest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import pyarrow as pa

from .tables import frame_period, lists, series_table


@dataclass
class Codebook:
    """The classes of one dimension/task, indexed by class."""

    means: np.ndarray
    priors: np.ndarray

    @property
    def num_classes(self) -> int:
        return len(self.means)


class Codebooks:
    """Codebooks by (dimension, task), from a ``codebook`` table."""

    def __init__(self, by_task: dict[tuple[str, str], Codebook]):
        self.by_task = by_task

    @classmethod
    def from_table(cls, table: pa.Table) -> "Codebooks":
        """Checks that every dimension/task lists each class
        ``0..num_classes`` exactly once, with a finite mean and a finite
        positive prior (prior scaling divides by it)."""
        slots: dict[tuple[str, str], list] = {}
        for row in table.to_pylist():
            what = f"codebook {row['dim']}/{row['task']} class {row['class']}"
            slot = slots.setdefault((row["dim"], row["task"]), [None] * row["num_classes"])
            if len(slot) != row["num_classes"]:
                raise ValueError(f"{what}: num_classes {row['num_classes']} disagrees with "
                                 f"{len(slot)} in an earlier row")
            if not 0 <= row["class"] < len(slot):
                raise ValueError(f"{what}: class index out of range 0..{row['num_classes']}")
            if slot[row["class"]] is not None:
                raise ValueError(f"{what}: listed twice")
            if not np.isfinite(row["mean"]):
                raise ValueError(f"{what}: mean {row['mean']} is not finite")
            if not (np.isfinite(row["prior"]) and row["prior"] > 0):
                raise ValueError(f"{what}: prior {row['prior']} must be finite and > 0 "
                                 "(prior scaling divides by it)")
            slot[row["class"]] = (row["mean"], row["prior"])
        by_task = {}
        for (dim, task), slot in sorted(slots.items()):
            for c, entry in enumerate(slot):
                if entry is None:
                    raise ValueError(f"codebook {dim}/{task}: class {c} is missing")
            by_task[(dim, task)] = Codebook(np.array([m for m, _ in slot]), np.array([p for _, p in slot]))
        return cls(by_task)

    def get(self, dim: str, task: str) -> Codebook:
        try:
            return self.by_task[(dim, task)]
        except KeyError:
            raise ValueError(f"the codebook has no entry for {dim}/{task}") from None


def log_scaled_posteriors(posteriors: np.ndarray, priors: np.ndarray, what: str = "posteriors") -> np.ndarray:
    """Prior scaling in the log domain: ``ln(y_f(c) / prior(c) / sum_c'
    y_f(c') / prior(c'))`` for frames x classes posteriors, computed in
    float64 as the Rust decoders do. Zero posteriors give ``-inf``."""
    k = len(priors)
    if k == 0 or posteriors.size % k:
        raise ValueError(f"{what}: {posteriors.size} values is not a whole number of frames of {k} classes")
    ys = posteriors.reshape(-1, k).astype(np.float64)
    bad = ~((ys >= 0) & np.isfinite(ys))
    if bad.any():
        frame, c = np.argwhere(bad)[0]
        raise ValueError(f"{what}: frame {frame} has posterior {ys[frame, c]}, not a probability")
    scaled = ys / priors
    total = scaled.sum(axis=1)
    if (total <= 0).any():
        raise ValueError(f"{what}: frame {int(np.argmax(total <= 0))} has no probability mass")
    with np.errstate(divide="ignore"):
        return np.log(scaled) - np.log(total)[:, None]


def decode_and_average(posteriors: pa.Table, codebooks: Codebooks,
                       decode: Callable[[dict, np.ndarray], np.ndarray],
                       on_row: Optional[Callable[[int, int], None]] = None) -> pa.Table:
    """Decodes every task row of a ``posteriors`` table with ``decode`` (the
    row's scalar columns and its log prior-scaled posteriors, frames x
    classes, in; one class per frame out), maps classes to their cluster
    means and averages the tasks of each (utterance, dimension) with equal
    weight. A ``series`` table; rows follow the first appearance of each
    (utterance, dimension)."""
    period = frame_period(posteriors, "posteriors") if posteriors.num_rows else 0.0
    scalars = posteriors.select(["utt_id", "split", "dim", "task", "num_classes"]).to_pylist()
    groups: dict[tuple[str, str], dict] = {}
    for i, (row, values) in enumerate(zip(scalars, lists(posteriors, "posteriors"))):
        if on_row is not None:
            on_row(i, len(scalars))
        codebook = codebooks.get(row["dim"], row["task"])
        what = f"posteriors of utterance {row['utt_id']} ({row['dim']}/{row['task']})"
        if row["num_classes"] != codebook.num_classes:
            raise ValueError(f"{what}: num_classes {row['num_classes']} but the codebook has "
                             f"{codebook.num_classes} classes")
        emissions = log_scaled_posteriors(values, codebook.priors, what)
        classes = np.asarray(decode(row, emissions))
        frames = emissions.shape[0]
        group = groups.setdefault((row["utt_id"], row["dim"]), {
            "split": row["split"], "sum": np.zeros(frames), "tasks": 0})
        if group["split"] != row["split"]:
            raise ValueError(f"utterance {row['utt_id']} ({row['dim']}): task {row['task']} is in "
                             f"split {row['split']} but an earlier task is in {group['split']}")
        if len(group["sum"]) != frames:
            raise ValueError(f"utterance {row['utt_id']} ({row['dim']}): task {row['task']} has "
                             f"{frames} frames but an earlier task has {len(group['sum'])}")
        group["sum"] += codebook.means[classes]
        group["tasks"] += 1
    return series_table(
        ((utt, g["split"], dim, g["sum"] / g["tasks"]) for (utt, dim), g in groups.items()), period)
