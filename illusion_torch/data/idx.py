"""The IDX file format of MNIST and Fashion-MNIST (optionally gzip-compressed).

Usage::

    from illusion_torch.data.idx import read_idx, write_idx
    write_idx("t10k-labels-idx1-ubyte", np.array([7, 2], dtype=np.uint8))
    labels = read_idx("t10k-labels-idx1-ubyte")
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from ..errors import IllusionError

__all__ = ["read_idx", "write_idx", "find_idx"]

_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain) into a numpy array; a malformed file raises ValueError."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _DTYPES:
        raise IllusionError(f"{path} is not an IDX file (bad magic number); re-fetch the dataset")
    dtype = np.dtype(_DTYPES[data[2]])  # type: ignore[call-overload]
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(data) - offset != expected:
        raise IllusionError(f"{path} is truncated or corrupt: {len(data) - offset} data bytes, expected {expected}")
    return np.frombuffer(data, dtype=dtype, offset=offset).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8/int8 array as IDX (gzip-compressed when the name ends in ``.gz``)."""
    array = np.ascontiguousarray(array)
    header = bytes([0, 0, _CODES[array.dtype], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as f:
        f.write(header + array.tobytes())


def find_idx(folder: Path, stem: str) -> Path | None:
    """``folder/stem`` or ``folder/stem.gz``, whichever exists."""
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None
