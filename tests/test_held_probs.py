"""Eager attention probabilities the model loop keeps (issue 12, l12sweep): Bloom, GPT-Neo, MPT, Falcon and
GPT-NeoX-Japanese bind each block's output tuple to ``outputs`` until the next block returns (transformers 5.25
``BloomModel.forward`` and siblings), so the previous layer's probabilities are alive through the next layer;
Bloom's attention also keeps its raw ALiBi-biased scores (``BloomAttention.forward``). Found on the blind sweep's
bloom-560m, gpt-neo and mpt cases, moved to development (tests/data/simulated/sweep-dev.jsonl) before this was
written."""

from __future__ import annotations

from memfit.memory.runtimes.transformers import _attn_transient
from memfit.memory.runtimes.transformers_prefill import prefill_moments
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

BLOOM = {"model_type": "bloom", "hidden_size": 1024, "n_head": 16, "n_layer": 2, "vocab_size": 250880,
         "layer_norm_epsilon": 1e-5}


def _moments(cfg: dict[str, object], attn: str = "eager") -> dict[str, int]:
    spec = spec_from_config(cfg, "t")
    wl = Workload(mode="inference", task="forward", batch=2, context=1024, attn=attn).validate()
    return {m.name: m.activations for m in prefill_moments(spec, wl, 1024, 1024, 2, 0)}


def test_previous_layer_probabilities_held_from_the_second_layer() -> None:
    two, one = _moments(BLOOM), _moments({**BLOOM, "n_layer": 1})
    probs = 2 * 16 * 1024 * 1024 * 2  # b × heads × s × s × bf16
    assert two["prefill attention (layer 0)"] - one["prefill attention (layer 0)"] == probs
    assert two["prefill MLP (layer 0)"] - one["prefill MLP (layer 0)"] == probs


def test_sdpa_holds_no_probabilities() -> None:
    two, one = _moments(BLOOM, "sdpa"), _moments({**BLOOM, "n_layer": 1}, "sdpa")
    assert two["prefill MLP (layer 0)"] == one["prefill MLP (layer 0)"]


def test_bloom_keeps_its_raw_scores() -> None:
    spec = spec_from_config(BLOOM, "t")
    att = spec.layers[0].attention
    assert att is not None
    wl = Workload(mode="inference", task="forward", batch=1, context=512, attn="eager").validate()
    bloom, _ = _attn_transient(att, wl, 1, 512, 2, True, False, "bloom")
    llama_like, _ = _attn_transient(att, wl, 1, 512, 2, True, False, "opt")
    # bf16: raw scores 2 + masked 2 + fp32 copy 4 + fp32 softmax 4 = 12 B per score, against 10; and
    # BloomAttention.forward's fused_qkv bound beside the query's reshaped copy: 512 tokens × 3 × 1,024 × 2 B
    assert bloom - llama_like == 16 * 512 * 512 * 2 + 512 * 3 * 1024 * 2
