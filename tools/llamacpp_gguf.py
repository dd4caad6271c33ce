"""Write a GGUF file of a real model's shape for llama.cpp to load: every tensor llama.cpp expects
for the architecture, at full size, with all values zero.

The file is sparse: the header is written with the ``gguf`` package and the tensor data is a hole
made by extending the file, so a 70B model costs a few MiB of disk. The tensor names and shapes
follow the ``load_arch_tensors`` functions in llama.cpp's ``src/models/<arch>.cpp`` (build b10605);
the hyper-parameters come from the model's Hugging Face ``config.json``. Used by
tools/measure_llamacpp.py; needs ``gguf`` and ``numpy``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gguf
import numpy as np

Q = gguf.GGMLQuantizationType
Tensor = tuple[str, tuple[int, ...], "gguf.GGMLQuantizationType"]  # name, ggml ne (inner first), type

WEIGHT_TYPES = {"f16": Q.F16, "bf16": Q.BF16, "q8_0": Q.Q8_0, "q4_0": Q.Q4_0, "f32": Q.F32}


@dataclass(frozen=True)
class Shape:
    """The hyper-parameters llama.cpp needs, read from a config.json."""

    arch: str
    n_layer: int
    n_embd: int
    n_head: int
    n_head_kv: int
    head_dim: int
    n_ff: int
    n_vocab: int
    n_ctx_train: int
    cfg: dict[str, Any]
    tied: bool  # no output.weight: llama.cpp uses token_embd as the output layer

    @property
    def kv_dim(self) -> int:
        return self.n_head_kv * self.head_dim


ARCH_OF = {"llama": "llama", "mistral": "llama", "mixtral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
           "qwen3_moe": "qwen3moe", "gemma2": "gemma2", "gemma3_text": "gemma3", "gemma3": "gemma3",
           "phi3": "phi3", "gpt2": "gpt2", "starcoder2": "starcoder2", "olmo2": "olmo2", "stablelm": "stablelm",
           "falcon_mamba": "mamba", "mamba": "mamba", "gpt_oss": "gpt-oss", "deepseek_v2": "deepseek2"}


def shape_of(cfg: dict[str, Any], tied: bool) -> Shape:
    """The llama.cpp hyper-parameters of a Hugging Face config (text part of a multimodal one);
    ``tied`` as the config's class defaults it (each transformers config class has its own default)."""
    if "text_config" in cfg:
        cfg = {**cfg["text_config"], "model_type": cfg["text_config"].get("model_type", cfg["model_type"])}
    mt = cfg["model_type"]
    arch = ARCH_OF[mt]
    h = cfg.get("hidden_size") or cfg.get("n_embd") or cfg["d_model"]
    n_layer = cfg.get("num_hidden_layers") or cfg.get("n_layer") or cfg["n_layers"]
    heads = cfg.get("num_attention_heads") or cfg.get("n_head") or 1
    kvh = cfg.get("num_key_value_heads") or heads
    hd = cfg.get("head_dim") or h // heads
    ff = cfg.get("intermediate_size") or cfg.get("n_inner") or 4 * h
    ctx = cfg.get("max_position_embeddings") or cfg.get("n_positions") or 4096
    return Shape(arch, int(n_layer), int(h), int(heads), int(kvh), int(hd), int(ff), int(cfg["vocab_size"]),
                 int(ctx), cfg, tied)


def _w(typ: gguf.GGMLQuantizationType, ne0: int) -> gguf.GGMLQuantizationType:
    """A matrix in ``typ``, or f16 where its rows do not divide into the type's blocks."""
    block = gguf.GGML_QUANT_SIZES[typ][0]
    return typ if ne0 % block == 0 else Q.F16


def _attn_qkv(s: Shape, p: str, wt: gguf.GGMLQuantizationType, bias: bool) -> list[Tensor]:
    q, kv = s.n_head * s.head_dim, s.kv_dim
    out: list[Tensor] = [(p + "attn_q.weight", (s.n_embd, q), _w(wt, s.n_embd)),
                         (p + "attn_k.weight", (s.n_embd, kv), _w(wt, s.n_embd)),
                         (p + "attn_v.weight", (s.n_embd, kv), _w(wt, s.n_embd))]
    if bias:
        out += [(p + "attn_q.bias", (q,), Q.F32), (p + "attn_k.bias", (kv,), Q.F32), (p + "attn_v.bias", (kv,), Q.F32)]
    return out


def _norm(name: str, n: int, bias: bool = False) -> list[Tensor]:
    out: list[Tensor] = [(name + ".weight", (n,), Q.F32)]
    return [*out, (name + ".bias", (n,), Q.F32)] if bias else out


def _mlp(s: Shape, p: str, wt: gguf.GGMLQuantizationType, n_ff: int, gated: bool = True) -> list[Tensor]:
    out: list[Tensor] = [(p + "ffn_up.weight", (s.n_embd, n_ff), _w(wt, s.n_embd)),
                         (p + "ffn_down.weight", (n_ff, s.n_embd), _w(wt, n_ff))]
    return [*out, (p + "ffn_gate.weight", (s.n_embd, n_ff), _w(wt, s.n_embd))] if gated else out


def _moe(s: Shape, p: str, wt: gguf.GGMLQuantizationType, n_exp: int, n_ff: int) -> list[Tensor]:
    return [(p + "ffn_gate_inp.weight", (s.n_embd, n_exp), Q.F32),
            (p + "ffn_gate_exps.weight", (s.n_embd, n_ff, n_exp), _w(wt, s.n_embd)),
            (p + "ffn_up_exps.weight", (s.n_embd, n_ff, n_exp), _w(wt, s.n_embd)),
            (p + "ffn_down_exps.weight", (n_ff, s.n_embd, n_exp), _w(wt, n_ff))]


def _head(s: Shape, wt: gguf.GGMLQuantizationType, norm_bias: bool = False) -> list[Tensor]:
    out: list[Tensor] = [("token_embd.weight", (s.n_embd, s.n_vocab), _w(wt, s.n_embd))]
    out += _norm("output_norm", s.n_embd, norm_bias)
    if not s.tied:
        out.append(("output.weight", (s.n_embd, s.n_vocab), _w(wt, s.n_embd)))
    return out


def _layers_llama_like(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    """llama, mistral, mixtral, qwen2, qwen3, qwen3moe (src/models/{llama,qwen2,qwen3,qwen3moe}.cpp)."""
    out = _head(s, wt)
    n_exp = int(s.cfg.get("num_local_experts") or s.cfg.get("num_experts") or 0)
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _norm(p + "attn_norm", s.n_embd) + _norm(p + "ffn_norm", s.n_embd)
        out += _attn_qkv(s, p, wt, bias=s.arch == "qwen2")
        out.append((p + "attn_output.weight", (s.n_head * s.head_dim, s.n_embd), _w(wt, s.n_head * s.head_dim)))
        if s.arch in ("qwen3", "qwen3moe"):
            out += _norm(p + "attn_q_norm", s.head_dim) + _norm(p + "attn_k_norm", s.head_dim)
        if n_exp:
            out += _moe(s, p, wt, n_exp, int(s.cfg.get("moe_intermediate_size") or s.n_ff))
        else:
            out += _mlp(s, p, wt, s.n_ff)
    return out


def _layers_gemma(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    """gemma2 and gemma3: embeddings tied, post-attention and post-FFN norms (src/models/gemma{2,3}.cpp)."""
    out = _head(s, wt)
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _norm(p + "attn_norm", s.n_embd) + _norm(p + "post_attention_norm", s.n_embd)
        out += _norm(p + "ffn_norm", s.n_embd) + _norm(p + "post_ffw_norm", s.n_embd)
        out += _attn_qkv(s, p, wt, bias=False)
        out.append((p + "attn_output.weight", (s.n_head * s.head_dim, s.n_embd), _w(wt, s.n_head * s.head_dim)))
        if s.arch == "gemma3":
            out += _norm(p + "attn_q_norm", s.head_dim) + _norm(p + "attn_k_norm", s.head_dim)
        out += _mlp(s, p, wt, s.n_ff)
    return out


def _layers_phi3(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    out = _head(s, wt)
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _norm(p + "attn_norm", s.n_embd) + _norm(p + "ffn_norm", s.n_embd)
        out.append((p + "attn_qkv.weight", (s.n_embd, s.n_embd + 2 * s.kv_dim), _w(wt, s.n_embd)))
        out.append((p + "attn_output.weight", (s.n_embd, s.n_embd), _w(wt, s.n_embd)))
        out.append((p + "ffn_up.weight", (s.n_embd, 2 * s.n_ff), _w(wt, s.n_embd)))
        out.append((p + "ffn_down.weight", (s.n_ff, s.n_embd), _w(wt, s.n_ff)))
    return out


def _layers_gpt2(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    out = [*_head(s, wt, norm_bias=True), ("position_embd.weight", (s.n_embd, s.n_ctx_train), Q.F32)]
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _norm(p + "attn_norm", s.n_embd, True) + _norm(p + "ffn_norm", s.n_embd, True)
        qkv = s.n_embd + 2 * s.kv_dim
        out += [(p + "attn_qkv.weight", (s.n_embd, qkv), _w(wt, s.n_embd)), (p + "attn_qkv.bias", (qkv,), Q.F32),
                (p + "attn_output.weight", (s.n_embd, s.n_embd), _w(wt, s.n_embd)),
                (p + "attn_output.bias", (s.n_embd,), Q.F32),
                (p + "ffn_up.bias", (s.n_ff,), Q.F32), (p + "ffn_down.bias", (s.n_embd,), Q.F32)]
        out += _mlp(s, p, wt, s.n_ff, gated=False)
    return out


def _layers_starcoder2(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    out = _head(s, wt, norm_bias=True)
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _norm(p + "attn_norm", s.n_embd, True) + _norm(p + "ffn_norm", s.n_embd, True)
        out += _attn_qkv(s, p, wt, bias=True)
        out += [(p + "attn_output.weight", (s.n_embd, s.n_embd), _w(wt, s.n_embd)),
                (p + "attn_output.bias", (s.n_embd,), Q.F32),
                (p + "ffn_up.bias", (s.n_ff,), Q.F32), (p + "ffn_down.bias", (s.n_embd,), Q.F32)]
        out += _mlp(s, p, wt, s.n_ff, gated=False)
    return out


def _layers_olmo2(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    out = _head(s, wt)
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _attn_qkv(s, p, wt, bias=False)
        out.append((p + "attn_output.weight", (s.n_embd, s.n_embd), _w(wt, s.n_embd)))
        out += _norm(p + "attn_q_norm", s.n_embd) + _norm(p + "attn_k_norm", s.kv_dim)
        out += _norm(p + "post_attention_norm", s.n_embd) + _norm(p + "post_ffw_norm", s.n_embd)
        out += _mlp(s, p, wt, s.n_ff)
    return out


def _layers_stablelm(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    out = _head(s, wt, norm_bias=True)
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _norm(p + "attn_norm", s.n_embd, True) + _norm(p + "ffn_norm", s.n_embd, True)
        out += _attn_qkv(s, p, wt, bias=bool(s.cfg.get("use_qkv_bias", False)))
        out.append((p + "attn_output.weight", (s.n_embd, s.n_embd), _w(wt, s.n_embd)))
        out += _mlp(s, p, wt, s.n_ff)
    return out


def _layers_mamba(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    d_inner = int(s.cfg.get("intermediate_size") or 2 * s.n_embd)
    d_state, d_conv = int(s.cfg.get("state_size", 16)), int(s.cfg.get("conv_kernel", 4))
    dt_rank = int(s.cfg.get("time_step_rank") or -(-s.n_embd // 16))
    out = _head(s, wt)
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _norm(p + "attn_norm", s.n_embd)
        out += [(p + "ssm_in.weight", (s.n_embd, 2 * d_inner), _w(wt, s.n_embd)),
                (p + "ssm_conv1d.weight", (d_conv, d_inner), Q.F32), (p + "ssm_conv1d.bias", (d_inner,), Q.F32),
                (p + "ssm_x.weight", (d_inner, dt_rank + 2 * d_state), _w(wt, d_inner)),
                (p + "ssm_dt.weight", (dt_rank, d_inner), _w(wt, dt_rank)), (p + "ssm_dt.bias", (d_inner,), Q.F32),
                (p + "ssm_a", (d_state, d_inner), Q.F32), (p + "ssm_d", (d_inner,), Q.F32),
                (p + "ssm_out.weight", (d_inner, s.n_embd), _w(wt, d_inner))]
    return out


def _layers_gpt_oss(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    """gpt-oss (src/models/openai-moe.cpp); experts in the same type as the other matrices."""
    n_exp, n_ff = int(s.cfg["num_local_experts"]), s.n_ff
    out = _head(s, wt)
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _norm(p + "attn_norm", s.n_embd) + _norm(p + "post_attention_norm", s.n_embd)
        out += _attn_qkv(s, p, wt, bias=True)
        out += [(p + "attn_output.weight", (s.n_head * s.head_dim, s.n_embd), _w(wt, s.n_head * s.head_dim)),
                (p + "attn_output.bias", (s.n_embd,), Q.F32), (p + "attn_sinks.weight", (s.n_head,), Q.F32),
                (p + "ffn_gate_inp.weight", (s.n_embd, n_exp), Q.F32), (p + "ffn_gate_inp.bias", (n_exp,), Q.F32),
                (p + "ffn_gate_exps.weight", (s.n_embd, n_ff, n_exp), _w(wt, s.n_embd)),
                (p + "ffn_up_exps.weight", (s.n_embd, n_ff, n_exp), _w(wt, s.n_embd)),
                (p + "ffn_down_exps.weight", (n_ff, s.n_embd, n_exp), _w(wt, n_ff)),
                (p + "ffn_gate_exps.bias", (n_ff, n_exp), Q.F32), (p + "ffn_up_exps.bias", (n_ff, n_exp), Q.F32),
                (p + "ffn_down_exps.bias", (s.n_embd, n_exp), Q.F32)]
    return out


def _layers_deepseek2(s: Shape, wt: gguf.GGMLQuantizationType) -> list[Tensor]:
    """deepseek2 with MLA as current llama.cpp converts it (k_b / v_b split; src/models/deepseek2.cpp)."""
    c = s.cfg
    rope, nope, v_dim = int(c["qk_rope_head_dim"]), int(c["qk_nope_head_dim"]), int(c["v_head_dim"])
    # transformers' DeepseekV2Config default when the config does not name it (an explicit null: no q LoRA)
    kv_lora, q_lora = int(c["kv_lora_rank"]), c.get("q_lora_rank", 1536)
    n_exp, n_ff_exp = int(c["n_routed_experts"]), int(c["moe_intermediate_size"])
    n_shared, dense = int(c.get("n_shared_experts") or 0), int(c.get("first_k_dense_replace") or 0)
    hk = rope + nope
    out = _head(s, wt)
    for i in range(s.n_layer):
        p = f"blk.{i}."
        out += _norm(p + "attn_norm", s.n_embd) + _norm(p + "attn_kv_a_norm", kv_lora) + _norm(p + "ffn_norm", s.n_embd)
        if q_lora:
            out += _norm(p + "attn_q_a_norm", int(q_lora))
            out += [(p + "attn_q_a.weight", (s.n_embd, int(q_lora)), _w(wt, s.n_embd)),
                    (p + "attn_q_b.weight", (int(q_lora), s.n_head * hk), _w(wt, int(q_lora)))]
        else:
            out.append((p + "attn_q.weight", (s.n_embd, s.n_head * hk), _w(wt, s.n_embd)))
        out += [(p + "attn_kv_a_mqa.weight", (s.n_embd, kv_lora + rope), _w(wt, s.n_embd)),
                (p + "attn_k_b.weight", (nope, kv_lora, s.n_head), _w(wt, nope)),
                (p + "attn_v_b.weight", (kv_lora, v_dim, s.n_head), _w(wt, kv_lora)),
                (p + "attn_output.weight", (s.n_head * v_dim, s.n_embd), _w(wt, s.n_head * v_dim))]
        if i < dense:
            out += _mlp(s, p, wt, s.n_ff)
        else:
            out += _moe(s, p, wt, n_exp, n_ff_exp)
            out += [(p + "ffn_gate_shexp.weight", (s.n_embd, n_ff_exp * n_shared), _w(wt, s.n_embd)),
                    (p + "ffn_up_shexp.weight", (s.n_embd, n_ff_exp * n_shared), _w(wt, s.n_embd)),
                    (p + "ffn_down_shexp.weight", (n_ff_exp * n_shared, s.n_embd), _w(wt, n_ff_exp * n_shared))]
    return out


LAYERS: dict[str, Callable[[Shape, gguf.GGMLQuantizationType], list[Tensor]]] = {
    "llama": _layers_llama_like, "qwen2": _layers_llama_like, "qwen3": _layers_llama_like,
    "qwen3moe": _layers_llama_like, "gemma2": _layers_gemma, "gemma3": _layers_gemma, "phi3": _layers_phi3,
    "gpt2": _layers_gpt2, "starcoder2": _layers_starcoder2, "olmo2": _layers_olmo2, "stablelm": _layers_stablelm,
    "mamba": _layers_mamba, "gpt-oss": _layers_gpt_oss, "deepseek2": _layers_deepseek2,
}


def _hparams(w: gguf.GGUFWriter, s: Shape) -> None:
    c = s.cfg
    a = s.arch
    w.add_block_count(s.n_layer)
    w.add_context_length(s.n_ctx_train)
    w.add_embedding_length(s.n_embd)
    w.add_feed_forward_length(s.n_ff)
    w.add_head_count(s.n_head)
    if a == "deepseek2":  # MLA as converted today: one KV head holding the latent (+ rope) as K and V
        w.add_head_count_kv(1)
        w.add_key_length(int(c["kv_lora_rank"]) + int(c["qk_rope_head_dim"]))
        w.add_value_length(int(c["kv_lora_rank"]))
    else:
        w.add_head_count_kv(s.n_head_kv)
        w.add_key_length(s.head_dim)
        w.add_value_length(s.head_dim)
    w.add_rope_freq_base(float(c.get("rope_theta", 10000.0)))
    eps = float(c.get("rms_norm_eps") or c.get("layer_norm_epsilon") or c.get("layer_norm_eps") or c.get("norm_epsilon")
                or 1e-5)
    if a in ("gpt2", "starcoder2", "stablelm"):
        w.add_layer_norm_eps(eps)
    else:
        w.add_layer_norm_rms_eps(eps)
    rot = int(c["qk_rope_head_dim"]) if a == "deepseek2" else s.head_dim
    if a == "stablelm":
        rot = int(s.head_dim * float(c.get("partial_rotary_factor", 0.25)))
    w.add_rope_dimension_count(rot)
    if c.get("sliding_window") and a in ("gemma2", "gemma3", "phi3", "gpt-oss"):
        w.add_sliding_window(int(c["sliding_window"]))
    if a == "gemma3" and c.get("sliding_window_pattern"):
        w.add_sliding_window_pattern(int(c["sliding_window_pattern"]))
    if a == "gemma2":
        w.add_attn_logit_softcapping(float(c.get("attn_logit_softcapping") or 50.0))
        w.add_final_logit_softcapping(float(c.get("final_logit_softcapping") or 30.0))
    n_exp = int(c.get("num_local_experts") or c.get("num_experts") or c.get("n_routed_experts") or 0)
    if n_exp:
        w.add_expert_count(n_exp)
        w.add_expert_used_count(int(c.get("num_experts_per_tok") or c.get("experts_per_token") or 2))
    if a in ("qwen3moe", "gpt-oss", "deepseek2"):
        w.add_expert_feed_forward_length(int(c.get("moe_intermediate_size") or s.n_ff))
    if a == "mamba":
        d_inner = int(c.get("intermediate_size") or 2 * s.n_embd)
        w.add_ssm_conv_kernel(int(c.get("conv_kernel", 4)))
        w.add_ssm_inner_size(d_inner)
        w.add_ssm_state_size(int(c.get("state_size", 16)))
        w.add_ssm_time_step_rank(int(c.get("time_step_rank") or -(-s.n_embd // 16)))
        w.add_layer_norm_rms_eps(eps)
        # conversion/mamba.py: falcon-mamba files set the RMS norms on dt, B and C (classic Mamba does not)
        w.add_ssm_dt_b_c_rms(c.get("model_type") == "falcon_mamba")
    if a == "deepseek2":
        w.add_leading_dense_block_count(int(c.get("first_k_dense_replace") or 0))
        w.add_expert_shared_count(int(c.get("n_shared_experts") or 0))
        w.add_expert_weights_scale(float(c.get("routed_scaling_factor") or 1.0))
        if c.get("q_lora_rank", 1536):
            w.add_q_lora_rank(int(c.get("q_lora_rank", 1536)))
        w.add_kv_lora_rank(int(c["kv_lora_rank"]))
        w.add_key_length_mla(int(c["qk_rope_head_dim"]) + int(c["qk_nope_head_dim"]))
        w.add_value_length_mla(int(c["v_head_dim"]))


def _vocab(w: gguf.GGUFWriter, n_vocab: int) -> None:
    """A SentencePiece-style vocabulary of ``n_vocab`` tokens: 256 byte tokens, then placeholders."""
    toks = [f"<0x{i:02X}>".encode() for i in range(256)] + [f"t{i}".encode() for i in range(256, n_vocab)]
    w.add_tokenizer_model("llama")
    w.add_token_list(toks)
    w.add_token_scores([0.0] * n_vocab)
    w.add_token_types([6] * 256 + [1] * (n_vocab - 256))
    w.add_bos_token_id(256)
    w.add_eos_token_id(257)


def write_gguf(path: str, s: Shape, weight_type: str) -> dict[str, Any]:
    """Write the sparse GGUF file of ``s`` with its matrices in ``weight_type``; returns its tensor
    list as (name, ne, type name) for the record."""
    wt = WEIGHT_TYPES[weight_type]
    tensors = LAYERS[s.arch](s, wt)
    w = gguf.GGUFWriter(path, s.arch)
    _hparams(w, s)
    w.add_file_type(int(gguf.LlamaFileType.MOSTLY_F16))
    _vocab(w, s.n_vocab)
    for name, ne, typ in tensors:
        n = int(np.prod(ne))
        block, size = gguf.GGML_QUANT_SIZES[typ]
        w.add_tensor_info(name, tuple(reversed(ne)), np.dtype(np.float32), n // block * size, raw_dtype=typ)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    align = 32
    start = -(-os.path.getsize(path) // align) * align
    data = sum(-(-gguf.GGML_QUANT_SIZES[t][1] * int(np.prod(ne)) // gguf.GGML_QUANT_SIZES[t][0] // align) * align
               for _, ne, t in tensors)
    os.truncate(path, start + data)
    nbytes = sum(int(np.prod(ne)) // gguf.GGML_QUANT_SIZES[t][0] * gguf.GGML_QUANT_SIZES[t][1] for _, ne, t in tensors)
    return {"n_tensors": len(tensors), "tied": s.tied, "tensor_bytes": nbytes}
