"""Hugging Face transformers (PyTorch, CUDA): what ``model.generate`` / ``model(...)`` allocate.

The allocated peak is the largest of a few moments, each a sum of tensors alive together
(read off the modelling code and checked op by op with a CPU allocation trace and against the
H100 measurements):

* **prefill, attention of the last layer** — every layer's K/V for the whole prompt (a sliding
  layer's cache is still a view of the full prompt here), the residual stream tensors (embeddings,
  layer input, normed input), q, K/V repeated to all heads where needed, the masks, and for
  ``eager`` the score matrix ``b·heads·s·s``: masked scores, their fp32 copy and the fp32 softmax
  (bf16: 2 + 4 + 4 bytes per score; fp16 has a fused half→float softmax: 2 + 4 + 2).
* **prefill, MLP of the last layer** — the K/V, four hidden-sized tensors (embeddings, layer input,
  residual, normed input; GPT-2 also keeps position embeddings and the attention output), the MLP
  intermediates (gate, act(gate), up, product: 3 × b·s·I alive; 4 with a fused gate_up; GPT-2's
  python gelu_new keeps 4 × b·s·4h), an MoE's gathered tokens and expert outputs
  (4 × b·s·top_k·h), bitsandbytes dequantised weights or LLM.int8 buffers, and with ``eager``
  the attention probabilities the layer still holds.
* **after the prefill** (``generate``/``prefill``): the cache plus last-token logits (bf16, fp32 copy,
  processed scores).
* **decoding** (``generate``): the cache at prompt + new − 1 tokens, sliding layers bounded to
  ``window − 1``, plus one layer's K being re-concatenated (``torch.cat`` copies it).
* **full forward** (``forward``): ``b·s·V`` logits in the model dtype plus the final hidden state.

Inputs (token ids and attention mask, int64) and the rotary cos/sin are added; so is the cuBLAS
workspace (32 MiB on Hopper), which PyTorch counts as allocated.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...formats import COMPUTE_DTYPE_BYTES, compute_dtype
from ...inventory import inventory
from ...spec import AttentionSpec, LayerSpec, ModelSpec, SSMSpec
from ...workload import Workload
from ..dsv4_attention import dsv4_attention_transient
from ..rwkv import channel_mix_bytes, time_mix_bytes
from ..sparse_attention import block_sparse_transient, indexer_transient
from ..ssm_activations import (
    HEADWISE_SELECTIVE_SCAN,
    gated_delta_prefill_bytes,
    headwise_scan_prefill_bytes,
    kda_prefill_bytes,
    mamba2_prefill_bytes,
    mamba_prefill_bytes,
    rglru_prefill_bytes,
)
from .int8_outliers import down_projection_bytes, outlier_columns
from .transformers_attn_families import PV_KEPT_EAGER, fp32_copy_rope_bytes, pv_kept
from .transformers_beam import FP32_SWIGLU, fp32_gate_row_bytes, fp32_swiglu_bytes
from .transformers_cpmant import segment_bias_attention
from .transformers_families import (
    FORCED_MASK,
    FP32_COPY_ROPE,
    FP32_QK_EAGER,
    FP32_ROUTING,
    FP32_SINK_EAGER,
    HELD_GATE,
    KEPT_SCORES_EAGER,
    L2_SUB_NORMED,
    MODEL_DTYPE_SOFTMAX_EAGER,
    MOE_ACT_TENSORS,
    PER_ROUTE_NORM,
    PY_GELU,
    SUB_NORMED,
    extra_stream_tensors,
    l2_norm_bytes,
    sub_norm_bytes,
)
from .transformers_own_attention import own_attention_transient, own_eager_score
from .transformers_pool_inkling import REL_BIAS_SINK_EAGER, rel_bias_sinks_moment, relative_distance_bytes
from .transformers_xmod import ADAPTER_FFN, adapter_ffn_bytes
from .transformers_zamba import zamba_stream_tensors

__all__ = ["Moment"]

INT64 = 8
FP32 = 4


@dataclass(frozen=True)
class Moment:
    """One instant of a run: the tensors alive then, by component."""

    name: str
    kv_cache: int
    activations: int
    logits: int = 0
    formula: str = ""
    kv_formula: str = ""

    @property
    def total(self) -> int:
        return self.kv_cache + self.activations + self.logits


def _model_dtype(spec: ModelSpec, wl: Workload) -> str:
    """The dtype the model runs in: ``wl.dtype`` (bf16 compute under a quantized format), else the config's."""
    name = wl.dtype or spec.dtype
    return compute_dtype(name) or name.lower().removeprefix("torch.")


def _cache_dtype(spec: ModelSpec, wl: Workload) -> str:
    """DynamicCache keeps K/V as the attention computes them: the model dtype (bf16 under quantization)."""
    model_dtype = _model_dtype(spec, wl)
    return wl.kv_dtype or (model_dtype if model_dtype in COMPUTE_DTYPE_BYTES else "bfloat16")


def _stream_tensors(spec: ModelSpec) -> int:
    """Hidden-sized tensors alive during a layer's MLP: embeddings, layer input, residual, normed input."""
    n = 4
    if spec.layers and spec.layers[0].norm_layout == "post":  # OLMo-2: no separate normed MLP input
        n -= 1
    if spec.position_embedding == "learned":
        n += 1
    return n + extra_stream_tensors(spec)


def _mask_count(spec: ModelSpec) -> int:
    """Distinct attention masks built per forward: one per layer type (full, sliding)."""
    if spec.family in REL_BIAS_SINK_EAGER:  # Inkling2LoopTextModel.forward builds both whatever its layer types
        return 2
    kinds = {layer.attention.sliding_window is not None for layer in spec.layers if layer.attention is not None}
    return max(1, len(kinds))


def _mask_bytes(spec: ModelSpec, wl: Workload, b: int, s: int, dt: int, keys: int | None = None) -> int:
    """Masks materialised for the prefill (``s`` queries over ``keys`` keys, default ``s``). sdpa skips the mask
    (is_causal) unless a sliding window is shorter than the prompt or the queries are a chunk after the first
    (masking_utils ``_ignore_causal_mask_sdpa``: only one query or as many as keys); eager always builds an
    additive mask in the model dtype."""
    k = s if keys is None else keys
    if not any(layer.attention is not None for layer in spec.layers):
        # no attention layer, no mask (transformers 5.25 RwkvModel / MambaModel / Mamba2Model.forward never call
        # create_causal_mask: the attention_mask argument is unused)
        return 0
    if wl.attn == "eager":
        return _mask_count(spec) * b * s * k * dt + relative_distance_bytes(spec, s, k)
    if spec.family in FORCED_MASK:
        return b * s * k  # bool mask b×1×s×keys
    windows = {layer.attention.sliding_window for layer in spec.layers if layer.attention is not None}
    if any(w is not None and w < k for w in windows) or k != s:
        # one sequence's s×keys bool, the batch an expanded view: masking_utils sdpa_mask evaluates the index-based
        # mask function on (1, 1, s, keys) indices and .expand(batch_size, ...) (_non_vmap_expansion_sdpa); only a
        # 2D padding mask (padding_mask_function) would index the batch, and there is none: generate drops an
        # all-ones attention_mask (generation/utils.py, "We can drop the mask altogether if it's all 1s"), forward
        # and prefill pass none
        return s * k
    return 0


def _needs_repeat_kv(att: AttentionSpec, wl: Workload, masked: bool) -> bool:
    """transformers' ``repeat_kv`` copies K and V to every head (eager; SDPA with a mask, where ``use_gqa_in_sdpa``
    refuses ``enable_gqa``), except under SDPA with one K/V head: ``expand`` then ``reshape`` over a size-1 head dim
    is a view (the simulator's trace of gemma-3-1b-it b4, a sliding layer: no copy before the memory-efficient
    kernel)."""
    if att.num_kv_heads == att.num_heads or att.kind == "mla":
        return False
    return wl.attn == "eager" or (masked and att.num_kv_heads > 1)  # sdpa uses enable_gqa only without a mask


def _dequant_bytes(spec: ModelSpec, layer_idx: int, kinds: tuple[str, ...]) -> int:
    """Largest bf16 copy of one quantized weight among ``kinds`` in a layer (bnb 4-bit dequantises
    the whole weight for a multi-token matmul)."""
    best = 0
    for t in inventory(spec):
        if t.layer == layer_idx and t.kind in kinds and not t.is_bias:
            n = 1
            for d in t.shape:
                n *= d
            best = max(best, n * 2)
    return best


def _ffn_transient(spec: ModelSpec, layer: LayerSpec, idx: int, wl: Workload, tokens: int, dt: int) -> tuple[int, str]:
    """Bytes alive inside the feed-forward block at its peak, beyond the residual stream."""
    h = spec.hidden_size
    quant = wl.quant
    if spec.family in ADAPTER_FFN and layer.mlp is not None:  # X-MOD's language adapter (transformers_xmod.py)
        return adapter_ffn_bytes(spec, tokens, layer.mlp.intermediate_size, dt)
    if layer.moe is not None:
        moe = layer.moe
        k, i_e = moe.routed_rows, moe.expert_intermediate_size
        # routed experts: the gathered tokens and the expert outputs, T·top_k rows each; DeepSeek
        # weights them with fp32 routing scores, so two of the four are fp32
        rows = 2 * dt + 2 * FP32 if spec.family in FP32_ROUTING else 4 * dt
        act = MOE_ACT_TENSORS.get(spec.family, 0) * i_e * dt  # activation temporaries (gpt-oss's clamped GLU)
        if spec.family in FP32_SWIGLU:  # Beam's fp32 expert gate (BeamExperts._apply_gate)
            act = fp32_gate_row_bytes(h, i_e, dt)
        per = k * max(rows * h, (h + 4 * i_e) * dt, act) + moe.num_experts * FP32 * 2
        text = f"MoE: {tokens:,} tokens × top-{k} × max(4·{h}, {h} + 4·{i_e}) × {dt} B + router"
        if spec.family in PER_ROUTE_NORM:  # the routes' rows and outputs, their fp32 norm, weights and product
            per = k * h * (2 * dt + 3 * FP32) + moe.num_experts * FP32 * 2
            return tokens * per, f"MoE per-route norm: {tokens:,} tokens × top-{k} × {h} × (2·{dt} + 3·4) B + router"
        if moe.num_shared_experts:
            # the shared expert runs first; its output waits beside the routed experts' buffers
            i_s = (moe.shared_intermediate_size or i_e) * moe.num_shared_experts
            per += h * dt
            shared = 3 * i_s * dt
            if shared > per:
                return tokens * shared, f"MoE shared expert: 3 × {tokens:,} tokens × {i_s} × {dt} B"
            text += " + shared expert output"
        return tokens * per, text
    mlp = layer.mlp
    if mlp is None:
        return 0, ""
    i = mlp.intermediate_size
    if layer.ssm is not None and layer.ssm.rwkv:  # RwkvFeedForward beside the block's held time-mixing output
        return channel_mix_bytes(h, i, tokens, dt)
    if mlp.kind == "plain" and mlp.activation == "xielu":  # transformers_pool_blocks.xielu_mlp, op by op
        return tokens * i * (5 * dt + 1), f"{tokens:,} tokens × {i} × (5 × {dt} + 1) B (fc out, xIELU's Python chain)"
    if mlp.kind == "plain":
        # relu²: transformers 5.25 activations.ReLUSquaredActivation keeps relu's output beside its square while the
        # caller still holds fc1's output (three intermediates)
        n = 4 if mlp.activation in PY_GELU else 3 if mlp.activation == "relu2" else 2
        return tokens * n * i * dt, f"{n} × {tokens:,} tokens × {i} × {dt} B (fc out, activation temporaries)"
    if spec.family in FP32_SWIGLU and not quant:  # Beam: gate and up held, the SwiGLU product in fp32
        per = fp32_swiglu_bytes(dt)
        return tokens * i * per, f"{tokens:,} tokens × {i} × {per} B (gate, up; fp32 act, up copy, product)"
    n = 4 if mlp.fused_gate_up or spec.family in HELD_GATE else 3
    base = tokens * n * i * dt
    text = f"{n} × {tokens:,} tokens × {i} × {dt} B (gate, act, up, product)"
    if spec.family in L2_SUB_NORMED:  # Dory: gate and up held beside the product and its fp32 L2 sub-norm
        base = tokens * i * (3 * dt + l2_norm_bytes(dt))
        text = f"{tokens:,} tokens × {i} × (3 × {dt} + {l2_norm_bytes(dt)}) B (gate, up, product; fp32 L2 sub-norm)"
    if spec.family in SUB_NORMED and dt + sub_norm_bytes(dt) > n * dt:  # the product's RMSNorm before down_proj
        base = tokens * i * (dt + sub_norm_bytes(dt))
        text = f"{tokens:,} tokens × {i} × ({dt} + {sub_norm_bytes(dt)}) B (the product and its fp32 sub-norm)"
    if quant == "int8":
        # LLM.int8 (threshold 6.0). Up projection: act(gate) beside the int8 codes of the input, the
        # int32 product and its fp16 dequantisation: 8·I + h bytes per token. Down projection: its
        # input act(gate)·up has heavy tails, so (in the measured, randomly initialised models) nearly
        # every column holds an outlier ≥ 6: bnb copies those weight columns (int8) and dequantises them
        # in fp32 twice (A·stats, ·1/127) = 9 bytes per weight, beside the input, its int8 codes and subA.
        up = tokens * (8 * i + h)
        k = outlier_columns(i, tokens, trained=wl.int8_outliers == "trained")  # see int8_outliers
        down = down_projection_bytes(tokens, i, h, k)
        if down > up:
            return down, (f"LLM.int8 down projection with {k:,} outlier columns: {tokens:,} × 3·{i} + subA "
                          f"{tokens:,}×{k:,}×2 + 9 B × {h}×{k:,} dequantised columns")
        return up, f"LLM.int8 up projection: {tokens:,} tokens × (8·{i} + {h}) B"
    if quant and tokens > 1:
        deq = _dequant_bytes(spec, idx, ("ffn_up", "ffn_gate", "ffn_down", "ffn_up_gate"))
        alt = tokens * (n - 1) * i * dt + deq
        if alt > base:
            return alt, f"{n - 1} × {tokens:,} × {i} × {dt} B + dequantised weight {deq:,} B"
    return base, text


# families whose attention makes q, k and v before it norms q and k (transformers 5.25's Glm4MoeAttention: the three
# projections, then ``q_norm`` and ``k_norm``), so q's fp32 norm temporaries sit on top of k and v as well
QKV_BEFORE_NORM = ("glm4_moe",)


def _qk_norm_transient(att: AttentionSpec, t: int, dt: int, family: str) -> int:
    """Bytes alive while q's per-head RMSNorm runs: q, its fp32 copy and the fp32 normed product (two fp32
    q-sized tensors at once: the copy with its square, then with the scaled copy), and k and v where the
    family projects all three first (:data:`QKV_BEFORE_NORM`)."""
    if att.qk_norm == "none" or att.fused_qkv:
        return 0
    q = t * att.num_heads * att.head_dim * dt
    temps = 2 * (q // dt * FP32) if dt != FP32 else q
    k_v = t * att.num_kv_heads * (att.head_dim + att.value_dim) * dt if family in QKV_BEFORE_NORM else 0
    return q + temps + k_v


def _attn_transient(att: AttentionSpec, wl: Workload, b: int, s: int, dt: int, masked: bool,
                    half: bool, family: str = "", keys: int | None = None) -> tuple[int, str]:
    """Bytes alive inside attention at its peak (beyond the cache and the stream tensors): ``s`` queries over
    ``keys`` keys (default ``s``; fewer queries in a chunk of a chunked prefill); the larger of the kernel's moment
    and, for :data:`FP32_COPY_ROPE` families in half precision, the fp32 rotary embedding's."""
    got, text = _kernel_transient(att, wl, b, s, dt, masked, half, family, keys)
    if wl.attn == "eager" and family in PV_KEPT_EAGER:
        return pv_kept(att, b, s, dt, keys, got, text)
    if family not in FP32_COPY_ROPE or dt == FP32 or att.kind == "mla":
        return got, text
    rope32 = fp32_copy_rope_bytes(att, b * s, dt, wl.task != "forward")
    if rope32 > got:
        return rope32, "q, k, v + fp32 RoPE: q's copy and rotation, k's copy, k·cos, rotate_half(k), its ·sin"
    return got, text


def _kernel_transient(att: AttentionSpec, wl: Workload, b: int, s: int, dt: int, masked: bool,
                      half: bool, family: str = "", keys: int | None = None) -> tuple[int, str]:
    """:func:`_attn_transient` without the fp32 rotary embedding: projections, scores, kernel."""
    if att.single_kv:
        return dsv4_attention_transient(att, b, s, dt)
    t = b * s
    kn = s if keys is None else keys
    own = own_attention_transient(family, att, b, s, kn, dt, wl.task != "forward")
    own = own or segment_bias_attention(family, att, b, s, kn, dt)  # CPM-Ant's (transformers_cpmant)
    if own is not None:  # a family's own attention code (GPT-NeoX-Japanese's _attn)
        return own
    q = t * att.num_heads * att.head_dim * dt
    out = t * att.num_heads * att.value_dim * dt
    if att.kind == "mla":
        # the cache holds the latent; expand_kv decompresses this layer's whole sequence: kv_b_proj's output
        # (nope + v per head, V is a view of it) and a fresh K (nope + rope); q_proj's output and the
        # torch.cat'ed query; the kernel's output
        # DeepSeek-V3.2: the indexer scores every key after expand_kv and before the kernel (its output)
        idx, idx_text = indexer_transient(att, b, s, kn, dt)
        return 2 * q + _mla_expanded(att, b * kn, dt) + max(out, idx), ("q, cat'ed q, decompressed K/V (expand_kv), "
                                                                    + (idx_text if idx > out else "output"))
    if att.index_block and wl.attn != "eager":  # MiniMax-M3's sparse layer: its block mask (sparse_attention)
        return block_sparse_transient(att, b, s, kn, dt, q + t * att.num_kv_heads * (att.head_dim + att.value_dim) * dt,
                                      out)
    rep = 0
    if _needs_repeat_kv(att, wl, masked):
        rep = b * kn * att.num_heads * (att.head_dim + att.value_dim) * dt
    if wl.attn == "eager":
        scores = b * att.num_heads * s * kn
        # masked scores (model dtype) + softmax(dtype=float32): bf16 input is first copied to fp32
        # (2 + 4 + 4 bytes); fp16 takes CUDA's fused half→float softmax and fp32 needs no copy (8)
        per_score = 10 if dt == 2 and not half else 8
        what = "masked, fp32 copy, fp32 softmax"
        if family in FP32_QK_EAGER:
            # GPT-J's own _attn: q and k copied to fp32, fp32 scores and their scaled copy, while the block's
            # output tuple still holds the previous layer's probabilities (model dtype)
            q += 2 * t * att.num_heads * att.head_dim * FP32
            per_score, what = 2 * FP32 + dt, "previous layer's probabilities, fp32 scores, scaled"
        if family in MODEL_DTYPE_SOFTMAX_EAGER:
            # scores × scaling (+ mask) and their softmax, both in the model dtype: two score-sized tensors at a time
            per_score, what = 2 * dt, "masked scores and softmax, model dtype"
        per_score, what = own_eager_score(family, dt, half) or (per_score, what)  # XGLM's own attention
        if family in KEPT_SCORES_EAGER:  # Bloom: the raw (ALiBi-biased) scores kept beside the masked ones, and
            # BloomAttention.forward's fused_qkv (q, k and v) bound beside the query's reshaped copy
            per_score, what = per_score + dt, what + ", raw scores kept, the fused q/k/v output"
            q += t * (att.num_heads * att.head_dim + att.num_kv_heads * (att.head_dim + att.value_dim)) * dt
        if att.sinks and family not in MODEL_DTYPE_SOFTMAX_EAGER:
            # gpt-oss: the masked scores, their concatenation with the sink logits, that minus its row max, and a
            # softmax in the model dtype: three score-sized tensors alive at once
            per_score, what = 3 * dt, "masked, cat with sinks, max-shifted / softmax, model dtype"
        if family in REL_BIAS_SINK_EAGER:  # Inkling2-Loop: relative position bias, input-dependent sinks
            return rel_bias_sinks_moment(att, b, s, kn, dt)
        if family in FP32_SINK_EAGER:  # fp32 masked scores, cat with the sinks, softmax (+1 column)
            q += 2 * b * att.num_heads * s * FP32
            per_score, what = 3 * FP32, "fp32 masked scores, cat with the sinks, fp32 softmax"
        return q + rep + scores * per_score, (f"q + repeated K/V + scores {b}×{att.num_heads}×{s}×{kn} × {per_score} B "
                                              f"({what})")
    if dt == 4 and not masked and att.num_kv_heads < att.num_heads:
        # fp32 with grouped K/V (enable_gqa, no mask): neither flash (half types only) nor the memory-efficient
        # kernel (no GQA) is eligible, so PyTorch runs the math path: q scaled, K and V repeated to every head,
        # the fp32 scores and the masked scores (is_causal becomes an s×s float bias; its bool tril is gone by then)
        scores = b * att.num_heads * s * kn
        rep = b * kn * att.num_heads * (att.head_dim + att.value_dim) * dt
        return (2 * q + rep + 2 * scores * dt + s * kn * dt,
                f"q, scaled q, K/V repeated to {att.num_heads} heads + SDPA math path (fp32, grouped K/V): "
                f"2 × scores {b}×{att.num_heads}×{s}×{kn} × {dt} B + causal bias")
    k_v = t * att.num_kv_heads * (att.head_dim + att.value_dim) * dt
    # the memory-efficient kernel turns a bool mask into an additive one in the model dtype
    additive = b * s * kn * dt if masked else 0
    normed = _qk_norm_transient(att, t, dt, family)
    if normed > q + k_v + rep + out + additive:
        return normed, "q with its per-head RMSNorm's two fp32 copies" + (
            " beside k and v" if family in QKV_BEFORE_NORM else "")
    return q + k_v + rep + out + additive, "q, k, v, repeated K/V, attention output" + (
        " and the additive mask" if additive else "")


def _recurrent_moments(spec: ModelSpec, layer: LayerSpec, idx: int, b: int, s: int, dt: int, fixed: int,
                       kv_full: int, kv_text: str) -> list[Moment]:
    """The prefill of a KDA layer or of a Mamba / Mamba-2 mixer on transformers' torch path (no FLA, mamba-ssm or
    causal-conv1d kernels); none for other layers."""
    out = []
    if layer.linear is not None:
        kda = layer.linear.kind == "kda"
        k_bytes, k_text = (kda_prefill_bytes if kda else gated_delta_prefill_bytes)(layer.linear, b, s, dt)
        k_stream = (_stream_tensors(spec) - 1) * b * s * spec.hidden_size * dt
        out.append(Moment(f"prefill {'KDA' if kda else 'gated delta-net'} (layer {idx})", kv_full,
                          k_stream + k_bytes + fixed, formula=f"{k_stream:,} stream + {k_text} + {fixed:,} inputs",
                          kv_formula=kv_text))
    if layer.ssm is not None:
        out.append(_ssm_moment(spec, layer.ssm, layer.mixer, idx, b, s, dt, fixed, kv_full, kv_text))
    return out


def _ssm_moment(spec: ModelSpec, ssm: SSMSpec, mixer: str, idx: int, b: int, s: int, dt: int, fixed: int,
                kv_full: int, kv_text: str) -> Moment:
    """The prefill of one Mamba / Mamba-2 mixer on transformers' torch path (no mamba-ssm kernels), or of
    RecurrentGemma's RG-LRU block (its own python scan)."""
    t = b * s
    headwise = spec.family in HEADWISE_SELECTIVE_SCAN
    if mixer == "mamba" and not headwise:
        m_bytes, m_text = mamba_prefill_bytes(spec.hidden_size, ssm, t, dt)
        return Moment(f"prefill Mamba scan (layer {idx})", kv_full, m_bytes + fixed,
                      formula=f"{m_text} + {fixed:,} inputs", kv_formula=kv_text)
    if ssm.rwkv:  # RWKV's time mixing: embeddings, layer input and normed input beside the block's tensors
        w_bytes, w_text = time_mix_bytes(ssm, b, s, dt)
        stream = (_stream_tensors(spec) - 1) * t * spec.hidden_size * dt
        return Moment(f"prefill RWKV time mixing (layer {idx})", kv_full, stream + w_bytes + fixed,
                      formula=f"{stream:,} stream + {w_text} + {fixed:,} inputs", kv_formula=kv_text)
    if ssm.rglru:  # RecurrentGemma: embeddings, layer input and normed input beside the block's tensors
        r_bytes, r_text = rglru_prefill_bytes(ssm, b, s, dt)
        stream = (_stream_tensors(spec) - 1) * t * spec.hidden_size * dt
        return Moment(f"prefill RG-LRU scan (layer {idx})", kv_full, stream + r_bytes + fixed,
                      formula=f"{stream:,} stream + {r_text} + {fixed:,} masks/rope/inputs", kv_formula=kv_text)
    scan, text = headwise_scan_prefill_bytes(ssm, b, s, dt) if headwise else mamba2_prefill_bytes(ssm, b, s, dt)
    # stream: Mamba2Block's embeddings, fp32 residual and normed input; a hybrid's embeddings, layer input, normed;
    # Zamba's (transformers_zamba.py)
    n = zamba_stream_tensors(spec, mixer != "mamba") * dt if headwise else _stream_tensors(spec) * dt - dt
    stream = t * spec.hidden_size * ((2 * dt + FP32) if spec.family == "mamba2" else n)
    return Moment(f"prefill {'Mamba' if headwise else 'Mamba-2'} scan (layer {idx})", kv_full, scan + stream + fixed,
                  formula=f"{stream:,} stream + {text} + {fixed:,} masks/rope/inputs", kv_formula=kv_text)


def _mla_expanded(att: AttentionSpec, tokens: int, dt: int) -> int:
    """Bytes of one MLA layer's K and V decompressed from the latent for ``tokens`` tokens."""
    nope = att.qk_nope_head_dim or (att.head_dim - (att.qk_rope_head_dim or 0))
    return tokens * att.num_heads * (nope + att.value_dim + att.head_dim) * dt


def _sampling_bytes(b: int, v: int, dt: int) -> int:
    """Greedy-search step on the last-token logits: the logits (model dtype), their fp32 copy, the
    logits processors' clone and ``where`` outputs (fp32, five copies alive in a trace of the
    min-new-tokens path with a list of EOS ids), and ``arange(vocab)`` int64 + its ``isin`` mask."""
    return b * v * (dt + 5 * FP32) + v * (INT64 + 1)


def _caches(layer: LayerSpec) -> bool:
    return layer.attention is not None and not layer.attention.kv_shared


def _one_layer(spec: ModelSpec, i: int) -> ModelSpec:
    from dataclasses import replace

    return replace(spec, layers=(spec.layers[i],))
