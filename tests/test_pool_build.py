"""The model build of a transformers inference run where a family lays its parameters out differently
(memory/runtimes/transformers_pool_build.py): Kimi Linear's fused gate_up experts and fp32 router, in the order and
sizes of the simulator's allocation trace of kimi-linear-l5/gen-b2-s4096-new8 (development)."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_build import build_inference_weights
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import spec_from_config

DATA = Path(__file__).resolve().parent / "data" / "simulated" / "families-hybrid.jsonl"


class Recorded(Trace):
    def __init__(self) -> None:
        super().__init__()
        self.sizes: list[int] = []

    def alloc(self, nbytes: int) -> int:
        self.sizes.append(nbytes)
        return super().alloc(nbytes)


def test_kimi_moe_layer_is_built_as_the_simulator_builds_it() -> None:
    """KimiLinearConfig's widths: 256 experts of 1,024 over hidden 2,304, bf16. A MoE layer allocates gate_up
    (256 × 2 × 1,024 × 2,304 × 2 B = 2,415,919,104 B: the simulator's 2,359,296 KiB), then down (1,207,959,552 B),
    then the router's fp32 weight (256 × 2,304 × 4 B = 2,359,296 B), then the shared expert's gate, up and down
    (1,024 × 2,304 × 2 B = 4,718,592 B each)."""
    rec = next(json.loads(line) for line in DATA.read_text().splitlines()
               if '"kimi-linear-l5/gen-b2-s4096-new8"' in line)
    spec = spec_from_config(rec["config"], "kimi-linear-l5")
    tr = Recorded()
    # the weights with the router and the forget gates' dt_bias in float32 (data/fp32_parameters.toml): the
    # simulator's param_bytes, each block at its own dtype (allocator_trace.block_bytes)
    weights = weights_breakdown(spec, "bfloat16").total_bytes
    assert weights == rec["param_bytes"] == 16_573_353_728
    build_inference_weights(tr, spec, weights, 2)
    i = tr.sizes.index(2_415_919_104)
    assert tr.sizes[i:i + 5] == [2_415_919_104, 1_207_959_552, 2_359_296, 4_718_592, 4_718_592]
    assert 2_359_296 not in tr.sizes[:i]  # no router before the first layer's experts
