"""vLLM's default gpu_memory_utilization by version (issue 14, l14serve3): 0.9 up to 0.19.1, 0.92 from 0.20.0.

vllm/config/cache.py CacheConfig.gpu_memory_utilization is Field(default=0.9) in the 0.19.0 and 0.19.1 wheels and
Field(default=0.92) from 0.20.0 (0.20.0, 0.20.2, 0.21.0, 0.22.0, 0.23.0, 0.24.0, 0.27.1), as is vllm/entrypoints/llm.py
LLM(gpu_memory_utilization=...); a 0.27.1 log started without the flag prints "Desired GPU memory utilization is (0.92,
21.64 GiB)". memfit took 0.9 for every version; it now takes the version's default when none is given.
"""

from __future__ import annotations

import math

import pytest

from memfit.estimate import estimate
from memfit.hardware import get_device
from memfit.memory.runtimes.engine_profile import default_gpu_memory_utilization

H100_TOTAL = 85_017_493_504  # the catalog's measured H100 SXM CUDA total


@pytest.mark.parametrize(
    ("version", "util"),
    [(None, 0.9), ("0.10.2", 0.9), ("0.19.1", 0.9), ("0.20.0", 0.92), ("0.24.0", 0.92), ("0.27.1", 0.92)],
)
def test_default_by_version(version: str | None, util: float) -> None:
    assert default_gpu_memory_utilization(version) == util


def _requested(**kw: object) -> int:
    est = estimate("llama-3.1-8b", device=get_device("h100"), mode="inference", runtime="vllm", context=8192, **kw)
    assert est.details["device_total_bytes"] == H100_TOTAL
    return int(est.details["requested_bytes"])


def test_requested_budget_follows_the_version() -> None:
    # floor(85,017,493,504 x 0.92) = 78,216,094,023 B (0.9 before: 76,515,744,153)
    assert _requested(vllm_version="0.27.1") == math.floor(H100_TOTAL * 0.92) == 78_216_094_023
    assert _requested(vllm_version="0.19.1") == math.floor(H100_TOTAL * 0.9) == 76_515_744_153
    assert _requested() == 76_515_744_153  # memfit's default profile (0.11)
    assert _requested(vllm_version="0.27.1", gpu_memory_utilization=0.9) == 76_515_744_153  # a given value wins
