"""GLM-5 (transformers 5.25 ``glm_moe_dsa``) in a training step (issue 12, l12indexer): ``GlmMoeDsaAttention`` is
``DeepseekV32Attention`` with cross-layer top-k sharing and ``GlmMoeDsaIndexer`` is ``DeepseekV32Indexer`` with
interleaved RoPE (models/glm_moe_dsa/modeling_glm_moe_dsa.py), so the training replay runs it as DeepSeek-V3.2's
(memory/training/layer_axk2.py): the lightning indexer under no_grad, its top-k folded into SDPA's bias. Before,
the replay read it as plain MLA (no indexer, no mask): the development case was under by 3.12 % allocated, 9.38 %
device total."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from _simulated import case_line, training_pool_requests, validate_line
from memfit.memory.training import layer_axk2
from memfit.memory.training.layer_ops import StepContext
from memfit.sources.hf_config import spec_from_config

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"
CASE = "glm-moe-dsa-default-l2/lora-r16-attn-b2-s1536"
B, S, IDX_HEADS, IDX_DIM, TOPK = 2, 1024, 3, 16, 384
RECORD = {
    "kind": "lora",
    "params": {"batch": B, "seq": S, "r": 8, "targets": ["q_a_proj", "kv_a_proj_with_mqa", "kv_b_proj", "o_proj"]},
}


def _tiny(indexer_types: list[str]) -> dict[str, object]:
    return dict(
        model_type="glm_moe_dsa",
        vocab_size=1000,
        hidden_size=64,
        intermediate_size=128,
        moe_intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        n_routed_experts=4,
        num_experts_per_tok=2,
        n_shared_experts=1,
        q_lora_rank=32,
        kv_lora_rank=16,
        qk_nope_head_dim=16,
        qk_rope_head_dim=8,
        v_head_dim=16,
        index_n_heads=IDX_HEADS,
        index_head_dim=IDX_DIM,
        index_topk=TOPK,
        indexer_types=indexer_types,
        mlp_layer_types=["dense", "dense"],
        max_position_embeddings=4096,
    )


def _requests(monkeypatch: pytest.MonkeyPatch, indexer_types: list[str]) -> Counter[int]:
    spec = spec_from_config(_tiny(indexer_types), "tiny-glm-moe-dsa")
    return training_pool_requests(monkeypatch, spec, RECORD)


# GlmMoeDsaIndexer.forward, per full layer and step: the fp32 scores matmul(q.float(), k...unsqueeze(1)), their
# ``* softmax_scale`` and ``relu``: three b·s·heads·t·4 = 2·1024·3·1024·4 = 25,165,824 B; with b > 1 the matmul's
# key expanded to every query, b·s·d·t·4 = 2·1024·16·1024·4 = 134,217,728 B. Two steps.
SCORES, EXPANDED = B * S * IDX_HEADS * S * 4, B * S * IDX_DIM * S * 4


def test_full_layers_replay_the_indexer(monkeypatch: pytest.MonkeyPatch) -> None:
    asked = _requests(monkeypatch, ["full", "full"])
    assert (SCORES, EXPANDED) == (25_165_824, 134_217_728)
    assert asked[SCORES] == 2 * 2 * 3  # (before: 0, no indexer)
    assert asked[EXPANDED] == 2 * 2


def test_a_shared_layer_builds_no_indexer(monkeypatch: pytest.MonkeyPatch) -> None:
    # GlmMoeDsaAttention.__init__: ``self.indexer = None if self.skip_topk``; the shared layer masks with the full
    # layer's top-k: one layer's scores and expanded key a step
    asked = _requests(monkeypatch, ["full", "shared"])
    assert asked[SCORES] == 2 * 3
    assert asked[EXPANDED] == 2


def test_the_loop_holds_the_previous_top_k(monkeypatch: pytest.MonkeyPatch) -> None:
    # GlmMoeDsaModel.forward: ``hidden_states, topk_indices = decoder_layer(..., prev_topk_indices=topk_indices)``:
    # while the second layer builds its mask, the first layer's int32 top-k (b·s·k·4 = 2·1024·384·4 = 3,145,728 B)
    # is alive beside its own; a shared second layer holds the first's only; all go when the model returns
    seen: list[list[int]] = []
    mask = layer_axk2._sparse_mask

    def recording(c: StepContext, a: object) -> tuple[int, list[int]]:
        seen.append([c.tr.pool.live[k].size for k in c.topk])
        return mask(c, a)  # type: ignore[arg-type]

    monkeypatch.setattr(layer_axk2, "_sparse_mask", recording)
    _requests(monkeypatch, ["full", "full"])
    assert seen == [[3_145_728], [3_145_728, 3_145_728]] * 2
    seen.clear()
    _requests(monkeypatch, ["full", "shared"])
    assert seen == [[3_145_728], [3_145_728]] * 2


def test_development_case() -> None:
    row = validate_line(case_line(DEV, CASE))
    assert row.relative_error is not None and abs(row.relative_error) < 0.005  # allocated: -3.12 % before
    assert row.predicted_total is not None and row.measured_total is not None
    assert abs(row.predicted_total / row.measured_total - 1) < 0.005  # device total: -9.38 % before
