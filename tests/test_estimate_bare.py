"""A bare count under inference (issue 15): a clearly labelled rule-of-thumb estimate from the catalog's nearest
plain dense architecture, not a refusal; training still needs the architecture."""

from __future__ import annotations

import json

import pytest

import memfit
from _cli import run
from memfit.errors import UnsupportedError

# llama-3.1-70b: 80 layers × 8 KV heads × 128 × (K + V) × 2 bytes = 327,680 bytes per token
KV_70B_PER_TOKEN = 80 * 8 * 128 * 2 * 2


def test_70b_inference_borrows_the_nearest_architecture(capsys: pytest.CaptureFixture[str]) -> None:
    est = memfit.estimate("70B", mode="inference")  # before: a refusal
    rot = est.details["rule_of_thumb"]
    assert rot["model"] == "llama-3.1-70b" and rot["parameters"] == 70_553_706_496
    assert est.component("weights") == 70_000_000_000 * 2  # the count's own weights, float16 (seed arithmetic)
    assert est.component("kv_cache") == 2048 * KV_70B_PER_TOKEN == 671_088_640  # the borrowed architecture's
    assert est.parameters.total == 70_000_000_000
    assert est.notes[0].startswith("rule of thumb:") and "llama-3.1-70b" in est.notes[0]
    assert "rule of thumb" in est.model
    assert est.total_bytes == sum(c.bytes for c in est.components if c.on_device)
    code, out, _ = run(["estimate", "70B", "--mode", "inference"], capsys)
    assert code == 0 and "rule of thumb" in out and "llama-3.1-70b" in out
    code, out, _ = run(["estimate", "70B", "--mode", "inference", "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and doc["details"]["rule_of_thumb"]["model"] == "llama-3.1-70b"
    assert doc["total_bytes"] == est.total_bytes


def test_the_weights_are_the_counts_in_every_format() -> None:
    est = memfit.estimate("7B", mode="inference", runtime="llamacpp", dtype="q4_k_m")
    assert est.component("weights") == memfit.estimate("7B", dtype="q4_k_m").total_bytes  # one weights component
    assert sum(1 for c in est.components if c.name == "weights") == 1
    assert memfit.estimate("7B", mode="inference", dtype="int8").component("weights") == 7_000_000_000


def test_what_still_needs_the_architecture(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UnsupportedError, match=r"pass a catalog id or a config\.json"):
        memfit.estimate("70B", mode="inference", runtime="vllm")
    with pytest.raises(UnsupportedError, match="needs the architecture"):
        memfit.estimate("70B", mode="train")
    code, _, err = run(["estimate", "70B", "--mode", "lora"], capsys)
    assert code == 2 and "\n" not in err.strip()
    assert not memfit.fit("70B", "rtx-4090", mode="inference").fits  # 140 GB of weights on 24 GiB
    assert memfit.fit("1B", "rtx-4090", mode="inference").fits
