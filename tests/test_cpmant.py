"""CPM-Ant in transformers inference (issue 12, l12mvp; development case cpmant-default-l2/fwd-fp32-eager-b2-s600 in
sweep-dev.jsonl, moved there from blind round 6 before its trace was read). transformers 5.25
models/cpmant/modeling_cpmant.py: ``CpmAntModel.forward`` runs the layers on ``prompt_length`` prompt tokens ahead of
every sequence and keeps the segment embedding and the ``b × heads × S × S`` position bias through the forward;
``CpmAntAttention.forward`` holds the biased scores beside their ``masked_fill`` (runtimes/transformers_cpmant)."""

from __future__ import annotations

from pathlib import Path

from _simulated import case_errors
from memfit.memory.runtimes.transformers_cpmant import position_bias_bytes, prompt_tokens, segment_bias_attention
from memfit.sources.hf_config import spec_from_config

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "cpmant-default-l2/fwd-fp32-eager-b2-s600"
TINY_CPMANT = dict(
    model_type="cpmant",
    vocab_size=100,
    hidden_size=64,
    num_attention_heads=4,
    dim_head=16,
    dim_ff=128,
    num_hidden_layers=2,
    prompt_length=8,
    prompt_types=2,
    segment_types=2,
    position_bias_num_buckets=8,
)


def test_cpmant_prompt_and_position_bias_by_hand() -> None:
    spec = spec_from_config(dict(TINY_CPMANT), "tiny-cpmant")
    assert prompt_tokens(spec) == 8
    without = {k: v for k, v in TINY_CPMANT.items() if k != "prompt_length"}
    assert prompt_tokens(spec_from_config(without, "tiny-cpmant-default")) == 32  # CpmAntConfig's default
    # one sequence of 32 tokens + 8 prompt tokens: 4 heads x 40 x 40 scores x 4 B (fp32)
    assert position_bias_bytes(spec, 1, 40, 40, 4) == 25_600
    att = spec.layers[0].attention
    assert att is not None
    # q, k, v: 40 tokens x 4 heads x 16 x 3 x 4 B = 30,720; the biased scores and their masked_fill: 2 x 25,600
    got = segment_bias_attention("cpmant", att, 1, 40, 40, 4)
    assert got is not None and got[0] == 81_920
    assert segment_bias_attention("llama", att, 1, 40, 40, 4) is None


def test_cpmant_dev_case() -> None:
    allocated, total = case_errors(DEV, CASE)  # -5.97 % / -4.80 % before
    assert abs(allocated) < 0.001
    assert abs(total) < 0.015
