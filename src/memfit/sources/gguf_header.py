"""A GGUF header, read by a bounded parser of its own (``gguf.GGUFReader`` memory-maps the whole file and trusts
it): magic ``GGUF``, version 2 or 3, tensor and key/value counts, typed values with length caps, the tensor
infos, alignment. Tensor data is never read; every tensor's offset and size are checked against the file.
Every failure is a ``FormatError`` naming the file, the value and the rule.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import FormatError, MemfitError

MAGIC = b"GGUF"
MAX_STRING = 64 * 1024 * 1024  # a chat template or a precompiled charsmap can be a few MB
MAX_KEY = 65_535
MAX_ARRAY = 50_000_000
MAX_COUNT = 10_000_000  # tensors or key/values per file
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_DEPTH = 3  # arrays of arrays
KEEP_ARRAY = 65_536  # numeric arrays up to this length are kept (per-layer head counts …)
KEEP_STRING = 4096
WINDOW = 64 * 1024  # read-ahead when skipping string arrays

# GGUF value types: id -> (name, struct format or None)
_SCALARS: dict[int, tuple[str, str]] = {
    0: ("u8", "<B"), 1: ("i8", "<b"), 2: ("u16", "<H"), 3: ("i16", "<h"), 4: ("u32", "<I"), 5: ("i32", "<i"),
    6: ("f32", "<f"), 7: ("bool", "<?"), 10: ("u64", "<Q"), 11: ("i64", "<q"), 12: ("f64", "<d"),
}
_STRING, _ARRAY = 8, 9


def gguf_type_sizes() -> dict[int, tuple[str, int, int]]:
    """ggml tensor type id -> (name, elements per block, bytes per block), from memfit's format table
    (``data/formats.toml``: ggml's ``block_*`` structs and ``type_traits``)."""
    from ..formats import gguf_types

    return gguf_types()


@dataclass(frozen=True)
class GGUFTensor:
    """One tensor info: ``dims`` in ggml order (ne0 first, the contiguous dimension)."""

    name: str
    dims: tuple[int, ...]
    type_id: int
    type_name: str
    offset: int  # relative to the data section
    nbytes: int

    @property
    def numel(self) -> int:
        n = 1
        for d in self.dims:
            n *= d
        return n


@dataclass(frozen=True)
class GGUFHeader:
    """A validated GGUF header: version, metadata (bounded), tensor infos, data section start."""

    file: str
    file_size: int
    version: int
    metadata: dict[str, Any]
    tensors: tuple[GGUFTensor, ...]
    alignment: int
    data_offset: int
    bytes_read: int


class _Stream:
    """Sequential, bounded reads from a file: nothing is read past the file end or into tensor data.

    Reads are exact (the file object's own buffer makes small reads cheap); ``bytes_read`` counts
    the bytes the parser asked for.
    """

    def __init__(self, f: BinaryIO, size: int, file: str) -> None:
        self.f, self.size, self.file = f, size, file
        self.pos = 0
        self.bytes_read = 0

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise FormatError(f"{self.file}: {what} needs {n:,} bytes at offset {self.pos:,}, past the end of the "
                              f"{self.size:,}-byte file (truncated or corrupt)")

    def take(self, n: int, what: str) -> bytes:
        self.need(n, what)
        if self.f.tell() != self.pos:
            self.f.seek(self.pos)
        out = self.f.read(n)
        if len(out) != n:
            raise FormatError(f"{self.file}: could not read {what} at offset {self.pos:,} (file changed?)")
        self.pos += n
        self.bytes_read += n
        return out

    def skip_strings(self, count: int, what: str) -> None:
        """Skip ``count`` GGUF strings (a tokenizer vocabulary) reading their lengths in 64 KiB windows."""
        pos, buf, buf_start = self.pos, b"", self.pos
        for _ in range(count):
            if pos + 8 > buf_start + len(buf):
                self.f.seek(pos)
                buf, buf_start = self.f.read(min(WINDOW, self.size - pos)), pos
                if len(buf) < 8:
                    raise FormatError(f"{self.file}: {what} at offset {pos:,} runs past the end of the "
                                      f"{self.size:,}-byte file (truncated or corrupt)")
            (n,) = struct.unpack_from("<Q", buf, pos - buf_start)
            if n > MAX_STRING:
                raise FormatError(f"{self.file}: {what} is {n:,} bytes long at offset {pos:,}; the limit is "
                                  f"{MAX_STRING:,}")
            pos += 8 + n
            if pos > self.size:
                raise FormatError(f"{self.file}: {what} at offset {pos - n - 8:,} runs past the end of the "
                                  f"{self.size:,}-byte file (truncated or corrupt)")
        self.bytes_read += pos - self.pos
        self.pos = pos

    def skip(self, n: int, what: str) -> None:
        self.need(n, what)
        self.pos += n

    def unpack(self, fmt: str, what: str) -> Any:
        size = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(size, what))[0]

    def u32(self, what: str) -> int:
        v: int = self.unpack("<I", what)
        return v

    def u64(self, what: str) -> int:
        v: int = self.unpack("<Q", what)
        return v

    def string(self, what: str, limit: int, keep: bool = True) -> str | None:
        n = self.u64(f"{what} length")
        if n > limit:
            raise FormatError(f"{self.file}: {what} is {n:,} bytes long at offset {self.pos - 8:,}; "
                              f"the limit is {limit:,}")
        if not keep or n > KEEP_STRING:
            self.skip(n, what)
            return None
        raw = self.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            raise FormatError(f"{self.file}: {what} at offset {self.pos - n:,} is not valid UTF-8") from None


def _value(s: _Stream, vtype: int, key: str, depth: int = 0) -> Any:
    if vtype in _SCALARS:
        return s.unpack(_SCALARS[vtype][1], f"value of {key!r}")
    if vtype == _STRING:
        return s.string(f"string value of {key!r}", MAX_STRING)
    if vtype == _ARRAY:
        if depth >= MAX_DEPTH:
            raise FormatError(f"{s.file}: value of {key!r} nests arrays more than {MAX_DEPTH} deep")
        etype = s.u32(f"array type of {key!r}")
        count = s.u64(f"array length of {key!r}")
        if count > MAX_ARRAY:
            raise FormatError(f"{s.file}: array {key!r} claims {count:,} elements; the limit is {MAX_ARRAY:,}")
        if etype in _SCALARS:
            fmt = _SCALARS[etype][1]
            size = struct.calcsize(fmt)
            if count > KEEP_ARRAY:
                s.skip(count * size, f"array {key!r}")
                return ("array", _SCALARS[etype][0], count)
            raw = s.take(count * size, f"array {key!r}")
            return list(struct.unpack(f"<{count}{fmt[1]}", raw))
        if etype == _STRING:
            s.need(count * 8, f"array {key!r}")  # each string needs at least its 8-byte length
            s.skip_strings(count, f"an element of {key!r}")
            return ("array", "str", count)
        if etype == _ARRAY:
            s.need(count * 12, f"array {key!r}")
            for _ in range(count):
                _value(s, _ARRAY, key, depth + 1)
            return ("array", "array", count)
        raise FormatError(f"{s.file}: array {key!r} has element type {etype}; valid types are 0-12")
    raise FormatError(f"{s.file}: key {key!r} has value type {vtype}; valid types are 0-12 (GGUF v3)")


def parse_gguf(f: BinaryIO, file_size: int, file: str) -> GGUFHeader:
    """Parse and validate a GGUF header from an open binary file of ``file_size`` bytes."""
    s = _Stream(f, file_size, file)
    magic = s.take(4, "the GGUF magic") if file_size >= 4 else b""
    if magic != MAGIC:
        raise FormatError(f"{file}: starts with {magic!r}, not the GGUF magic b'GGUF' (not a GGUF file)")
    version = s.u32("the version")
    if version not in (2, 3):
        swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
        hint = " (a big-endian GGUF file, which memfit does not read)" if swapped in (2, 3) else ""
        raise FormatError(f"{file}: GGUF version {version} is not supported; memfit reads versions 2 and 3{hint}")
    n_tensors = s.u64("the tensor count")
    n_kv = s.u64("the key/value count")
    for count, what, least in ((n_tensors, "tensors", 24), (n_kv, "key/value pairs", 13)):
        if count > MAX_COUNT or count * least > file_size:
            raise FormatError(f"{file}: the header claims {count:,} {what}, more than a {file_size:,}-byte file "
                              f"can hold (limit {MAX_COUNT:,})")
    metadata: dict[str, Any] = {}
    for _ in range(n_kv):
        key = s.string("a metadata key", MAX_KEY)
        if key is None or not key:
            raise FormatError(f"{file}: a metadata key at offset {s.pos:,} is empty or too long")
        if key in metadata:
            raise FormatError(f"{file}: metadata key {key!r} appears twice; keys must be unique")
        metadata[key] = _value(s, s.u32(f"the type of {key!r}"), key)
    alignment = metadata.get("general.alignment", 32)
    if not isinstance(alignment, int) or isinstance(alignment, bool) or alignment < 1 \
            or alignment & (alignment - 1) or alignment > 1 << 20:
        raise FormatError(f"{file}: general.alignment = {alignment!r} must be a power of two up to 1 MiB")
    types = gguf_type_sizes()
    infos: list[tuple[str, tuple[int, ...], int, int]] = []
    names: set[str] = set()
    for _ in range(n_tensors):
        name = s.string("a tensor name", MAX_KEY)
        if name is None or not name:
            raise FormatError(f"{file}: a tensor name at offset {s.pos:,} is empty or too long")
        if name in names:
            raise FormatError(f"{file}: tensor {name!r} appears twice; tensor names must be unique")
        names.add(name)
        n_dims = s.u32(f"the dimension count of {name!r}")
        if not 1 <= n_dims <= MAX_DIMS:
            raise FormatError(f"{file}: tensor {name!r} has {n_dims} dimensions; GGUF allows 1 to {MAX_DIMS}")
        dims = tuple(s.u64(f"a dimension of {name!r}") for _ in range(n_dims))
        type_id = s.u32(f"the type of {name!r}")
        offset = s.u64(f"the offset of {name!r}")
        infos.append((name, dims, type_id, offset))
    data_offset = -(-s.pos // alignment) * alignment
    if data_offset > file_size:
        raise FormatError(f"{file}: the tensor data would start at {data_offset:,}, past the end of the "
                          f"{file_size:,}-byte file (truncated)")
    data_size = file_size - data_offset
    tensors = tuple(_tensor(file, name, dims, type_id, offset, types, alignment, data_size)
                    for name, dims, type_id, offset in infos)
    _check_overlap(file, tensors)
    return GGUFHeader(file, file_size, version, metadata, tensors, alignment, data_offset, s.bytes_read)


def _tensor(file: str, name: str, dims: tuple[int, ...], type_id: int, offset: int,
            types: Mapping[int, tuple[str, int, int]], alignment: int, data_size: int) -> GGUFTensor:
    if type_id not in types:
        raise FormatError(f"{file}: tensor {name!r} has ggml type {type_id}, which is not a known type "
                          f"(known: {', '.join(str(t) for t in sorted(types))})")
    type_name, block, block_bytes = types[type_id]
    numel = 1
    for d in dims:
        if d >= 1 << 63:
            raise FormatError(f"{file}: tensor {name!r} has dimension {d - (1 << 64)}; dimensions must be ≥ 0")
        numel *= d
    if dims[0] % block:
        raise FormatError(f"{file}: tensor {name!r} of type {type_name} has a first dimension of {dims[0]}, not a "
                          f"multiple of its block size {block}")
    nbytes = numel // block * block_bytes
    if offset % alignment:
        raise FormatError(f"{file}: tensor {name!r} starts at data offset {offset:,}, not a multiple of the "
                          f"alignment {alignment}")
    if offset + nbytes > data_size:
        raise FormatError(f"{file}: tensor {name!r} ({type_name}, {numel:,} elements, {nbytes:,} bytes at data "
                          f"offset {offset:,}) runs past the end of the {data_size:,}-byte data section (truncated)")
    return GGUFTensor(name, dims, type_id, type_name, offset, nbytes)


def _check_overlap(file: str, tensors: Sequence[GGUFTensor]) -> None:
    end, prev = 0, ""
    for t in sorted(tensors, key=lambda t: (t.offset, t.nbytes)):
        if t.nbytes and t.offset < end:
            raise FormatError(f"{file}: tensor {t.name!r} at data offset {t.offset:,} overlaps {prev!r}, which "
                              f"ends at {end:,}; tensors may not share bytes")
        if t.nbytes:
            end, prev = t.offset + t.nbytes, t.name


def read_gguf(path: str | Path) -> GGUFHeader:
    """Read and validate the header of one local GGUF file (never its tensor data)."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            size = f.seek(0, 2)
            return parse_gguf(f, size, str(p))
    except MemfitError:
        raise
    except OSError as e:
        raise FormatError(f"cannot read {p}: {e.strerror or e}") from None


