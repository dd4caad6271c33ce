"""SDPA's math path in the inference pool replay, in the order of torch's ``_scaled_dot_product_attention_math``
(aten/src/ATen/native/transformers/attention.cpp): q·√scale, ``ones(L, S).tril()`` made a float bias, K and V repeated
(``enable_gqa``), the repeated key's transpose times √scale (freed after the scores' matmul), the scores, the bias added
in place, ``_safe_softmax``'s output, the output. Found on the development case codellama-34b-hf-l3 fp32 forward."""

from __future__ import annotations

from _trace_recorder import Recorder
from memfit.memory.runtimes.transformers_pool_attention import _math_sdpa


def test_math_path_order() -> None:
    # CodeLlama-34B's widths: 64 heads of 128, b1 × 2,500 tokens, fp32
    b, s, heads = 1, 2500, 64
    n = b * s * heads * 128 * 4  # q (and K, V repeated to every head)
    scores = b * heads * s * s * 4
    tr = Recorder()
    out = _math_sdpa(tr, b, s, heads, n, n)
    assert out
    assert tr.events == [
        ("+", n),  # q·√scale
        ("+", s * s), ("+", s * s), ("-", s * s),  # ones, tril, the ones go
        ("+", s * s * 4), ("-", s * s),  # the float bias, the tril goes
        ("+", n), ("+", n),  # K and V repeated
        ("+", n),  # the key's transpose·√scale
        ("+", scores), ("-", n),  # the scores; the scaled key goes
        ("+", scores), ("-", scores),  # the softmax beside the scores (the bias added in place), then they go
        ("+", n),  # the output
        ("-", n), ("-", n), ("-", n), ("-", s * s * 4), ("-", scores),
    ]


def test_laid_out_query_copied_by_matmul() -> None:
    """b > 1 (l12total5b, found on the development case emu3-default-l2/prefill-fp32-b2-s1700: device total +6.42 %
    before): the rotated query keeps the projection's (b, s, heads, d) layout, so ``matmul``'s ``reshape`` of it to
    (b·heads, s, d) (aten/src/ATen/native/LinearAlgebra.cpp ``_matmul_impl``) copies it; the copy lives beside the
    scaled key until the scores are made. Emu3's widths: 32 heads of 128, b2 × 1,700 tokens, fp32."""
    b, s, heads = 2, 1700, 32
    n = b * s * heads * 128 * 4  # 55,705,600 B: q, K and V repeated, the scaled key, the query's copy
    scores = b * heads * s * s * 4  # 739,840,000 B
    tr = Recorder()
    _math_sdpa(tr, b, s, heads, n, n, laid_out_query=True)
    assert tr.events == [
        ("+", n),  # q·√scale
        ("+", s * s), ("+", s * s), ("-", s * s), ("+", s * s * 4), ("-", s * s),  # the causal bias
        ("+", n), ("+", n),  # K and V repeated
        ("+", n), ("+", n),  # the key's transpose·√scale, the query's copy
        ("+", scores), ("-", n), ("-", n),  # the scores; the scaled key and the copy go
        ("+", scores), ("-", scores),  # the softmax beside the scores, then they go
        ("+", n),  # the output
        ("-", n), ("-", n), ("-", n), ("-", s * s * 4), ("-", scores),
    ]
