"""Weight storage formats: dense dtypes, scaled int/fp8, bitsandbytes, GPTQ/AWQ, MX/NV FP4 and GGUF.

The facts (element widths, block sizes, bytes per block, scale layouts, which tensors a format
quantizes, llama.cpp file types) are data: ``data/formats.toml`` and ``data/gguf_mixtures.toml``,
each row with its source. The rules are code, here:

* ``quantized_tensor_bytes(fmt, shape)``: exact bytes of one weight tensor stored in a
  Hugging Face-side format (codes + scales + zeros + code tables, ceil where blocks do not fill);
* ``tensor_role(t)``: what a tensor is to a quantizer (``linear``, ``experts``, ``embedding``,
  ``lm_head``, ``router``, ``vector`` …), which decides whether a format quantizes it;
* ``gguf_tensor_types(spec, fmt)``: the ggml type llama.cpp's ``llama-quantize`` gives every tensor
  for a mixture (Q4_K_M …), after ``src/llama-quant.cpp`` (``tensor_allows_quantization``,
  ``llama_tensor_get_type_impl``, ``tensor_type_fallback``).

``get_format(name)`` resolves any accepted spelling, case-insensitively, and raises ConfigError
with close matches otherwise; ``list_formats()`` lists them all (``memfit formats``).
"""

from __future__ import annotations

import difflib
import importlib.resources
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import cache
from typing import Any, Literal

from .errors import ConfigError
from .inventory import Tensor, inventory
from .spec import ModelSpec

__all__ = [
    "BNB_QUANT_FORMATS",
    "COMPUTE_DTYPE_BYTES",
    "KEPT_BYTES",
    "KEPT_LABEL",
    "Format",
    "GGMLType",
    "bnb_format",
    "compute_dtype",
    "format_from_quantization_config",
    "format_names",
    "get_format",
    "ggml_type",
    "ggml_types",
    "gguf_tensor_types",
    "gguf_types",
    "list_formats",
    "quantized_tensor_bytes",
    "quantizes",
    "tensor_role",
]

FormatKind = Literal["dense", "scaled", "bnb4", "gptq", "awq", "microscaled", "gguf"]
Role = Literal["linear", "experts", "embedding", "lm_head", "router", "vector", "vision", "other"]

KEPT_BYTES = 2  # tensors a quantization format leaves alone stay in the 16-bit compute dtype (bf16/fp16)
KEPT_LABEL = "16-bit"


@dataclass(frozen=True)
class GGMLType:
    """One ggml tensor type: ``block`` elements stored in ``bytes`` bytes (``F16``: 1 element, 2 bytes)."""

    name: str
    id: int
    block: int
    bytes: int
    quantized: bool = True
    intermediate: bool = False  # Q8_1, Q8_K: used for activations in dot products, not for stored weights
    source: str = ""

    @property
    def bits(self) -> float:
        """Bits per weight, exact: ``bytes · 8 / block``."""
        return self.bytes * 8 / self.block

    def row_bytes(self, ncols: int) -> int:
        """``ggml_row_size``: bytes of one row of ``ncols`` elements; the row must fill whole blocks."""
        if ncols % self.block:
            raise ConfigError(f"a row of {ncols} elements is not a multiple of {self.name}'s block of {self.block}; "
                              f"llama.cpp stores such a tensor in another type (see gguf_tensor_types)")
        return ncols // self.block * self.bytes

    def tensor_bytes(self, shape: tuple[int, ...]) -> int:
        """Bytes of a tensor of PyTorch ``shape`` (the last dimension is ggml's row, ``ne[0]``)."""
        if not shape:
            return self.row_bytes(1)
        return math.prod(shape[:-1]) * self.row_bytes(shape[-1])


@dataclass(frozen=True)
class Format:
    """A way to store weights. ``bits`` is the nominal bits per quantized weight (exact for dense
    types and GGUF types); ``quantizes`` the tensor roles stored in the format, the rest staying
    16-bit. GGUF mixtures (``kind == "gguf"``) pick a type per tensor (``gguf_tensor_types``)."""

    name: str
    kind: FormatKind
    bits: float
    label: str
    description: str = ""
    source: str = ""
    aliases: tuple[str, ...] = ()
    element_bits: int = 0
    scale: str = ""  # scaled: tensor | row | block2d
    block: int = 0  # block / group size (bnb4, microscaled, block2d, gptq/awq group; -1: one group per row)
    scale_bytes: int = 0
    tensor_scale_bytes: int = 0
    double_quant: bool = False
    dq_block: int = 0
    dq_code_entries: int = 0
    code_entries: int = 0
    quantizes: tuple[str, ...] = ()
    # GGUF
    ftype: str | None = None  # llama.cpp file type (mixture) name, e.g. Q4_K_M
    ftype_id: int | None = None
    default_type: str | None = None
    pure: bool = False  # llama-quantize --pure: one type for every quantizable tensor
    typical_bits: float | None = None  # published average bpw (Llama-3.1-8B), for bare parameter counts

    @property
    def bytes_per_param(self) -> float:
        """Nominal bytes per weight (``bits / 8``); exact for dense types."""
        return self.bits / 8

    @property
    def is_dense(self) -> bool:
        return self.kind == "dense"

    @property
    def is_gguf(self) -> bool:
        return self.kind == "gguf"

    @property
    def nominal_bits(self) -> float:
        """Bits per weight for a bare parameter count: the published mixture average where there is one."""
        return self.typical_bits if self.typical_bits is not None else self.bits

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "kind": self.kind, "bits": self.bits, "label": self.label,
                               "aliases": list(self.aliases), "description": self.description,
                               "source": self.source}
        if self.quantizes:
            out["quantizes"] = list(self.quantizes)
        if self.kind == "gguf":
            out.update(ftype=self.ftype, ftype_id=self.ftype_id, default_type=self.default_type, pure=self.pure,
                       typical_bits=self.typical_bits)
        elif self.block:
            out["block"] = self.block
        return out


# ----------------------------------------------------------------------------------------------
# data


def _load_toml(name: str) -> dict[str, Any]:
    text = importlib.resources.files("memfit").joinpath("data", name).read_text(encoding="utf-8")
    return tomllib.loads(text)


@cache
def ggml_types() -> dict[str, GGMLType]:
    """Every ggml tensor type by name (``Q4_K`` …), from ``data/formats.toml``."""
    out: dict[str, GGMLType] = {}
    for row in _load_toml("formats.toml")["ggml_type"]:
        t = GGMLType(name=str(row["name"]), id=int(row["id"]), block=int(row["block"]), bytes=int(row["bytes"]),
                     quantized=bool(row.get("quantized", True)), intermediate=bool(row.get("intermediate", False)),
                     source=str(row["source"]))
        out[t.name] = t
    return out


def gguf_types() -> dict[int, tuple[str, int, int]]:
    """ggml type id → (name, elements per block, bytes per block), for reading GGUF tensor infos."""
    return {t.id: (t.name, t.block, t.bytes) for t in ggml_types().values()}


def ggml_type(name: str) -> GGMLType:
    """A ggml type by name, case-insensitive (``q4_k`` → ``Q4_K``)."""
    t = ggml_types().get(name.upper())
    if t is None:
        close = difflib.get_close_matches(name.upper(), list(ggml_types()), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ConfigError(f"unknown ggml type {name!r}{hint} Known types: {', '.join(ggml_types())}")
    return t


def _format_from_row(row: dict[str, Any]) -> Format:
    return Format(
        name=str(row["name"]), kind=row["kind"], bits=float(row["bits"]), label=str(row["label"]),
        description=str(row.get("description", "")), source=str(row["source"]),
        aliases=tuple(str(a) for a in row.get("aliases", ())), element_bits=int(row.get("element_bits", 0)),
        scale=str(row.get("scale", "")), block=int(row.get("block", 0)), scale_bytes=int(row.get("scale_bytes", 0)),
        tensor_scale_bytes=int(row.get("tensor_scale_bytes", 0)), double_quant=bool(row.get("double_quant", False)),
        dq_block=int(row.get("dq_block", 0)), dq_code_entries=int(row.get("dq_code_entries", 0)),
        code_entries=int(row.get("code_entries", 0)), quantizes=tuple(str(q) for q in row.get("quantizes", ())),
    )


@cache
def _registry() -> tuple[dict[str, Format], dict[str, str]]:
    """(canonical name → Format, lower-case spelling → canonical name). Hugging Face-side formats
    take a name first; a llama.cpp file type whose name is taken (F16, NVFP4 …) is reached by its
    ``gguf-`` alias; every quantized ggml type is also reachable pure as ``<type>-pure``."""
    formats: dict[str, Format] = {}
    names: dict[str, str] = {}

    def add(fmt: Format) -> None:
        formats[fmt.name] = fmt
        for spelling in (fmt.name, *fmt.aliases):
            names.setdefault(spelling.lower(), fmt.name)

    for row in _load_toml("formats.toml")["format"]:
        add(_format_from_row(row))
    types = ggml_types()
    for row in _load_toml("gguf_mixtures.toml")["ftype"]:
        ftype, default = str(row["name"]), str(row["default_type"])
        aliases = [str(a) for a in row.get("aliases", ())]
        canonical = ftype.lower() if ftype.lower() not in names else (aliases[0].lower() if aliases else
                                                                       f"gguf-{ftype.lower()}")
        typical = row.get("typical_bpw")
        add(Format(name=canonical, kind="gguf", bits=types[default].bits, label=ftype,
                   description=f"llama.cpp {ftype} mixture ({default} by default, per-tensor rules)",
                   source=str(row["source"]),
                   aliases=tuple(a for a in [ftype, *aliases] if a.lower() != canonical and a.lower() not in names),
                   ftype=ftype, ftype_id=int(row["id"]), default_type=default,
                   typical_bits=float(typical) if typical is not None else None))
    for t in types.values():
        if not t.quantized:
            continue
        pure = f"{t.name.lower()}-pure"
        bare_name: tuple[str, ...] = (t.name,) if t.name.lower() not in names else ()
        note = " (an intermediate type: llama.cpp uses it for activations, not weights)" if t.intermediate else ""
        add(Format(name=pure, kind="gguf", bits=t.bits, label=t.name,
                   description=f"every quantizable tensor in {t.name} (llama-quantize --pure){note}",
                   source=t.source, aliases=bare_name, default_type=t.name, pure=True))
    return formats, names


# Workload.quant (bitsandbytes on-the-fly quantization, QLoRA) → format name: there "int8" means LLM.int8.
BNB_QUANT_FORMATS = {"nf4": "nf4", "nf4-dq": "nf4-dq", "fp4": "fp4", "fp4-dq": "fp4-dq", "int8": "bnb-int8"}


def bnb_format(quant: str) -> Format:
    """The bitsandbytes format for a ``Workload.quant`` value (``nf4``, ``nf4-dq``, ``fp4``, ``fp4-dq``,
    ``int8`` = LLM.int8): only nn.Linear weights in the blocks are quantized."""
    name = BNB_QUANT_FORMATS.get(quant.strip().lower())
    if name is None:
        raise ConfigError(f"quant = {quant!r} is not a bitsandbytes quantization; use one of "
                          f"{', '.join(BNB_QUANT_FORMATS)}")
    return get_format(name)


def _qc_int(qc: Mapping[str, Any], keys: tuple[str, ...], default: int) -> int:
    """An integer field of a ``quantization_config`` (the first of its spellings), checked."""
    for key in keys:
        value = qc.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"config.json quantization_config field {key!r} = {value!r} must be an integer "
                              f"(e.g. {default})")
        return value
    return default


def format_from_quantization_config(qc: Mapping[str, Any] | None) -> str | None:
    """The memfit format name for a config.json ``quantization_config`` (None when there is none or
    memfit has no matching format): fp8 (DeepSeek ``weight_block_size [128, 128]`` → ``fp8-block``),
    mxfp4, gptq/awq with their bits and group size, bitsandbytes 4/8-bit, modelopt FP8/NVFP4."""
    if not qc:
        return None
    method = str(qc.get("quant_method", "")).lower()
    if method == "fp8":
        block = qc.get("weight_block_size")
        if block is not None:
            return "fp8-block" if isinstance(block, list | tuple) and list(block) == [128, 128] else None
        return "fp8-e5m2" if str(qc.get("fmt", "e4m3")).lower() == "e5m2" else "fp8"
    if method == "mxfp4":
        return "mxfp4"
    if method in ("gptq", "awq"):
        bits = _qc_int(qc, ("bits", "w_bit"), 4)
        group = _qc_int(qc, ("group_size", "q_group_size"), 128)
        return f"{method}-{bits}bit-g{group}"
    if method == "bitsandbytes":
        if qc.get("load_in_8bit"):
            return "bnb-int8"
        if qc.get("load_in_4bit"):
            kind = str(qc.get("bnb_4bit_quant_type", "fp4")).lower()
            return f"{kind}-dq" if qc.get("bnb_4bit_use_double_quant") else kind
        return None
    if method == "modelopt":
        algo = str(qc.get("quant_algo", "")).upper()
        return {"FP8": "fp8", "NVFP4": "nvfp4"}.get(algo)
    from .quant_detect import other_quantization

    return other_quantization(method, qc)


def list_formats() -> list[Format]:
    """Every named format (dense, quantized, GGUF mixtures, pure GGUF types), in data order."""
    return list(_registry()[0].values())


def format_names() -> list[str]:
    """Every accepted spelling, lower case."""
    return sorted(_registry()[1])


_QUANT_SPELLING = re.compile(r"^(gptq|awq)(?:[-_]?(\d+)[-_]?bits?)?(?:[-_]?g(?:roup)?(-1|[-_]?\d+))?$")
_GPTQ_BITS = (2, 3, 4, 8)  # AutoGPTQ QuantLinear: bits in [2, 3, 4, 8]
_AWQ_BITS = (4,)  # AutoAWQ WQLinear_GEMM: only 4-bit


COMPUTE_DTYPE_BYTES: dict[str, int] = {"float32": 4, "float16": 2, "bfloat16": 2}


def compute_dtype(name: str) -> str | None:
    """The PyTorch compute dtype a precision name spells (``float32``, ``float16`` or ``bfloat16``, from any
    accepted spelling: fp16, bf16, half, torch.float32 …), or None for a storage format (nf4, q4_k_m …)."""
    key = name.strip().lower().removeprefix("torch.")
    try:
        canonical = get_format(key).name
    except ConfigError:
        return None
    return canonical if canonical in COMPUTE_DTYPE_BYTES else None


@cache
def get_format(name: str) -> Format:
    """Resolve a format name, case-insensitively: ``fp16``, ``bfloat16``, ``fp8-block``, ``nf4-dq``,
    ``gptq-4bit-g32``, ``awq``, ``mxfp4``, ``Q4_K_M``, ``q8_0``, ``iq4_xs``, ``q4_k-pure`` …

    An unknown name raises ConfigError naming the close matches and ``memfit formats``.
    """
    formats, names = _registry()
    key = name.strip().lower()
    if key.startswith("gguf:"):  # StoredWeights.quantization spelling, e.g. gguf:Q4_K_M
        key = f"gguf-{key[5:]}" if f"gguf-{key[5:]}" in names else key[5:]
    if key in names:
        return formats[names[key]]
    m = _QUANT_SPELLING.match(key)
    if m:
        return _grouped_format(formats[m.group(1)], name, m.group(2), m.group(3))
    close = difflib.get_close_matches(key, list(names), n=4, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise ConfigError(f"unknown weight format {name!r}: {hint}run `memfit formats` for every accepted name "
                      "(fp32, fp16, bf16, fp8, int8, int4, nf4, nf4-dq, gptq, awq, mxfp4, q4_k_m, q8_0 …)")


def _grouped_format(base: Format, spelled: str, bits_text: str | None, group_text: str | None) -> Format:
    bits = int(bits_text) if bits_text else base.element_bits
    group = (-1 if group_text == "-1" else int(group_text.lstrip("-_"))) if group_text else base.block
    allowed = _GPTQ_BITS if base.kind == "gptq" else _AWQ_BITS
    if bits not in allowed:
        raise ConfigError(f"{spelled!r}: {base.kind.upper()} stores {', '.join(map(str, allowed))}-bit weights, "
                          f"not {bits}-bit")
    if group == 0 or group < -1:
        raise ConfigError(f"{spelled!r}: the group size must be a positive number of input features or -1 "
                          "(one group per row)")
    per_group = 16 + bits  # fp16 scale + packed zero per group and output feature
    nominal = bits + (per_group / group if group > 0 else 0.0)
    suffix = f"-{bits}bit-g{group}"
    return replace(base, name=f"{base.kind}{suffix}", bits=nominal, element_bits=bits, block=group, aliases=(),
                   description=f"{base.kind.upper()} {bits}-bit, group {group if group > 0 else 'per row'}")


# ----------------------------------------------------------------------------------------------
# tensor roles and per-tensor bytes (Hugging Face-side formats)

_NOT_LINEAR = {"ssm_a", "ssm_d", "ssm_conv1d", "attn_sinks", "ffn_gate_inp", "ffn_gate_inp_shexp", "exp_probs_b"}


def tensor_role(t: Tensor) -> Role:
    """What a quantizer sees: ``linear`` (a 2-D weight of a projection inside a block), ``experts``
    (fused 3-D MoE weights), ``embedding``, ``lm_head``, ``router``, ``vector`` (norms, biases,
    1-D parameters), ``vision`` (the vision tower, counted as one tensor) or ``other``."""
    if t.group == "vision":
        return "vision"
    if t.is_bias or len(t.shape) < 2 or "norm" in t.kind:
        return "vector"
    if t.kind in ("token_embd", "pos_embd"):
        return "embedding"
    if t.kind == "output":
        return "lm_head"
    if t.kind in ("ffn_gate_inp", "ffn_gate_inp_shexp"):
        return "router"
    if t.kind.endswith("_exps") and len(t.shape) == 3:
        return "experts"
    if t.layer is not None and len(t.shape) == 2 and t.kind not in _NOT_LINEAR:
        return "linear"
    return "other"


def quantizes(fmt: Format, role: Role, moe: bool) -> bool:
    """Whether ``fmt`` stores a tensor of ``role`` quantized. MXFP4 quantizes MoE experts only
    (gpt-oss); on a model without experts it falls back to the block linears."""
    if fmt.kind == "dense":
        return True
    if fmt.kind == "microscaled" and fmt.quantizes == ("experts",) and not moe:
        return role == "linear"
    return role in fmt.quantizes


def _matrices(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(count, out, in) for a weight of PyTorch shape (out, in) or fused experts (e, out, in)."""
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    n = math.prod(shape[:-1])
    return 1, n, shape[-1]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def quantized_tensor_bytes(fmt: Format, shape: tuple[int, ...]) -> int:
    """Exact bytes of one weight tensor of PyTorch ``shape`` ((out, in), or (experts, out, in),
    each expert quantized on its own) stored in ``fmt``: codes, scales, zeros and code tables.

    * dense: numel × bytes;
    * scaled ``none``: numel·b/8 (codes only); ``tensor``: numel·b/8 + 4 per matrix; ``row``: out·ceil(in·b/8) + 4·out;
      ``block2d`` (DeepSeek fp8): numel + 4·ceil(out/128)·ceil(in/128);
    * bnb4 (block 64, on the flattened tensor): ceil(numel/2) codes + 4·ceil(numel/64) absmax
      + 16·4 code; with double quantization ceil(numel/64) uint8 absmax + 4·ceil(blocks/256)
      + 4 (offset) + 256·4 (nested code) + 16·4;
    * GPTQ: qweight 4·ceil(in·b/32)·out + qzeros 4·G·ceil(out·b/32) + scales 2·G·out + g_idx 4·in,
      G = ceil(in/g); AWQ: the same without g_idx;
    * microscaled (MXFP4, NVFP4): out·ceil(in/block)·(block·4/8 + scale) + per-matrix scale.
    """
    numel = math.prod(shape)
    if fmt.kind == "dense":
        return numel * int(fmt.bits) // 8
    if fmt.kind == "gguf":
        return ggml_type(fmt.default_type or "").tensor_bytes(shape)
    if fmt.kind == "bnb4":
        blocks = _ceil(numel, fmt.block)
        codes = _ceil(numel * fmt.element_bits, 8)
        if not fmt.double_quant:
            return codes + 4 * blocks + 4 * fmt.code_entries
        return (codes + blocks + 4 * _ceil(blocks, fmt.dq_block) + 4 + 4 * fmt.dq_code_entries
                + 4 * fmt.code_entries)
    count, out, inp = _matrices(shape)
    b = fmt.element_bits
    if fmt.kind == "scaled":
        if fmt.scale == "none":  # the rule of thumb: codes only
            per = _ceil(out * inp * b, 8)
        elif fmt.scale == "tensor":
            per = _ceil(out * inp * b, 8) + 4
        elif fmt.scale == "row":
            per = out * _ceil(inp * b, 8) + 4 * out
        elif fmt.scale == "block2d":
            per = _ceil(out * inp * b, 8) + 4 * _ceil(out, fmt.block) * _ceil(inp, fmt.block)
        else:
            raise ConfigError(f"format {fmt.name}: unknown scale layout {fmt.scale!r}")
        return count * per
    if fmt.kind in ("gptq", "awq"):
        groups = _ceil(inp, fmt.block) if fmt.block > 0 else 1
        qweight = 4 * _ceil(inp * b, 32) * out
        qzeros = 4 * groups * _ceil(out * b, 32)
        scales = 2 * groups * out
        g_idx = 4 * inp if fmt.kind == "gptq" else 0
        return count * (qweight + qzeros + scales + g_idx)
    if fmt.kind == "microscaled":
        blocks = _ceil(inp, fmt.block)
        per = out * blocks * (fmt.block * b // 8 + fmt.scale_bytes) + fmt.tensor_scale_bytes
        return count * per
    raise ConfigError(f"format {fmt.name}: unknown kind {fmt.kind!r}")


# ----------------------------------------------------------------------------------------------
# GGUF: llama.cpp's per-tensor type rules (src/llama-quant.cpp)

_IQ_LOW = {"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"}  # the 1-2 bit IQ mixtures
_OUTPUT_Q5K = _IQ_LOW | {"IQ3_XXS"}  # their output.weight gets Q5_K
# tensor_type_fallback: a row that is not a multiple of the block goes to a 32-block type
_FALLBACK = {**{t: "IQ4_NL" for t in ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_XS")},
             **{t: "Q4_0" for t in ("Q2_0", "Q2_K", "Q3_K", "TQ1_0", "TQ2_0")},
             "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
_SEVENTY_B_FAMILIES = {"llama", "mistral", "qwen2"}  # archs whose 80-layer model llama.cpp calls LLM_TYPE_70B
# tensor_requires_imatrix: llama-quantize refuses these mixtures without an importance matrix, so
# their rules run with has_imatrix; every other mixture is assumed made without one.
_NEEDS_IMATRIX = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "Q2_K_S"}


def _allows_quantization(t: Tensor) -> bool:
    """tensor_allows_quantization: 2-D and 3-D weights only; not norms, routers, position
    embeddings, convolutions, SSM A/D (names without ``.weight``), biases."""
    if t.is_bias or len(t.shape) < 2 or t.group in ("vision", "other"):
        return False
    if "norm" in t.kind:
        return False
    return t.kind not in ("ffn_gate_inp", "pos_embd", "ssm_conv1d", "ssm_a", "ssm_d", "attn_sinks")


def _unquantized_type(t: Tensor) -> str:
    """The type a tensor llama-quantize leaves alone has in the converted file: convert_hf_to_gguf
    writes 1-D tensors, norms, routers, position embeddings and conv1d in F32; a vision tower ships
    as a separate F16 mmproj file."""
    return "F16" if t.group == "vision" else "F32"


def _category(kind: str) -> str:
    if kind in ("output", "token_embd", "attn_qkv", "attn_kv_b", "attn_v", "attn_k", "attn_q", "attn_output"):
        return kind
    for prefix in ("ffn_up", "ffn_gate", "ffn_down"):
        if kind.startswith(prefix):
            return prefix
    return "other"


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _fallback(t: Tensor, type_name: str) -> str:
    ncols = t.shape[-1]
    types = ggml_types()
    if ncols % types[type_name].block == 0:
        return type_name
    alt = _FALLBACK.get(type_name, "F16")
    return alt if ncols % types[alt].block == 0 else "F16"


@dataclass
class _GGUFState:
    ftype: str
    n_gqa: int
    n_expert: int
    n_layer: int
    is_70b: bool
    falcon: bool
    tied: bool
    n_attention_wv: int
    imatrix: bool = False
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0


def _gguf_state(spec: ModelSpec, fmt: Format, tensors: tuple[Tensor, ...]) -> _GGUFState:
    attn = spec.attention_layers
    n_gqa = attn[0].num_heads // attn[0].num_kv_heads if attn and attn[0].num_kv_heads else 0
    n_expert = next((layer.moe.num_experts for layer in spec.layers if layer.moe is not None), 0)
    is_70b = (spec.num_layers == 80 and spec.family in _SEVENTY_B_FAMILIES
              and (spec.family != "llama" or n_gqa > 1))
    return _GGUFState(
        ftype=fmt.ftype or "", n_gqa=n_gqa, n_expert=n_expert, n_layer=spec.num_layers, is_70b=is_70b,
        falcon=spec.family == "falcon", tied=not any(t.kind == "output" and not t.is_bias for t in tensors),
        n_attention_wv=sum(1 for t in tensors if not t.is_bias and t.kind in ("attn_v", "attn_qkv", "attn_kv_b")),
        imatrix=(fmt.ftype or "") in _NEEDS_IMATRIX,
    )


def _layer_of(s: _GGUFState, counter: int, t: Tensor) -> int:
    """llama.cpp's layer_info: MoE models read the layer from the tensor name, others count."""
    return t.layer if s.n_expert > 1 and t.layer is not None else counter


def _mixture_type(s: _GGUFState, t: Tensor, new: str) -> str:
    """llama_tensor_get_type_impl for one quantizable tensor; ``new`` is the mixture's default type."""
    f, cat = s.ftype, _category(t.kind)
    if cat == "output" or (s.tied and cat == "token_embd"):
        if f == "MXFP4_MOE" or s.falcon or t.shape[-1] % ggml_types()[new].block:
            return "Q8_0"
        if f in _OUTPUT_Q5K:
            return "Q5_K"
        return new if new == "Q8_0" else "Q6_K"
    if f == "MXFP4_MOE":
        return "MXFP4" if len(t.shape) == 3 and t.shape[0] > 1 else "Q8_0"
    if cat == "token_embd":
        if f in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
            return "Q2_K"
        if f in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
            return "IQ3_S"
        if f in ("TQ1_0", "TQ2_0", "Q2_0"):
            return "Q4_K"
        return new
    attn_v_like = cat in ("attn_v", "attn_qkv", "attn_kv_b")
    if f in _IQ_LOW:
        iq2_sm = f in ("IQ2_S", "IQ2_M")
        if attn_v_like:
            s.i_attention_wv += 1
            if s.n_gqa >= 4 or s.n_expert >= 4:
                return "Q4_K"
            return "IQ3_S" if iq2_sm else "Q2_K"
        if s.n_expert == 8 and cat == "attn_k":
            return "Q4_K"
        if cat == "ffn_down":
            i = s.i_ffn_down
            s.i_ffn_down += 1
            if i < s.n_layer // 8:
                return "IQ3_S" if iq2_sm else "Q2_K"
            return new
        if cat == "attn_output":
            if s.n_expert == 8:
                return "Q5_K"
            if f in ("IQ1_S", "IQ1_M"):
                return "IQ2_XXS"
            if iq2_sm:
                return "IQ3_S"
        return new
    if attn_v_like:
        i, n = s.i_attention_wv, s.n_attention_wv
        s.i_attention_wv += 1
        if f == "Q2_K":
            new = "Q4_K" if s.n_gqa >= 4 else "Q3_K"
        elif f == "Q2_K_S" and s.n_gqa >= 4:
            new = "Q4_K"
        elif f == "IQ3_XXS":
            new = "Q4_K" if s.n_gqa >= 4 else "IQ3_XXS" if s.imatrix else "IQ3_S"
        elif (f in ("IQ3_XS", "IQ3_S") and s.n_gqa >= 4) or f == "IQ3_M":
            new = "Q4_K"
        elif f == "Q3_K_M":
            new = "Q5_K" if i < 2 else "Q4_K"
        elif f == "Q3_K_L" or (f in ("IQ4_NL", "IQ4_XS") and s.n_gqa >= 4):
            new = "Q5_K"
        elif f in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n):
            new = "Q6_K"
        elif f == "Q4_K_S" and i < 4:
            new = "Q5_K"
        if s.is_70b and new in ("Q3_K", "Q4_K"):
            new = "Q5_K"
        if s.n_expert == 8:
            new = "Q8_0"
        return new
    if cat == "attn_k":
        if s.n_expert == 8:
            return "Q8_0"
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(f, new)
    if cat == "attn_q":
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(f, new)
    if cat == "ffn_down":
        i, n = _layer_of(s, s.i_ffn_down, t), s.n_layer
        s.i_ffn_down += 1
        return _ffn_down_type(s, f, new, i, n)
    if cat == "attn_output":
        if s.falcon:
            return "Q4_K" if f == "Q3_K_L" else new
        if s.n_expert == 8:
            bumped = {"Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M",
                      "IQ4_XS"}
            return "Q5_K" if f in bumped else new
        return {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}.get(f, new)
    if cat in ("ffn_gate", "ffn_up"):
        counter = s.i_ffn_gate if cat == "ffn_gate" else s.i_ffn_up
        i, n = _layer_of(s, counter, t), s.n_layer
        if cat == "ffn_gate":
            s.i_ffn_gate += 1
        else:
            s.i_ffn_up += 1
        if f == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
            return "IQ3_XXS"
    return new


def _ffn_down_type(s: _GGUFState, f: str, new: str, i: int, n: int) -> str:
    if f == "Q2_K":
        return "Q3_K"
    if f == "Q2_K_S":
        return "Q4_K" if i < n // 8 else new
    if f == "IQ3_XXS" and not s.imatrix:
        return "Q4_K" if i < n // 8 else "Q3_K"
    if f == "Q3_K_M":
        if i < n // 16:
            return "Q5_K"
        return "Q4_K" if not s.falcon or _use_more_bits(i, n) else "Q3_K"
    if f == "IQ3_M" and (i < n // 8 or (s.n_expert == 8 and _use_more_bits(i, n))):
        return "Q4_K"
    if f == "Q3_K_L":
        return "Q4_K" if s.falcon else "Q5_K"
    if f == "Q4_K_M":
        if s.falcon:
            return "Q6_K" if i < n // 16 else "Q5_K" if _use_more_bits(i, n) else "Q4_K"
        return "Q6_K" if _use_more_bits(i, n) else new
    if f in ("IQ4_NL", "IQ4_XS") and i < n // 8 and not s.imatrix:
        return "Q5_K"
    if f == "Q5_K_M" and _use_more_bits(i, n):
        return "Q6_K"
    if f == "Q4_K_S" and not s.falcon and i < n // 8:
        return "Q5_K"
    return new


def gguf_tensor_types(spec: ModelSpec, fmt: Format) -> list[tuple[Tensor, str]]:
    """The ggml type of every tensor of ``spec`` in a GGUF file made with ``fmt`` (a mixture such as
    Q4_K_M, or a pure type), as llama-quantize picks it from an F16/BF16 conversion with no
    --leave-output-tensor / --tensor-type overrides, and with an importance matrix only for the
    mixtures that require one (IQ1_*, IQ2_*, IQ3_XXS, Q2_K_S).

    Rules (llama.cpp ``src/llama-quant.cpp``): tensors that may not be quantized (1-D, norms,
    routers, conv1d, SSM A/D, position embeddings) keep the converter's F32; ``output.weight`` (and a
    tied ``token_embd``) goes to Q6_K (Q8_0, Q5_K for the 1-2 bit IQ mixtures); attn_v / ffn_down
    get more bits in the layers ``use_more_bits`` picks; rows that do not fill a block fall back
    (Q4_K → Q5_0, Q6_K → Q8_0, IQ* → IQ4_NL, …, F16 as last resort).
    """
    if fmt.kind != "gguf" or fmt.default_type is None:
        raise ConfigError(f"{fmt.name} is not a GGUF format")
    tensors = inventory(spec)
    types = ggml_types()
    default = fmt.default_type
    state = _gguf_state(spec, fmt, tensors)
    out: list[tuple[Tensor, str]] = []
    for t in tensors:
        if not _allows_quantization(t):
            out.append((t, _unquantized_type(t)))
        elif not types[default].quantized:
            out.append((t, default))
        elif fmt.pure:
            out.append((t, _fallback(t, default)))
        else:
            out.append((t, _fallback(t, _mixture_type(state, t, default))))
    return out
