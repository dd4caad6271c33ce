"""memfit.plan_device_map against accelerate's own ``infer_auto_device_map`` on the model transformers builds on
the meta device: the same module → device map, entry for entry, over budgets that split the model across two
GPUs, the CPU and disk (accelerate and transformers are test dependencies; the core never imports them)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import memfit
from memfit.cli import main
from memfit.device_map import parse_max_memory

MODELS = Path(__file__).resolve().parent.parent / "src" / "memfit" / "data" / "models"
# real configs, cut to 4 layers (the placement rule does not depend on the depth) and a smaller vocabulary
# families whose Hugging Face module names are memfit's (model.embed_tokens, model.layers.N, model.norm, lm_head):
# the same map entry for entry; the others (GPT-2, GPT-J, Phi-2 name them transformer.wte, transformer.h.N, …):
# the same bytes on every device
OTHER_NAMES = ["gpt2", "phi-2"]
CONFIGS = ["llama-3.2-1b", "llama-3.1-8b", "qwen2.5-0.5b-instruct", "mistral-7b-v0.3", "gemma-2-2b",
           "phi-3.5-mini-instruct", "olmo-2-1124-7b", "mixtral-8x7b-v0.1", "gemma-3-1b-it", "gemma-2b", "qwen3-30b-a3b",
           *OTHER_NAMES]
DTYPES = {"bfloat16": "torch.bfloat16", "float16": "torch.float16", "float32": "torch.float32"}


def _config(name: str, dtype: str = "bfloat16") -> dict[str, Any]:
    cfg: dict[str, Any] = json.loads((MODELS / f"{name}.json").read_text(encoding="utf-8"))
    cfg = {k: v for k, v in cfg.items() if k not in ("quantization_config", "auto_map", "dtype")}
    cfg["torch_dtype"] = dtype  # the model loaded in the dtype asked (from_pretrained(dtype=…))
    for k in ("num_hidden_layers", "n_layer"):
        if k in cfg:
            cfg[k] = 4
    cfg["vocab_size"] = min(cfg.get("vocab_size", 32000), 50_000)
    for k in ("layer_types",):
        if isinstance(cfg.get(k), list):
            cfg[k] = cfg[k][:4]
    return cfg


def _accelerate(cfg: dict[str, Any], max_memory: dict[Any, int], dtype: str) -> tuple[dict[str, Any], dict[Any, int]]:
    """accelerate's device map and the bytes it puts on each device."""
    import torch
    from accelerate.utils import compute_module_sizes, infer_auto_device_map

    from _meta_oracle import build_meta

    model = build_meta(dict(cfg))
    model.tie_weights()
    dt = getattr(torch, dtype)
    dm = dict(infer_auto_device_map(model, max_memory=dict(max_memory), dtype=dt,
                                    no_split_module_classes=list(model._no_split_modules or [])))
    sizes = compute_module_sizes(model, dtype=dt)
    per: dict[Any, int] = {}
    for mod, dev in dm.items():
        per[dev] = per.get(dev, 0) + sizes[mod]
    return dm, {d: b for d, b in per.items() if b}


def _budgets(total: int, layer: int) -> list[dict[Any, int]]:
    """Budgets that put the boundaries at many places: on one GPU, two GPUs, the CPU and disk."""
    out: list[dict[Any, int]] = [{0: total * 2, "cpu": total}]
    for f in (0.35, 0.5, 0.62, 0.8, 0.97, 1.05):
        out.append({0: int(total * f), "cpu": total * 2})
        out.append({0: int(total * f / 2), 1: int(total * f / 2) + layer // 3, "cpu": int(total * 0.4)})
        out.append({0: int(total * f), "cpu": int(total * abs(1 - f) / 2)})  # the rest on disk
    return out


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("dtype", ["bfloat16", "float32"])
def test_same_map_as_accelerate(name: str, dtype: str) -> None:
    pytest.importorskip("accelerate")
    cfg = _config(name, dtype)
    spec = memfit.load_model(dict(cfg))
    full = memfit.plan_device_map(spec, {0: 10**15}, dtype=dtype)
    total = full.device_bytes[0]
    assert full.device_map == {"": 0}
    seen = set()
    for mm in _budgets(total, full.largest_layer_bytes):
        ours = memfit.plan_device_map(spec, mm, dtype=dtype)
        theirs, their_bytes = _accelerate(cfg, mm, dtype)
        if name not in OTHER_NAMES:
            assert ours.device_map == theirs, (name, mm)
        assert {d: b for d, b in ours.device_bytes.items() if b} == their_bytes, (name, mm)
        assert sum(ours.device_bytes.values()) == total
        seen |= set(theirs.values())
    assert {0, "cpu", "disk"} <= seen  # the budgets did reach every kind of device


def test_the_largest_layer_is_kept_free_on_the_first_gpu() -> None:
    # llama-3.1-8b in bf16: the embedding and the untied head are the largest layers, 128,256 × 4,096 × 2 B
    p = memfit.plan_device_map("llama-3.1-8b", "0=10GiB,cpu=64GiB")
    assert p.largest_layer_bytes == 128_256 * 4_096 * 2 and set(p.largest_layer) == {"model.embed_tokens", "lm_head"}
    assert p.device_bytes[0] <= 10 * 2**30 - p.largest_layer_bytes
    assert sum(p.device_bytes.values()) == 8_030_261_248 * 2 + 2 * 64 * 2  # the weights + two rotary buffers
    assert p.device_map["lm_head"] == "cpu" and p.device_map["model.embed_tokens"] == 0


def test_max_memory_as_people_write_it() -> None:
    assert parse_max_memory("0=20GiB, 1=20GiB,cpu=64GB") == {0: 20 * 2**30, 1: 20 * 2**30, "cpu": 64 * 10**9}
    for bad in ("gpu0=20GiB", "0:20GiB", "", "cpu=lots"):
        with pytest.raises(memfit.ConfigError):
            parse_max_memory(bad)
    with pytest.raises(memfit.ConfigError, match="float weights"):
        memfit.plan_device_map("llama-3.1-8b", "0=20GiB", dtype="nf4")


def test_cli(capsys: pytest.CaptureFixture[str]) -> None:
    main(["device-map", "llama-3.2-1b", "--max-memory", "0=1GiB,cpu=8GiB", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc == memfit.plan_device_map("llama-3.2-1b", "0=1GiB,cpu=8GiB").to_json()
    assert [d["device"] for d in doc["devices"]] == ["0", "cpu"]
    main(["device-map", "llama-3.2-1b", "--max-memory", "0=1GiB,cpu=8GiB"])
    out = capsys.readouterr().out
    assert "largest layer" in out and "cpu:" in out
