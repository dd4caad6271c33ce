"""The pool replay of transformers' shared eager attention score by score (transformers_pool_attention._eager_scores,
transformers 5.25 ``eager_attention_forward``: matmul, × scaling, + mask, softmax): score-sized blocks, not one block
of all the attention's temporaries, so a larger tensor made after the attention cannot reuse them (the simulator's
trace of the development case nanochat-default-l4 fp32 eager generate opens 64 MiB MLP segments beside the 48 MiB
score blocks)."""

from __future__ import annotations

from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_attention import _eager_scores

MIB = 1 << 20


def test_scores_are_separate_blocks() -> None:
    tr = Trace()
    scores = 12 * MIB  # elements: 48 MiB per fp32 score tensor
    _eager_scores(tr, scores, 4, False, 8 * scores)  # fp32: the masked scores and the softmax, 8 B per score
    # matmul's output and its scaled copy are alive together: two 48 MiB segments; the masked scores and the softmax
    # reuse them
    assert tr.pool.peak_reserved == 96 * MIB
    assert tr.pool.peak_allocated == 96 * MIB
    # a 64 MiB tensor after the attention fits in neither 48 MiB segment: a third segment
    tr.alloc(64 * MIB)
    assert tr.pool.peak_reserved == 160 * MIB


def test_the_rest_stays_one_block() -> None:
    tr = Trace()
    _eager_scores(tr, 12 * MIB, 2, False, 10 * 12 * MIB + 20 * MIB)  # bf16: 10 B per score + 20 MiB of K/V etc.
    # rest (20) + matmul (24) + scaled (24) alive, then masked (24, the matmul's block) + the fp32 copy and softmax
    # (96, a new segment) beside the rest: 20 + 24 + 24 + 96 = 164 MiB reserved
    assert tr.pool.peak_reserved == 164 * MIB


def test_fp16_softmax_and_its_cast_are_two_tensors() -> None:
    # fp16: softmax(dtype=float32) is the fused fp32 softmax, then .to(fp16) its cast; the fp32 one freed once the
    # cast is made (the simulator's trace of granite-swa-default-l4 fp16 eager forward, development)
    tr = Trace()
    scores = 12 * MIB  # elements: 24 MiB per fp16 score tensor
    _eager_scores(tr, scores, 2, True, 8 * scores)  # no rest
    # matmul (24, segment A) and scaled (24, segment B) alive; masked reuses A; the fp32 softmax (48) opens segment C;
    # the cast (24) reuses B: 24 + 24 + 48 = 96 MiB reserved (one 72 MiB block for both made 120); allocated at most
    # masked + softmax + cast = 96 MiB
    assert tr.pool.peak_reserved == 96 * MIB
    assert tr.pool.peak_allocated == 96 * MIB
    tr.alloc(48 * MIB)  # fits the freed softmax's segment
    assert tr.pool.peak_reserved == 96 * MIB
