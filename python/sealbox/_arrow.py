"""Arrow binary and string columns, handed to the native batch code without a copy.

The offsets and data buffers of a pyarrow array go over as read-only NumPy views
of the array's own memory; the results come back as buffers (``bytes`` or NumPy
arrays that own native memory) that pyarrow wraps without copying. Arrow
arrays are immutable by contract and pyarrow offers no way to write one in
place; memory that a caller wrapped themselves (``pa.py_buffer(bytearray)``,
a NumPy array) is read in place too, so it must not be written while a batch
runs with the GIL released (docs/batch.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

_LARGE = (pa.large_binary(), pa.large_string())
_SMALL = (pa.binary(), pa.string())


def is_large(type_: Any) -> bool:
    """Whether a binary or string type has 64-bit offsets; TypeError for other types."""
    if type_ in _LARGE:
        return True
    if type_ in _SMALL:
        return False
    raise TypeError(f"expected a binary or string array (or their large forms), not {type_}")


def buffers(array: Any) -> tuple[np.ndarray, np.ndarray, bytes | None]:
    """``(offsets, data, validity)`` of a binary or string array, offsets and data not copied."""
    large = is_large(array.type)
    if array.offset and array.null_count:
        array = pa.concat_arrays([array])  # re-base the validity bitmap at bit 0
    validity, offsets, data = array.buffers()
    start, count = array.offset, len(array) + 1
    dtype = np.int64 if large else np.int32
    offs = (
        np.frombuffer(offsets, dtype=dtype, count=start + count)[start:]
        if offsets is not None
        else np.zeros(1, dtype=dtype)
    )
    values = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    if not offs.flags.aligned:
        offs = offs.copy()  # a sliced buffer can start at any byte; offsets are small
    for view in (offs, values):
        view.flags.writeable = False
    return offs, values, validity.to_pybytes() if array.null_count else None


def column(
    type_: Any,
    length: int,
    offsets: Any,
    data: Any,
    validity: bytes | None,
    null_count: int,
) -> Any:
    """A pyarrow array over native results (bytes or NumPy arrays, wrapped
    without copying); ``offsets`` None for fixed-size types."""
    bitmap = pa.py_buffer(validity) if validity is not None else None
    values = pa.py_buffer(data)
    layout = [bitmap, values] if offsets is None else [bitmap, pa.py_buffer(offsets), values]
    return pa.Array.from_buffers(type_, length, layout, null_count=null_count)
