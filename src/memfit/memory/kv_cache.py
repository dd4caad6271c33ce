"""KV cache and recurrent state: what each runtime keeps per token (or per sequence) for every layer.

Per attention layer and token, for one sequence::

    K + V = kv_heads · (head_dim + v_head_dim) · bytes_per_element        (MHA, GQA, MQA)

which for Llama-3.1-8B (32 layers, 8 KV heads, head_dim 128, bf16) is 2 · 32 · 8 · 128 · 2 = 131,072
bytes per token. What changes between runtimes is *what* is stored and *how many tokens*:

* **MLA** (DeepSeek-V2/V3): every runtime keeps the compressed latent ``kv_lora_rank + qk_rope_head_dim``
  once per token (one "head", no separate V). transformers (5.17, the measured version, and 5.23) updates the
  cache "while the latent KV is still compressed" and decompresses one layer's K and V per forward
  (``expand_kv``); that transient is in the transformers runtime profile, not here.
* **DeepSeek sparse attention** (DeepSeek-V3.2): the lightning indexer adds one ``index_head_dim`` key per token
  and layer beside the latent (``indexer_key_bytes``: model dtype in transformers, fp8 + scales in vLLM/SGLang).
* **Sliding-window layers**: transformers' ``DynamicSlidingWindowLayer`` keeps the last
  ``window - 1`` tokens once decoding has started (the H100 measurements show exactly that);
  vLLM's hybrid allocator holds ``cdiv(min(window - 1 + max_num_batched_tokens, max_len), block) + 1``
  blocks; llama.cpp sizes an SWA cache to ``min(n_ctx, PAD(n_swa · n_seq + n_ubatch, pad))`` cells.
* **Mamba / Mamba-2**: a constant state per sequence (conv state + SSM state), independent of context.

KV dtypes: any dense dtype (fp32, fp16, bf16, fp8) or a llama.cpp block type (q8_0: 34 bytes per 32
values, q4_0: 18 bytes per 32 …, from ``memfit.formats.ggml_types``).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from ..errors import ConfigError, UnsupportedError
from ..spec import AttentionSpec, LayerSpec, LinearAttentionSpec, ModelSpec, SSMSpec
from .rwkv import rwkv_state_bytes

__all__ = [
    "KVCache",
    "KVDtype",
    "LayerCache",
    "Runtime",
    "cache_layers",
    "indexer_key_bytes",
    "kv_bytes_per_token",
    "kv_cache",
    "kv_cache_bytes",
    "kv_dtype",
    "linear_state_bytes",
    "ssm_state_bytes",
]

Runtime = Literal["transformers", "vllm", "llamacpp"]

_DENSE_BYTES: dict[str, int] = {
    "float32": 4, "fp32": 4, "f32": 4,
    "float16": 2, "fp16": 2, "f16": 2, "half": 2,
    "bfloat16": 2, "bf16": 2,
    "fp8": 1, "fp8_e4m3": 1, "fp8_e5m2": 1, "float8_e4m3fn": 1, "float8_e5m2": 1, "int8": 1,
}


# The block types llama.cpp accepts for --cache-type-k/-v (common/arg.cpp kv_cache_types: f32, f16, bf16,
# q8_0, q4_0, q4_1, iq4_nl, q5_0, q5_1); the K-quants and i-quants are weight formats, not cache types.
_GGML_KV_TYPES = ("q8_0", "q4_0", "q4_1", "q5_0", "q5_1", "iq4_nl")


@dataclass(frozen=True)
class KVDtype:
    """A cache element type: ``block`` values stored in ``block_bytes`` bytes (dense: 1 value, n bytes)."""

    name: str
    block: int
    block_bytes: int

    @property
    def bytes_per_element(self) -> Fraction:
        return Fraction(self.block_bytes, self.block)

    def row_bytes(self, n: int) -> int:
        """Bytes of ``n`` values; a block type needs whole blocks (``ggml_row_size``)."""
        if n % self.block:
            raise ConfigError(f"a KV row of {n} values is not a multiple of {self.name}'s block of {self.block}; "
                              "pick a dense KV dtype (f16, bf16, fp8) for this model")
        return n // self.block * self.block_bytes


def kv_dtype(name: str) -> KVDtype:
    """The cache element type for a name: ``bf16``, ``fp16``, ``fp8``, ``f32``, ``q8_0``, ``q4_0`` …"""
    key = name.lower().removeprefix("torch.")
    if key in _DENSE_BYTES:
        return KVDtype(key, 1, _DENSE_BYTES[key])
    from ..formats import ggml_types

    t = ggml_types().get(key.upper()) if key in _GGML_KV_TYPES else None
    if t is None or t.intermediate:
        known = ", ".join(["f32", "f16", "bf16", "fp8", *_GGML_KV_TYPES])
        raise ConfigError(f"unknown KV cache dtype {name!r}; use one of {known}")
    return KVDtype(t.name.lower(), t.block, t.bytes)


@dataclass(frozen=True)
class LayerCache:
    """What one layer keeps: ``per_token`` bytes per cached token and sequence, at most ``window``
    tokens (None: all), plus ``per_sequence`` bytes of constant state (Mamba)."""

    layer: int
    kind: Literal["full", "sliding", "mla", "ssm", "linear", "conv", "compressed", "compress_buffer"]
    per_token: int
    window: int | None = None
    per_sequence: int = 0
    rate: int = 1  # one cached entry per ``rate`` tokens (DeepSeek-V4's compressed entries)


def _attention_row(att: AttentionSpec, runtime: Runtime, dt: KVDtype) -> tuple[int, str]:
    """Bytes per token of one attention layer's cache, and the arithmetic."""
    if att.kind == "mla":
        assert att.kv_lora_rank is not None
        rope = att.qk_rope_head_dim or 0
        latent = att.kv_lora_rank + rope  # one compressed "head", no separate V
        if not att.index_head_dim:
            return dt.row_bytes(latent), f"latent {att.kv_lora_rank} + rope {rope}"
        index = indexer_key_bytes(att.index_head_dim, runtime, dt)
        return dt.row_bytes(latent) + index, f"latent {att.kv_lora_rank} + rope {rope} + indexer key {index} B"
    k = dt.row_bytes(att.num_kv_heads * att.head_dim)
    v = dt.row_bytes(att.num_kv_heads * att.value_dim)
    if att.index_block and runtime == "transformers":  # MiniMax-M3's sparse layer: its indexer key per token
        # (transformers 5.25 MiniMaxM3VLSparseCacheLayer.update_index: idx_k [b, 1, s, index_head_dim], model dtype)
        idx = dt.row_bytes(att.index_head_dim)
        return k + v + idx, f"2 × {att.num_kv_heads} kv heads × {att.head_dim} + indexer key {idx} B"
    if att.head_dim == att.value_dim:
        return k + v, f"2 × {att.num_kv_heads} kv heads × {att.head_dim}"
    return k + v, f"{att.num_kv_heads} kv heads × ({att.head_dim} + {att.value_dim})"


# vLLM and SGLang keep DeepSeek sparse attention's indexer keys in fp8 with one fp32 scale per 128 values
_INDEX_QUANT_BLOCK = 128


def indexer_key_bytes(index_head_dim: int, runtime: Runtime, dt: KVDtype) -> int:
    """Bytes per token of one layer's lightning-indexer key (DeepSeek-V3.2): transformers' ``DynamicIndexedLayer``
    concatenates the LayerNorm'ed key as the model computes it (the cache dtype); vLLM and SGLang store it as fp8 plus
    an fp32 scale per 128 values (``index_head_dim + index_head_dim // 128 * 4`` bytes, a uint8 buffer) whatever the
    KV dtype; llama.cpp: the cache type."""
    if runtime == "vllm":
        return index_head_dim + index_head_dim // _INDEX_QUANT_BLOCK * 4
    return dt.row_bytes(index_head_dim)


def ssm_state_bytes(ssm: SSMSpec, mixer: str, runtime: Runtime, dtype_bytes: int) -> int:
    """Recurrent state of one Mamba layer for one sequence: conv state + SSM state.

    transformers keeps ``d_conv`` columns of conv state in the model dtype (``LinearAttentionLayer.conv_states``)
    and the SSM state in fp32 (its torch scans compute the state in fp32 and the cache keeps that tensor's dtype;
    checked on transformers 5.25 for mamba, mamba2, jamba and bamba); vLLM and llama.cpp keep ``d_conv - 1``
    columns; llama.cpp stores both states in f32 whatever the KV type.

    RecurrentGemma's RG-LRU block (``ssm.rglru``; transformers 5.25 modeling_recurrent_gemma.py
    ``RecurrentGemmaRecurrentBlock.forward``) keeps ``conv1d_width - 1`` columns of ``lru_width`` in the model dtype
    (the prefill's ``pad(x_branch, (conv1d_width - seq_len - 1, 0))``, the decode's ``conv_state[:, :, 1:]``) and
    ``RecurrentGemmaRglru.recurrent_states`` [batch, lru_width] in fp32 (``_rnn_scan``'s ``acc_dtype``)."""
    if ssm.rwkv:  # RwkvModel's state (memory/rwkv.py): two shift vectors in the model dtype, num/den/max in fp32
        return rwkv_state_bytes(ssm, dtype_bytes)
    cols = ssm.d_conv if runtime == "transformers" and not ssm.rglru else ssm.d_conv - 1
    if mixer == "mamba2":
        conv = cols * (ssm.d_inner + 2 * ssm.n_groups * ssm.d_state)
        state = ssm.num_heads * ssm.head_dim * ssm.d_state
    else:
        conv = cols * ssm.d_inner
        state = ssm.d_inner * ssm.d_state
    elem = 4 if runtime == "llamacpp" else dtype_bytes
    return conv * elem + state * (4 if runtime == "transformers" else elem)


def linear_state_bytes(g: LinearAttentionSpec, runtime: Runtime, dtype_bytes: int) -> int:
    """State of one gated delta-net layer for one sequence: conv state over q, k, v + the recurrent state.

    transformers keeps ``conv_kernel`` columns of conv state in the model dtype and the recurrent state
    (``num_v_heads × head_k_dim × head_v_dim``) in fp32 (its torch chunked delta rule computes in fp32 and caches
    that result); vLLM keeps ``conv_kernel - 1`` columns and the state in the cache dtype; llama.cpp
    ``conv_kernel - 1`` columns, both in f32."""
    cols = g.conv_kernel if runtime == "transformers" else g.conv_kernel - 1
    conv_elem = 4 if runtime == "llamacpp" else dtype_bytes
    state_elem = 4 if runtime in ("transformers", "llamacpp") else dtype_bytes
    return cols * g.conv_dim * conv_elem + g.num_v_heads * g.head_k_dim * g.head_v_dim * state_elem


def cache_layers(spec: ModelSpec, runtime: Runtime = "transformers", dtype: str = "bfloat16") -> list[LayerCache]:
    """Every layer's cache, in order (attention layers and recurrent layers)."""
    dt = kv_dtype(dtype)
    out: list[LayerCache] = []
    for i, layer in enumerate(spec.layers):
        out.extend(_layer_cache(i, layer, runtime, dt, spec.hidden_size))
    if not out and not any(layer.attention is not None for layer in spec.layers):  # KV-shared layers cache nothing
        raise UnsupportedError(f"{spec.name} has no attention or recurrent layer memfit can size a cache for")
    return out


def _layer_cache(i: int, layer: LayerSpec, runtime: Runtime, dt: KVDtype, hidden: int) -> list[LayerCache]:
    if layer.attention is not None and layer.attention.single_kv:
        return compressed_cache(i, layer.attention, runtime, dt)
    out: list[LayerCache] = []
    # a shared layer reads another's cache; a cross-attention layer caches the images' tokens (memory.images)
    if layer.attention is not None and not layer.attention.kv_shared and not layer.attention.cross_attention:
        att = layer.attention
        per_token, _ = _attention_row(att, runtime, dt)
        kind: Literal["full", "sliding", "mla"] = "mla" if att.kind == "mla" else "full"
        if att.sliding_window is not None and kind == "full":
            kind = "sliding"
        out.append(LayerCache(i, kind, per_token, att.sliding_window if kind == "sliding" else None))
    if layer.ssm is not None:
        elem = int(dt.bytes_per_element) if dt.block == 1 else 2
        out.append(LayerCache(i, "ssm", 0, None, ssm_state_bytes(layer.ssm, layer.mixer, runtime, elem)))
    if layer.linear is not None:
        elem = int(dt.bytes_per_element) if dt.block == 1 else 2
        out.append(LayerCache(i, "linear", 0, None, linear_state_bytes(layer.linear, runtime, elem)))
    if layer.conv is not None:  # LFM2: the last kernel inputs per channel (transformers), kernel − 1 elsewhere
        elem = 4 if runtime == "llamacpp" else (int(dt.bytes_per_element) if dt.block == 1 else 2)
        cols = layer.conv.kernel if runtime == "transformers" else layer.conv.kernel - 1
        out.append(LayerCache(i, "conv", 0, None, cols * hidden * elem))
    return out


def compressed_cache(i: int, att: AttentionSpec, runtime: Runtime, dt: KVDtype) -> list[LayerCache]:
    """One DeepSeek-V4 layer's cache under transformers 5.25 (``DeepseekV4HCACache`` / ``DeepseekV4CSACache``).

    * the sliding window: K and V are one tensor (``values = keys``), ``head_dim`` per token;
    * a compressed layer's entries: one per ``compress_rate`` tokens, ``head_dim`` (+ the indexer's
      ``index_head_dim`` on a CSA layer), concatenated as they are emitted;
    * its compressor buffers: the projected ``kv`` and ``gate`` of the tokens not yet pooled. They are views of the
      last call's projections, so right after a prefill they hold the whole prompt's (HCA: 2 × head_dim per token;
      CSA: 2 × 2 × head_dim, and 2 × 2 × index_head_dim for the indexer) and, once decoding, at most a window's
      (``compress_rate`` tokens);
    * a CSA layer's overlap state: the last window's first series, ``compress_rate`` × (head_dim + index_head_dim) in
      the model dtype and again in fp32 for the gate (it carries the fp32 position bias).
    """
    if runtime != "transformers":
        raise UnsupportedError(f"DeepSeek-V4's compressed sparse attention cache is sized for --runtime transformers "
                               f"only; memfit does not describe {runtime}'s layout for it: use --runtime transformers")
    d, di = att.head_dim, att.index_head_dim if att.index_heads else 0
    out = [LayerCache(i, "sliding", dt.row_bytes(d), att.sliding_window)]
    if att.compress_rate:
        rate, series = att.compress_rate, 2 if di else 1
        out.append(LayerCache(i, "compressed", dt.row_bytes(d) + (dt.row_bytes(di) if di else 0), rate=rate))
        state = rate * (d + di) * (int(dt.bytes_per_element) + 4) if di else 0
        out.append(LayerCache(i, "compress_buffer", 2 * series * (dt.row_bytes(d) + (dt.row_bytes(di) if di else 0)),
                              rate + 1, per_sequence=state))
    return out


def kv_bytes_per_token(spec: ModelSpec, runtime: Runtime = "transformers", dtype: str = "bfloat16") -> int:
    """K + V bytes per token and sequence, summed over the attention layers (no window bound)."""
    return sum(c.per_token for c in cache_layers(spec, runtime, dtype))


@dataclass(frozen=True)
class KVCache:
    """A cache's bytes and their arithmetic, from one walk over the layers (``kv_cache``)."""

    bytes: int
    formula: str


def kv_cache(spec: ModelSpec, tokens: int, batch: int = 1, runtime: Runtime = "transformers",
             dtype: str = "bfloat16", *, bound_windows: bool = True) -> KVCache:
    """The cache holding ``tokens`` tokens for each of ``batch`` sequences: its bytes and the arithmetic, layers
    with the same row and token count grouped (``8 sequences × 32 layers × 4,096 tokens × 4,096 B = 4.29 GB``).

    With ``bound_windows`` a sliding layer keeps ``window - 1`` tokens at most (transformers after
    its first decoding step); without it every layer keeps all ``tokens`` (transformers right after
    the prefill, or a runtime that ignores the window). Recurrent state is added once per sequence.
    """
    from ..units import fmt_bytes

    total = 0
    groups: dict[tuple[int, int, int], int] = {}
    for c in cache_layers(spec, runtime, dtype):
        n = tokens
        if bound_windows and c.window is not None:
            n = min(tokens, c.window - 1)
        n //= c.rate
        total += c.per_token * n + c.per_sequence
        key = (c.per_token, n if c.per_token else 0, c.per_sequence)
        groups[key] = groups.get(key, 0) + 1
    total *= batch
    terms = []
    for (per_token, n, per_seq), layers in groups.items():
        parts = []
        if per_token:
            parts.append(f"{n:,} tokens × {per_token:,} B")
        if per_seq:
            parts.append(f"{per_seq:,} B state")
        terms.append(f"{layers} layer{'s' if layers > 1 else ''} × " + (" + ".join(parts) if len(parts) == 1
                                                                        else f"({' + '.join(parts)})"))
    body = terms[0] if len(terms) == 1 else f"({' + '.join(terms)})"
    formula = f"{batch} sequence{'s' if batch > 1 else ''} × {body} ({dtype}) = {fmt_bytes(total)}"
    return KVCache(total, formula)


def kv_cache_bytes(spec: ModelSpec, tokens: int, batch: int = 1, runtime: Runtime = "transformers",
                   dtype: str = "bfloat16", *, bound_windows: bool = True) -> int:
    """The bytes of :func:`kv_cache` (for callers that need no formula)."""
    return kv_cache(spec, tokens, batch, runtime, dtype, bound_windows=bound_windows).bytes
