"""Read safetensors checkpoints from their headers only: exact counts and bytes, never tensor data.

A safetensors file is an 8-byte little-endian header length ``N``, ``N`` bytes of JSON
(``{"name": {"dtype", "shape", "data_offsets"}, "__metadata__": {...}}``) and the tensor bytes.
Headers are untrusted input: every length, offset, shape and dtype is checked against the file
size and the format's rules before anything is believed, and every failure is a ``FormatError``
that names the file, the value and the rule.

Pre-quantized checkpoints are recognised by their tensor names and dtypes (GPTQ / AWQ packed
int32, FP8 with ``weight_scale_inv``, bitsandbytes 4-bit and 8-bit, gpt-oss MXFP4 ``_blocks``) so
the *logical* parameter count is the unpacked one, not the count of int32 containers.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import FormatError, MemfitError, UnknownModelError, UnsupportedError
from ..spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, StoredWeights

__all__ = [
    "DTYPE_BITS",
    "MAX_HEADER_BYTES",
    "SafetensorsHeader",
    "TensorEntry",
    "load_safetensors",
    "parse_header",
    "read_header",
    "spec_from_tensor_shapes",
    "stored_weights",
    "weight_files",
]

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
MAX_INDEX_BYTES = 100_000_000
MAX_FILES = 100_000

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


# --- folders and index files ------------------------------------------------------------------

def _index_files(index_path: Path) -> list[str]:
    try:
        size = index_path.stat().st_size
        if size > MAX_INDEX_BYTES:
            raise FormatError(f"{index_path} is {size:,} bytes; an index is at most {MAX_INDEX_BYTES:,}")
        text = index_path.read_bytes()
    except OSError as e:
        raise FormatError(f"cannot read {index_path}: {e.strerror or e}") from None
    return index_shards(text, str(index_path))


def index_shards(text: bytes, where: str) -> list[str]:
    """The shard file names of a ``model.safetensors.index.json``, validated (plain names only)."""
    try:
        obj = json.loads(text.decode("utf-8"), object_pairs_hook=_no_duplicates(where))
    except FormatError:
        raise
    except (ValueError, RecursionError) as e:
        raise FormatError(f"{where} is not valid JSON ({str(e)[:120]})") from None
    wm = obj.get("weight_map") if isinstance(obj, dict) else None
    if not isinstance(wm, dict) or not all(isinstance(v, str) for v in wm.values()):
        raise FormatError(f"{where} has no 'weight_map' object of tensor name → file name")
    files = sorted(set(wm.values()))
    if len(files) > MAX_FILES:
        raise FormatError(f"{where} names {len(files):,} shard files; at most {MAX_FILES:,} are allowed")
    for name in files:
        if not name.endswith(".safetensors") or "/" in name or "\\" in name or name.startswith("."):
            raise FormatError(f"{where} names shard {_short(name)}; shards must be plain *.safetensors file names "
                              "in the same folder")
    return files


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files of a checkpoint folder: from ``model.safetensors.index.json`` or ``*.safetensors``."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        files = [folder / name for name in _index_files(index)]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            raise FormatError(f"{index} lists shard(s) {', '.join(missing[:3])} that are not in {folder}")
        return files
    return sorted(folder.glob("*.safetensors"))


# --- quantized layouts ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Analysis:
    logical: int
    host_only: int  # bytes parsed to host objects, not held on the device
    methods: tuple[str, ...]


_FP8 = ("F8_E4M3", "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ")
_QUANT_METHOD_NAMES = {"gptq": "gptq", "awq": "awq", "fp8": "fp8", "bitsandbytes": "bitsandbytes", "mxfp4": "mxfp4",
                       "compressed-tensors": "compressed-tensors", "fbgemm_fp8": "fp8"}


def _config_bits(qcfg: Mapping[str, Any]) -> int | None:
    bits = qcfg.get("bits", qcfg.get("w_bit"))
    return bits if _is_int(bits) and bits in (2, 3, 4, 8) else None


def _compressed_bits(qcfg: Mapping[str, Any]) -> int | None:
    groups = qcfg.get("config_groups")
    if isinstance(groups, Mapping):
        for group in groups.values():
            weights = group.get("weights") if isinstance(group, Mapping) else None
            bits = weights.get("num_bits") if isinstance(weights, Mapping) else None
            if _is_int(bits) and bits in (2, 4, 8):
                return int(bits)
    return None


def _analyze(tensors: Sequence[TensorEntry], qcfg: Mapping[str, Any]) -> _Analysis:
    by_name = {t.name: t for t in tensors}
    has_fp8 = any(t.dtype in _FP8 for t in tensors)
    aux: set[str] = set()
    logical: dict[str, int] = {}
    methods: list[str] = []
    host_only = 0

    quant_states: dict[str, list[str]] = {}  # bitsandbytes: weight name -> its serialized quant_state blobs
    for name in by_name:
        if ".quant_state." in name:
            quant_states.setdefault(name.split(".quant_state.", 1)[0], []).append(name)

    def add(method: str) -> None:
        if method not in methods:
            methods.append(method)

    for t in tensors:
        name = t.name
        if name.endswith(".qweight") and t.dtype in ("I32", "U32") and len(t.shape) == 2:
            base = name[: -len(".qweight")]
            scales, qzeros = by_name.get(base + ".scales"), by_name.get(base + ".qzeros")
            bits = _config_bits(qcfg)
            if bits is None and scales is not None and qzeros is not None and len(scales.shape) == 2 \
                    and len(qzeros.shape) == 2 and scales.shape[1]:
                ratio = 32 * qzeros.shape[1] / scales.shape[1]
                bits = int(ratio) if ratio in (2, 3, 4, 8) else None
            bits = bits or 4
            logical[name] = t.numel * 32 // bits
            gptq = scales is not None and len(scales.shape) == 2 and scales.shape[1] == t.shape[1]
            method = str(qcfg.get("quant_method") or ("gptq" if gptq else "awq"))
            add(f"{method}-{bits}bit")
            aux.update(base + s for s in (".qzeros", ".scales", ".g_idx"))
        elif name.endswith(".weight_scale_inv"):
            aux.add(name)
            add("fp8-block")
        elif name.endswith("_blocks") and t.dtype == "U8" and name[: -len("_blocks")] + "_scales" in by_name:
            logical[name] = t.numel * 2  # two FP4 (E2M1) values per byte
            aux.add(name[: -len("_blocks")] + "_scales")
            add("mxfp4")
        elif name.endswith(".weight.absmax") and getattr(by_name.get(name[:-7]), "dtype", None) == "U8":
            weight = name[: -len(".absmax")]
            logical[weight] = by_name[weight].numel * 2  # two 4-bit codes per byte
            aux.update(weight + s for s in (".absmax", ".quant_map", ".nested_absmax", ".nested_quant_map"))
            kind = "4bit"
            for other in quant_states.get(weight, ()):
                aux.add(other)
                host_only += by_name[other].nbytes
                kind = other.rsplit("__", 1)[-1] if "__" in other else kind
            add(f"bitsandbytes-{kind}")
        elif name.endswith(".SCB"):
            base = name[: -len(".SCB")]
            aux.update((name, base + ".weight_format"))
            add("bitsandbytes-int8")
        elif name.endswith(".weight_packed") and t.dtype in ("I32", "U32"):  # compressed-tensors pack-quantized
            base = name[: -len(".weight_packed")]
            bits = _compressed_bits(qcfg) or 4
            logical[name] = t.numel * 32 // bits
            aux.update(base + s for s in (".weight_scale", ".weight_shape", ".weight_zero_point", ".weight_g_idx"))
            add(f"compressed-tensors-{bits}bit")
        elif name.endswith(".weight") and t.dtype == "U8" and name + "_scale_2" in by_name:
            # NVFP4 (ModelOpt): two FP4 (E2M1) values per byte, an FP8 scale per 16, an fp32 global scale
            logical[name] = t.numel * 2
            aux.update((name + "_scale", name + "_scale_2", name[: -len(".weight")] + ".input_scale"))
            add("nvfp4")
        elif has_fp8 and name.rsplit(".", 1)[-1] in ("weight_scale", "input_scale", "output_scale", "k_scale",
                                                     "v_scale"):
            aux.add(name)
        elif t.dtype in _FP8:
            add("fp8")
    if "fp8-block" in methods and "fp8" in methods:
        methods.remove("fp8")
    total = sum(0 if t.name in aux else logical.get(t.name, t.numel) for t in tensors)
    return _Analysis(total, host_only, tuple(methods))


def stored_weights(headers: Sequence[SafetensorsHeader], config: Mapping[str, Any] | None = None,
                   files: Iterable[str] | None = None) -> StoredWeights:
    """Sum the headers of one checkpoint into ``StoredWeights`` (duplicate names across shards rejected).

    ``loaded_bytes`` is what a runtime that runs the stored format natively holds on the device:
    the stored bytes minus serialized metadata that is parsed into host objects (bitsandbytes
    ``quant_state`` blobs). Packed formats (GPTQ, AWQ, FP8, bitsandbytes, MXFP4) stay packed.
    """
    seen: dict[str, str] = {}
    tensors: list[TensorEntry] = []
    for h in headers:
        for t in h.tensors:
            if t.name in seen:
                raise FormatError(f"tensor {_short(t.name)} is in both {seen[t.name]} and {h.file}; "
                                  "a checkpoint names each tensor once")
            seen[t.name] = h.file
            tensors.append(t)
    qcfg_raw = (config or {}).get("quantization_config")
    qcfg: Mapping[str, Any] = qcfg_raw if isinstance(qcfg_raw, Mapping) else {}
    analysis = _analyze(tensors, qcfg)
    by_dtype: dict[str, list[int]] = {}
    for t in tensors:
        acc = by_dtype.setdefault(t.dtype, [0, 0])
        acc[0] += t.numel
        acc[1] += t.nbytes
    stored = sum(t.nbytes for t in tensors)
    quant = "+".join(analysis.methods) or None
    method = qcfg.get("quant_method")
    if quant is None and isinstance(method, str) and method:
        quant = _QUANT_METHOD_NAMES.get(method, method)
    return StoredWeights(
        container="safetensors",
        stored_bytes=stored,
        loaded_bytes=stored - analysis.host_only,
        logical_parameters=analysis.logical,
        tensors=len(tensors),
        bytes_by_dtype=tuple(sorted(((d, e, b) for d, (e, b) in by_dtype.items()), key=lambda r: (-r[2], r[0]))),
        quantization=quant,
        files=tuple(files) if files is not None else tuple(h.file for h in headers),
        header_bytes_read=sum(h.bytes_read for h in headers),
    )


# --- a model description from tensor names ----------------------------------------------------

_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def spec_from_tensor_shapes(shapes: Mapping[str, tuple[int, ...]], name: str, logical: int,
                            dtype: str = "bfloat16") -> ModelSpec | None:
    """A llama-style ``ModelSpec`` from tensor names and shapes (no config.json), or None.

    Only returned when its parameter count equals ``logical`` exactly; head_dim is not in the
    shapes, so it is read from ``q_norm`` when present and otherwise assumed 128 (or the largest
    power of two ≤ 128 dividing the q and k rows), which
    changes neither the parameter count nor the KV cache size (both use heads × head_dim).
    """
    try:
        return _spec_from_shapes(shapes, name, logical, dtype)
    except Exception:  # shapes that parse but describe no coherent model
        return None


def _spec_from_shapes(shapes: Mapping[str, tuple[int, ...]], name: str, logical: int,
                      dtype: str) -> ModelSpec | None:
    from ..inventory import count_parameters

    emb = shapes.get("model.embed_tokens.weight")
    if emb is None or len(emb) != 2:
        return None
    vocab, h = emb
    layers: dict[int, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        m = _LAYER.match(key)
        if m:
            layers.setdefault(int(m.group(1)), {})[m.group(2)] = shape
    if not layers or sorted(layers) != list(range(len(layers))):
        return None
    built: list[LayerSpec] = []
    for i in range(len(layers)):
        t = layers[i]
        q, k, v = (t.get(f"self_attn.{p}_proj.weight") for p in "qkv")
        up, down = t.get("mlp.up_proj.weight"), t.get("mlp.down_proj.weight")
        if q is None or k is None or v is None or up is None or down is None or len(q) != 2 or len(k) != 2:
            return None
        qn = t.get("self_attn.q_norm.weight")
        common = math.gcd(q[0], k[0])
        hd = qn[0] if qn is not None and len(qn) == 1 and qn[0] else next(
            (d for d in (128, 64, 32, 16, 8) if common % d == 0), common)
        if q[0] % hd or k[0] % hd or not q[0] or not k[0]:
            return None
        norms = sum(1 for key, s in t.items() if "norm" in key and "self_attn" not in key and key.endswith(".weight")
                    and s == (h,))
        attn = AttentionSpec(q[0] // hd, k[0] // hd, hd, qkv_bias="self_attn.q_proj.bias" in t,
                             o_bias="self_attn.o_proj.bias" in t, qk_norm="head" if qn is not None else "none")
        mlp = MLPSpec(up[0], "gated" if "mlp.gate_proj.weight" in t else "plain", "mlp.up_proj.bias" in t)
        built.append(LayerSpec("attention", attn, mlp=mlp, norms=norms))
    norm_bias = any(key.endswith("norm.bias") for key in shapes)
    spec = ModelSpec(name=name, family="llama", hidden_size=h, vocab_size=vocab, layers=tuple(built),
                     tie_word_embeddings="lm_head.weight" not in shapes, norm="layernorm" if norm_bias else "rms",
                     final_norm="model.norm.weight" in shapes, lm_head_bias="lm_head.bias" in shapes, dtype=dtype)
    return spec if count_parameters(spec).total == logical else None


_TORCH_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32", "F64": "float64"}


def spec_with_stored(headers: Sequence[SafetensorsHeader], config: Mapping[str, Any] | None, name: str,
                     source: str, files: Iterable[str] | None = None) -> ModelSpec:
    """The ModelSpec of a checkpoint: from ``config`` when given and supported, else from tensor names,
    else a bare count; ``stored`` always attached."""
    from .basic import bare_count
    from .hf_config import spec_from_config

    stored = stored_weights(headers, config, files)
    if config is not None:
        try:
            return replace(spec_from_config(config, name), source=source, stored=stored)
        except (UnknownModelError, UnsupportedError):
            pass  # a family memfit cannot describe: fall back to what the headers say (a ConfigError propagates)
    float_dtypes = [(b, d) for d, _, b in stored.bytes_by_dtype if d in _TORCH_DTYPES]
    dtype = _TORCH_DTYPES[max(float_dtypes)[1]] if float_dtypes else "float16"
    shapes = {t.name: t.shape for h in headers for t in h.tensors}
    spec = None if stored.quantization else spec_from_tensor_shapes(shapes, name, stored.logical_parameters, dtype)
    if spec is None:
        spec = replace(bare_count(stored.logical_parameters, name), dtype=dtype)
    return replace(spec, source=source, stored=stored)


def _read_config(folder: Path) -> dict[str, Any] | None:
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        return None
    from .basic import load_config_file
    return load_config_file(cfg_path)


def load_safetensors(path: str | Path) -> ModelSpec:
    """A ModelSpec with ``stored`` from a .safetensors file or a folder of them (headers only).

    A ``config.json`` beside the weights describes the architecture; without one the description
    comes from llama-style tensor names, or is a bare parameter count.
    """
    p = Path(path)
    if p.is_dir():
        files = weight_files(p)
        if not files:
            raise FormatError(f"{p} holds no *.safetensors files and no model.safetensors.index.json")
        folder, name = p, p.name
    else:
        files, folder, name = [p], p.parent, p.name.removesuffix(".safetensors")
    headers = [read_header(f) for f in files]
    config = _read_config(folder)
    return spec_with_stored(headers, config, name, str(p), [f.name for f in files])
