"""AFMoE's fp32 routing weights (transformers 5.25 modeling_afmoe.py ``AfmoeTokenChoiceRouter.forward``: the router
logits cast to fp32, the top scores normalised and scaled in fp32), so the grouped experts path's weighted rows and
their re-ordered copy are fp32 (integrations/moe.py ``grouped_mm_experts_forward``: ``proj_out * sample_weights_g``,
``weighted_out[inv_perm]``); worked by hand on the development case afmoe-default-l3 bf16 generate."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.memory.runtimes.transformers_families import FP32_ROUTING
from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"


def _moe_and_fixed(case: str, name: str, moment: str) -> tuple[int, int]:
    """The development case's MoE moment activations and the prefill's fixed bytes (masks, rope, inputs) as the
    attention moment's formula states them."""
    r = next(rec for rec in map(json.loads, DEV.read_text().splitlines()) if rec.get("case") == case)
    spec = spec_from_config(r["config"], name)
    moments = peak_moments(spec, workload_for_case("generate", dict(r["params"])).validate())
    att = next(m for m in moments if m.name.startswith("prefill attention"))
    return next(m for m in moments if m.name == moment).activations, int(att.formula.split(" + ")[-1].split(" ")[0]
                                                                             .replace(",", ""))


def test_afmoe_moe_moment_by_hand() -> None:
    assert "afmoe" in FP32_ROUTING
    moe, fixed = _moe_and_fixed("afmoe-default-l3/gen-b2-s2048-new8", "afmoe", "prefill MLP (layer 1)")
    # bf16, 4,096 tokens × top-6 routed rows of hidden 2,048: gathered tokens and expert outputs in bf16 (2 × 2 B),
    # the weighted rows and their re-ordered copy in fp32 (2 × 4 B): 12 B × 2,048 per row (beats the expert MLP's
    # (2,048 + 4 × 1,408) × 2 B); + the router's 64 experts × 4 B × 2 and the shared experts' output 2,048 × 2 B
    per_token = 6 * 12 * 2048 + 64 * 4 * 2 + 2048 * 2
    assert moe == 4 * 4096 * 2048 * 2 + 4096 * per_token + fixed


def test_solar_open_moe_moment_by_hand() -> None:
    # transformers 5.25 modeling_solar_open.py SolarOpenTopkRouter.forward: the top-k weights gathered from the fp32
    # sigmoid scores, so the weighted rows and their re-ordered copy are fp32 (the trace's peak is that index)
    assert "solar_open" in FP32_ROUTING
    moe, fixed = _moe_and_fixed("solar-open-default-l3/gen-b2-s2048-new8", "solar-open", "prefill MLP (layer 0)")
    # 4,096 tokens × top-8 rows of hidden 4,096: 2 × 2 B bf16 + 2 × 4 B fp32 = 12 B × 4,096 per row; router 128 × 4 B
    # × 2; the shared expert's output 4,096 × 2 B; four stream tensors
    per_token = 8 * 12 * 4096 + 128 * 4 * 2 + 4096 * 2
    assert moe == 4 * 4096 * 4096 * 2 + 4096 * per_token + fixed


def test_minicpm5_moe_routes_in_fp32() -> None:
    # transformers 5.25 modeling_minicpm5_moe.py MiniCPM5MoeTopkRouter.forward: scores.gather of the fp32 sigmoid
    assert "minicpm5_moe" in FP32_ROUTING
    moe, fixed = _moe_and_fixed("minicpm5-moe-default-l3/gen-b2-s2048-new8", "minicpm5-moe", "prefill MLP (layer 1)")
    # 4,096 tokens × top-16 rows of hidden 2,048 at 12 B each (bf16 gathered and expert outputs, fp32 weighted and
    # re-ordered), the router 160 experts × 4 B × 2, the shared expert's output 2,048 × 2 B, four stream tensors
    per_token = 16 * 12 * 2048 + 160 * 4 * 2 + 2048 * 2
    assert moe == 4 * 4096 * 2048 * 2 + 4096 * per_token + fixed


def test_hy_v3_routes_in_fp32() -> None:
    # transformers 5.25 modeling_hy_v3.py HYV3TopKRouter.forward: routing_weights.gather of the fp32 sigmoid
    assert "hy_v3" in FP32_ROUTING
