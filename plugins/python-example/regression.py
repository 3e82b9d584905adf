"""Regression deltas (HTK's formula), plain NumPy: imported by the kind
module beside it, so the cache reruns the kind when this file changes."""

import numpy as np


def deltas(frames: np.ndarray, window: int) -> np.ndarray:
    """d_t = sum_{n=1..N} n (c_{t+n} - c_{t-n}) / (2 sum_{n=1..N} n^2), the
    first and last frames repeated at the edges; frames x dims in and out."""
    if window < 1:
        raise ValueError(f"window must be at least 1, got {window}")
    padded = np.pad(frames, ((window, window), (0, 0)), mode="edge")
    n = len(frames)
    total = np.zeros_like(frames, dtype=np.float64)
    for k in range(1, window + 1):
        total += k * (padded[window + k: window + k + n] - padded[window - k: window - k + n])
    return (total / (2 * sum(k * k for k in range(1, window + 1)))).astype(frames.dtype)
