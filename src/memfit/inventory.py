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
from functools import lru_cache
from typing import Literal

from .inventory_dsv4 import dsv4_attention
from .spec import (
    AttentionSpec,
    LayerSpec,
    LinearAttentionSpec,
    MLPSpec,
    ModelSpec,
    MoESpec,
    ShortConvSpec,
    SSMSpec,
    VisionSpec,
)

__all__ = ["GROUPS", "ParameterCount", "Tensor", "count_parameters", "inventory", "layer_parameters",
           "standard_inventory", "vision_tensors"]

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


# (module name, llama.cpp kind) of a block's hidden-sized norms, by layout and count
_NORM_NAMES: dict[tuple[str, int], tuple[tuple[str, str], ...]] = {
    ("pre", 2): (("input_layernorm", "attn_norm"), ("post_attention_layernorm", "ffn_norm")),
    ("parallel", 1): (("input_layernorm", "attn_norm"),),
    ("parallel", 2): (("ln_attn", "attn_norm"), ("ln_mlp", "attn_norm_2")),
    ("post", 2): (("post_attention_layernorm", "post_attention_norm"),
                  ("post_feedforward_layernorm", "post_ffw_norm")),
    ("sandwich", 4): (("input_layernorm", "attn_norm"), ("post_attention_layernorm", "post_attention_norm"),
                      ("pre_feedforward_layernorm", "ffn_norm"), ("post_feedforward_layernorm", "post_ffw_norm")),
}


def _norm(name: str, size: int, norm: str, layer: int | None, kind: str = "norm",
          group: Group = "norms") -> Iterator[Tensor]:
    yield from () if norm == "layernorm_fp32" else (Tensor(f"{name}.weight", (size,), kind, group, layer),)
    if norm == "layernorm":
        yield Tensor(f"{name}.bias", (size,), kind, group, layer, is_bias=True)


def _linear(name: str, out: int, inp: int, kind: str, group: Group, layer: int | None, bias: bool) -> Iterator[Tensor]:
    yield Tensor(f"{name}.weight", (out, inp), kind, group, layer)
    if bias:
        yield Tensor(f"{name}.bias", (out,), kind, group, layer, is_bias=True)


def _attention(a: AttentionSpec, h: int, i: int) -> Iterator[Tensor]:
    if a.single_kv:  # DeepSeek-V4
        yield from (Tensor(n, shape, kind, "attention", i, bias) for n, shape, kind, bias in dsv4_attention(a, h, i))
        return
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
        if a.index_heads:  # DeepSeek-V3.2's lightning indexer: queries from the q latent, one LayerNorm'ed key
            x, d, n = f"{p}.indexer", a.index_head_dim, a.index_heads
            yield from _linear(f"{x}.wq_b", n * d, a.q_lora_rank or h, "attn_index_q", "attention", i, False)
            yield from _linear(f"{x}.wk", d, h, "attn_index_k", "attention", i, False)
            yield from _norm(f"{x}.k_norm", d, "layernorm", i, "attn_index_k_norm", "attention")
            yield from _linear(f"{x}.weights_proj", n, h, "attn_index_w", "attention", i, False)
        return
    q, kv, v = a.num_heads * a.head_dim, a.num_kv_heads * a.head_dim, a.num_kv_heads * a.value_dim
    if a.output_gate:  # q_proj emits the queries and their output gate (the gate is not a norm's input)
        yield from _linear(f"{p}.q_proj", 2 * q, h, "attn_q", "attention", i, a.qkv_bias)
        yield from _linear(f"{p}.k_proj", kv, h, "attn_k", "attention", i, a.qkv_bias)
        yield from _linear(f"{p}.v_proj", v, h, "attn_v", "attention", i, a.qkv_bias)
    elif a.fused_qkv:
        yield from _linear(f"{p}.qkv_proj", q + kv + v, h, "attn_qkv", "attention", i, a.qkv_bias)
    else:
        yield from _linear(f"{p}.q_proj", q, h, "attn_q", "attention", i, a.qkv_bias)
        if not a.kv_shared:
            yield from _linear(f"{p}.k_proj", kv, h, "attn_k", "attention", i, a.qkv_bias)
            yield from _linear(f"{p}.v_proj", v, h, "attn_v", "attention", i, a.qkv_bias) if not a.k_eq_v else ()
    yield from _linear(f"{p}.o_proj", h, a.num_heads * a.value_dim, "attn_output", "attention", i, a.o_bias)
    qk_kind = "layernorm" if a.qk_norm_bias else "rms"
    if a.qk_norm == "head":
        yield from _norm(f"{p}.q_norm", a.head_dim, qk_kind, i, "attn_q_norm", "attention")
        if not a.kv_shared:
            yield from _norm(f"{p}.k_norm", a.head_dim, qk_kind, i, "attn_k_norm", "attention")
    elif a.qk_norm == "full":
        yield from _norm(f"{p}.q_norm", q, qk_kind, i, "attn_q_norm", "attention")
        yield from _norm(f"{p}.k_norm", kv, qk_kind, i, "attn_k_norm", "attention")
    elif a.qk_norm == "per_head_layernorm":
        yield Tensor(f"{p}.q_layernorm.weight", (a.num_heads, a.head_dim), "attn_q_norm", "attention", i)
        yield Tensor(f"{p}.k_layernorm.weight", (a.num_kv_heads, a.head_dim), "attn_k_norm", "attention", i)
    if a.sinks:
        yield Tensor(f"{p}.sinks", (a.num_heads,), "attn_sinks", "attention", i)


def _mlp(m: MLPSpec, h: int, i: int, prefix: str, suffix: str, group: Group) -> Iterator[Tensor]:
    if m.kind == "gated" and m.fused_gate_up:
        yield from _linear(f"{prefix}.gate_up_proj", 2 * m.intermediate_size, h, f"ffn_up{suffix}", group, i, m.bias)
    elif m.kind == "gated":
        yield from _linear(f"{prefix}.gate_proj", m.intermediate_size, h, f"ffn_gate{suffix}", group, i, m.bias)
        yield from _linear(f"{prefix}.up_proj", m.intermediate_size, h, f"ffn_up{suffix}", group, i, m.bias)
    else:
        yield from _linear(f"{prefix}.up_proj", m.intermediate_size, h, f"ffn_up{suffix}", group, i, m.bias)
    yield from _linear(f"{prefix}.down_proj", h, m.intermediate_size, f"ffn_down{suffix}", group, i, m.bias)


def _moe(m: MoESpec, h: int, i: int) -> Iterator[Tensor]:
    p = f"model.layers.{i}.mlp"
    e, inter = m.num_experts, m.expert_intermediate_size
    yield from _linear(f"{p}.gate", e, h, "ffn_gate_inp", "experts", i, m.router_bias)
    if m.score_bias_parameter:
        yield Tensor(f"{p}.gate.moe_statics.e_score_correction_bias", (1, e), "exp_probs_b", "experts", i)
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
        yield from _mlp(MLPSpec(m.shared_size, m.kind, m.shared_expert_bias), h, i, f"{p}.shared_experts", "_shexp",
                        "experts")
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
        if s.inner_norms:  # jamba: RMSNorms over the time step and the B and C projections
            for norm, width in (("dt_layernorm", s.dt_rank), ("b_layernorm", s.d_state), ("c_layernorm", s.d_state)):
                yield Tensor(f"{p}.{norm}.weight", (width,), "ssm_norm", "ssm", i)
    else:  # mamba2
        conv_dim = s.d_inner + 2 * s.n_groups * s.d_state
        yield from _linear(f"{p}.in_proj", s.d_inner + conv_dim + s.num_heads, h, "ssm_in", "ssm", i, s.proj_bias)
        yield Tensor(f"{p}.conv1d.weight", (conv_dim, 1, s.d_conv), "ssm_conv1d", "ssm", i)
        if s.conv_bias:
            yield Tensor(f"{p}.conv1d.bias", (conv_dim,), "ssm_conv1d", "ssm", i, is_bias=True)
        yield Tensor(f"{p}.dt_bias", (s.num_heads,), "ssm_dt", "ssm", i, is_bias=True)
        yield Tensor(f"{p}.A_log", (s.num_heads,), "ssm_a", "ssm", i)
        yield Tensor(f"{p}.D", (s.num_heads,), "ssm_d", "ssm", i)
        if s.gated_norm:
            yield Tensor(f"{p}.norm.weight", (s.d_inner,), "ssm_norm", "ssm", i)
    yield from _linear(f"{p}.out_proj", h, s.d_inner, "ssm_out", "ssm", i,
                       s.proj_bias if s.out_bias is None else s.out_bias)


def _linear_attention(g: LinearAttentionSpec, h: int, i: int) -> Iterator[Tensor]:
    """Gated delta-net (transformers 5.25 ``Qwen3_5GatedDeltaNet``; ``Qwen3NextGatedDeltaNet`` fuses qkvz and ba)."""
    if g.kind == "kda":
        return (yield from _kda(g, h, i))
    p = f"model.layers.{i}.linear_attn"
    nv = g.num_v_heads  # Qwen3.5: in_proj_qkv, _z, _b, _a; Qwen3NextGatedDeltaNet: in_proj_qkvz and in_proj_ba
    projections = ((("in_proj_qkv", g.conv_dim, "ssm_in"), ("in_proj_z", g.value_dim, "ssm_in"), ("in_proj_b", nv,
                    "ssm_ba"), ("in_proj_a", nv, "ssm_ba")) if g.split_proj
                   else (("in_proj_qkvz", g.conv_dim + g.value_dim, "ssm_in"), ("in_proj_ba", 2 * nv, "ssm_ba")))
    for name, rows, kind in projections:
        yield from _linear(f"{p}.{name}", rows, h, kind, "ssm", i, False)
    yield Tensor(f"{p}.conv1d.weight", (g.conv_dim, 1, g.conv_kernel), "ssm_conv1d", "ssm", i)
    yield from (Tensor(f"{p}.dt_bias", (nv,), "ssm_dt", "ssm", i, True), Tensor(f"{p}.A_log", (nv,), "ssm_a", "ssm", i),
                Tensor(f"{p}.norm.weight", (g.head_v_dim,), "ssm_norm", "ssm", i))
    yield from _linear(f"{p}.out_proj", h, g.value_dim, "ssm_out", "ssm", i, False)


def _kda(g: LinearAttentionSpec, h: int, i: int) -> Iterator[Tensor]:
    """Kimi delta attention (transformers' KimiLinearDeltaAttention): q/k/v/o projections named as attention's."""
    p, d, heads, qkv = f"model.layers.{i}.self_attn", g.head_k_dim, g.num_v_heads, g.num_v_heads * g.head_k_dim
    for name, kind in (("q_proj", "attn_q"), ("k_proj", "attn_k"), ("v_proj", "attn_v")):
        yield from _linear(f"{p}.{name}", qkv, h, kind, "ssm", i, False)
    yield Tensor(f"{p}.conv1d.weight", (3 * qkv, 1, g.conv_kernel), "ssm_conv1d", "ssm", i)
    for name, rows, cols in ((("forget_gate.f_proj", qkv, h), ("b_proj", heads, h), ("g_proj", qkv, h)) if
                             g.full_rank_gates else (("forget_gate.f_a_proj", d, h), ("forget_gate.f_b_proj", qkv, d),
                             ("b_proj", heads, h), ("g_a_proj", d, h), ("g_b_proj", qkv, d))):  # gates (Kimi: low rank)
        yield from _linear(f"{p}.{name}", rows, cols, "ssm_ba", "ssm", i, False)
    yield Tensor(f"{p}.forget_gate.dt_bias", (qkv,), "ssm_dt", "ssm", i, is_bias=True)
    yield Tensor(f"{p}.forget_gate.A_log", (heads,) if g.full_rank_gates else (1, 1, heads, 1), "ssm_a", "ssm", i)
    yield Tensor(f"{p}.o_norm.weight", (d,), "ssm_norm", "ssm", i)
    yield from _linear(f"{p}.o_proj", h, qkv, "attn_output", "ssm", i, False)


def _short_conv(c: ShortConvSpec, h: int, i: int) -> Iterator[Tensor]:
    """LFM2's gated short convolution (transformers' Lfm2ShortConv)."""
    p = f"model.layers.{i}.conv"
    yield from _linear(f"{p}.in_proj", 3 * h, h, "shortconv_in", "ssm", i, c.bias)
    yield Tensor(f"{p}.conv.weight", (h, 1, c.kernel), "shortconv_conv", "ssm", i)
    if c.bias:
        yield Tensor(f"{p}.conv.bias", (h,), "shortconv_conv", "ssm", i, is_bias=True)
    yield from _linear(f"{p}.out_proj", h, h, "shortconv_out", "ssm", i, c.bias)


def _norm_names(layer: LayerSpec) -> tuple[tuple[str, str], ...]:
    if layer.mixer != "attention" and layer.norms == 1:
        return (("norm", "attn_norm"),)
    names = _NORM_NAMES.get((layer.norm_layout, layer.norms))
    if names is None:
        return tuple((f"norm_{n}", "attn_norm" if n == 0 else "norm") for n in range(layer.norms))
    return names


def _layer(h: int, norm: str, layer: LayerSpec, i: int) -> Iterator[Tensor]:
    for module, kind in _norm_names(layer):
        yield from _norm(f"model.layers.{i}.{module}", h, norm, i, kind)
    if layer.attention is not None:
        yield from _attention(layer.attention, h, i)
    if layer.ssm is not None:
        yield from _ssm(layer.ssm, h, i, layer.mixer)
    if layer.linear is not None:
        yield from _linear_attention(layer.linear, h, i)
    if layer.conv is not None:
        yield from _short_conv(layer.conv, h, i)
    if layer.mlp is not None:
        yield from _mlp(layer.mlp, h, i, f"model.layers.{i}.mlp", "", "mlp")
    if layer.moe is not None:
        yield from _moe(layer.moe, h, i)
    for name, shape in layer.extra:
        yield Tensor(f"model.layers.{i}.{name}", shape, name.rsplit(".", 1)[0].replace(".", "_"), "other", i)


def vision_tensors(v: VisionSpec) -> tuple[Tensor, ...]:
    """The tensors of a SigLIP vision tower and its Gemma-3-style projector (``v.kind == "siglip"``)."""
    d, inter, p = v.hidden_size, v.intermediate_size, "vision_tower"
    out: list[Tensor] = [
        Tensor(f"{p}.embeddings.patch_embedding.weight", (d, v.num_channels, v.patch_size, v.patch_size),
               "vision", "vision"),
        Tensor(f"{p}.embeddings.patch_embedding.bias", (d,), "vision", "vision", is_bias=True),
        Tensor(f"{p}.embeddings.position_embedding.weight", (v.num_patches, d), "vision", "vision"),
    ]
    for i in range(v.num_layers):
        q = f"{p}.encoder.layers.{i}"
        out.extend(_norm(f"{q}.layer_norm1", d, "layernorm", None, "vision", "vision"))
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            out.extend(_linear(f"{q}.self_attn.{proj}", d, d, "vision", "vision", None, True))
        out.extend(_norm(f"{q}.layer_norm2", d, "layernorm", None, "vision", "vision"))
        out.extend(_linear(f"{q}.mlp.fc1", inter, d, "vision", "vision", None, True))
        out.extend(_linear(f"{q}.mlp.fc2", d, inter, "vision", "vision", None, True))
    out.extend(_norm(f"{p}.post_layernorm", d, "layernorm", None, "vision", "vision"))
    if v.pooling_head:
        q = f"{p}.head"
        out.append(Tensor(f"{q}.probe", (1, 1, d), "vision", "vision"))
        out.append(Tensor(f"{q}.attention.in_proj_weight", (3 * d, d), "vision", "vision"))
        out.append(Tensor(f"{q}.attention.in_proj_bias", (3 * d,), "vision", "vision", is_bias=True))
        out.extend(_linear(f"{q}.attention.out_proj", d, d, "vision", "vision", None, True))
        out.extend(_norm(f"{q}.layernorm", d, "layernorm", None, "vision", "vision"))
        out.extend(_linear(f"{q}.mlp.fc1", inter, d, "vision", "vision", None, True))
        out.extend(_linear(f"{q}.mlp.fc2", d, inter, "vision", "vision", None, True))
    if v.projector_dim:
        out.append(Tensor("multi_modal_projector.mm_input_projection_weight", (d, v.projector_dim), "vision", "vision"))
        out.append(Tensor("multi_modal_projector.mm_soft_emb_norm.weight", (d,), "vision", "vision"))
    return tuple(out)


def _head(spec: ModelSpec) -> Iterator[Tensor]:
    """The tensors before the decoder blocks."""
    h = spec.hidden_size
    yield Tensor("model.embed_tokens.weight", (spec.vocab_size, h), "token_embd", "embeddings")
    if spec.position_embedding == "learned":
        yield Tensor("model.embed_positions.weight", (spec.max_position_embeddings, h), "pos_embd", "embeddings")
    if spec.embedding_norm:
        yield from _norm("model.embed_norm", h, spec.norm, None, "token_embd_norm")


def _tail(spec: ModelSpec) -> Iterator[Tensor]:
    """The tensors after the decoder blocks: final norm, lm_head, extras, vision tower."""
    h = spec.hidden_size
    if spec.final_norm:
        yield from _norm("model.norm", h, spec.norm, None, "output_norm")
    if not spec.tie_word_embeddings:
        yield from _linear("lm_head", spec.vocab_size, h, "output", "lm_head", None, spec.lm_head_bias)
    elif spec.lm_head_bias:
        yield Tensor("lm_head.bias", (spec.vocab_size,), "output", "lm_head", None, is_bias=True)
    for name, size in spec.extra:  # gemma3n's per-layer token table is an embedding (llama.cpp keeps it on the host)
        ple = name.endswith("embed_tokens_per_layer.weight")
        yield Tensor(name, size if isinstance(size, tuple) else (size,), "per_layer_token_embd" if ple else "other",
                     "embeddings" if ple else "other")
    v = spec.vision
    if v is not None and v.kind == "siglip":
        yield from vision_tensors(v)
    elif v is not None and v.parameters:
        yield Tensor("vision_tower", (v.parameters,), "vision", "vision")


def inventory(spec: ModelSpec) -> tuple[Tensor, ...]:
    """Every parameter tensor of ``spec`` (tied weights once), in model order. Empty for a bare count.

    Buffers (rotary tables, DeepSeek-V3's ``e_score_correction_bias``) are not parameters and are not listed.
    """
    try:
        hash(spec)
    except TypeError:  # a hand-built spec holding a list: build it every time
        return _build_inventory(spec)
    return _cached_inventory(spec)


@lru_cache(maxsize=32)
def _cached_inventory(spec: ModelSpec) -> tuple[Tensor, ...]:
    """inventory(), built once per spec: the plan searches ask for it thousands of times (the result is an
    immutable tuple of frozen Tensors, so sharing it is safe)."""
    return _build_inventory(spec)


def _build_inventory(spec: ModelSpec) -> tuple[Tensor, ...]:
    if spec.tensor_source is not None:  # the generic path: the tensors transformers builds for the config
        return tuple(spec.tensor_source.tensors(spec))
    return standard_inventory(spec)


def standard_inventory(spec: ModelSpec) -> tuple[Tensor, ...]:
    """The tensors the spec's layers imply (what every first-class family builds)."""
    if spec.is_bare:
        return ()
    out = list(_head(spec))
    for i, layer in enumerate(spec.layers):
        out.extend(_layer(spec.hidden_size, spec.norm, layer, i))
    out.extend(_tail(spec))
    return tuple(out)


def layer_parameters(spec: ModelSpec, layer: int) -> int:
    """Parameters of decoder block ``layer``."""
    if spec.is_generic:
        return sum(t.numel for t in inventory(spec) if t.layer == layer)
    return _layer_counts(spec.hidden_size, spec.norm, spec.layers[layer])[0]


@lru_cache(maxsize=4096)
def _layer_counts(h: int, norm: str, layer: LayerSpec) -> tuple[int, tuple[tuple[str, int], ...], int]:
    """(total, per-group counts, inactive expert parameters) of one block; identical blocks share the work."""
    by_group: dict[str, int] = {}
    inactive = 0
    for t in _layer(h, norm, layer, 0):
        n = t.numel
        by_group[t.group] = by_group.get(t.group, 0) + n
        if t.kind.endswith("_exps") and layer.moe is not None:
            inactive += n - n * layer.moe.top_k // layer.moe.num_experts
    return sum(by_group.values()), tuple(by_group.items()), inactive


def count_parameters(spec: ModelSpec) -> ParameterCount:
    """Exact parameter count with the breakdown by group; tied weights once.

    ``active`` is what one token touches: routed experts scaled by top_k / num_experts (shared experts,
    routers and everything else count fully).
    """
    if spec.parameters_override is not None:
        n = spec.parameters_override
        return ParameterCount(n, {"other": n}, n)
    if spec.is_generic:
        try:
            return _count_generic(spec)
        except TypeError:  # unhashable
            return _count_tensors(spec, inventory(spec))
    by_group: dict[str, int] = {g: 0 for g in GROUPS}
    inactive = 0
    for t in (*_head(spec), *_tail(spec)):
        by_group[t.group] += t.numel
    known: dict[int, tuple[int, tuple[tuple[str, int], ...], int]] = {}  # by identity: skips re-hashing
    for layer in spec.layers:
        counts = known.get(id(layer))
        if counts is None:
            counts = known[id(layer)] = _layer_counts(spec.hidden_size, spec.norm, layer)
        _, groups, idle = counts
        for g, n in groups:
            by_group[g] += n
        inactive += idle
    total = sum(by_group.values())
    return ParameterCount(total, {g: n for g, n in by_group.items() if n}, total - inactive)


@lru_cache(maxsize=32)
def _count_generic(spec: ModelSpec) -> ParameterCount:
    """A listed inventory's totals, once per spec (a generic spec has thousands of tensors to add up)."""
    return _count_tensors(spec, inventory(spec))


def _count_tensors(spec: ModelSpec, tensors: tuple[Tensor, ...]) -> ParameterCount:
    """Totals over a listed inventory; routed-expert tensors count top_k / num_experts towards ``active``."""
    by_group: dict[str, int] = {}
    inactive = 0
    for t in tensors:
        by_group[t.group] = by_group.get(t.group, 0) + t.numel
        moe = spec.layers[t.layer].moe if t.layer is not None and t.layer < len(spec.layers) else None
        if moe is not None and t.kind.endswith("_exps"):
            inactive += t.numel - t.numel * moe.top_k // moe.num_experts
    total = sum(by_group.values())
    return ParameterCount(total, {g: by_group[g] for g in GROUPS if by_group.get(g)}, total - inactive)
