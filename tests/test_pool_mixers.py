"""The recurrent mixers, MoE blocks and DeepSeek sparse attention replayed through the allocator emulation
(memory/runtimes/transformers_pool_mixers.py, transformers_pool_blocks.py): sizes worked out by hand from
transformers 5.25's torch path, and no tensor left behind. The device totals they give are held in
tests/test_accuracy.py."""

from __future__ import annotations

import pytest

from _traces import Counted, rounded
from memfit.memory.runtimes.transformers_pool_blocks import ffn_prefill, replays_ffn
from memfit.memory.runtimes.transformers_pool_mixers import mixer_prefill, replays_mixer
from memfit.memory.ssm_activations import mamba2_prefill_bytes
from memfit.spec import LayerSpec, MLPSpec, MoESpec, SSMSpec

# Nemotron 3 Nano's Mamba-2 mixer: d_inner 4,096 = 64 heads × 64, state 128, 8 groups, chunk 128
NANO = SSMSpec(d_inner=4096, d_state=128, d_conv=4, num_heads=64, head_dim=64, n_groups=8, gated_norm=True,
               chunk_size=128)


def test_mamba2_mixer_leaves_only_its_output_and_the_state() -> None:
    layer = LayerSpec(mixer="mamba2", attention=None, ssm=NANO)
    assert replays_mixer(layer)
    tr = Counted()
    out, kept = mixer_prefill(tr, layer, "nemotron_h", 2, 4096, 2688, 2, 1_000_000)
    # out_proj's output: 2 × 4,096 tokens × 2,688 × 2 B; the state as given
    assert tr.live == rounded(2 * 4096 * 2688 * 2) + rounded(1_000_000)
    assert out and len(kept) == 1


def test_mamba2_mixer_peak_is_the_scan_formula() -> None:
    """Two codings of the same code path agree: the replay's live peak (beyond its input) equals
    ``mamba2_prefill_bytes`` (the allocated-peak formula counted from the simulator's trace) plus the per-head
    scalars (dt, A·dt, cumsums: 4 fp32 b·S·H tensors) and out_proj's input, which the formula leaves out as small
    or already freed: within 0.5 % (0.04 % here). At b = 2, s = 4,096: the chunk² tensors are
    2 × 64 × 4,096 × 128 × 4 B = 268,435,456 B each."""
    tr = Counted()
    mixer_prefill(tr, LayerSpec(mixer="mamba2", attention=None, ssm=NANO), "nemotron_h", 2, 4096, 2688, 2, 0)
    formula, _ = mamba2_prefill_bytes(NANO, 2, 4096, 2)
    assert abs(tr.peak - formula) / formula < 0.005


@pytest.mark.parametrize("family,fp32", [("qwen3_moe", False), ("nemotron_h", True)])
def test_grouped_moe_block_peak_by_hand(family: str, fp32: bool) -> None:
    """A gated MoE block, 1,000 tokens, top-8 of 128 experts of 768, hidden 2,048, bf16, no shared expert: at the
    down projection the gathered rows (8,000 × 2,048 × 2), the product (8,000 × 768 × 2) and the down output
    (8,000 × 2,048 × 2) are alive; at the weighting, the gathered rows, the down output, the weighted rows and
    their copy in token order (8,000 × 2,048 × 2 or × 4 with fp32 routing scores) — and the larger is the peak."""
    layer = LayerSpec(mixer="attention", attention=None, mlp=None,
                      moe=MoESpec(num_experts=128, top_k=8, expert_intermediate_size=768))
    assert replays_ffn(layer, family)
    tr = Counted()
    out = ffn_prefill(tr, layer, family, 1000, 2048, 2)
    rows = 8000 * 2048
    w = 4 if fp32 else 2
    gate_up = rounded(2 * 8000 * 768 * 2) + 2 * rounded(8000 * 768 * 2) + rounded(rows * 2)
    weighting = 2 * rounded(rows * 2) + 2 * rounded(rows * w)
    assert tr.peak == max(gate_up, weighting)
    assert tr.live == rounded(1000 * 2048 * 2) and out


def test_relu2_mlp_and_dense_dispatch() -> None:
    """A relu² MLP (Nemotron-H) is replayed (up, relu, its square: three t·I tensors at once); so is Llama 4's
    every-expert dispatch, whose peak (100 tokens × 16 experts = 1,600 rows, hidden 64, expert width 8, bf16) is at
    the down projection: the scaled input (1,600 × 64 × 2), gate_up (1,600 × 16 × 2), the product (1,600 × 8 × 2)
    and the down output (1,600 × 64 × 2), beside the output the block returns at the end; gpt-oss's clamped GLU
    keeps the profile's coarse blocks."""
    mlp = LayerSpec(mixer="attention", attention=None, mlp=MLPSpec(intermediate_size=1000, kind="plain",
                                                                   activation="relu2"))
    assert replays_ffn(mlp, "nemotron_h")
    tr = Counted()
    ffn_prefill(tr, mlp, "nemotron_h", 100, 64, 2)
    assert tr.peak == 3 * rounded(100 * 1000 * 2)
    dense = LayerSpec(mixer="attention", attention=None,
                      moe=MoESpec(num_experts=16, top_k=1, expert_intermediate_size=8, dense_dispatch=True))
    assert replays_ffn(dense, "llama4_text")
    tr = Counted()
    ffn_prefill(tr, dense, "llama4_text", 100, 64, 2)
    assert tr.peak == 2 * rounded(1600 * 64 * 2) + rounded(1600 * 16 * 2) + rounded(1600 * 8 * 2)
    assert tr.live == rounded(100 * 64 * 2)
    assert not replays_ffn(LayerSpec(mixer="attention", attention=None, moe=MoESpec(32, 4, 8)), "gpt_oss")


def test_gated_delta_net_and_sparse_attention_leave_only_output_and_cache() -> None:
    """Qwen3-Next's gated delta-net (16 key heads, 32 value heads of 128) and DeepSeek-V3.2's attention (MLA with the
    lightning indexer) on 2 × 1,000 tokens: everything they make is freed but out_proj's / o_proj's output
    (2,000 × hidden × 2 B) and the cache they are given."""
    from memfit.memory.runtimes.transformers_pool_blocks import attention_prefill, replays_attention
    from memfit.spec import AttentionSpec, LinearAttentionSpec

    gdn = LayerSpec(mixer="linear_attention", attention=None,
                    linear=LinearAttentionSpec(num_k_heads=16, num_v_heads=32, head_k_dim=128, head_v_dim=128,
                                               conv_kernel=4))
    assert replays_mixer(gdn)
    tr = Counted()
    mixer_prefill(tr, gdn, "qwen3_next", 2, 1000, 2048, 2, 4_000_000)
    assert tr.live == rounded(2000 * 2048 * 2) + rounded(4_000_000)
    dsa = AttentionSpec(num_heads=16, num_kv_heads=16, head_dim=192, v_head_dim=128, q_lora_rank=256,
                        kv_lora_rank=128, qk_rope_head_dim=64, qk_nope_head_dim=128, index_heads=8,
                        index_head_dim=128, index_topk=256)
    assert replays_attention(dsa)
    tr = Counted()
    attention_prefill(tr, dsa, 2, 1000, 1024, 2, 1_000_000)
    assert tr.live == rounded(2000 * 1024 * 2) + rounded(500_000) * 2
    # with two sequences the indexer's matmul copies the key for every query: 2 × 1,000 × 128 × 1,000 × 4 B
    # beside the 2 × 1,000 × 8 × 1,000 × 4 B scores
    assert tr.peak > 2 * 1000 * 128 * 1000 * 4 + 2 * 1000 * 8 * 1000 * 4


def test_kda_leaves_only_output_and_state() -> None:
    """Kimi delta attention (32 heads of 128, conv 4) on 2 × 1,000 tokens: only o_proj's output and the state stay;
    its peak holds three per-channel decay-mask-sized fp32 tensors, 2 × 32 × 1,024 × 64 × 128 × 4 B each (the
    sequence padded to 16 chunks of 64)."""
    from memfit.spec import LinearAttentionSpec

    kda = LayerSpec(mixer="linear_attention", attention=None,
                    linear=LinearAttentionSpec(num_k_heads=32, num_v_heads=32, head_k_dim=128, head_v_dim=128,
                                               conv_kernel=4, kind="kda"))
    assert replays_mixer(kda)
    tr = Counted()
    mixer_prefill(tr, kda, "kimi_linear", 2, 1000, 2304, 2, 3_000_000)
    assert tr.live == rounded(2000 * 2304 * 2) + rounded(3_000_000)
    assert tr.peak > 3 * 2 * 32 * 1024 * 64 * 128 * 4
