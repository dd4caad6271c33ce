"""``plan -q gpus`` for QLoRA on several GPUs: accelerate's FSDP1, the layout memfit prices rank by rank
(memory/training/fsdp1_qlora.py; published two-GPU runs in tests/data/groundtruth/published-frameworks*.jsonl), with
the line that says what the answer rests on (plan_qlora.py: not confirmed in simulation, the device total
UNVALIDATED)."""

from __future__ import annotations

import pytest

import memfit
from memfit.fit import fit
from memfit.workload import Workload


def test_llama_2_70b_qlora_on_a100_40gb_is_fsdp1_over_two() -> None:
    # 70B weights in NF4 with double quantization are 35 GB and more (0.5 B a weight plus the absmax): with 4,096-token
    # sequences they cannot fit one 40 GB A100 (39.39 GiB usable), and two FULL_SHARD ranks hold half of them each
    wl = Workload(mode="qlora", batch=2, context=4096)
    ans = memfit.plan_gpus("llama-2-70b-hf", "a100-40gb", wl)
    assert ans.value == 2
    lay = ans.extra["layout"]
    assert (lay["tp"], lay["pp"], lay["zero"], lay["fsdp_version"], lay["offload"]) == (1, 1, 3, 1, "none")
    assert ans.workload.fsdp_version == 1 and ans.at_value is not None
    assert "FSDP1" in ans.explanation and "Not confirmed in simulation" in ans.explanation
    assert "UNVALIDATED" in ans.explanation
    # the answer is the estimate of that layout (FSDP1's rank), and it fits; one GPU does not, with any lever
    at = fit("llama-2-70b-hf", "a100-40gb", ans.workload)
    assert at.fits and at.max_gpu_bytes == ans.at_value.max_gpu_bytes
    assert any("FSDP1" in n for n in at.estimate.notes)
    one = fit("llama-2-70b-hf", "a100-40gb", ans.workload.replace(gpus=1, zero=0, fsdp_version=2, batch=1))
    assert not one.fits


def test_moe_qlora_needs_the_release_that_quantizes_each_expert() -> None:
    # Mixtral-8x7B's 4-bit weights (24.5 GB at 4.48: tests/test_moe_release.py) cannot fit one 24 GB RTX 4090.
    # transformers 5 leaves the fused experts 16-bit (no FSDP1 QLoRA model of it): refused; 4.x quantizes each
    # nn.Linear expert, which FSDP1's rank prices
    with pytest.raises(memfit.MemfitError, match="--transformers-version"):
        memfit.plan_gpus("mixtral-8x7b", "rtx-4090", mode="qlora", batch=1, context=2048)
    ans = memfit.plan_gpus("mixtral-8x7b", "rtx-4090", mode="qlora", batch=1, context=2048,
                           transformers_version="4.48.1")
    assert ans.value is not None and ans.value > 1
    assert ans.extra["layout"]["fsdp_version"] == 1 and ans.extra["layout"]["tp"] == 1
