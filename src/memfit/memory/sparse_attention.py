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

__all__ = ["block_sparse_transient", "indexer_transient"]

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
        return scores + expanded_keys + q, (
            f"indexer: fp32 scores {b}×{s}×{heads}×{t} × 4 B + keys expanded to every query {b}×{s}×{d}×{t} × 4 B + q"
        )
    return 2 * scores + q, (
        f"indexer: 2 × fp32 scores {b}×{s}×{heads}×{t} × 4 B + q ({heads} heads × {d}, model dtype twice and fp32)"
    )


def block_sparse_transient(att: AttentionSpec, b: int, s: int, t: int, dt: int, qkv: int, out: int) -> tuple[int, str]:
    """MiniMax-M3's ``minimax_m3_sparse`` layer under SDPA (transformers 5.25 ``MiniMaxM3VLIndexer.build_block_mask``,
    ``runtimes/transformers_pool_m3`` replays it op by op), beside q, k and v (``qkv`` bytes): at the mask's last
    ``masked_fill`` the block selection repeated to every head, ``keep``, ``torch.zeros``, ``~keep`` and the additive
    mask (``b × heads × s × t``: three bool, two in the model dtype) and ``token_future`` (``b × s × t`` bool); then
    the kernel beside the mask, K and V repeated to every head (a mask refuses ``enable_gqa``) and its output
    (``out`` bytes). The indexer's own fp32 scores (``index_heads`` of them) are smaller than these."""
    full = b * att.num_heads * s * t
    build = qkv + full * (2 * dt + 3) + b * s * t
    kernel = qkv + full * dt + b * t * att.num_heads * (att.head_dim + att.value_dim) * dt + out
    if build >= kernel:
        return build, (
            f"q, k, v + block-sparse mask {b}×{att.num_heads}×{s}×{t} × {2 * dt + 3} B (selection, keep, "
            "zeros, ~keep, additive mask) + token_future"
        )
    return kernel, f"q, k, v + additive block-sparse mask {b}×{att.num_heads}×{s}×{t} × {dt} B + repeated K/V + output"
