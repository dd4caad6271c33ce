"""The CUDA context follows the GPU for every runtime and for training (memory/overhead.py context_on_device, the
one place it is chosen; data/runtime_overheads.toml). Figures by hand from the rows' published bare contexts plus
what the H100's workload kernels add (inference 730,660,864 − 648,871,936 = 81,788,928 B; training 799,866,880 −
648,871,936 = 150,994,944 B)."""

from __future__ import annotations

import pytest

import memfit
from memfit.fit import fit_all
from memfit.hardware import get_device

ADA_INFERENCE = (426 << 20) + 81_788_928  # RTX 6000 Ada's 426 MiB bare context: 528,482,304 B
ADA_TRAINING = (426 << 20) + 150_994_944  # 597,688,320 B
BLACKWELL_TRAINING = (555 << 20) + 150_994_944  # RTX PRO 6000 Blackwell's 555 MiB: 732,954,624 B
H100_INFERENCE, H100_TRAINING = 730_660_864, 799_866_880  # measured


def test_training_takes_the_device_context() -> None:
    kw = dict(mode="train", batch=1, context=512)
    assert memfit.estimate("llama-3.2-1b", **kw).component("cuda_context") == H100_TRAINING
    on_ada = memfit.estimate("llama-3.2-1b", device=get_device("rtx-4090"), **kw)
    assert on_ada.component("cuda_context") == ADA_TRAINING
    on_b200 = memfit.estimate("llama-3.2-1b", device=get_device("b200"), **kw)
    assert on_b200.component("cuda_context") == BLACKWELL_TRAINING
    assert on_b200.total_bytes - memfit.estimate("llama-3.2-1b", **kw).total_bytes == BLACKWELL_TRAINING - H100_TRAINING


@pytest.mark.parametrize("runtime", ["transformers", "vllm", "llamacpp"])
def test_serving_runtimes_take_the_device_context(runtime: str) -> None:
    est = memfit.estimate("qwen2.5-0.5b", device=get_device("l40s"), mode="inference", runtime=runtime, context=2048)
    assert est.component("cuda_context") == ADA_INFERENCE
    assert "published bare context" in next(c.formula for c in est.components if c.name == "cuda_context")


def test_a_generation_without_a_published_figure_says_so() -> None:
    est = memfit.estimate("qwen2.5-0.5b", device=get_device("t4"), mode="train", batch=1, context=512)
    text = next(c.formula for c in est.components if c.name == "cuda_context")
    assert est.component("cuda_context") == H100_TRAINING and "no published figure for turing" in text


def test_fit_judges_one_estimate_with_each_device_context() -> None:
    """fit_all makes one estimate and judges it on every GPU: each verdict counts its own GPU's context."""
    by_id = {r.device.id: r for r in fit_all("qwen2.5-0.5b", mode="train", batch=1, context=512)}
    assert by_id["h100-sxm"].per_gpu_bytes[0] - by_id["rtx-4090"].per_gpu_bytes[0] == H100_TRAINING - ADA_TRAINING
    assert by_id["rtx-4090"].estimate.component("cuda_context") == ADA_TRAINING


def test_per_gpu_details_follow_the_context() -> None:
    """An FSDP estimate's per-rank figures hold one context each: on an L40S they drop by the difference."""
    kw = dict(mode="train", batch=1, context=512, gpus=2, zero=3)
    h100 = memfit.fit("qwen2.5-0.5b", "h100-sxm", **kw)
    l40s = memfit.fit("qwen2.5-0.5b", "l40s", **kw)
    assert h100.per_gpu_bytes[0] - l40s.per_gpu_bytes[0] == H100_TRAINING - ADA_TRAINING


def test_a100_is_not_priced_as_an_rtx_3090() -> None:
    """The Ampere row is the RTX 3090's (GA102: 82 SMs × 1,536 threads); the A100 (GA100: 108 × 2,048) takes the
    H100's figure, and says why; an RTX A6000 (GA102) takes the RTX 3090's 256 MiB + the H100's kernels."""
    kw = dict(mode="train", batch=1, context=512)
    a100 = memfit.estimate("qwen2.5-0.5b", device=get_device("a100-40gb"), **kw)
    text = next(c.formula for c in a100.components if c.name == "cuda_context")
    assert a100.component("cuda_context") == H100_TRAINING and "left out of its generation's row" in text
    a6000 = memfit.estimate("qwen2.5-0.5b", device=get_device("rtx-a6000"), **kw)
    assert a6000.component("cuda_context") == (256 << 20) + 150_994_944
