"""A.X-K2 (transformers 5.25 ``models/axk2/modeling_axk2.py``) in training (issue 12, l12dsa): its per-layer
lightning indexer, gated MLA attention and gated RMSNorms, found on the development case
axk2-default-l2/lora-r16-attn-b2-s1536 (train-sweep-dev.jsonl, moved from blind round 5 by l12total5a)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _simulated import case_errors, records
from memfit.memory.activations import Precision, _linear_inputs, _norm
from memfit.memory.allocator_trace import Trace
from memfit.memory.axk2_attention import attention_saved, first_norm_relief, gated_norm_saved
from memfit.memory.training.layer_axk2 import _indexer
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.sources.hf_config import spec_from_config

DEV = Path(__file__).parent / "data" / "simulated" / "train-sweep-dev.jsonl"
CASE = "axk2-default-l2/lora-r16-attn-b2-s1536"
# the dev case's LoRA: r 16 on q_a_proj, kv_a_proj_with_mqa, kv_b_proj, o_proj of a bf16 model (PEFT's fp32 adapters)
LORA = Precision(
    amp=False,
    weight_bytes=2,
    resid_bytes=2,
    full=False,
    lora_rank=16,
    lora_kinds=frozenset({"attn_q_a", "attn_kv_a_mqa", "attn_kv_b", "attn_output"}),
    kv_cache=True,
)


def _config() -> dict[str, object]:
    config = next(r for r in records(DEV) if r.get("case") == CASE)["config"]
    assert isinstance(config, dict)
    return config


def test_indexer_read_from_the_config() -> None:
    """AXK2Attention.__init__ builds an AXK2Indexer in every layer: 16 heads of 128, top 2,048 (the generic MLA path
    read none)."""
    a = spec_from_config(_config(), "axk2-l2").layers[1].attention
    assert a is not None
    assert (a.index_heads, a.index_head_dim, a.index_topk) == (16, 128, 2048)


def test_attention_saved_per_token_by_hand() -> None:
    """Per token under the dev case's LoRA: q_a_proj's adapter keeps its fp32 input and lora_A's output (4 × 2,048
    + 4 × 16 = 8,256 B), q_a_layernorm its fp32 copy (4 × 384 + 4 = 1,540), kv_a_proj_with_mqa's adapter 8,256,
    kv_a_layernorm 4 × 128 + 4 = 516, kv_b_proj's adapter 4 × 128 + 64 = 576; the efficient kernel q and key (2 ×
    32 × 96 × 2 = 12,288), kv_b's whole output (32 × 128 × 2 = 8,192: value is its view), its output (32 × 64 × 2 =
    4,096) and log-sum-exp (4 × 32 = 128); the gate's fp32 sigmoid 4 × 32 × 64 = 8,192; o_proj's adapter 8,256:
    60,296 B. The additive mask b × s × s × 2 = 9,437,184 B per layer; the cache (128 + 32 + 128) × 2 = 576 B."""
    spec = spec_from_config(_config(), "axk2-l2")
    a = spec.layers[0].attention
    assert a is not None
    assert attention_saved(a, spec, 2, LORA, 2, 1536, _linear_inputs, _norm) == (60_296, 128, 9_437_184, 9_437_184, 576)


def test_gated_norm_and_first_layer_by_hand() -> None:
    """A gated norm keeps y (2 × 2,048) and the fp32 sigmoid (4 × 2,048) beyond its RMSNorm: 12,288 B per token.
    Under LoRA without checkpointing the first layer's input needs no gradient, so its input norm keeps nothing:
    3,072 tokens × (8,196 + 12,288) = 62,926,848 B off layer 0; none with checkpointing (no DynamicCache)."""
    spec = spec_from_config(_config(), "axk2-l2")
    assert gated_norm_saved(2048, 2) == 12_288
    assert first_norm_relief(spec, LORA, 3072) == 62_926_848
    assert first_norm_relief(spec, replace(LORA, kv_cache=False), 3072) == 0


def test_indexer_replay_peak_by_hand() -> None:
    """The indexer's peak in the replay, 2 sequences of 64 tokens, 2 index heads of 8 (4 rotary), bf16: wq_b's output
    128 × 2 × 8 × 2 = 4,096 B, k_norm's 2,048, the rotated half 2,048, the query cat 4,096, the key cat 2,048 and
    its cached copy 2,048, q.float() 8,192, k.float() 4,096, the key expanded to every query 2 × 64 × 8 × 64 × 4 =
    262,144 and the fp32 scores 2 × 64 × 2 × 64 × 4 = 65,536: 356,352 B above the start."""
    config = {**_config(), "index_n_heads": 2, "index_head_dim": 8, "qk_rope_head_dim": 4}
    spec = spec_from_config(config, "axk2-tiny")
    a = spec.layers[0].attention
    assert a is not None
    tr = Trace()
    c = StepContext(tr, spec, LORA, 2, 64, ckpt=False)
    start = tr.pool.allocated
    _indexer(c, LayerRun(), a)
    assert tr.pool.peak_allocated - start == 356_352


def test_development_case() -> None:
    """Before: allocated -2.65 %, device total -11.29 % (no indexer, generic MLA, plain norms)."""
    allocated, total = case_errors(DEV, CASE)
    assert abs(allocated) < 0.002
    assert abs(total) < 0.005


PEFT22 = Path(__file__).parent / "data" / "simulated" / "peft22-dev.jsonl"
V32 = "deepseek-v3.2-l2/lora-r16-attn-b2-s1536"


def test_deepseek_v32_attention_saved_per_token_by_hand() -> None:
    """DeepseekV32Attention is AXK2's with q_b_proj(q_resid) and no gate. Per token, the dev case's LoRA r 16 on
    q_a, q_b, kv_a, kv_b and o (hidden 7,168, 128 heads of 128 + 64, q latent 1,536, kv latent 512): q_a's adapter
    4 × 7,168 + 64 = 28,736 B, q_a_layernorm 4 × 1,536 + 4 = 6,148, q_b's adapter 4 × 1,536 + 64 = 6,208, kv_a's
    28,736, kv_a_layernorm 2,052, kv_b's 4 × 512 + 64 = 2,112; the kernel's q and key 2 × 128 × 192 × 2 = 98,304,
    kv_b's output 128 × 256 × 2 = 65,536, its output 32,768 and log-sum-exp 512; o_proj's adapter 4 × 16,384 + 64 =
    65,600: 336,712 B. The cache (512 + 64 + 128) × 2 = 1,408 B."""
    config = next(r for r in records(PEFT22) if r.get("case") == V32)["config"]
    assert isinstance(config, dict)
    spec = spec_from_config(config, "deepseek-v3.2-l2")
    a = spec.layers[0].attention
    assert a is not None
    lora = replace(LORA, lora_kinds=LORA.lora_kinds | {"attn_q_b"})
    assert attention_saved(a, spec, 2, lora, 2, 1536, _linear_inputs, _norm) == (
        336_712,
        512,
        9_437_184,
        9_437_184,
        1_408,
    )


def test_deepseek_v32_development_case() -> None:
    """Before: allocated -3.63 %, device total -7.29 % (the generic MLA replay, no indexer in training)."""
    allocated, total = case_errors(PEFT22, V32)
    assert abs(allocated) < 0.002
    assert abs(total) < 0.005


SWEEP_DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"


def test_generate_development_case() -> None:
    """AXK2 bf16 generate b2 s3000 (sweep-dev.jsonl): the indexer's key expanded to every query (2 × 3,000 × 128 ×
    3,000 × 4 B = 8.6 GB a layer) beside its fp32 scores. Before the indexer was read: -75.45 %, -70.30 %."""
    allocated, total = case_errors(SWEEP_DEV, "axk2-default-l2/gen-b2-s3000-new8")
    assert abs(allocated) < 0.01
    assert abs(total) < 0.01
