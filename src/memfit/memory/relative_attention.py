"""XLNet's relative attention in training: what its layer and model keep beyond memfit's eager post-norm layer.

From transformers 5.25 ``models/xlnet/modeling_xlnet.py`` (``XLNetLMHeadModel`` run with ``input_ids`` and
``labels``: no ``mems``, ``perm_mask``, ``target_mapping`` or ``token_type_ids``, so one stream, ``seg_mat`` None):

* ``XLNetModel.relative_positional_encoding`` builds ``pos_emb`` over ``klen + qlen`` = 2·s relative positions
  (``attn_type`` "bi", XLNetConfig's default: ``torch.arange(klen, -qlen, -1.0)``), sin and cos in float32
  (``freq_seq ... .float()``), expanded to the batch; ``self.dropout(pos_emb)`` writes it out as a float32
  ``[2s, b, d_model]`` tensor that every layer's ``k_head_r`` einsum keeps (it needs no gradient: no mask kept).
  In a bf16 model ``r.type(self.r.dtype)`` copies it per layer, under autocast the einsum casts it per layer
  (``einsum`` is on autocast's lower-precision list): the copy is what the einsum keeps.
* ``XLNetRelativeAttention.rel_attn_core``: the content score ``einsum(q_head + r_w_bias, k_head_h)`` and the
  position score ``einsum(q_head + r_r_bias, k_head_r)`` keep two biased copies of the query (memfit's eager
  attention counts one query), K, V and ``k_head_r`` (2·s positions per sequence); ``rel_shift_bnij`` turns the
  ``[b, n, s, 2s]`` position score into ``[b, n, s, s]`` by reshape, slice and ``index_select``, which keeps its
  int64 index of ``klen`` entries; the softmax output, the dropout mask and the dropped probabilities are kept as in
  memfit's eager attention. ``ac``, ``bd`` and ``attn_score`` are locals of ``rel_attn_core``: alive beside the
  probabilities until it returns (forward).
* ``post_attention``: ``einsum("ibnd,hnd->ibh", attn_vec, self.o)`` permutes ``o`` into a contiguous copy that the
  bmm keeps (one ``d_model × n_head·d_head`` matrix per layer, the simulator's ``aten.clone`` of 4,194,304 B on
  xlnet-default-l2).
* ``XLNetFeedForward``: ``dropout(activation(layer_1(x)))`` keeps a bool mask of the inner width (layer_2 keeps the
  dropped tensor, of the activation's size, in place of the activation's output).
* after the layers: ``self.dropout(output_h)`` (its mask), ``output.permute(1, 0, 2).contiguous()`` (the copy
  ``lm_loss`` keeps); no final norm.
* backward of the position score: ``index_select``'s backward makes zeros of ``[b, n, s, 2s − 1]`` and
  ``index_add`` into a new one, the slice's backward a ``[b, n, 2s, s]`` tensor, while the gradient of
  ``ac + bd`` (``[b, n, s, s]``) is alive for both scores; the probabilities are freed by then.

Checked against the simulator's trace of xlnet-default-l2/train-fp32-sgd-eager-b2-s400 (train-sweep-dev.jsonl).
"""

from __future__ import annotations

from dataclasses import replace

from ..spec import LayerSpec, ModelSpec
from .activations import LayerActivations, Precision, _inputs, _softmax_backward

__all__ = ["RELATIVE_ATTENTION", "relative_layer", "relative_outside", "relative_positions"]

RELATIVE_ATTENTION = ("xlnet",)


def relative_positions(seq: int) -> int:
    """Relative positions of XLNet's ``pos_emb`` for ``seq`` tokens without memory: ``klen + qlen`` ("bi")."""
    return 2 * seq


def _score_bytes(p: Precision) -> tuple[int, int]:
    """(bytes of a kept attention tensor, bytes of a score gradient): autocast runs the einsums in bf16 and the
    softmax (so its backward) in fp32; otherwise the model dtype throughout."""
    return (2, 4) if p.amp else (p.proj_bytes, p.proj_bytes)


def relative_layer(
    spec: ModelSpec, layer: LayerSpec, la: LayerActivations, p: Precision, b: int, s: int
) -> LayerActivations:
    """``la`` (memfit's eager post-norm layer) with what XLNet's relative attention and feed-forward add."""
    a = layer.attention
    if a is None or p.attn != "eager":
        return la
    h, t, heads = spec.hidden_size, b * s, a.num_heads
    nq = heads * a.head_dim
    ab, gb = _score_bytes(p)
    pos = relative_positions(s) * b
    core = t * nq * ab + pos * nq * ab + 8 * s  # q + r_r_bias, k_head_r, rel_shift's index
    core += pos * h * ab if ab != 4 else 0  # pos_emb in the einsum's dtype, per layer
    o_copy = h * nq * ab  # the permuted copy of o
    mask = t * layer.mlp.intermediate_size if (layer.mlp is not None and p.dropout > 0) else 0  # inner dropout
    sq = b * heads * s * s
    dropped = p.attention_dropout > 0
    generic = 4 + (ab if ab != 4 else 0) + ((1 + ab) if dropped else 0)  # bytes per score the eager layer priced
    # the softmax (no dtype: fp32 only under autocast) keeps its output, the dropout its mask; the probabilities'
    # einsum keeps its input: autocast's bf16 cast, else the dropped probabilities (or the softmax output itself)
    probs = gb + (1 if dropped else 0) + (2 if p.amp else (gb if dropped else 0))
    # backward: d(ac + bd), index_add's output and the slice's gradient, the probabilities already freed
    scores_back = b * heads * s * (s + 2 * s - 1 + 2 * s) * gb - sq * probs
    generic_back = _softmax_backward(spec, layer, p, b, s)
    inter = layer.mlp.intermediate_size if layer.mlp is not None else 0
    mlp_back = 2 * p.mlp_bytes * t * inter
    back = la.backward_extra - max(generic_back, mlp_back) + max(scores_back, mlp_back)
    saved = la.saved + core + o_copy + mask + sq * (probs - generic)
    # kept before the scores: the layer's input (q, k, v's), K, the biased queries, k_head_r, the index, pos_emb's copy
    early = t * sum(_inputs(h, ["attn_q", "attn_k", "attn_v"], p.resid_bytes, p)) + t * 3 * nq * ab
    early += pos * nq * ab + 8 * s + (pos * h * ab if ab != 4 else 0)
    # forward, at attn_vec's einsum: V and the probabilities kept too; ac, bd, attn_score (and under autocast the fp32
    # dropped probabilities) locals of rel_attn_core, q_head and attn_vec of forward, word_emb_k of XLNetModel.forward
    moment = early + t * nq * ab + sq * probs + 3 * sq * ab + (sq * 4 if p.amp and dropped else 0)
    moment += 2 * t * nq * ab + t * h * p.resid_bytes
    # what the one-moment backward (saved + backward_extra + the layer's gradients) over-counts at its two largest
    # moments: the position score's backward (only what ``early`` counts still kept; the gradients of q, k, v and r
    # not made yet) and layer_2's (only its weight gradient made)
    wb = p.weight_bytes if p.full else 0
    at_scores = saved - early - sq * probs + 4 * h * nq * wb
    at_down = back - t * 2 * p.resid_bytes * h - mlp_back + (5 * h * nq + h * inter) * wb
    # under autocast o's cached bf16 cast is not what its einsum keeps (the permuted copy is): it goes with the cache
    casts = la.weight_casts - (h * nq * 2 if p.amp and p.full else 0)
    return replace(
        la,
        weight_casts=casts,
        saved=saved,
        attention_core=la.attention_core + core,
        forward_extra=max(mlp_back, moment - saved),  # (the feed-forward's: layer_1's output and the activation's)
        backward_extra=back,
        backward_relief=max(0, min(at_scores, at_down)),
    )


def relative_outside(spec: ModelSpec, p: Precision, b: int, s: int) -> tuple[int, int]:
    """(bytes XLNet keeps outside its layers beyond the input ids and the embedding's dropout mask, of which made
    after the last layer): ``pos_emb`` (float32), the final dropout's mask and the head's input."""
    h, t = spec.hidden_size, b * s
    own, shared = _inputs(h, ["output"], p.resid_bytes, p)  # lm_loss keeps the permuted copy (its bf16 cast)
    final = (t * h if p.dropout > 0 else 0) + t * (own + shared)
    pos = relative_positions(s) * b * h * 4 if _score_bytes(p)[0] == 4 else 0  # else each layer keeps its own copy
    return pos + final, final
