"""A ``ModelSpec`` from GGUF metadata and tensor shapes: the ``{arch}.*`` keys (heads, KV heads, head sizes,
context, sliding window, experts, SSM sizes) and the tensors themselves (matrix sizes, biases, norms, tying)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec, SSMSpec
from .gguf_header import GGUFTensor

MAX_LAYERS = 10_000


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
    keys = _keys(meta, arch, n, h)
    norm_kinds: dict[int, list[str]] = {}  # layer -> its *norm.weight kinds, in one pass over the tensors
    for key in shapes:
        m = _BLOCK_NORM.match(key)
        if m:
            norm_kinds.setdefault(int(m.group(1)), []).append(m.group(2))
    layers = [_layer(meta, keys, _Block(shapes, f"blk.{i}."), i, heads[i], kv[i], norm_kinds.get(i, ()))
              for i in range(n)]
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


@dataclass(frozen=True)
class _Keys:
    """The ``{arch}.*`` keys every layer reads, read once."""

    arch: str
    n: int
    h: int
    key_len: int | None
    val_len: int | None
    window: int | None
    pattern: object
    kv_lora: int | None
    q_lora: int | None
    rope_dim: int | None
    n_experts: int
    top_k: int
    n_shared: int | None


def _keys(meta: Mapping[str, Any], arch: str, n: int, h: int) -> _Keys:
    a = f"{arch}."
    return _Keys(
        arch=arch, n=n, h=h,
        key_len=_int(meta, a + "attention.key_length_mla") or _int(meta, a + "attention.key_length"),
        val_len=_int(meta, a + "attention.value_length_mla") or _int(meta, a + "attention.value_length"),
        window=_int(meta, a + "attention.sliding_window"),
        pattern=meta.get(a + "attention.sliding_window_pattern"),
        kv_lora=_int(meta, a + "attention.kv_lora_rank"),
        q_lora=_int(meta, a + "attention.q_lora_rank"),
        rope_dim=_int(meta, a + "rope.dimension_count"),
        n_experts=_int(meta, a + "expert_count") or 0,
        top_k=_int(meta, a + "expert_used_count") or 0,
        n_shared=_int(meta, a + "expert_shared_count"),
    )


@dataclass(frozen=True)
class _Block:
    """The tensors of one block (``blk.{i}.``), by kind."""

    shapes: Mapping[str, tuple[int, ...]]
    prefix: str

    def has(self, kind: str, suffix: str = "weight") -> bool:
        return f"{self.prefix}{kind}.{suffix}" in self.shapes

    def rows(self, kind: str) -> int | None:  # output features (ggml ne1)
        d = self.shapes.get(f"{self.prefix}{kind}.weight")
        return d[1] if d is not None and len(d) >= 2 else None

    def cols(self, kind: str) -> int | None:  # input features (ggml ne0)
        d = self.shapes.get(f"{self.prefix}{kind}.weight")
        return d[0] if d is not None and len(d) >= 2 else None


def _layer(meta: Mapping[str, Any], k: _Keys, blk: _Block, i: int, heads: int, kv: int,
           norm_kinds: Sequence[str]) -> LayerSpec:
    attn = _attention(k, blk, i, heads, kv)
    mixer, ssm = _ssm(meta, f"{k.arch}.", blk)
    mlp, moe = _ffn(k, blk)
    kinds = {x for x in norm_kinds if blk.shapes[f"{blk.prefix}{x}.weight"] == (k.h,)} - set(_NORM_EXCLUDE)
    layout = _LAYOUTS.get(frozenset(kinds), "pre") if mixer == "attention" else "pre"
    return LayerSpec(mixer=mixer, attention=attn, ssm=ssm, mlp=mlp, moe=moe,  # type: ignore[arg-type]
                     norms=len(kinds), norm_layout=layout)  # type: ignore[arg-type]


def _attention(k: _Keys, blk: _Block, i: int, heads: int, kv: int) -> AttentionSpec | None:
    if not (heads and (blk.has("attn_q") or blk.has("attn_qkv") or blk.has("attn_q_a")
                       or blk.has("attn_kv_a_mqa"))):
        return None
    hd = k.key_len or k.h // heads
    sw = k.window
    if k.window and isinstance(k.pattern, list) and len(k.pattern) == k.n:
        sw = k.window if k.pattern[i] else None
    elif k.window and k.arch in _SWA_PATTERN:
        sw = k.window if i % _SWA_PATTERN[k.arch] < _SWA_PATTERN[k.arch] - 1 else None
    qn = blk.shapes.get(blk.prefix + "attn_q_norm.weight")
    qk_norm = "none" if qn is None else "head" if qn[0] == hd and len(qn) == 1 else "full"
    mla = {}
    if k.kv_lora:
        mla = {"kv_lora_rank": k.kv_lora, "q_lora_rank": k.q_lora or None, "qk_rope_head_dim": k.rope_dim or 0}
    vd = k.val_len if k.val_len and k.val_len != hd else None
    return AttentionSpec(heads, kv or heads, hd, v_head_dim=vd, sliding_window=sw,
                         qkv_bias=blk.has("attn_q", "bias") or blk.has("attn_qkv", "bias"),
                         o_bias=blk.has("attn_output", "bias"), qk_norm=qk_norm,  # type: ignore[arg-type]
                         sinks=blk.has("attn_sinks"), fused_qkv=blk.has("attn_qkv"), **mla)  # type: ignore[arg-type]


def _ssm(meta: Mapping[str, Any], a: str, blk: _Block) -> tuple[str, SSMSpec | None]:
    if not blk.has("ssm_in"):
        return "attention", None
    inner = _int(meta, a + "ssm.inner_size") or 0
    state = _int(meta, a + "ssm.state_size") or 0
    conv = _int(meta, a + "ssm.conv_kernel") or 0
    dt_rank = _int(meta, a + "ssm.time_step_rank") or 0
    mamba2 = not blk.has("ssm_x")
    mixer = "mamba2" if mamba2 else "mamba"
    return mixer, SSMSpec(inner, state, conv, dt_rank=0 if mamba2 else dt_rank, num_heads=dt_rank if mamba2 else 0,
                          head_dim=inner // dt_rank if mamba2 and dt_rank else 0,
                          n_groups=_int(meta, a + "ssm.group_count") or 1, conv_bias=blk.has("ssm_conv1d", "bias"),
                          proj_bias=blk.has("ssm_in", "bias"))


def _ffn(k: _Keys, blk: _Block) -> tuple[MLPSpec | None, MoESpec | None]:
    if blk.has("ffn_gate_inp"):
        down = blk.shapes.get(blk.prefix + "ffn_down_exps.weight")
        inter = down[0] if down is not None and len(down) == 3 else 0
        sh = blk.cols("ffn_down_shexp") or 0
        count = (k.n_shared or 1) if sh else 0
        return None, MoESpec(k.n_experts, k.top_k, inter, num_shared_experts=count,
                             shared_intermediate_size=sh // count if count else 0,
                             shared_expert_gate=blk.has("ffn_gate_inp_shexp"),
                             router_bias=blk.has("ffn_gate_inp", "bias"), expert_bias=blk.has("ffn_up_exps", "bias"),
                             kind="gated" if blk.has("ffn_gate_exps") else "plain")
    if blk.has("ffn_down"):
        inter = blk.cols("ffn_down") or 0
        fused = not blk.has("ffn_gate") and blk.rows("ffn_up") == 2 * inter  # phi3: gate and up in one tensor
        return MLPSpec(inter, "gated" if blk.has("ffn_gate") or fused else "plain", blk.has("ffn_down", "bias"),
                       fused_gate_up=fused), None
    return None, None
