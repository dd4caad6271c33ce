"""vLLM 0.26/0.27 (Model Runner V2) compile the model inside the profiling run when the torch.compile cache is empty
(vllm/compilation/decorators.py: aot_compile, then the first run, both within profile_run and memory_profiling); memfit
prices a warm cache and says so (docs/serving.md, "The first torch.compile")."""

from __future__ import annotations

from memfit.estimate import estimate
from memfit.hardware import get_device


def _notes(**kw: object) -> str:
    est = estimate("qwen3-8b", device=get_device("rtx-4090"), mode="inference", runtime="vllm", context=8192, **kw)
    return " ".join(est.notes)


def test_model_runner_v2_estimates_say_they_price_a_warm_compile_cache() -> None:
    assert "warm torch.compile cache" in _notes(vllm_version="0.27.1")
    assert "warm torch.compile cache" in _notes(vllm_version="0.26.0")


def test_no_compile_note_when_eager_or_on_the_v1_runner() -> None:
    assert "torch.compile" not in _notes(vllm_version="0.27.1", enforce_eager=True)
    assert "torch.compile" not in _notes(vllm_version="0.19.0")
