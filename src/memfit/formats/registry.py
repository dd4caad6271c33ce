"""The format table: ``data/formats.toml`` and ``data/gguf_mixtures.toml`` read into ``Format`` and ``GGMLType``
rows, every accepted spelling resolved (``get_format``), listed (``list_formats``, ``format_names``), and the
PyTorch compute dtypes and bitsandbytes quantizations those spellings name."""

from __future__ import annotations

import difflib
import importlib.resources
import re
import tomllib
from dataclasses import replace
from functools import cache
from typing import Any

from ..errors import ConfigError
from .base import Format, GGMLType


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
        zero_bytes=int(row.get("zero_bytes", 0)), head_bits=int(row.get("head_bits", 0)),
        codebook=str(row.get("codebook", "")),
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
    from .exllama import EXL_SPELLING, exl_format

    m = EXL_SPELLING.match(key)
    if m:
        return exl_format(formats[m.group(1)], name, m.group(2), m.group(3), m.group(4))
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

