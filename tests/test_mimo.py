"""MiMo-V2-Flash (transformers 5.25 ``mimo_v2_flash``, issue 12 l12fresh): per-layer K/V widths (a sliding layer has
twice the K/V heads and sink logits), v_head_dim, DeepSeek-V3's MoE without shared experts, and an eager softmax in
the scores' dtype. The generic path read one attention for every layer (q/k width for v, no sinks) and an fp32
softmax; found on the fresh blind mimo-v2-flash s12000 generate (allocated +51.52 %), moved to development
(tests/data/simulated/fresh-dev.jsonl) before this was written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers import _attn_transient
from memfit.memory.runtimes.transformers_pool_attention import _shifted_softmax
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

REPO = Path(__file__).resolve().parents[1]
FAMILIES = {"mimo_v2_flash"}  # checked against transformers here (test_parameter_count_equals_the_meta_model)


def _small() -> dict[str, object]:
    cfg: dict[str, object] = json.loads((REPO / "src/memfit/data/models/mimo-v2-flash.json").read_text())
    for key in ("quantization_config", "hybrid_layer_pattern", "moe_layer_freq"):
        cfg.pop(key, None)
    cfg.update(num_hidden_layers=3, n_routed_experts=8, layer_types=["full_attention", "sliding_attention",
                                                                     "sliding_attention"],
               mlp_layer_types=["dense", "sparse", "sparse"])
    return cfg


def test_layers_by_hand() -> None:
    spec = spec_from_config(_small(), "mimo-l3")
    full, swa = spec.layers[0].attention, spec.layers[1].attention
    assert full is not None and swa is not None
    assert (full.num_heads, full.num_kv_heads, full.head_dim, full.value_dim, full.sinks) == (64, 4, 192, 128, False)
    assert (swa.num_kv_heads, swa.value_dim, swa.sinks, swa.sliding_window) == (8, 128, True, 128)
    assert spec.layers[0].moe is None and spec.layers[1].moe is not None
    assert spec.layers[1].moe.num_shared_experts == 0 and spec.layers[1].moe.score_correction_bias


def test_parameter_count_equals_the_meta_model() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from _meta_oracle import assert_counts_match

    assert_counts_match(_small())


def test_eager_scores_two_at_a_time_in_the_model_dtype() -> None:
    """b1, s1024, bf16: two 64 × 1024 × 1024 score tensors of 2 B beside q (the full layer's K/V repeated to 64
    heads: 192 + 128 wide)."""
    spec = spec_from_config(_small(), "mimo-l3")
    att = spec.layers[0].attention
    assert att is not None
    wl = Workload(mode="inference", task="prefill", batch=1, context=1024, attn="eager").validate()
    nbytes, _ = _attn_transient(att, wl, 1, 1024, 2, True, False, "mimo_v2_flash")
    q, rep = 1024 * 64 * 192 * 2, 1024 * 64 * (192 + 128) * 2
    assert nbytes == q + rep + 2 * 64 * 1024 * 1024 * 2


def test_shifted_softmax_peak_by_hand() -> None:
    """rows × s = 512 × 1024 bf16 scores with the sink column: at the softmax the shifted logits and the
    probabilities (s + 1 wide) are alive; the probabilities stay."""
    tr = Trace()
    probs = _shifted_softmax(tr, 512, 1024, 2, True)
    width = 512 * 1025 * 2
    assert tr.pool.peak_allocated == 2 * ((width + 511) // 512 * 512)
    tr.free(probs)
    assert tr.pool.allocated == 0
