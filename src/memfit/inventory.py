"""The tensor inventory: every parameter tensor a ``ModelSpec`` implies, with its shape.

This is the single source of parameter counts (``count_parameters``), of the per-tensor rules of
quantization formats (which tensors stay in 16 bits; llama.cpp's per-tensor mixtures), of the
largest layer (DeepSpeed ZeRO-3) and of the safetensors/GGUF files the tests write from a spec.

Each tensor has a ``kind`` in llama.cpp's vocabulary (``attn_v``, ``ffn_down``, ``ffn_gate_exps``,
``token_embd``, ``output`` …) so GGUF rules apply to it directly, a ``layer`` index (None outside
the blocks) and a ``group`` for the breakdown shown to users.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from .spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec, SSMSpec

__all__ = ["GROUPS", "ParameterCount", "Tensor", "count_parameters", "inventory", "layer_parameters"]

Group = Literal["embeddings", "attention", "mlp", "experts", "norms", "lm_head", "ssm", "vision", "other"]
GROUPS: tuple[Group, ...] = ("embeddings", "attention", "mlp", "experts", "norms", "lm_head", "ssm", "vision",
                             "other")


@dataclass(frozen=True)
class Tensor:
    """One parameter tensor. ``shape`` is PyTorch's (out, in) order for linear weights."""

    name: str
    shape: tuple[int, ...]
    kind: str
    group: Group
    layer: int | None = None
    is_bias: bool = False

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ParameterCount:
    """Total parameters with the breakdown by group; ``active`` counts top-k experts only."""

    total: int
    by_group: dict[str, int]
    active: int

    def to_json(self) -> dict[str, object]:
        return {"total": self.total, "active": self.active, "by_group": dict(self.by_group)}


def _norm(name: str, size: int, norm: str, layer: int | None, kind: str = "norm") -> Iterator[Tensor]:
    yield Tensor(f"{name}.weight", (size,), kind, "norms", layer)
    if norm == "layernorm":
        yield Tensor(f"{name}.bias", (size,), kind, "norms", layer, is_bias=True)


def _linear(name: str, out: int, inp: int, kind: str, group: Group, layer: int | None,
            bias: bool) -> Iterator[Tensor]:
    yield Tensor(f"{name}.weight", (out, inp), kind, group, layer)
    if bias:
        yield Tensor(f"{name}.bias", (out,), kind, group, layer, is_bias=True)


def _attention(a: AttentionSpec, h: int, i: int) -> Iterator[Tensor]:
    p = f"model.layers.{i}.self_attn"
    if a.kind == "mla":
        assert a.kv_lora_rank is not None and a.qk_rope_head_dim is not None
        nope = a.qk_nope_head_dim if a.qk_nope_head_dim is not None else a.head_dim - a.qk_rope_head_dim
        qk = nope + a.qk_rope_head_dim
        if a.q_lora_rank:
            yield from _linear(f"{p}.q_a_proj", a.q_lora_rank, h, "attn_q_a", "attention", i, a.qkv_bias)
            yield Tensor(f"{p}.q_a_layernorm.weight", (a.q_lora_rank,), "attn_q_a_norm", "attention", i)
            yield from _linear(f"{p}.q_b_proj", a.num_heads * qk, a.q_lora_rank, "attn_q_b", "attention", i, False)
        else:
            yield from _linear(f"{p}.q_proj", a.num_heads * qk, h, "attn_q", "attention", i, False)
        yield from _linear(f"{p}.kv_a_proj_with_mqa", a.kv_lora_rank + a.qk_rope_head_dim, h, "attn_kv_a_mqa",
                           "attention", i, a.qkv_bias)
        yield Tensor(f"{p}.kv_a_layernorm.weight", (a.kv_lora_rank,), "attn_kv_a_norm", "attention", i)
        yield from _linear(f"{p}.kv_b_proj", a.num_heads * (nope + a.value_dim), a.kv_lora_rank, "attn_kv_b",
                           "attention", i, False)
        yield from _linear(f"{p}.o_proj", h, a.num_heads * a.value_dim, "attn_output", "attention", i, a.o_bias)
        return
    q, kv, v = a.num_heads * a.head_dim, a.num_kv_heads * a.head_dim, a.num_kv_heads * a.value_dim
    if a.fused_qkv:
        yield from _linear(f"{p}.qkv_proj", q + kv + v, h, "attn_qkv", "attention", i, a.qkv_bias)
    else:
        yield from _linear(f"{p}.q_proj", q, h, "attn_q", "attention", i, a.qkv_bias)
        yield from _linear(f"{p}.k_proj", kv, h, "attn_k", "attention", i, a.qkv_bias)
        yield from _linear(f"{p}.v_proj", v, h, "attn_v", "attention", i, a.qkv_bias)
    yield from _linear(f"{p}.o_proj", h, a.num_heads * a.value_dim, "attn_output", "attention", i, a.o_bias)
    if a.qk_norm == "head":
        yield Tensor(f"{p}.q_norm.weight", (a.head_dim,), "attn_q_norm", "attention", i)
        yield Tensor(f"{p}.k_norm.weight", (a.head_dim,), "attn_k_norm", "attention", i)
    elif a.qk_norm == "full":
        yield Tensor(f"{p}.q_norm.weight", (q,), "attn_q_norm", "attention", i)
        yield Tensor(f"{p}.k_norm.weight", (kv,), "attn_k_norm", "attention", i)
    elif a.qk_norm == "per_head_layernorm":
        yield Tensor(f"{p}.q_layernorm.weight", (a.num_heads, a.head_dim), "attn_q_norm", "attention", i)
        yield Tensor(f"{p}.k_layernorm.weight", (a.num_kv_heads, a.head_dim), "attn_k_norm", "attention", i)
    if a.sinks:
        yield Tensor(f"{p}.sinks", (a.num_heads,), "attn_sinks", "attention", i)


def _mlp(m: MLPSpec, h: int, i: int, prefix: str, suffix: str, group: Group) -> Iterator[Tensor]:
    if m.kind == "gated":
        yield from _linear(f"{prefix}.gate_proj", m.intermediate_size, h, f"ffn_gate{suffix}", group, i, m.bias)
    yield from _linear(f"{prefix}.up_proj", m.intermediate_size, h, f"ffn_up{suffix}", group, i, m.bias)
    yield from _linear(f"{prefix}.down_proj", h, m.intermediate_size, f"ffn_down{suffix}", group, i, m.bias)


def _moe(m: MoESpec, h: int, i: int) -> Iterator[Tensor]:
    p = f"model.layers.{i}.mlp"
    e, inter = m.num_experts, m.expert_intermediate_size
    yield from _linear(f"{p}.gate", e, h, "ffn_gate_inp", "experts", i, m.router_bias)
    if m.score_correction_bias:
        yield Tensor(f"{p}.gate.e_score_correction_bias", (e,), "exp_probs_b", "experts", i, is_bias=True)
    if m.kind == "gated":
        yield Tensor(f"{p}.experts.gate_proj", (e, inter, h), "ffn_gate_exps", "experts", i)
        if m.expert_bias:
            yield Tensor(f"{p}.experts.gate_proj_bias", (e, inter), "ffn_gate_exps", "experts", i, is_bias=True)
    yield Tensor(f"{p}.experts.up_proj", (e, inter, h), "ffn_up_exps", "experts", i)
    if m.expert_bias:
        yield Tensor(f"{p}.experts.up_proj_bias", (e, inter), "ffn_up_exps", "experts", i, is_bias=True)
    yield Tensor(f"{p}.experts.down_proj", (e, h, inter), "ffn_down_exps", "experts", i)
    if m.expert_bias:
        yield Tensor(f"{p}.experts.down_proj_bias", (e, h), "ffn_down_exps", "experts", i, is_bias=True)
    if m.num_shared_experts:
        shared = MLPSpec(m.num_shared_experts * (m.shared_intermediate_size or inter), m.kind)
        yield from _mlp(shared, h, i, f"{p}.shared_experts", "_shexp", "experts")
        if m.shared_expert_gate:
            yield Tensor(f"{p}.shared_expert_gate.weight", (1, h), "ffn_gate_inp_shexp", "experts", i)


def _ssm(s: SSMSpec, h: int, i: int, mixer: str) -> Iterator[Tensor]:
    p = f"model.layers.{i}.mixer"
    if mixer == "mamba":
        yield from _linear(f"{p}.in_proj", 2 * s.d_inner, h, "ssm_in", "ssm", i, s.proj_bias)
        yield Tensor(f"{p}.conv1d.weight", (s.d_inner, 1, s.d_conv), "ssm_conv1d", "ssm", i)
        if s.conv_bias:
            yield Tensor(f"{p}.conv1d.bias", (s.d_inner,), "ssm_conv1d", "ssm", i, is_bias=True)
        yield from _linear(f"{p}.x_proj", s.dt_rank + 2 * s.d_state, s.d_inner, "ssm_x", "ssm", i, False)
        yield from _linear(f"{p}.dt_proj", s.d_inner, s.dt_rank, "ssm_dt", "ssm", i, True)
        yield Tensor(f"{p}.A_log", (s.d_inner, s.d_state), "ssm_a", "ssm", i)
        yield Tensor(f"{p}.D", (s.d_inner,), "ssm_d", "ssm", i)
    else:  # mamba2
        conv_dim = s.d_inner + 2 * s.n_groups * s.d_state
        yield from _linear(f"{p}.in_proj", s.d_inner + conv_dim + s.num_heads, h, "ssm_in", "ssm", i,
                           s.proj_bias)
        yield Tensor(f"{p}.conv1d.weight", (conv_dim, 1, s.d_conv), "ssm_conv1d", "ssm", i)
        if s.conv_bias:
            yield Tensor(f"{p}.conv1d.bias", (conv_dim,), "ssm_conv1d", "ssm", i, is_bias=True)
        yield Tensor(f"{p}.dt_bias", (s.num_heads,), "ssm_dt", "ssm", i, is_bias=True)
        yield Tensor(f"{p}.A_log", (s.num_heads,), "ssm_a", "ssm", i)
        yield Tensor(f"{p}.D", (s.num_heads,), "ssm_d", "ssm", i)
        yield Tensor(f"{p}.norm.weight", (s.d_inner,), "ssm_norm", "ssm", i)
    yield from _linear(f"{p}.out_proj", h, s.d_inner, "ssm_out", "ssm", i, s.proj_bias)


def _layer(spec: ModelSpec, layer: LayerSpec, i: int) -> Iterator[Tensor]:
    h = spec.hidden_size
    for n in range(layer.norms):
        yield from _norm(f"model.layers.{i}.norm_{n}", h, spec.norm, i,
                         "attn_norm" if n == 0 else "ffn_norm" if n == 1 else "norm")
    if layer.attention is not None:
        yield from _attention(layer.attention, h, i)
    if layer.ssm is not None:
        yield from _ssm(layer.ssm, h, i, layer.mixer)
    if layer.mlp is not None:
        yield from _mlp(layer.mlp, h, i, f"model.layers.{i}.mlp", "", "mlp")
    if layer.moe is not None:
        yield from _moe(layer.moe, h, i)


def inventory(spec: ModelSpec) -> tuple[Tensor, ...]:
    """Every parameter tensor of ``spec`` (tied weights once). Empty for a bare count."""
    if spec.is_bare:
        return ()
    h = spec.hidden_size
    out: list[Tensor] = [Tensor("model.embed_tokens.weight", (spec.vocab_size, h), "token_embd", "embeddings")]
    if spec.position_embedding == "learned":
        out.append(Tensor("model.embed_positions.weight", (spec.max_position_embeddings, h), "pos_embd",
                          "embeddings"))
    if spec.embedding_norm:
        out.extend(_norm("model.embed_norm", h, spec.norm, None, "token_embd_norm"))
    for i, layer in enumerate(spec.layers):
        out.extend(_layer(spec, layer, i))
    if spec.final_norm:
        out.extend(_norm("model.norm", h, spec.norm, None, "output_norm"))
    if not spec.tie_word_embeddings:
        out.extend(_linear("lm_head", spec.vocab_size, h, "output", "lm_head", None, spec.lm_head_bias))
    elif spec.lm_head_bias:
        out.append(Tensor("lm_head.bias", (spec.vocab_size,), "output", "lm_head", None, is_bias=True))
    for name, numel in spec.extra:
        out.append(Tensor(name, (numel,), "other", "other"))
    if spec.vision is not None and spec.vision.parameters:
        out.append(Tensor("vision_tower", (spec.vision.parameters,), "vision", "vision"))
    return tuple(out)


def layer_parameters(spec: ModelSpec, layer: int) -> int:
    """Parameters of decoder block ``layer``."""
    return sum(t.numel for t in _layer(spec, spec.layers[layer], layer))


def count_parameters(spec: ModelSpec) -> ParameterCount:
    """Exact parameter count with the breakdown by group; tied weights once.

    ``active`` is what one token touches: routed experts scaled by top_k / num_experts.
    """
    if spec.parameters_override is not None:
        n = spec.parameters_override
        return ParameterCount(n, {"other": n}, n)
    by_group: dict[str, int] = {g: 0 for g in GROUPS}
    inactive = 0
    for t in inventory(spec):
        by_group[t.group] += t.numel
        if t.kind.endswith("_exps") and t.layer is not None:
            moe = spec.layers[t.layer].moe
            assert moe is not None
            inactive += t.numel - t.numel * moe.top_k // moe.num_experts
    total = sum(by_group.values())
    return ParameterCount(total, {g: n for g, n in by_group.items() if n}, total - inactive)
