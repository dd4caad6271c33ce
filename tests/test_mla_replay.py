"""MLA without the indexer in the inference pool replay (``transformers_pool_blocks.attention_prefill``).

transformers 5.25 ``Glm4MoeLiteAttention.forward`` / ``expand_kv`` (DeepSeek-V3's line): q_a, its fp32 RMSNorm,
q_b; ``kv_a_proj_with_mqa``'s output (kept to the end) and ``kv_a_layernorm``'s fp32 chain; q's rotary part
rotated by halves and concatenated; the latent cached by ``torch.cat``; the query concatenated; ``kv_b_proj`` over
the cached latent; the key made by ``new_empty``; the SDPA kernel's output; with the flash kernel (q, k and v of
one head dim ≤ 256, half type) its output is laid out as the query, so ``reshape(...).contiguous()`` copies it;
``o_proj``. The sizes below are GLM-4.7-Flash's default widths at b2 × 2,500 in bf16, worked by hand; they are the
tensors of 1 MiB or more the simulator's trace of ``glm4-moe-lite-default-l3/prefill-b2-s2500`` shows in its first
layer, in its order.
"""

from __future__ import annotations

from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_blocks import attention_prefill, replays_attention
from memfit.spec import AttentionSpec

MIB = 1 << 20


class Recorder(Trace):
    def __post_init__(self) -> None:
        super().__post_init__()
        self.sizes: list[int] = []

    def alloc(self, nbytes: int) -> int:
        if nbytes >= MIB:
            self.sizes.append(nbytes)
        return super().alloc(nbytes)


def _att(v_head_dim: int = 256) -> AttentionSpec:
    # glm4_moe_lite's default config: 20 heads, q_lora_rank 768, kv_lora_rank 512, qk nope 192 + rope 64, v 256
    return AttentionSpec(num_heads=20, num_kv_heads=20, head_dim=256, v_head_dim=v_head_dim, q_lora_rank=768,
                         kv_lora_rank=512, qk_rope_head_dim=64, qk_nope_head_dim=192)


def test_mla_without_indexer_is_replayed_op_by_op() -> None:
    att = _att()
    assert replays_attention(att)
    assert not replays_attention(att, eager=True) and not replays_attention(att, masked=True)
    tr = Recorder()
    t = 2 * 2500  # tokens
    kv = t * (512 + 64) * 2  # the cached latent and rotary key, bf16
    attention_prefill(tr, att, 2, 2500, 2048, 2, kv)
    q_a, q_a32 = t * 768 * 2, t * 768 * 4
    kv_low, kv_low32 = t * 512 * 2, t * 512 * 4
    q = t * 20 * 256 * 2  # q_b's output: 20 heads × (192 + 64)
    half = t * 20 * 64 * 2 // 2  # half of q's rotary part
    assert tr.sizes == [
        q_a, q_a32, q_a32, q_a32, q_a, q_a,  # q_a, its RMSNorm in fp32, cast back, weighted
        q,  # q_b
        t * 576 * 2,  # kv_a_proj_with_mqa: latent + rotary key
        kv_low32, kv_low32, kv_low32, kv_low, kv_low,  # kv_a_layernorm
        half, half, half, half, half, half, 2 * half,  # x1·cos, x2·sin, −; x1·sin, x2·cos, +; cat
        kv // 2, kv - kv // 2,  # the cache
        q,  # the query concatenated
        t * 20 * (192 + 256) * 2,  # kv_b_proj over the cached latent
        q,  # the key
        t * 20 * 256 * 2, t * 20 * 256 * 2,  # the flash kernel's output and its contiguous copy
        t * 2048 * 2,  # o_proj
    ]


def test_mla_memory_efficient_kernel_output_is_not_copied() -> None:
    # DeepSeek-V3's widths: q/k head 192, v 128; flash needs one head dim for q, k and v, so the memory-efficient
    # kernel runs, whose (b, s, heads, d) output transpose(1, 2).contiguous() leaves as it is
    att = AttentionSpec(num_heads=16, num_kv_heads=16, head_dim=192, v_head_dim=128, q_lora_rank=None,
                        kv_lora_rank=512, qk_rope_head_dim=64, qk_nope_head_dim=128)
    tr = Recorder()
    t = 4096
    attention_prefill(tr, att, 1, t, 2048, 2, t * 576 * 2)
    out = t * 16 * 128 * 2
    assert tr.sizes[-2:] == [out, t * 2048 * 2]
