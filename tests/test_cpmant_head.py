"""CPM-Ant's output projection is its own weight, never tied to the input embedding (issue 12, l12cpmtrain;
development case cpmant-default-l2/train-bf16-adamw-fused-eager-b2-s480 in train-sweep-dev.jsonl, moved there from
blind round 7 before its trace was read). transformers 5.25 models/cpmant/modeling_cpmant.py
``CpmAntForCausalLM._tied_weights_keys = {}`` (lm_head is ``nn.Linear(hidden_size, vocab_size)``, while
``CpmAntModel.input_embedding`` has ``vocab_size + prompt_types × prompt_length`` rows), so modeling_utils.py
``get_expanded_tied_weights_keys`` ties nothing although ``CpmAntConfig`` says ``tie_word_embeddings=True``: no head
is made and freed at the build, and the embedding's backward makes its gradient as the parameter's ``.grad``, with
no dense ``V × h`` tensor beside the head's gradient."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _simulated import case_errors, case_record
from memfit.memory.activations import Precision
from memfit.memory.allocator_trace import Trace
from memfit.memory.model_activations import model_activations
from memfit.memory.runtimes.transformers_pool_build import build_inference_weights
from memfit.sources.hf_config import spec_from_config

SIM = Path(__file__).resolve().parent / "data" / "simulated"
TRAIN = "cpmant-default-l2/train-bf16-adamw-fused-eager-b2-s480"
FORWARD = "cpmant-default-l2/fwd-fp32-eager-b2-s600"


def test_cpmant_head_not_tied() -> None:
    cfg = case_record(SIM / "train-sweep-dev.jsonl", TRAIN)["config"]
    assert cfg["tie_word_embeddings"] is True  # CpmAntConfig's default, which CpmAntForCausalLM does not read
    assert not spec_from_config(cfg, "dev").tie_word_embeddings  # True before


def test_embedding_backward_by_hand() -> None:
    # bf16 full training, 2 x 480 tokens, hidden 4,096: the embedding's backward keeps its output's gradient and the
    # segment embedding's, 2 x 2 B x 960 x 4,096 = 15,728,640 B; the tied reading added a dense 30,720 x 4,096 x 2 B
    # = 251,658,240 B gradient beside the head's (267,386,880 B before)
    spec = spec_from_config(case_record(SIM / "train-sweep-dev.jsonl", TRAIN)["config"], "dev")
    p = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True, attn="eager")
    assert model_activations(spec, p, 2, 480).embedding_backward_extra == 2 * 2 * 960 * 4096 == 15_728_640


def test_inference_build_reserve_by_hand() -> None:
    # fp32, made on the device: the parameters' segments are the simulator's reserve after the build,
    # 2,602,565,632 B; the tied reading made the head (30,720 x 4,096 x 4 B = 503,316,480 B, its own 480 MiB
    # segment) and freed it: 3,105,882,112 B before
    rec = case_record(SIM / "sweep-dev.jsonl", FORWARD)
    spec = spec_from_config(rec["config"], "dev")
    for s, want in ((spec, 2_602_565_632), (replace(spec, tie_word_embeddings=True), 3_105_882_112)):
        tr = Trace()
        build_inference_weights(tr, s, int(rec["param_bytes"]), 4, True)
        tr.built()
        assert tr.figures().reserved_after_build == want
    assert rec["reserved_after_build"] == 2_602_565_632 == 3_105_882_112 - 30_720 * 4_096 * 4


def test_cpmant_training_dev_case() -> None:
    allocated, total = case_errors(SIM / "train-sweep-dev.jsonl", TRAIN)  # +4.97 % / +3.07 % before
    assert abs(allocated) < 0.002
    assert abs(total) < 0.02
