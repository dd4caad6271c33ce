"""Read GGUF files from their headers only: architecture metadata, every tensor's type and bytes.

A bounded parser of its own (``gguf.GGUFReader`` memory-maps the whole file and trusts it):
magic ``GGUF``, version 2 or 3, tensor and key/value counts, typed values with length caps, the
tensor infos, alignment. Tensor data is never read; every tensor's offset and size are checked
against the file. Every failure is a ``FormatError`` naming the file, the value and the rule.

The architecture keys (``{arch}.block_count``, ``{arch}.attention.head_count_kv`` …) and the
tensor shapes become a ``ModelSpec``, so the KV-cache and llama.cpp estimates work from a GGUF.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

from ..errors import FormatError, MemfitError
from ..spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec, SSMSpec, StoredWeights
from .gguf_size import file_bytes

__all__ = ["GGUFHeader", "GGUFTensor", "gguf_spec", "gguf_type_sizes", "load_gguf", "load_gguf_folder",
           "parse_gguf", "read_gguf", "spec_from_gguf"]

MAGIC = b"GGUF"
MAX_STRING = 64 * 1024 * 1024  # a chat template or a precompiled charsmap can be a few MB
MAX_KEY = 65_535
MAX_ARRAY = 50_000_000
MAX_COUNT = 10_000_000  # tensors or key/values per file
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_DEPTH = 3  # arrays of arrays
KEEP_ARRAY = 65_536  # numeric arrays up to this length are kept (per-layer head counts …)
KEEP_STRING = 4096
MAX_LAYERS = 10_000
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


# --- split files ------------------------------------------------------------------------------

_SPLIT = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")


def split_files(path: Path) -> list[Path]:
    """All parts of a split GGUF (``name-00001-of-00003.gguf``), or ``[path]`` for a single file."""
    m = _SPLIT.match(path.name)
    if not m:
        return [path]
    count = int(m.group("count"))
    if not 1 <= count <= 9999:
        raise FormatError(f"{path}: split count {count} must be between 1 and 9999")
    parts = [path.with_name(f"{m.group('stem')}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1)]
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise FormatError(f"{path} is part of a {count}-file split but {', '.join(missing[:3])} "
                          f"{'is' if len(missing) == 1 else 'are'} missing from {path.parent}")
    return parts


# --- model description ------------------------------------------------------------------------

def _ftype_name(ft: object) -> str | None:
    """``general.file_type`` (enum llama_ftype) -> its llama-quantize name (``Q4_K_M``), from memfit's table."""
    if not isinstance(ft, int) or isinstance(ft, bool):
        return None
    from ..formats import list_formats

    return next((f.ftype for f in list_formats() if f.ftype_id == ft and f.ftype), None)


def stored_from_gguf(headers: Sequence[GGUFHeader]) -> StoredWeights:
    """Sum one model's GGUF headers (all split parts) into ``StoredWeights``."""
    seen: dict[str, str] = {}
    by_type: dict[str, list[int]] = {}
    for h in headers:
        for t in h.tensors:
            if t.name in seen:
                raise FormatError(f"tensor {t.name!r} is in both {seen[t.name]} and {h.file}")
            seen[t.name] = h.file
            acc = by_type.setdefault(t.type_name, [0, 0])
            acc[0] += t.numel
            acc[1] += t.nbytes
    stored = sum(b for _, b in by_type.values())
    ftype = _ftype_name(headers[0].metadata.get("general.file_type"))
    if ftype is None and by_type:
        ftype = max(by_type.items(), key=lambda kv: kv[1][1])[0]
    return StoredWeights(
        container="gguf", stored_bytes=stored, loaded_bytes=stored,
        logical_parameters=sum(e for e, _ in by_type.values()), tensors=len(seen),
        bytes_by_dtype=tuple(sorted(((d, e, b) for d, (e, b) in by_type.items()), key=lambda r: (-r[2], r[0]))),
        quantization=f"gguf:{ftype}" if ftype else None, files=tuple(Path(h.file).name for h in headers),
        header_bytes_read=sum(h.bytes_read for h in headers),
        file_bytes=sum(file_bytes(h.data_offset, [t.nbytes for t in h.tensors], h.alignment) for h in headers),
    )


def _int(meta: Mapping[str, Any], key: str) -> int | None:
    v = meta.get(key)
    return v if isinstance(v, int) and not isinstance(v, bool) and v >= 0 else None


def _per_layer(meta: Mapping[str, Any], key: str, n: int) -> list[int] | None:
    v = meta.get(key)
    if isinstance(v, list) and len(v) == n and all(isinstance(x, int) and x >= 0 for x in v):
        return [int(x) for x in v]
    if isinstance(v, int) and not isinstance(v, bool) and v >= 0:
        return [v] * n
    return None


# Every n-th layer uses full attention, the others the sliding window (llama.cpp set_swa_pattern).
_SWA_PATTERN = {"gemma2": 2, "gemma3": 6, "gemma3n": 5, "gpt-oss": 2, "cohere2": 4, "exaone4": 4}
_BLOCK_NORM = re.compile(r"^blk\.(\d{1,5})\.([A-Za-z0-9_]*norm)\.weight$")
_NORM_EXCLUDE = ("attn_q_norm", "attn_k_norm", "attn_q_a_norm", "attn_kv_a_norm", "ssm_norm")
# Which hidden-sized norms a block holds -> how they are arranged (memfit.spec.NormLayout)
_LAYOUTS: dict[frozenset[str], str] = {
    frozenset({"attn_norm", "ffn_norm"}): "pre",
    frozenset({"attn_norm"}): "parallel",
    frozenset({"attn_norm", "attn_norm_2"}): "parallel",
    frozenset({"post_attention_norm", "post_ffw_norm"}): "post",
    frozenset({"attn_norm", "post_attention_norm", "ffn_norm", "post_ffw_norm"}): "sandwich",
}
_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


def spec_from_gguf(meta: Mapping[str, Any], tensors: Sequence[GGUFTensor], name: str) -> ModelSpec | None:
    """A ``ModelSpec`` from GGUF metadata and tensor shapes, or None when it cannot be described.

    Heads, KV heads, head sizes, context, sliding window and expert counts come from the
    ``{arch}.*`` keys; matrix sizes, biases, norms and tying from the tensors themselves.
    """
    arch = meta.get("general.architecture")
    if not isinstance(arch, str):
        return None
    a = f"{arch}."
    n = _int(meta, a + "block_count")
    shapes = {t.name: t.dims for t in tensors}
    emb = shapes.get("token_embd.weight")
    if not n or n > min(MAX_LAYERS, len(tensors)) or emb is None or len(emb) != 2:
        return None  # every block holds at least one tensor
    h, vocab = emb
    heads = _per_layer(meta, a + "attention.head_count", n) or [0] * n
    kv = _per_layer(meta, a + "attention.head_count_kv", n) or heads
    key_len = _int(meta, a + "attention.key_length_mla") or _int(meta, a + "attention.key_length")
    val_len = _int(meta, a + "attention.value_length_mla") or _int(meta, a + "attention.value_length")
    window = _int(meta, a + "attention.sliding_window")
    pattern = meta.get(a + "attention.sliding_window_pattern")
    kv_lora = _int(meta, a + "attention.kv_lora_rank")
    q_lora = _int(meta, a + "attention.q_lora_rank")
    rope_dim = _int(meta, a + "rope.dimension_count")
    n_experts = _int(meta, a + "expert_count") or 0
    top_k = _int(meta, a + "expert_used_count") or 0
    n_shared = _int(meta, a + "expert_shared_count")
    norm_kinds: dict[int, list[str]] = {}  # layer -> its *norm.weight kinds, in one pass over the tensors
    for key in shapes:
        m = _BLOCK_NORM.match(key)
        if m:
            norm_kinds.setdefault(int(m.group(1)), []).append(m.group(2))
    layers: list[LayerSpec] = []
    for i in range(n):
        b = f"blk.{i}."

        def has(kind: str, suffix: str = "weight", _b: str = b) -> bool:
            return f"{_b}{kind}.{suffix}" in shapes

        def rows(kind: str, _b: str = b) -> int | None:  # output features (ggml ne1)
            d = shapes.get(f"{_b}{kind}.weight")
            return d[1] if d is not None and len(d) >= 2 else None

        def cols(kind: str, _b: str = b) -> int | None:  # input features (ggml ne0)
            d = shapes.get(f"{_b}{kind}.weight")
            return d[0] if d is not None and len(d) >= 2 else None

        attn = None
        if heads[i] and (has("attn_q") or has("attn_qkv") or has("attn_q_a") or has("attn_kv_a_mqa")):
            hd = key_len or h // heads[i]
            sw = window
            if window and isinstance(pattern, list) and len(pattern) == n:
                sw = window if pattern[i] else None
            elif window and arch in _SWA_PATTERN:
                sw = window if i % _SWA_PATTERN[arch] < _SWA_PATTERN[arch] - 1 else None
            qn = shapes.get(b + "attn_q_norm.weight")
            qk_norm = "none" if qn is None else "head" if qn[0] == hd and len(qn) == 1 else "full"
            mla = {}
            if kv_lora:
                mla = {"kv_lora_rank": kv_lora, "q_lora_rank": q_lora or None, "qk_rope_head_dim": rope_dim or 0}
            vd = val_len if val_len and val_len != hd else None
            attn = AttentionSpec(heads[i], kv[i] or heads[i], hd, v_head_dim=vd, sliding_window=sw,
                                 qkv_bias=has("attn_q", "bias") or has("attn_qkv", "bias"),
                                 o_bias=has("attn_output", "bias"), qk_norm=qk_norm,  # type: ignore[arg-type]
                                 sinks=has("attn_sinks"), fused_qkv=has("attn_qkv"), **mla)  # type: ignore[arg-type]
        ssm = None
        mixer = "attention"
        if has("ssm_in"):
            inner = _int(meta, a + "ssm.inner_size") or 0
            state = _int(meta, a + "ssm.state_size") or 0
            conv = _int(meta, a + "ssm.conv_kernel") or 0
            dt_rank = _int(meta, a + "ssm.time_step_rank") or 0
            mamba2 = not has("ssm_x")
            mixer = "mamba2" if mamba2 else "mamba"
            ssm = SSMSpec(inner, state, conv, dt_rank=0 if mamba2 else dt_rank, num_heads=dt_rank if mamba2 else 0,
                          head_dim=inner // dt_rank if mamba2 and dt_rank else 0,
                          n_groups=_int(meta, a + "ssm.group_count") or 1, conv_bias=has("ssm_conv1d", "bias"),
                          proj_bias=has("ssm_in", "bias"))
        mlp = moe = None
        if has("ffn_gate_inp"):
            down = shapes.get(b + "ffn_down_exps.weight")
            inter = down[0] if down is not None and len(down) == 3 else 0
            sh = cols("ffn_down_shexp") or 0
            count = (n_shared or 1) if sh else 0
            moe = MoESpec(n_experts, top_k, inter, num_shared_experts=count,
                          shared_intermediate_size=sh // count if count else 0,
                          shared_expert_gate=has("ffn_gate_inp_shexp"), router_bias=has("ffn_gate_inp", "bias"),
                          expert_bias=has("ffn_up_exps", "bias"),
                          kind="gated" if has("ffn_gate_exps") else "plain")
        elif has("ffn_down"):
            inter = cols("ffn_down") or 0
            fused = not has("ffn_gate") and rows("ffn_up") == 2 * inter  # phi3: gate and up in one tensor
            mlp = MLPSpec(inter, "gated" if has("ffn_gate") or fused else "plain", has("ffn_down", "bias"),
                          fused_gate_up=fused)
        kinds = {k for k in norm_kinds.get(i, ()) if shapes[f"{b}{k}.weight"] == (h,)} - set(_NORM_EXCLUDE)
        layout = _LAYOUTS.get(frozenset(kinds), "pre") if mixer == "attention" else "pre"
        layers.append(LayerSpec(mixer=mixer, attention=attn, ssm=ssm, mlp=mlp, moe=moe,  # type: ignore[arg-type]
                                norms=len(kinds), norm_layout=layout))  # type: ignore[arg-type]
    norm_bias = "output_norm.bias" in shapes or "blk.0.attn_norm.bias" in shapes
    out = shapes.get("output.weight")
    ft = meta.get("general.file_type")
    return ModelSpec(
        name=name, family=arch, hidden_size=h, vocab_size=vocab, layers=tuple(layers),
        tie_word_embeddings=out is None, norm="layernorm" if norm_bias else "rms",
        position_embedding="learned" if "position_embd.weight" in shapes else "rope",
        max_position_embeddings=_int(meta, a + "context_length") or 0, lm_head_bias="output.bias" in shapes,
        final_norm="output_norm.weight" in shapes, embedding_norm="token_embd_norm.weight" in shapes,
        dtype={0: "float32", 1: "float16", 32: "bfloat16"}.get(ft if isinstance(ft, int) else -1, "float16"),
    )


def _spec(headers: Sequence[GGUFHeader], name: str, source: str) -> ModelSpec:
    from ..inventory import count_parameters
    from .basic import bare_count

    stored = stored_from_gguf(headers)
    tensors = [t for h in headers for t in h.tensors]
    try:
        spec = spec_from_gguf(headers[0].metadata, tensors, name)
        count = count_parameters(spec).total if spec is not None else -1
    except Exception:  # a header that parses but describes no coherent model: the count is still exact
        spec, count = None, -1
    if spec is not None and 0 <= count <= stored.logical_parameters:
        if count < stored.logical_parameters:  # e.g. rope_freqs, extra projections the description lacks
            spec = replace(spec, extra=(("gguf:other", stored.logical_parameters - count),))
    else:
        spec = bare_count(stored.logical_parameters, name)
    return replace(spec, source=source, stored=stored)


def load_gguf(path: str | Path) -> ModelSpec:
    """A ModelSpec with ``stored`` from a GGUF file; all parts of a split file are read."""
    p = Path(path)
    files = split_files(p)
    headers = [read_gguf(f) for f in files]
    m = _SPLIT.match(p.name)
    return gguf_spec(headers, m.group("stem") if m else p.name.removesuffix(".gguf"), str(p))


def gguf_spec(headers: Sequence[GGUFHeader], stem: str, source: str) -> ModelSpec:
    """The ModelSpec of one GGUF model's headers (all parts of a split), named by ``general.name``."""
    meta = headers[0].metadata
    count = meta.get("split.count")
    if isinstance(count, int) and count != len(headers):
        raise FormatError(f"{headers[0].file}: split.count = {count} but {len(headers)} file(s) were found")
    name = meta.get("general.name")
    return _spec(headers, name if isinstance(name, str) and name else stem, source)


def load_gguf_folder(folder: Path) -> ModelSpec:
    """The one GGUF model in ``folder`` (a single file or the parts of one split)."""
    models = sorted({_SPLIT.sub(r"\g<stem>", f.name) for f in folder.glob("*.gguf")})
    if len(models) != 1:
        raise FormatError(f"{folder} holds {len(models)} GGUF models ({', '.join(models[:4])}); pass one file")
    first = sorted(folder.glob("*.gguf"))[0]
    return load_gguf(first)
