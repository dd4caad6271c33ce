"""DeepSeek sparse attention (DeepSeek-V3.2): what the lightning indexer holds while it picks each query's tokens.

transformers 5.25 (``DeepseekV32Indexer.forward``, run under ``torch.no_grad`` after the MLA layer has expanded its
K and V) scores every query against every cached indexer key in fp32: ``matmul(q.float(), k.float())`` gives a
``b × s × index_heads × t`` tensor, scaled into a second one, then ``relu`` into a third; two of them are alive at a
time. With more than one sequence the matmul cannot fold the key's broadcast batch dimension (``b × 1 × d × t``
against ``b × s``): it materialises the key expanded to every query, ``b × s × d × t`` fp32, beside its output.
Beside them: q in the model dtype (``wq_b``'s output and the rotary ``cat``), its fp32 copy, and the fp32
per-head weights. The ``b × s × t`` index scores and the top-k indices that follow are small next to these.
"""

from __future__ import annotations

from ..spec import AttentionSpec

__all__ = ["indexer_transient"]

FP32 = 4


def indexer_transient(att: AttentionSpec, b: int, s: int, t: int, dt: int) -> tuple[int, str]:
    """Bytes the indexer holds at its peak for ``b`` sequences of ``s`` new queries over ``t`` cached tokens."""
    if not att.index_heads:
        return 0, ""
    heads, d = att.index_heads, att.index_head_dim
    scores = b * s * heads * t * FP32
    expanded_keys = b * s * d * t * FP32 if b > 1 else 0
    q = b * s * heads * d * (2 * dt + FP32)
    if expanded_keys > scores:
        return scores + expanded_keys + q, (f"indexer: fp32 scores {b}×{s}×{heads}×{t} × 4 B + keys expanded to every "
                                            f"query {b}×{s}×{d}×{t} × 4 B + q")
    return 2 * scores + q, (f"indexer: 2 × fp32 scores {b}×{s}×{heads}×{t} × 4 B + q ({heads} heads × {d}, "
                            f"model dtype twice and fp32)")
