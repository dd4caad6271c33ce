"""Causal-LM heads without ``logits_to_keep`` (transformers 5.25): generate's prefill projects every prompt position
and holds those logits through the first sampling (``transformers_families.ALL_PROMPT_LOGITS``). MusicGen, MusicGen
Melody, ProphetNet and xLSTM read in their modelling files (issue 12, l12small); Gemma 4's assistant lacks the
argument too but is never run by generate on its own (Gemma4AssistantForCausalLM.forward raises without
inputs_embeds and shared_kv_states), so it is not listed."""

from __future__ import annotations

from typing import Any

import pytest

from memfit.memory.runtimes.transformers_families import ALL_PROMPT_LOGITS
from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

TINY: dict[str, dict[str, Any]] = {
    "musicgen": dict(num_hidden_layers=2, num_attention_heads=4, ffn_dim=128),
    "musicgen_melody": dict(num_hidden_layers=2, num_attention_heads=4, ffn_dim=128),
    "prophetnet": dict(
        num_encoder_layers=1,
        num_decoder_layers=2,
        num_encoder_attention_heads=4,
        num_decoder_attention_heads=4,
        encoder_ffn_dim=128,
        decoder_ffn_dim=128,
    ),
    "xlstm": dict(embedding_dim=64, num_hidden_layers=2, num_blocks=2, num_heads=4),
}


@pytest.mark.parametrize("family", sorted(TINY))
def test_prompt_logits_by_hand(family: str) -> None:
    # 2 sequences of 10 tokens, vocab 100, bf16: the prefill's head projects all 20 positions, 20 x 100 x 2 = 4,000 B,
    # held through the first sampling (its last-token fp32 copy and processors 2 x 100 x 20 B + the vocab index
    # 100 x 9 B): 4,000 + 4,000 + 900 = 8,900 B; a head with logits_to_keep (the old pricing) 2 x 100 x 22 + 900 =
    # 5,300 B and no prompt-logits moment
    spec = spec_from_config(
        dict(model_type=family, vocab_size=100, hidden_size=64, max_position_embeddings=64, **TINY[family]),
        f"tiny-{family}",
    )
    wl = Workload(mode="inference", context=10, batch=2, task="generate", new_tokens=4, dtype="bfloat16", attn="eager")
    # ProphetNet (models/prophetnet/modeling_prophetnet.py ProphetNetForCausalLM.forward): lm_head over the ngram = 2
    # predict streams, 2 x 20 x 100 x 2 = 8,000 B, and outputs.logits = predict_logits[:, 0] is a view of them, so
    # generate's held outputs keep all 8,000 B through the first sampling: 8,000 + 4,000 + 900 = 12,900 B
    expected = (12_900, 8_000) if family == "prophetnet" else (8_900, 4_000)
    moments = {m.name: m.logits for m in peak_moments(spec, wl)}
    assert (moments["after prefill"], moments.get("logits")) == expected
    assert family in ALL_PROMPT_LOGITS
