"""The eager attention of the families whose model loop holds each layer's probabilities
(``transformers_families.HELD_PREV_PROBS``), score tensor by score tensor as their modelling code makes them
(transformers 5.25), where the pool replayed one block of the profile's bytes:

* BLOOM (``modeling_bloom.py`` ``BloomAttention.forward``): ``attention_scores = alibi.baddbmm(q, kᵀ, beta, alpha)``
  (kept under that name), ``attn_weights = attention_scores.view(...) + attention_mask`` (a new tensor, kept),
  ``F.softmax(attn_weights, dim=-1, dtype=torch.float32)`` (bf16: the input copied to fp32 first, torch
  ``SoftMax.cpp`` ``softmax``: only a CUDA Half input takes the fused half→float kernel; fp32: no copy) and
  ``.to(query_layer.dtype)``; both score tensors go when the attention returns;
* MPT (``modeling_mpt.py`` ``MptAttention.forward``): ``matmul(q, kᵀ) * softmax_scale`` (the product freed),
  ``+ position_bias`` (ALiBi), ``.masked_fill(attention_mask, min)`` (kept as ``attention_scores``),
  ``softmax(attention_scores.float())`` (``.float()`` copies any half type) and ``.to(value dtype)``;
* GPT-Neo (``modeling_gpt_neo.py`` ``GPTNeoSelfAttention._attn``): fp32 ``matmul`` of fp32 q and k, ``torch.where``
  with the causal (or local) mask, ``+ attention_mask``, ``softmax`` (fp32), ``.to(value.dtype)``; each step frees
  the one before.

The simulator's traces of the development cases (sweep-dev.jsonl: bloom-560m-l4 bf16 eager generate, mpt-default-l3
fp32 eager forward, gpt-neo-default-l4 fp32 eager generate) show these tensors one by one, where the cached blocks
they land in decide the reserve.
"""

from __future__ import annotations

from ..allocator_trace import Trace

__all__ = ["held_eager"]

FP32 = 4
Step = tuple[str, str, int]  # ("a", name, bytes per score) or ("f", name, 0)


def _softmax_to(src: str, dt: int, copy: bool) -> list[Step]:
    """``softmax`` in fp32 of ``src`` (``copy``: an fp32 copy made first and freed once the softmax is made), then
    ``.to(dt)`` (nothing in fp32: the softmax is the probabilities)."""
    steps: list[Step] = [("a", "copy", FP32)] if copy else []
    steps += [("a", "probs" if dt == FP32 else "soft", FP32), ("f", "copy", 0)]
    return steps if dt == FP32 else [*steps, ("a", "probs", dt), ("f", "soft", 0)]


def _chain(family: str, dt: int, half: bool, alibi: bool) -> list[Step] | None:
    """The score tensors of the family's eager attention, in order (module docstring); None: not described."""
    if family == "bloom":
        return [
            ("a", "raw", dt),
            ("a", "masked", dt),
            *_softmax_to("masked", dt, dt == 2 and not half),
            ("f", "raw", 0),
            ("f", "masked", 0),
        ]
    if family == "mpt":
        scaled: list[Step] = [("a", "raw", dt), ("a", "scaled", dt), ("f", "raw", 0)]
        if alibi:  # + position_bias
            scaled += [("a", "biased", dt), ("f", "scaled", 0)]
        return [
            *scaled,
            ("a", "masked", dt),
            ("f", "biased" if alibi else "scaled", 0),
            *_softmax_to("masked", dt, dt != FP32),
            ("f", "masked", 0),
        ]
    if family == "gpt_neo":
        soft = "probs" if dt == FP32 else "soft"
        return [
            ("a", "raw", FP32),
            ("a", "where", FP32),
            ("f", "raw", 0),
            ("a", "masked", FP32),
            ("f", "where", 0),
            ("a", soft, FP32),
            ("f", "masked", 0),
            *([("a", "probs", dt), ("f", "soft", 0)] if dt != FP32 else []),
        ]
    return None


def _peak(chain: list[Step]) -> int:
    """The most bytes per score the chain holds at once."""
    live: dict[str, int] = {}
    peak = 0
    for op, name, per in chain:
        if op == "a":
            live[name] = per
            peak = max(peak, sum(live.values()))
        else:
            live.pop(name, None)
    return peak


def held_eager(
    tr: Trace, family: str, scores: int, dt: int, half: bool, total: int, alibi: bool, query: int = 0
) -> int:
    """The attention's temporaries beside q and K/V (``total`` bytes at their peak, the profile's), the score
    tensors of ``scores`` elements one by one and the rest as one block alive throughout, then ``query`` freed as the
    attention returns; returns the probabilities, which the model loop holds. A family without a described chain:
    the rest, then the probabilities."""
    chain = _chain(family, dt, half, alibi)
    if chain is None:
        rest = tr.alloc(total - scores * dt)
        probs = tr.alloc(scores * dt)
        tr.free(rest, query)
        return probs
    rest = tr.alloc(max(0, total - scores * _peak(chain)))
    keys: dict[str, int] = {}
    for op, name, per in chain:
        if op == "a":
            keys[name] = tr.alloc(scores * per)
        else:
            tr.free(keys.pop(name, 0))
    tr.free(rest, query)
    return keys.get("probs", 0)
