"""Dory (transformers 5.25 models/dory/modeling_dory.py), read on the generic path with what its code does otherwise
(issue 12, l12dory; development case dory-default-l6/gen-lastloop-b2-s1500-new8 in sweep-dev.jsonl, moved there from
blind round 7 before its trace was read): DoryMLP holds its scaled gate and up beside the product and L2-normalises
the product in fp32 (DoryL2Norm) before down_proj; DoryModel.forward keeps the input section's normed output
(``input_hidden_states``) to its end."""

from __future__ import annotations

import json
from pathlib import Path

from _simulated import case_line, validate_line
from memfit.memory.allocator_trace import Trace
from memfit.memory.inference import estimate_inference
from memfit.memory.runtimes.transformers_families import extra_stream_tensors, l2_norm_bytes
from memfit.memory.runtimes.transformers_pool_blocks import l2_sub_normed_mlp
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "dory-default-l6/gen-lastloop-b2-s1500-new8"


def test_l2_norm_bytes() -> None:
    # half precision: the fp32 copy beside its square (4 + 4), then beside x * rsqrt (4 + 4); the cast back (2)
    # comes after the copy is freed, beside the fp32 result (4 + 2)
    assert l2_norm_bytes(2) == 8
    # fp32: .float() returns the input; the square, then x * rsqrt; type_as returns it
    assert l2_norm_bytes(4) == 4


def test_l2_sub_normed_mlp_peak() -> None:
    """1,024 intermediate elements in bf16: gate and up (2,048 B each, their projections freed), the product
    (2,048 B), then the fp32 copy and its square (4,096 B each): 14,336 B at the peak."""
    tr = Trace()
    out = l2_sub_normed_mlp(tr, 1024, 512, 2)
    assert tr.pool.peak_allocated == 3 * 2048 + 2 * 4096
    tr.free(out)  # the output is the caller's


def test_dory_mlp_moment_by_hand() -> None:
    """The development case's peak, prefill MLP: five hidden-sized tensors (the four of every block and Dory's
    input_hidden_states), 2 × 1,500 × 2,560 × 2 B each = 76,800,000 B; 3,000 tokens × 7,168 × (3 × 2 + 8) B =
    301,056,000 B (gate, up, product; the fp32 sub-norm); 5,370,000 B of masks, RoPE tables and inputs as before.
    The code before priced 4 stream tensors and 3 × 2 B (gate, act, up, product): 195,834,000 B."""
    rec = json.loads(case_line(DEV, CASE))
    spec = spec_from_config(rec["config"], "dory")
    assert extra_stream_tensors(spec) == 1
    est = estimate_inference(spec, workload_for_case(rec["kind"], dict(rec["params"])).validate())
    acts = next(c.bytes for c in est.components if c.name == "activations")
    assert acts == 5 * 15_360_000 + 3_000 * 7_168 * 14 + 5_370_000 == 383_226_000


def test_dory_development_case() -> None:
    row = validate_line(case_line(DEV, CASE))
    err = row.relative_error
    assert err is not None and abs(err) < 0.001  # allocated: -7.99 % before
    assert row.predicted_total is not None and row.measured_total is not None
    assert abs(row.predicted_total / row.measured_total - 1) < 0.01  # device total: -8.97 % before
