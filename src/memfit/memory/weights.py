"""Weights memory in any format, tensor by tensor.

Every tensor of the inventory is stored either in the format (codes + scales, exact per tensor)
or, where the format leaves it alone (embeddings, lm_head, norms, biases, routers …), in 16 bits
(Hugging Face-side formats) or in the type llama.cpp gives it (GGUF). A bare parameter count has
no tensors: all parameters at the format's nominal bits. A model read from a checkpoint header
(``spec.stored``) is "as stored" when asked for ``"stored"`` or for its own dtype.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache

from ..formats import (
    KEPT_BYTES,
    KEPT_LABEL,
    Format,
    get_format,
    ggml_types,
    gguf_tensor_types,
    quantized_tensor_bytes,
    quantizes,
    tensor_role,
)
from ..inventory import count_parameters, inventory
from ..result import Component
from ..spec import ModelSpec
from ..units import fmt_bytes
from .fp32_parameters import fp32_kept

__all__ = ["WeightsBreakdown", "is_as_stored", "weights_breakdown", "weights_bytes", "weights_component"]


@dataclass(frozen=True)
class WeightsBreakdown:
    """Weights bytes split by parameter group and by stored type, with the parameters of each type.

    ``by_type`` maps a stored type (``Q4_K``, ``Q6_K``, ``F32``, ``NF4+DQ``, ``16-bit`` …) to bytes,
    ``params_by_type`` the same keys to parameter counts; ``bits_per_weight`` is the average.
    """

    format: str
    parameters: int
    total_bytes: int
    by_group: dict[str, int] = field(default_factory=dict)
    by_type: dict[str, int] = field(default_factory=dict)
    params_by_type: dict[str, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    formula: str = ""

    @property
    def bits_per_weight(self) -> float:
        """Average bits per parameter: total bytes × 8 / parameters."""
        return self.total_bytes * 8 / self.parameters if self.parameters else 0.0

    def to_json(self) -> dict[str, object]:
        return {"format": self.format, "parameters": self.parameters, "total_bytes": self.total_bytes,
                "bits_per_weight": self.bits_per_weight, "by_group": dict(self.by_group),
                "by_type": dict(self.by_type), "params_by_type": dict(self.params_by_type),
                "notes": list(self.notes), "formula": self.formula}


def is_as_stored(spec: ModelSpec, fmt_name: str) -> bool:
    """True when the weights should be taken as a checkpoint stores them (``spec.stored``)."""
    if fmt_name.strip().lower() == "stored":
        return True
    return spec.stored is not None and fmt_name == spec.dtype


def weights_breakdown(spec: ModelSpec, fmt_name: str, expert_linears: bool = False) -> WeightsBreakdown:
    """Bytes of ``spec``'s weights in format ``fmt_name``, per inventory group and per stored type (computed once
    per (spec, format): the plan searches and ``models --fits`` ask for the same weights thousands of times).
    ``expert_linears``: the release builds the MoE experts and router as ``nn.Linear`` modules (transformers 4.x,
    ``moe_release.py``), which a bitsandbytes 4-bit format quantizes one by one."""
    try:
        hash(spec)
    except TypeError:  # a hand-built spec holding a list: computed every time
        return _weights_breakdown(spec, fmt_name, expert_linears)
    return _cached_breakdown(spec, fmt_name, expert_linears)


@lru_cache(maxsize=512)
def _cached_breakdown(spec: ModelSpec, fmt_name: str, expert_linears: bool = False) -> WeightsBreakdown:
    return _weights_breakdown(spec, fmt_name, expert_linears)


def _weights_breakdown(spec: ModelSpec, fmt_name: str, expert_linears: bool = False) -> WeightsBreakdown:
    if is_as_stored(spec, fmt_name):
        return _as_stored(spec)
    fmt = get_format(fmt_name)
    if spec.is_bare:
        return _bare(spec, fmt)
    by_group: dict[str, int] = {}
    by_type: dict[str, int] = {}
    params_by_type: dict[str, int] = {}
    notes: list[str] = []

    def add(group: str, label: str, numel: int, nbytes: int) -> None:
        by_group[group] = by_group.get(group, 0) + nbytes
        by_type[label] = by_type.get(label, 0) + nbytes
        params_by_type[label] = params_by_type.get(label, 0) + numel

    if fmt.is_gguf:
        types = ggml_types()
        fallbacks = 0
        for t, type_name in gguf_tensor_types(spec, fmt):
            add(t.group, type_name, t.numel, types[type_name].tensor_bytes(t.shape))
            if types[type_name].quantized and t.shape[-1] % types[fmt.default_type or type_name].block:
                fallbacks += 1
        if fallbacks:
            notes.append(f"{fallbacks} tensor(s) have rows that are not a multiple of {fmt.default_type}'s block "
                         "and fall back to another type, as llama.cpp does")
    else:
        moe = spec.is_moe
        kept_experts = False
        tensors = inventory(spec)
        linears = expert_linears and fmt.kind == "bnb4"
        for t in tensors:
            role = tensor_role(t)
            if linears and role == "experts" and not t.is_bias:  # one Params4bit per expert projection
                add(t.group, fmt.label, t.numel, t.shape[0] * quantized_tensor_bytes(fmt, t.shape[1:]))
            elif fmt.kind == "dense" and fmt.bits == 16 and fp32_kept(spec.family, t.name):
                add(t.group, "F32", t.numel, t.numel * 4)  # kept float32 by the family (data/fp32_parameters.toml)
            elif quantizes(fmt, role, moe) or (linears and role == "router"):
                add(t.group, fmt.label, t.numel, quantized_tensor_bytes(fmt, t.shape, role))
            else:
                add(t.group, KEPT_LABEL, t.numel, t.numel * KEPT_BYTES)
                kept_experts |= role == "experts"
        if fmt.kind in ("exl2", "exl3") and spec.vocab_size and not any(t.kind == "output" for t in tensors):
            # ExLlamaV2/V3 write an output layer of their own even where the model ties it to the embeddings
            by_group["lm_head"] = by_group.get("lm_head", 0) + quantized_tensor_bytes(
                fmt, (spec.vocab_size, spec.hidden_size), "lm_head")
            by_type[fmt.label] = by_type.get(fmt.label, 0) + by_group["lm_head"]
            notes.append(f"{fmt.name}: the converter writes the tied output layer as a separate {fmt.head_bits}-bit "
                         "lm_head (counted; not a parameter of the model)")
        if linears and moe:
            notes.append(f"{fmt.name}: transformers 4.x builds each MoE expert and the router as nn.Linear modules, "
                         "which bitsandbytes quantizes one by one")
        if kept_experts:
            who = "bitsandbytes" if fmt.kind == "bnb4" or fmt.name.startswith(("bnb", "llm")) else fmt.name
            notes.append(f"{fmt.name}: fused 3-D MoE expert weights are not nn.Linear modules (transformers v5), "
                         f"so {who} leaves them in 16 bits")
        if not fmt.is_dense and "vision" in by_group:
            notes.append("the vision tower is counted in 16 bits")
    total = sum(by_type.values())
    n = count_parameters(spec).total
    return WeightsBreakdown(fmt.name, n, total, by_group, by_type, params_by_type, tuple(notes),
                            _formula(fmt, n, total, by_type, params_by_type))


def _bare(spec: ModelSpec, fmt: Format) -> WeightsBreakdown:
    n = count_parameters(spec).total
    bits = fmt.nominal_bits
    total = math.ceil(Fraction(n) * Fraction(repr(bits)) / 8)  # the decimal as written, not its binary float
    if fmt.is_dense:
        formula = f"{n:,} parameters × {_num(bits / 8)} bytes = {fmt_bytes(total)}"
        notes: tuple[str, ...] = ()
    else:
        formula = f"{n:,} parameters × {_num(bits)} bits ({fmt.name}, nominal) = {fmt_bytes(total)}"
        notes = (f"a bare parameter count has no tensor shapes: every parameter at {fmt.name}'s nominal "
                 f"{_num(bits)} bits, with no tensor kept in higher precision",)
    return WeightsBreakdown(fmt.name, n, total, {"other": total}, {fmt.label: total}, {fmt.label: n}, notes, formula)


def _as_stored(spec: ModelSpec) -> WeightsBreakdown:
    stored = spec.stored
    if stored is None:
        from ..errors import ConfigError
        raise ConfigError(f"{spec.name} was not read from a checkpoint, so 'stored' has no meaning: pass a "
                          "format such as bf16, fp8 or q4_k_m")
    by_type = {name: nbytes for name, _, nbytes in stored.bytes_by_dtype}
    params = {name: elems for name, elems, _ in stored.bytes_by_dtype}
    what = stored.quantization or stored.container
    formula = (f"{stored.logical_parameters:,} parameters as stored ({what}, {stored.tensors:,} tensors): "
               f"{fmt_bytes(stored.loaded_bytes)}")
    if stored.loaded_bytes != stored.stored_bytes:
        formula += f" loaded (file: {fmt_bytes(stored.stored_bytes)})"
    return WeightsBreakdown("stored", stored.logical_parameters, stored.loaded_bytes, {"stored": stored.loaded_bytes},
                            by_type, params, (), formula)


def _num(x: float) -> str:
    return f"{x:g}" if x == int(x) or len(f"{x:g}") <= 8 else f"{x:.4f}"


def _formula(fmt: Format, n: int, total: int, by_type: dict[str, int], params_by_type: dict[str, int]) -> str:
    if fmt.is_dense and len(by_type) <= 1:
        return f"{n:,} parameters × {_num(fmt.bits / 8)} bytes = {fmt_bytes(total)}"
    if fmt.is_dense:  # a family keeps some parameters in float32 (data/fp32_parameters.toml)
        parts = [f"{params_by_type[label]:,} × {nbytes // max(1, params_by_type[label])} B ({label})"
                 for label, nbytes in sorted(by_type.items(), key=lambda kv: -kv[1])]
        return f"{' + '.join(parts)} = {fmt_bytes(total)}"
    parts = []
    for label, nbytes in sorted(by_type.items(), key=lambda kv: -kv[1]):
        p = params_by_type[label]
        parts.append(f"{label} {p:,} params × {_num(round(nbytes * 8 / p, 4)) if p else '0'} bits")
    return f"{' + '.join(parts)} = {fmt_bytes(total)} ({total * 8 / n:.4f} bits per weight on average)"


def weights_bytes(spec: ModelSpec, fmt_name: str) -> int:
    """Bytes of all weights of ``spec`` stored in ``fmt_name`` (any name ``get_format`` accepts, or
    ``"stored"`` for a model read from a checkpoint)."""
    return weights_breakdown(spec, fmt_name).total_bytes


def weights_component(spec: ModelSpec, fmt_name: str, expert_linears: bool = False) -> Component:
    """The weights as a Component, with the arithmetic written out (``expert_linears``: ``weights_breakdown``)."""
    b = weights_breakdown(spec, fmt_name, expert_linears)
    return Component("weights", b.total_bytes, b.formula)
