"""Ollama's defaults from data/ollama.toml: the context by VRAM tier, and every fact with a source."""

from __future__ import annotations

import pytest

from memfit.memory.runtimes.ollama import GIB, ollama_context, ollama_defaults, ollama_facts


@pytest.mark.parametrize(("vram", "context"), [
    (8 * GIB, 4096), (24 * GIB - 1, 4096), (24 * GIB, 32768), (48 * GIB - 1, 32768), (48 * GIB, 262144),
    (80 * GIB, 262144),
])
def test_context_tiers(vram: int, context: int) -> None:
    # docs/context-length.mdx: < 24 GiB: 4k, 24-48 GiB: 32k, >= 48 GiB: 256k
    assert ollama_context(vram) == context


def test_defaults_and_sources() -> None:
    d = ollama_defaults(16 * GIB)
    assert (d.context, d.num_parallel, d.kv_type) == (4096, 1, "f16")
    facts = ollama_facts()
    for name in ("context", "num_parallel", "kv_cache_type", "flash_attention"):
        assert facts[name]["source"], name
    # flash attention could not be pinned: the output says so
    assert not facts["flash_attention"]["pinned"]
    assert any(n.startswith("Ollama default flash attention: not pinned") for n in d.notes)
    assert any("not pinned: whether VRAM means" in n for n in d.notes)


# llama-3.1-8b: 32 layers × 8 KV heads × 128 × (K + V) × 2 bytes (f16) = 131,072 bytes per cell
KV_PER_CELL = 32 * 8 * 128 * 2 * 2


@pytest.mark.parametrize(("gpu", "context"), [("rtx-4060-ti-16gb", 4096), ("rtx-4090", 32768), ("a6000", 262144)])
def test_runtime_ollama_takes_the_context_of_the_vram_tier(gpu: str, context: int,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    import json

    from _cli import run

    code, out, err = run(["estimate", "llama-3.1-8b", "--mode", "inference", "--runtime", "ollama", "--gpu", gpu,
                          "--dtype", "q4_k_m", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)["details"]
    assert d["runtime"] == "ollama" and d["ollama_context"] == context
    assert d["kv_cache_bytes"] == context * KV_PER_CELL  # one slot (OLLAMA_NUM_PARALLEL = 1), f16 cache
    code, out, err = run(["estimate", "llama-3.1-8b", "--mode", "inference", "--runtime", "ollama", "--gpu", gpu,
                          "--dtype", "q4_k_m", "--context", "8192", "--json"], capsys)
    d = json.loads(out)["details"]
    assert d["ollama_context"] == 8192 and d["ollama_default_context"] == context
    assert d["kv_cache_bytes"] == 8192 * KV_PER_CELL


def test_runtime_ollama_needs_a_gpu(capsys: pytest.CaptureFixture[str]) -> None:
    from _cli import run

    code, _, err = run(["estimate", "llama-3.1-8b", "--mode", "inference", "--runtime", "ollama"], capsys)
    assert code == 2 and "pass --gpu" in err
