"""Minimal writer of the safetensors format, used by the golden-data scripts.

safetensors is raw little-endian tensor data behind a small JSON header
(name -> dtype, shape, byte range): compact, inspectable, and read natively by
tch (`Tensor::read_safetensors`), so the Rust tests need no custom loader.
Written here to avoid one more pinned dependency.
"""

import json
import struct

import numpy as np

_DTYPES = {np.dtype("<f4"): "F32", np.dtype("<i8"): "I64"}


def write_safetensors(path, tensors, metadata=None):
    """Write a dict name -> numpy array (float32 or int64) to `path`."""
    header = {}
    blobs = []
    offset = 0
    for name, array in tensors.items():
        array = np.ascontiguousarray(array)
        little = array.astype(array.dtype.newbyteorder("<"), copy=False)
        if little.dtype not in _DTYPES:
            raise TypeError(f"{name}: unsupported dtype {array.dtype}")
        data = little.tobytes()
        header[name] = {
            "dtype": _DTYPES[little.dtype],
            "shape": list(array.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)  # the format aligns the data to 8 bytes
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(encoded)))
        out.write(encoded)
        for data in blobs:
            out.write(data)
