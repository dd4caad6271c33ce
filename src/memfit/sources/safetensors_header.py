"""A safetensors header, read and validated: its tensors' names, dtypes, shapes and byte ranges.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
(``{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}``) and the tensor bytes.
Headers are untrusted input: every length, offset, shape and dtype is checked against the file
size and the format's rules before anything is believed, and every failure is a ``FormatError``
that names the file, the value and the rule.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import FormatError, MemfitError

# Bits per element of every dtype the safetensors format defines (huggingface/safetensors Dtype enum).
DTYPE_BITS: dict[str, int] = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E4M3FNUZ": 8, "F8_E5M2FNUZ": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32,
    "I64": 64, "U64": 64, "F64": 64, "C64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}
MAX_HEADER_BYTES = 100_000_000  # the safetensors library's own MAX_HEADER_SIZE
MAX_TENSORS = 2_000_000  # a 100 MB header cannot describe more than ~2M tensors
MAX_RANK = 32

Reader = Callable[[int, int], bytes]  # (offset, length) -> bytes


@dataclass(frozen=True)
class TensorEntry:
    """One tensor as its header describes it; offsets are relative to the data section."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class SafetensorsHeader:
    """A validated safetensors header."""

    file: str
    file_size: int
    header_size: int  # N, the JSON length
    tensors: tuple[TensorEntry, ...]
    metadata: tuple[tuple[str, str], ...]
    bytes_read: int


def _no_duplicates(file: str) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out = dict(pairs)
        if len(out) != len(pairs):  # rare: find the name for the message
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    raise FormatError(f"{file}: the header names {_short(key)} twice; tensor names must be unique")
                seen.add(key)
        return out
    return hook


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse_header(prefix: bytes, read: Reader, file_size: int, file: str) -> SafetensorsHeader:
    """Validate and parse a safetensors header.

    ``prefix`` holds the first bytes of the file (at least 8; more saves a read when the whole
    header is inside it), ``read(offset, length)`` fetches more, ``file_size`` is the file's size.
    Raises ``FormatError`` for anything the format does not allow.
    """
    if file_size < 8 or len(prefix) < 8:
        raise FormatError(f"{file}: the file is {file_size:,} bytes, shorter than the 8-byte header length "
                          "that starts every safetensors file (truncated or not a safetensors file)")
    n = int.from_bytes(prefix[:8], "little")
    if n > MAX_HEADER_BYTES:
        raise FormatError(f"{file}: header length {n:,} bytes exceeds the {MAX_HEADER_BYTES:,}-byte limit of the "
                          "safetensors format (corrupt or not a safetensors file)")
    if n < 2:
        raise FormatError(f"{file}: header length {n} is too small to hold a JSON object (at least 2 bytes)")
    if 8 + n > file_size:
        raise FormatError(f"{file}: header length {n:,} bytes points past the end of the {file_size:,}-byte file "
                          "(the file is truncated or not a safetensors file)")
    if len(prefix) >= 8 + n:
        raw, bytes_read = prefix[8: 8 + n], len(prefix)
    else:
        raw = read(8, n)
        bytes_read = len(prefix) + len(raw)
        if len(raw) != n:
            raise FormatError(f"{file}: could read only {len(raw):,} of the {n:,} header bytes (truncated file)")
    if raw[:1] != b"{":
        raise FormatError(f"{file}: the header does not start with '{{' (got {_short(raw[:8])}); "
                          "not a safetensors file")
    try:
        obj = json.loads(raw.decode("utf-8"), object_pairs_hook=_no_duplicates(file))
    except FormatError:
        raise
    except UnicodeDecodeError as e:
        raise FormatError(f"{file}: the header is not valid UTF-8 (byte {e.start}); not a safetensors file") from None
    except RecursionError:
        raise FormatError(f"{file}: the header JSON is nested too deeply") from None
    except ValueError as e:
        raise FormatError(f"{file}: the header is not valid JSON ({str(e)[:120]})") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{file}: the header must be a JSON object, not {type(obj).__name__}")
    data_size = file_size - 8 - n
    tensors = _tensors(obj, data_size, file)
    metadata = _metadata(obj.get("__metadata__"), file)
    return SafetensorsHeader(file, file_size, n, tensors, metadata, bytes_read)


def _metadata(meta: object, file: str) -> tuple[tuple[str, str], ...]:
    if meta is None:
        return ()
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise FormatError(f"{file}: __metadata__ must be an object of string values, got {_short(meta)}")
    return tuple(sorted(meta.items()))


def _tensors(obj: dict[str, Any], data_size: int, file: str) -> tuple[TensorEntry, ...]:
    count = len(obj) - ("__metadata__" in obj)
    if count > MAX_TENSORS:
        raise FormatError(f"{file}: the header lists {count:,} tensors; more than {MAX_TENSORS:,} is not a real "
                          "checkpoint")
    out: list[TensorEntry] = []
    for name, info in obj.items():
        if name == "__metadata__":
            continue
        out.append(_tensor(name, info, data_size, file))
    # The data section must be covered exactly, in order, without overlaps or gaps (the format's rule).
    expected = 0
    for t in sorted(out, key=lambda t: (t.start, t.end)):
        if t.start < expected:
            raise FormatError(f"{file}: tensor {_short(t.name)} data_offsets [{t.start}, {t.end}] overlap the "
                              f"previous tensor, which ends at {expected}; tensors may not share bytes")
        if t.start > expected:
            raise FormatError(f"{file}: tensor {_short(t.name)} starts at data offset {t.start} but the previous "
                              f"tensor ends at {expected}; the format allows no gaps")
        expected = t.end
    if expected != data_size:
        raise FormatError(f"{file}: the tensors cover {expected:,} bytes but the data section holds {data_size:,} "
                          "(the file is truncated, or has trailing bytes)")
    return tuple(out)


def _tensor(name: str, info: object, data_size: int, file: str) -> TensorEntry:
    def where() -> str:  # built only for an error: this runs once per tensor
        return f"{file}: tensor {_short(name)}"

    if type(info) is not dict:
        raise FormatError(f"{where()} must be an object with dtype, shape and data_offsets, got {_short(info)}")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if type(dtype) is not str or dtype not in DTYPE_BITS:
        raise FormatError(f"{where()} has dtype {_short(dtype)}; valid dtypes are {', '.join(DTYPE_BITS)}")
    if type(shape) is not list or len(shape) > MAX_RANK:
        raise FormatError(f"{where()} has shape {_short(shape)}; it must be a list of at most {MAX_RANK} integers")
    numel = 1
    limit = data_size * 8  # no tensor can hold more elements than the data section has bits
    for d in shape:
        if type(d) is not int or d < 0:  # bool and float are not dimensions
            raise FormatError(f"{where()} has shape {_short(shape)}: dimension {_short(d)} must be an integer ≥ 0")
        numel *= d
        if numel > limit:
            raise FormatError(f"{where()} has shape {_short(shape)}, more elements than the {data_size:,}-byte "
                              "data section can hold")
    if type(offsets) is not list or len(offsets) != 2 or type(offsets[0]) is not int or type(offsets[1]) is not int:
        raise FormatError(f"{where()} has data_offsets {_short(offsets)}; it must be [begin, end] integers")
    start, end = offsets
    if not 0 <= start <= end <= data_size:
        raise FormatError(f"{where()} has data_offsets [{start}, {end}] outside the data section [0, {data_size}] "
                          "(begin ≤ end ≤ data size is required; the file may be truncated)")
    bits = numel * DTYPE_BITS[dtype]
    if bits % 8 or bits // 8 != end - start:
        raise FormatError(f"{where()}: {numel:,} elements of {dtype} need {bits / 8:,g} bytes but data_offsets "
                          f"[{start}, {end}] span {end - start:,}")
    return TensorEntry(name, dtype, tuple(shape), start, end)


def read_header(path: str | Path) -> SafetensorsHeader:
    """Read and validate the header of a local safetensors file (the header bytes only)."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            prefix = f.read(8)  # then exactly the header: tensor data is never read

            def read(offset: int, length: int) -> bytes:
                f.seek(offset)
                return f.read(length)

            return parse_header(prefix, read, size, str(p))
    except MemfitError:
        raise
    except OSError as e:
        raise FormatError(f"cannot read {p}: {e.strerror or e}") from None


