"""A draft model (-md) and the multimodal projector (--mmproj) in llama.cpp's device budget."""

from __future__ import annotations

import pytest

from memfit import estimate
from memfit.errors import ConfigError
from memfit.memory.runtimes.llamacpp import llamacpp_buffers
from memfit.sources.loader import load_model
from memfit.workload import Workload

# Real llama.cpp b10605 (CPU reserve, tools/llamacpp_graphdump.cpp with n_outputs_max = the sequences, as
# common_base_params_to_speculative sets it for the draft context) on the llama-3.2-1b shape:
# (context per sequence, -ub, sequences, flash attention) -> compute buffer bytes
DRAFT_MEASURED = {(8192, 512, 1, True): 75_509_792, (1024, 512, 4, True): 68_169_760,
                  (2048, 1024, 2, False): 322_977_824}


@pytest.mark.parametrize("shape", sorted(DRAFT_MEASURED))
def test_draft_context_compute_buffer_equals_llama_cpp(shape: tuple[int, int, int, bool]) -> None:
    ctx, ub, ns, fa = shape
    wl = Workload(mode="inference", runtime="llamacpp", context=ctx, batch=ns, n_ubatch=ub, flash_attn=fa, dtype="f16")
    assert llamacpp_buffers(load_model("llama-3.2-1b"), wl, n_outputs_max=ns).compute_bytes == DRAFT_MEASURED[shape]


def test_draft_model_joins_the_device_budget() -> None:
    base = estimate("llama-3.1-8b", mode="inference", runtime="llamacpp", dtype="q4_k_m", context=8192)
    both = estimate("llama-3.1-8b", mode="inference", runtime="llamacpp", dtype="q4_k_m", context=8192,
                    draft_model="llama-3.2-1b", draft_dtype="q8_0")
    c = both.to_json()["components"]
    # the draft's KV: 16 layers × 8 KV heads × 64 × 2 (K, V) × 2 B (f16, -ctkd default) × 8,192 cells
    assert c["draft_kv_cache"] == 16 * 8 * 64 * 2 * 2 * 8192 == 268_435_456
    assert c["draft_activations"] == DRAFT_MEASURED[(8192, 512, 1, True)]  # f16 cache, flash attention
    assert both.total_bytes == base.total_bytes + c["draft_weights"] + c["draft_kv_cache"] + c["draft_activations"]


def test_mmproj_adds_the_vision_tower_in_its_type() -> None:
    spec = load_model("gemma-3-27b-it")
    assert spec.vision is not None
    e = estimate(spec, mode="inference", runtime="llamacpp", dtype="q4_k_m", context=4096, mmproj="f16")
    assert e.to_json()["components"]["mmproj"] == spec.vision.parameters * 2
    with pytest.raises(ConfigError, match="no vision tower"):
        estimate("llama-3.1-8b", mode="inference", runtime="llamacpp", mmproj="f16")
