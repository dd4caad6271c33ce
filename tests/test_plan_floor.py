"""Issue 16: plan's line when a rank's peak is set by per-rank terms that sharding does not shrink (plan_floor.py)."""

from __future__ import annotations

import memfit
from memfit.fit import fit_estimate
from memfit.hardware import get_device
from memfit.plan_floor import floor_note
from memfit.workload import Workload

# Llama 3's vocabulary: 128,256 tokens
# the loss's backward at its largest moment: log-softmax's fp32 output, the fp32 gradients of its output and its
# input (memory/loss_release.py), 3 x 4 bytes per logit: 12.61 GB
LOGITS_8192 = 8192 * 128_256 * (4 + 4 + 4)


def test_plan_says_the_logits_set_the_floor() -> None:
    """Llama-3.1-8B LoRA at 8,192 tokens on RTX 4090s: FSDP shards the 16 GB base over 18 ranks (0.9 GB each) while
    every rank keeps the whole logits; plan said only '18 GPUs' (45 before the op-by-op LoRA replay)."""
    ans = memfit.plan_gpus("llama-3.1-8b", "rtx-4090", mode="lora", batch=1, context=8192)
    assert ans.value == 18 and ans.at_value is not None
    logits = next(c for c in ans.at_value.estimate.components if c.name == "logits")
    assert logits.bytes == LOGITS_8192
    text = ans.explanation
    assert "per-rank terms sharding does not shrink (logits and loss 12.61 GB" in text
    assert "a shorter context would shrink them" in text and "micro-batch" not in text  # batch 1 already
    assert "chunked cross-entropy" in text and text.count("\n") == 0


def test_plan_is_quiet_when_sharded_states_dominate() -> None:
    """Full fine-tuning of Llama-3.1-8B on H100s: 2 ranks, each holding half of 16 bytes per parameter of weights,
    gradients and AdamW states (62 of its 84 GB): adding ranks shrinks most of the peak, no line."""
    ans = memfit.plan_gpus("llama-3.1-8b", "h100", mode="train", batch=1, context=4096)
    assert ans.value == 2 and "sharding does not shrink" not in ans.explanation


def test_floor_names_what_shrinks_each_term() -> None:
    """ZeRO-2 without checkpointing at micro-batch 4: the whole model stays gathered and the activations are kept,
    so the line names a smaller micro-batch, full checkpointing and ZeRO-3; a one-GPU or TP answer gets no line."""
    wl = Workload(mode="train", gpus=8, zero=2, batch=4, context=4096, checkpointing="none")
    est = memfit.estimate("llama-3.2-1b", wl)
    note = floor_note(fit_estimate(est, get_device("h100"), wl), wl)
    assert note.startswith("; ") and "a shorter context or a smaller micro-batch with gradient accumulation" in note
    assert "full activation checkpointing" in note and "ZeRO-3" in note
    one = Workload(mode="train", gpus=1, batch=4, context=4096)
    assert floor_note(fit_estimate(memfit.estimate("llama-3.2-1b", one), get_device("h100"), one), one) == ""
    tp = Workload(mode="train", gpus=2, tp=2, batch=4, context=4096)
    assert floor_note(fit_estimate(memfit.estimate("llama-3.2-1b", tp), get_device("h100"), tp), tp) == ""
