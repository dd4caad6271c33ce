"""The two records of weight storage: ``Format`` (a way to store a model's weights) and ``GGMLType`` (one ggml
tensor type), with the tensor roles a format may quantize and the width of the tensors it leaves alone."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import ConfigError

FormatKind = Literal["dense", "scaled", "bnb4", "gptq", "awq", "microscaled", "gguf", "exl2", "exl3"]
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
    zero_bytes: int = 0  # scaled "row": bytes of one zero point per row, beside its fp32 scale (torchao int8)
    head_bits: int = 0  # EXL2/EXL3: bits of the output layer (lm_head); 16: left in 16 bits
    codebook: str = ""  # EXL3: 3inst | mcg | mul1 (mcg and mul1 store one 4-byte multiplier per linear)
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
        if self.head_bits:
            out["head_bits"] = self.head_bits
        return out

