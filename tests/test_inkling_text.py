"""Inkling (transformers 5.25 models/inkling/modeling_inkling.py, model type inkling_text) read with what its code
does otherwise than the generic reading (issue 12, l12inkling; development case
inkling-text-default-l2/gen-b3-s4000-new8 in sweep-dev.jsonl, moved there from blind round 5 before its trace was
read): its untied output projection and its relative position bias of the scores' shape under SDPA."""

from __future__ import annotations

import json
from pathlib import Path

from _simulated import case_line, validate_line
from memfit.memory.allocator_trace import Trace
from memfit.memory.inference import estimate_inference
from memfit.memory.runtimes.transformers_inkling_text import rel_logits_sdpa_moment, rel_logits_sdpa_pool
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case
from memfit.workload import Workload

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "inkling-text-default-l2/gen-b3-s4000-new8"
WL = workload_for_case("generate", {"batch": 3, "seq": 4000, "new": 8}).validate()


def _spec():  # type: ignore[no-untyped-def]
    return spec_from_config(json.loads(case_line(DEV, CASE))["config"], "dev")


def test_inkling_text_is_never_tied() -> None:
    # InklingForCausalLM._tied_weights_keys = {} and the config has no tie_word_embeddings field
    assert not _spec().tie_word_embeddings


def test_sdpa_moment_by_hand() -> None:
    # 3 sequences of 4,000 tokens, 64 heads of 128, 8 K/V heads, bf16; d_rel 16, rel_extent 512 (the sliding window):
    # q 12,000·64·128·2 = 196,608,000; k and v 12,000·8·256·2 = 49,152,000; the gathered and the filled bias
    # 2 · 3·64·4000·4000·2 = 12,288,000,000; at the masked_fill relative_states 12,000·64·16·2 = 24,576,000,
    # rel_logits 12,000·64·512·2 = 786,432,000, the int64 distance and index 2 · 4000·4000·8 = 256,000,000 and the
    # condition 16,000,000 (1,083,008,000 > repeated K/V 393,216,000 + output 196,608,000 + relative_states)
    # -> 13,616,768,000
    spec = _spec()
    att = spec.layers[0].attention
    assert att is not None
    got = rel_logits_sdpa_moment(spec, 0, att, WL, 3, 4000, 4000, 2)
    assert got is not None and got[0] == 13_616_768_000
    eager = Workload(mode="inference", context=4000, batch=3, attn="eager")
    assert rel_logits_sdpa_moment(spec, 0, att, eager, 3, 4000, 4000, 2) is None


def test_dev_case_activations_by_hand() -> None:
    # the prefill attention is the peak: 442,368,000 stream + 13,616,768,000 + 54,336,000 masks/rope/inputs
    # (the generic reading took the MLP's 4,355,136,000)
    est = estimate_inference(_spec(), WL)
    act = next(c for c in est.components if c.name == "activations")
    assert act.bytes == 14_113_472_000


def test_pool_replay_by_hand() -> None:
    # above q, at the masked_fill, each request in a new segment (its size rounded up to 2 MiB; the block is split
    # only when the rest is over 1 MiB, else handed out whole): relative_states 24,576,000 -> 25,165,824 whole,
    # rel_logits 786,432,000 (375 MiB), distance and index 2 · 128,000,000 (split), the gathered bias 6,144,000,000
    # -> 6,144,655,360 whole, the condition 16,000,000 -> 16,777,216 whole (its two operands freed), the filled bias
    # 6,144,655,360 -> 13,373,685,760 (at torch.where the gathered bias, the indices and rel_logits are gone: the
    # mask, the repeated K/V and the output stay under it)
    tr = Trace()
    q = tr.alloc(196_608_000)
    base = tr.pool.allocated
    assert rel_logits_sdpa_pool(tr, _spec(), WL, 0, 4000, q, 2)
    assert tr.pool.peak_allocated - base == 13_373_685_760
    assert tr.pool.allocated == 0  # q and every temporary gone


def test_inkling_text_development_case() -> None:
    row = validate_line(case_line(DEV, CASE))
    assert row.relative_error is not None and abs(row.relative_error) < 0.002  # allocated: -12.50 % before, -0.02 %
    assert row.predicted_total is not None and row.measured_total is not None
    assert abs(row.predicted_total / row.measured_total - 1) < 0.015  # device total: -18.30 % before, -0.91 % now
