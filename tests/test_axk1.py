"""A.X-K1 (transformers 5.25 models/axk1/modeling_axk1.py) routed as DeepSeek-V3 (issue 12, l12alloc5; development case
axk1-default-l2/gen-b2-s2048-new8 in sweep-dev.jsonl, moved there from blind round 5 before its trace was read).
``AXK1TopkRouter.forward`` is DeepSeek-V3's: ``F.linear`` of fp32 copies of the input and the weight, sigmoid scores,
``+ e_score_correction_bias``, the group-limited top-k (``n_group`` / ``topk_group``), and ``topk_weights`` gathered
from the fp32 scores, so the grouped experts' weighted rows, their copy in token order and the per-token sum are fp32
(``integrations/moe.py``: ``proj_out * sample_weights``)."""

from __future__ import annotations

from pathlib import Path

from _traces import Counted
from memfit.memory.runtimes.transformers_pool_blocks import ffn_prefill, replays_ffn
from memfit.spec import LayerSpec, MoESpec
from memfit.validate import validate_file


def test_axk1_moe_block_by_hand() -> None:
    """1,000 tokens, top-2 of 16 experts of 64, hidden 128, bf16, no shared expert. The router: the input's fp32 copy
    (1,000 × 128 × 4 = 512,000 B) beside the fp32 logits (1,000 × 16 × 4 = 64,000 B, kept to the block's end). The
    experts: 2,000 gathered rows (2,000 × 128 × 2 = 512,000), their down output (512,000), then the rows weighted by
    the fp32 scores and their copy in token order (2,000 × 128 × 4 = 1,024,000 each): with the logits 3,136,000 B,
    the peak. Read as a bf16-routed block (the generic reading before) the weighted rows were 512,000 B each and
    there was no router: 2,048,000 B."""
    layer = LayerSpec(
        mixer="attention", attention=None, moe=MoESpec(num_experts=16, top_k=2, expert_intermediate_size=64)
    )
    assert replays_ffn(layer, "axk1")
    tr = Counted()
    out = ffn_prefill(tr, layer, "axk1", 1000, 128, 2)
    assert tr.peak == 64_000 + 512_000 + 512_000 + 2 * 1_024_000
    assert tr.live == 1000 * 128 * 2 and out  # the block's bf16 output (the fp32 sum cast back)


def test_axk1_development_case() -> None:
    path = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
    results, _ = validate_file(path)
    case = next(r for r in results if r.case == "axk1-default-l2/gen-b2-s2048-new8")
    err = case.relative_error
    assert err is not None and abs(err) < 0.005  # allocated: -3.38 % before, +0.23 % now
    assert case.predicted_total is not None and case.measured_total is not None
    assert abs(case.predicted_total / case.measured_total - 1) < 0.01  # device total: -2.77 % before, +0.58 % now
