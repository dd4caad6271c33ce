"""Families whose modelling code writes its own attention instead of transformers' ``eager_attention_forward`` /
SDPA interface: what the prompt's attention keeps alive at its peak (read off transformers 5.25's modelling files and
checked against the simulator's allocation trace of a development case).

GPT-NeoX-Japanese (``modeling_gpt_neox_japanese.py``; it has no SDPA path, every attention implementation runs
``GPTNeoXJapaneseAttention._attn``):

* ``forward`` projects the fused ``query_key_value`` (``t × 3h``) and keeps it: ``value`` is a permuted view of it,
  ``query`` and ``key`` are ``torch.cat`` copies after the partial rotary embedding (made contiguous);
* ``_attn`` allocates ``attn_scores = torch.zeros(b·heads, q, k)`` and ``baddbmm``'s output into a new tensor,
  adds the mask out of place and takes ``softmax`` in the scores' dtype: the zeros, the masked scores and the
  probabilities are all locals of ``_attn`` until it returns (three score-sized tensors in the model dtype);
  ``torch.matmul(attn_weights, value)`` copies the permuted ``value`` (contiguous) before its ``bmm``;
* the layer returns ``(attn_output, attn_weights)`` and ``GPTNeoXJapaneseModel.forward`` keeps that tuple in
  ``outputs`` until the next layer returns: the previous layer's probabilities are alive through the whole next
  layer (a fourth score-sized tensor from the second layer on; priced by the prefill moments and the pool replay for
  every family of ``transformers_families.HELD_PREV_PROBS``, not here).

With a cache (``generate`` / ``prefill``) ``DynamicLayer.update`` stores copies, and ``key`` / ``value`` become the
cache's tensors: the local ``key`` copy is gone and ``value`` is contiguous (no copy before the ``bmm``).

XGLM (``modeling_xglm.py``, ``XGLMAttention.forward``, fairseq-style; transformers has no SDPA path for XGLM):
``bmm`` scores, ``+ attention_mask``, ``torch.max`` with the dtype's minimum, then ``softmax`` — each step rebinds
``attn_weights``, so two score-sized tensors are alive at a time, all in the model dtype, except that fp16 takes the
softmax in fp32 and casts it back (``softmax(..., dtype=torch.float32).to(torch.float16)``: the clamped scores, the
fp32 probabilities and their fp16 cast, 2 + 4 + 2 bytes per score).

XLM (``modeling_xlm.py``, ``MultiHeadAttention.forward``; XLM has no SDPA path): the query is divided by
``sqrt(head_dim)`` before ``matmul(q, kᵀ)`` (no scaled copy of the scores), the mask is applied in place
(``scores.masked_fill_``), then ``softmax(scores.float(), dim=-1).type_as(scores)``: in a half-precision run
``.float()`` is an explicit fp32 copy of the scores, so fp16 does not take CUDA's fused half→float softmax — the
scores, their fp32 copy and the fp32 probabilities are alive at once (2 + 4 + 4 bytes per score, fp16 as bf16);
in fp32 ``.float()`` and ``type_as`` return their input (the scores and the softmax, 4 + 4).

Doge (``modeling_doge.py``, ``DogeAttention.forward`` / ``prepare_dynamic_mask``, under any attention implementation):
the dynamic mask is built per K/V head before the kernel: the causal mask turned into the model dtype
(``torch.where``, ``b × q × k``), its ``!= 0`` (bool), and ``dt_states`` expanded to ``b × kv_heads × q × k`` and
``masked_fill``'ed (a new tensor in the model dtype), which the kernel reads (``repeat_kv`` copies it to every head
when K/V heads are grouped). With more keys than ``keep_window_size`` (DogeConfig's default 2048; a config's own value
is not read) it also keeps ``zeros_like`` / ``scatter``'s active mask, the top-k indices (int64, ``window`` per row),
their ``== 0`` and a second ``masked_fill``.
"""

from __future__ import annotations

from ...spec import AttentionSpec

__all__ = ["DYNAMIC_MASK", "FLOAT_COPY_EAGER", "OWN_ATTENTION", "OWN_EAGER_SCORES", "dynamic_mask_bytes",
           "own_attention_transient", "own_eager_score"]

OWN_ATTENTION = ("gpt_neox_japanese",)
# families whose attention is their own but shaped like eager_attention_forward: only the bytes per score differ
OWN_EAGER_SCORES = ("xglm",)
# families whose own eager attention copies the scores to fp32 before the softmax (``scores.float()``), fp16 included
FLOAT_COPY_EAGER = ("xlm",)


def own_eager_score(family: str, dt: int, half: bool) -> tuple[int, str] | None:
    """Bytes per attention score alive at once in a family's own eager-shaped attention (None: the shared path's)."""
    if family in FLOAT_COPY_EAGER:  # XLM: the scores, their .float() copy, the fp32 softmax (fp32: no copy)
        return (dt + 8, "masked scores, their fp32 copy, fp32 softmax") if dt == 2 else (2 * dt, "scores, softmax")
    if family not in OWN_EAGER_SCORES:
        return None
    if half:  # fp16: the clamped scores, the fp32 softmax and its fp16 cast
        return 2 * dt + 4, "clamped scores, fp32 softmax, its fp16 cast"
    return 2 * dt, "masked / clamped scores and softmax, model dtype"


def own_attention_transient(family: str, att: AttentionSpec, b: int, s: int, keys: int, dt: int,
                            cached: bool) -> tuple[int, str] | None:
    """Bytes alive inside a family's own attention at its peak (beyond the cache, the stream tensors and the
    masks), ``s`` queries over ``keys`` keys; None for families on transformers' shared attention code."""
    if family not in OWN_ATTENTION:
        return None
    t = b * s
    width = att.num_heads * att.head_dim * dt  # per token: one of q, k, v (MHA, head_dim = hidden / heads)
    scores = b * att.num_heads * s * keys * dt
    # fused qkv output + the cat'ed query + the attention output; without a cache the cat'ed key and the
    # contiguous copy of the permuted value too
    vectors = t * width * (3 + 1 + 1 + (0 if cached else 2))
    # zeros, masked scores, probabilities (the previous layer's: HELD_PREV_PROBS, added by the caller)
    return vectors + 3 * scores, (f"fused qkv, q{'' if cached else ', k, contiguous v'}, output + 3 × scores "
                                  f"{b}×{att.num_heads}×{s}×{keys} × {dt} B (zeros, masked, softmax in the model "
                                  f"dtype)")


DYNAMIC_MASK = ("doge",)
DOGE_KEEP_WINDOW = 2048  # DogeConfig.keep_window_size's default


def dynamic_mask_bytes(family: str, att: AttentionSpec, b: int, q: int, k: int, dt: int) -> tuple[int, int, int]:
    """Doge's dynamic mask for ``q`` queries over ``k`` keys: (bytes at its build's peak, bytes the kernel reads,
    of those the causal mask's float and bool forms freed before the kernel); zeros for other families."""
    if family not in DYNAMIC_MASK:
        return 0, 0, 0
    rows = b * att.num_kv_heads * q
    causal = b * q * k * (dt + 1)  # torch.where's float mask and its != 0
    held = rows * k * dt
    if att.num_heads > att.num_kv_heads:  # repeat_kv's copy to every head (the grouped one goes after)
        held = b * att.num_heads * q * k * dt
    build = causal + rows * k * dt
    if k > DOGE_KEEP_WINDOW:  # + the active mask, the top-k indices, == 0 and the second masked_fill
        build = causal + rows * (k * (3 * dt + 1) + 8 * DOGE_KEEP_WINDOW)
    return max(build, held), held, causal
