"""The eager attention masks a checkpointed single-GPU step keeps through its backward (issue 12, l12ckmask;
memory/training/fsdp_masks.py ``checkpoint_masks``). transformers 5.25 ``GradientCheckpointingLayer.__call__`` binds
the layer's keyword arguments, ``attention_mask`` among them, in the ``partial`` torch.utils.checkpoint keeps for the
recomputation, so each mask made by the model's forward (``masking_utils.eager_mask``: float b × 1 × s × s in the
embeddings' dtype) lives until the backward of the first layer reading it. Development case
gemma-2-2b/train-amp-adamw-fused-ckpt-eager-b2-s2048 (simulated/cases.jsonl): the simulator's trace holds two
``aten.where`` blocks of 33,554,432 B from the step's start across its peak (``nll_loss_forward``) to the last two
layers' backward."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from _simulated import case_line
from memfit.memory.model_activations import model_activations
from memfit.memory.training.fsdp_masks import checkpoint_masks
from memfit.memory.training.states import model_states
from memfit.memory.training.step import estimate_single_gpu, step_peak
from memfit.sources.hf_config import spec_from_config
from memfit.sources.loader import load_model
from memfit.spec import ModelSpec
from memfit.validate import workload_for_case
from memfit.workload import Workload

DATA = Path(__file__).resolve().parent / "data" / "simulated"
GEMMA = "gemma-2-2b/train-amp-adamw-fused-ckpt-eager-b2-s2048"
EACH = 2 * 2048 * 2048 * 4  # b2 s2048, fp32 under autocast (the fp32 model's inputs_embeds): 33,554,432 B


def _gemma() -> tuple[ModelSpec, Workload]:
    rec = json.loads(case_line(DATA / "cases.jsonl", GEMMA))
    return load_model("gemma-2-2b"), workload_for_case("train", dict(rec["params"])).validate()


def test_gemma2_checkpointed_eager_step_keeps_both_masks() -> None:
    # Gemma-2 alternates sliding (layer 0, even) and full (layer 1, odd) attention: the full mask is last read by
    # layer 1's backward, the sliding one by layer 0's; each 2·2048·2048·4 B
    spec, wl = _gemma()
    assert checkpoint_masks(spec, wl, 4) == ((EACH, 1), (EACH, 0))
    assert checkpoint_masks(spec, replace(wl, checkpointing="none"), 4) == ()
    assert checkpoint_masks(spec, replace(wl, attn="sdpa"), 4) == ()


def test_masks_in_the_step_moments() -> None:
    # both masks at the loss and in the backward of every layer from the last to layer 1; layer 0's backward has
    # only the sliding one (the full one went with layer 1's); the forward's moments and the optimizer step unchanged
    spec, wl = _gemma()
    states = model_states(spec, wl)
    p = replace(states.precision, kv_cache=False)
    acts = model_activations(spec, p, 2, 2048)
    old = step_peak(states, acts, wl, ckpt="full").phases
    new = estimate_single_gpu(spec, wl, states).details["phases"]
    diff = {k: new[k] - old[k] for k in old}
    assert diff["forward"] == diff["optimizer step"] == 0
    assert diff["forward (loss)"] == diff["backward (loss)"] == 67_108_864
    assert diff["backward (layer 25)"] == diff["backward (layer 1)"] == 67_108_864
    assert diff["backward (layer 0)"] == 33_554_432


def test_hy_v4_and_deepseek_v4_count_theirs_elsewhere() -> None:
    # HY-V4's causal mask is in its layer 0 checkpoint (hyv4_training.hyv4_checkpoints): not counted twice
    rec = json.loads(case_line(DATA / "train-sweep-dev.jsonl", "hy-v4-default-l2/lora-r8-attn-ckpt-b1-s2048"))
    spec = spec_from_config(rec["config"], "hy-v4")
    assert checkpoint_masks(spec, workload_for_case("lora", dict(rec["params"])).validate(), 2) == ()
    v4 = "deepseek-v4-flash-e8-l4/train-bf16-adamw-fused-ckpt-b1-s1536"
    rec = json.loads(case_line(DATA / "families-v4.jsonl", v4))
    spec = spec_from_config(rec["config"], "deepseek-v4")
    assert checkpoint_masks(spec, workload_for_case("train", dict(rec["params"])).validate(), 2) == ()
