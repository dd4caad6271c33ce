"""GLM-5 (transformers 5.25 ``glm_moe_dsa``, issue 12 l12sweep2): ``GlmMoeDsaConfig(DeepseekV32Config)`` with
DeepSeek-V3.2's MLA, lightning indexer and MoE, and cross-layer top-k sharing (``indexer_types``: a "shared" layer
builds no indexer, ``GlmMoeDsaAttention.__init__``). The generic path read it as MLA with no indexer and a plain MoE:
the blind sweep's glm-moe-dsa generate was under by 2.28 % (its peak is the last layer's fp32 indexer scores), moved
to development (tests/data/simulated/sweep-dev.jsonl) before this was written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.inventory import count_parameters
from memfit.memory.runtimes.transformers_families import FP32_ROUTING
from memfit.memory.runtimes.transformers_pool_blocks import GROUP_ROUTED
from memfit.sources.hf_config import spec_from_config
from memfit.validate import _predict, measured_total, prior_bytes

REPO = Path(__file__).resolve().parents[1]
FAMILIES = {"glm_moe_dsa"}  # checked against transformers here (test_parameter_count_equals_the_meta_model)


def _config(name: str) -> dict[str, object]:
    cfg: dict[str, object] = json.loads((REPO / f"src/memfit/data/models/{name}.json").read_text())
    cfg.pop("quantization_config", None)
    return cfg


def _small() -> dict[str, object]:
    cfg = _config("glm-5.2")
    cfg.update(num_hidden_layers=5, mlp_layer_types=["dense", "dense", "sparse", "sparse", "sparse"],
               indexer_types=["full", "full", "full", "shared", "full"], n_routed_experts=8)
    return cfg


def test_indexer_per_layer_and_deepseek_moe() -> None:
    spec = spec_from_config(_small(), "glm-5.2-l5")
    assert spec.family == "glm_moe_dsa" and spec.tensor_source is None  # a builder, not the generic path
    assert [layer.attention.index_heads if layer.attention else None for layer in spec.layers] == \
        [32, 32, 32, 0, 32]  # a shared layer builds no indexer, and keeps the top-k it masks with
    assert all(layer.attention and layer.attention.index_topk == 2048 for layer in spec.layers)
    att = spec.layers[0].attention
    assert att is not None and att.kind == "mla" and att.index_heads == 32 and att.index_head_dim == 128
    moe = spec.layers[2].moe
    assert moe is not None and moe.score_correction_bias and moe.num_groups == 1 and moe.top_k == 8
    assert "glm_moe_dsa" in FP32_ROUTING and "glm_moe_dsa" in GROUP_ROUTED


def test_indexer_types_from_freq_and_offset() -> None:
    """GlmMoeDsaConfig.__post_init__: full where max(i - offset + 1, 0) % freq == 0 (freq 4, offset 3: layers 0-2,
    then every fourth from 6); without the fields every layer is full (freq 1)."""
    cfg = _config("glm-5.2")
    cfg.update(num_hidden_layers=8, mlp_layer_types=["dense"] * 3 + ["sparse"] * 5, indexer_types=None)
    full = [bool(layer.attention and layer.attention.index_heads) for layer in spec_from_config(cfg, "x").layers]
    assert full == [True, True, True, False, False, False, True, False]
    cfg.update(index_topk_freq=None, index_skip_topk_offset=None)
    assert all(layer.attention and layer.attention.index_heads for layer in spec_from_config(cfg, "y").layers)


def test_catalog_counts() -> None:
    """The catalog's counts (transformers 5.25 on the meta device): GLM-5.2's 57 shared layers have no indexer."""
    assert count_parameters(spec_from_config(_config("glm-5"), "glm-5")).total == 743_911_199_232
    assert count_parameters(spec_from_config(_config("glm-5.2"), "glm-5.2")).total == 743_377_000_704


def test_parameter_count_equals_the_meta_model() -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from _meta_oracle import assert_counts_match

    assert_counts_match(_small())


def test_development_case_against_the_simulator() -> None:
    rows = map(json.loads, (REPO / "tests/data/simulated/sweep-dev.jsonl").read_text().splitlines())
    rec = next(r for r in rows if r.get("model") == "glm-moe-dsa-default-l4")
    allocated, total, why = _predict(rec)
    measured = measured_total(rec, prior_bytes(rec))
    assert allocated is not None and total is not None and measured is not None, why
    assert abs(allocated / rec["peak_alloc"] - 1) < 0.005  # was -2.28 %
    assert abs(total / measured - 1) < 0.005  # was -1.69 %


def test_shared_layer_builds_the_top_k_mask() -> None:
    """A "shared" layer runs no indexer but, under eager and SDPA, still masks with the previous full layer's top-k
    (transformers 5.25 ``GlmMoeDsaAttention.forward``: ``index_mask`` from ``prev_topk_indices``, ``.long()``,
    ``scatter``, then the mask combined before the kernel): batch 1, 2,048 queries over 2,048 keys, top-k 2,048: the
    indices made int64 (2,048 × 2,048 × 8 B = 32 MiB) and the bf16 sparse mask (2,048 × 2,048 × 2 B = 8 MiB), the
    two a full layer makes after its indexer; no indexer scores (2,048 × 32 heads × 2,048 fp32). The old replay ran
    it as unmasked MLA: neither."""
    from memfit.memory.allocator_trace import Trace
    from memfit.memory.runtimes.transformers_pool_blocks import attention_prefill, replays_attention

    spec = spec_from_config(_small(), "glm-5.2-l5")
    shared, full = spec.layers[3].attention, spec.layers[4].attention
    assert shared is not None and full is not None and shared.index_heads == 0
    assert replays_attention(shared, eager=False, masked=True)
    sizes: dict[str, list[int]] = {}
    for name, att in (("shared", shared), ("full", full)):
        tr = Trace()
        made: list[int] = []
        alloc = tr.alloc
        tr.alloc = lambda n, made=made, alloc=alloc: made.append(n) or alloc(n)  # type: ignore[method-assign]
        attention_prefill(tr, att, 1, 2048, spec.hidden_size, 2, 1 << 20)
        sizes[name] = made
    assert 2048 * 2048 * 8 in sizes["shared"] and 2048 * 2048 * 2 in sizes["shared"]
    assert 2048 * 32 * 2048 * 4 in sizes["full"] and 2048 * 32 * 2048 * 4 not in sizes["shared"]
