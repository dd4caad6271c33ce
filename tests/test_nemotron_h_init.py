"""Nemotron-H's weight init in a random-init build (``memory/weight_init.rescale_out_proj``): transformers 5.25
``NemotronHPreTrainedModel._init_weights`` rescales each Mamba mixer's out_proj out of place (``p_new = p /
math.sqrt(num_hidden_layers)``, ``init.copy_(p, p_new)``) when ``rescale_prenorm_residual`` is set (its default)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from memfit.memory.activations import Precision
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_build import build_inference_weights
from memfit.memory.training.layer_ops import StepContext
from memfit.memory.training.pool import _build
from memfit.sources.hf_config import spec_from_config

HYBRID = Path(__file__).resolve().parent / "data" / "simulated" / "families-hybrid.jsonl"
OUT_PROJ = 16384 * 8192 * 2  # the dev model's mixer out_proj: 128 heads x 128 wide in, 8,192 out, bf16


def _case(prefix: str) -> dict[str, Any]:
    for line in HYBRID.read_text().splitlines():
        rec = json.loads(line)
        if str(rec.get("case", "")).startswith(prefix):
            return rec
    raise AssertionError(prefix)


def test_the_flag_follows_the_config() -> None:
    cfg = _case("nemotron-h-56b-l9/gen")["config"]
    assert spec_from_config(cfg, "dev").init_rescaled_out_proj
    assert not spec_from_config({**cfg, "rescale_prenorm_residual": False}, "dev").init_rescaled_out_proj


def test_inference_build_reserves_the_simulators() -> None:
    """The dev generate case's build: every parameter one tensor (segments of their own sizes), then the four
    mixers' 256 MiB rescaled copies, one at a time: one 268,435,456 B segment more, as the simulator's build
    (reserved_after_build, 12,702,449,664 B) has it to the byte; the code before reserved that much less. The
    training case's build the same (12,736,004,096 B, its two workspaces)."""
    rec = _case("nemotron-h-56b-l9/gen")
    spec = spec_from_config(rec["config"], "dev")
    reserved = []
    for random_init in (False, True):
        tr = Trace()
        build_inference_weights(tr, spec, int(rec["param_bytes"]), 2, random_init)
        tr.built()
        reserved.append(tr.figures().reserved_after_build)
    assert reserved[1] - reserved[0] == OUT_PROJ
    assert reserved[1] == rec["reserved_after_build"]  # workspaces included


def test_training_build_reserves_the_simulators() -> None:
    rec = _case("nemotron-h-56b-l9/train")
    spec = spec_from_config(rec["config"], "dev")
    reserved = []
    for random_init in (False, True):
        tr = Trace()
        c = StepContext(tr, spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), batch=1, seq=2048)
        _build(tr, c, int(rec["param_bytes"]), 2, random_init)
        tr.built()
        reserved.append(tr.figures().reserved_after_build)
    assert reserved[1] - reserved[0] == OUT_PROJ
    assert reserved[1] == rec["reserved_after_build"]  # workspaces included
