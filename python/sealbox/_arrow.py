"""Arrow binary and string columns, handed to the native batch code without a copy.

Arrow data comes in as a pyarrow array, or as any object with the Arrow PyCapsule
interface (polars, DuckDB, nanoarrow, ...), which `as_arrow` imports into pyarrow
once. The offsets and data buffers of a pyarrow array go over as read-only NumPy
views of the array's own memory; the results come back as buffers (``bytes`` or
NumPy arrays that own native memory) that pyarrow wraps without copying. Arrow
arrays are immutable by contract and pyarrow offers no way to write one in
place; memory that a caller wrapped themselves (``pa.py_buffer(bytearray)``,
a NumPy array) is read in place too, so it must not be written while a batch
runs with the GIL released (docs/batch.md).

pyarrow and NumPy are imported only when Arrow data is met: ``import sealbox``
works without them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


def as_arrow(obj: object) -> Any | None:
    """``obj`` as a pyarrow Array or ChunkedArray of a binary or string type, or None if
    ``obj`` is not Arrow data (a list, say).

    Arrow data is a pyarrow array or anything with the Arrow PyCapsule interface:
    ``__arrow_c_array__`` is imported as an Array, ``__arrow_c_stream__`` as a
    ChunkedArray, without a copy. Binary and string views (polars' layout) are cast
    once to their large forms, which the batches read. Any other Arrow type is a
    TypeError.
    """
    kind = type(obj)
    array_capsule = hasattr(kind, "__arrow_c_array__")
    stream_capsule = hasattr(kind, "__arrow_c_stream__")
    if not (array_capsule or stream_capsule or kind.__module__.startswith("pyarrow")):
        return None
    try:
        import pyarrow as pa
    except ImportError as e:  # a producer such as polars or nanoarrow without pyarrow
        raise ImportError(
            f"{kind.__qualname__} is Arrow data, which sealbox reads through pyarrow: "
            "pip install 'sealbox[arrow]'"
        ) from e
    if isinstance(obj, pa.Array | pa.ChunkedArray):
        array = obj
    elif array_capsule:
        array = pa.array(obj)
    elif stream_capsule:
        array = pa.chunked_array(obj)
    else:
        raise TypeError(
            f"expected a pyarrow Array or ChunkedArray, not {kind.__module__}.{kind.__qualname__}"
        )
    if pa.types.is_binary_view(array.type):
        array = array.cast(pa.large_binary())
    elif pa.types.is_string_view(array.type):
        array = array.cast(pa.large_string())
    is_large(array.type)  # TypeError for any other type
    return array


def is_large(type_: Any) -> bool:
    """Whether a binary or string type has 64-bit offsets; TypeError for other types."""
    import pyarrow as pa

    if type_ in (pa.large_binary(), pa.large_string()):
        return True
    if type_ in (pa.binary(), pa.string()):
        return False
    raise TypeError(f"expected a binary or string array (or their large forms), not {type_}")


def buffers(array: Any) -> tuple[np.ndarray, np.ndarray, bytes | None]:
    """``(offsets, data, validity)`` of a binary or string array, offsets and data not copied."""
    import numpy as np
    import pyarrow as pa

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
    import pyarrow as pa

    bitmap = pa.py_buffer(validity) if validity is not None else None
    values = pa.py_buffer(data)
    layout = [bitmap, values] if offsets is None else [bitmap, pa.py_buffer(offsets), values]
    return pa.Array.from_buffers(type_, length, layout, null_count=null_count)
