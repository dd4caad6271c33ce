"""DeepSeek-V4 (``sources/families/deepseek_v4.py``): exact counts against transformers 5.25 on the meta device, the
compressed cache worked out by hand from ``DeepseekV4HCACache`` / ``DeepseekV4CSACache``, LoRA against PEFT, and the
simulated peaks (tests/data/simulated/families-v4.jsonl, tools/simulate_families_v4.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests._simulated import relative_errors

from memfit import estimate
from memfit.errors import ConfigError, UnsupportedError
from memfit.inventory import count_parameters, layer_parameters
from memfit.memory.kv_cache import kv_cache_bytes
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

SIMULATED = Path(__file__).parent / "data" / "simulated" / "families-v4.jsonl"
FAMILIES = {"deepseek_v4"}  # the model_types whose counts this file checks against transformers
# DeepSeek-V4-Flash's schedule (https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash): layers 0, 1 sliding only, then
# ratio 4 (CSA) on even and 128 (HCA) on odd layers; the 44th entry is the MTP layer transformers does not build
FLASH = {"model_type": "deepseek_v4", "compress_ratios": [0, 0] + [4 if i % 2 == 0 else 128 for i in range(2, 44)]}
SMALL = dict(num_hidden_layers=4, hidden_size=64, num_attention_heads=4, head_dim=32, q_lora_rank=32, o_groups=2,
             o_lora_rank=16, index_n_heads=2, index_head_dim=16, moe_intermediate_size=32, n_routed_experts=4,
             num_experts_per_tok=2, hc_mult=2, vocab_size=100, sliding_window=8)


def _meta(conf: Any) -> tuple[int, dict[int, int]]:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    import re

    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(conf)
    total, per_block = 0, {}
    for name, p in model.named_parameters():
        total += p.numel()
        m = re.search(r"\.layers\.(\d+)\.", name)
        if m:
            per_block[int(m.group(1))] = per_block.get(int(m.group(1)), 0) + p.numel()
    return total, per_block


@pytest.mark.parametrize("kw", [{}, {"compress_ratios": FLASH["compress_ratios"]}, SMALL,
                                {**SMALL, "layer_types": ["sliding_attention", "compressed_sparse_attention",
                                                          "heavily_compressed_attention", "sliding_attention"],
                                 "compress_rates": {"compressed_sparse_attention": 8,
                                                    "heavily_compressed_attention": 64}}],
                         ids=["default", "flash-schedule", "small", "small-layer-types"])
def test_count_is_exact(kw: dict[str, Any]) -> None:
    transformers = pytest.importorskip("transformers")
    conf = transformers.DeepseekV4Config(**kw)
    total, per_block = _meta(conf)
    for cfg in (conf.to_dict(), {**kw, "model_type": "deepseek_v4"}):  # as saved, and as a Hub file leaves it
        spec = spec_from_config(cfg)
        assert count_parameters(spec).total == total
        assert {i: layer_parameters(spec, i) for i in range(spec.num_layers)} == per_block


def test_flash_total_is_the_published_284b() -> None:
    # DeepSeek-V4-Flash's card: 284B total parameters (the MTP layer is not built by transformers)
    assert round(count_parameters(spec_from_config(FLASH)).total / 1e9) == 284


def test_compressed_cache_by_hand() -> None:
    """Flash (43 layers: 2 sliding, 21 CSA, 20 HCA; head_dim 512, index_head_dim 128, window 128), bf16, 32,768
    tokens of one sequence."""
    spec = spec_from_config(FLASH)
    t = 32_768
    # decoding: every layer keeps the window's 127 keys (K = V, one tensor); a CSA layer ⌊t/4⌋ entries of
    # 512 + 128, its buffers ≤ 4 tokens of kv + gate (2 × 2 × (512 + 128)) and the overlap state 4 × 640 in bf16 and
    # fp32; an HCA layer ⌊t/128⌋ entries of 512 and buffers ≤ 128 tokens of kv + gate (2 × 512)
    sliding = 43 * 127 * 512 * 2
    csa = 21 * (t // 4 * 640 * 2 + 4 * 4 * 640 * 2 + 4 * 640 * (2 + 4))
    hca = 20 * (t // 128 * 512 * 2 + 128 * 2 * 512 * 2)
    assert kv_cache_bytes(spec, t, 1) == sliding + csa + hca == 237_031_424
    # right after the prefill the window and the buffers are views of the whole prompt's tensors
    full = 43 * t * 512 * 2 + 21 * (t // 4 * 640 * 2 + t * 4 * 640 * 2 + 4 * 640 * 6) + 20 * (
        t // 128 * 1024 + t * 2 * 512 * 2)
    assert kv_cache_bytes(spec, t, 1, bound_windows=False) == full == 6_533_999_616


def test_other_runtimes_refuse_in_one_line() -> None:
    for runtime in ("vllm", "llamacpp"):
        with pytest.raises(UnsupportedError, match="--runtime transformers"):
            estimate(FLASH, Workload(mode="inference", context=4096, runtime=runtime))


def test_transformers_runs_it_eagerly() -> None:
    est = estimate(FLASH, Workload(mode="inference", context=1024))
    assert any("eager" in n for n in est.notes)


def test_bad_schedule_is_one_clear_line() -> None:
    with pytest.raises(ConfigError, match="compress_ratios"):
        spec_from_config({"model_type": "deepseek_v4", "compress_ratios": [0, 3]})
    with pytest.raises(ConfigError, match="o_groups"):
        spec_from_config({"model_type": "deepseek_v4", "o_groups": 7})


@pytest.mark.parametrize("targets", [("all-linear",), ("q_a_proj", "q_b_proj", "kv_proj", "o_a_proj", "o_b_proj"),
                                     ("gate_proj", "up_proj", "down_proj"), ("weights_proj",)])
def test_lora_equals_peft(targets: tuple[str, ...]) -> None:
    transformers = pytest.importorskip("transformers")
    peft = pytest.importorskip("peft")
    from memfit.memory.lora import lora_parameters

    conf = transformers.DeepseekV4Config(**SMALL)
    model = transformers.AutoModelForCausalLM.from_config(conf)
    wrapped = peft.get_peft_model(model, peft.LoraConfig(r=4, target_modules="all-linear" if targets == ("all-linear",)
                                                         else list(targets)))
    trainable = sum(q.numel() for q in wrapped.parameters() if q.requires_grad)
    assert lora_parameters(spec_from_config(conf.to_dict()), 4, targets) == trainable


# cases over 3 % and why (each bounded, so a change shows); none at present
KNOWN: dict[str, tuple[float, float]] = {}


def test_simulated_peaks_within_3_percent() -> None:
    errors = dict(relative_errors(SIMULATED))
    kinds = {c.split("/")[1].split("-")[0] for c in errors}
    assert {"gen", "train"} <= kinds
    bad = {c: e for c, e in errors.items() if not KNOWN.get(c, (-0.03, 0.03))[0] <= e <= KNOWN.get(c, (-0.03, 0.03))[1]}
    assert not bad, bad
