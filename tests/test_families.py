"""First-class families added for issue 10: exact parameter counts against transformers 5.25 on the meta device
(the family's default config class and a real config), and the KV cache / recurrent state worked out by hand.

The real configs (tests/data/families/real_configs.json) are Hub-shaped config.json files written from the
published configs of the cited repositories (the architecture fields; tokenizer ids and such left out).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from memfit.inventory import count_parameters, inventory, layer_parameters
from memfit.memory.kv_cache import kv_bytes_per_token, kv_cache_bytes
from memfit.sources.hf_config import spec_from_config

REAL = json.loads((Path(__file__).parent / "data" / "families" / "real_configs.json").read_text())

# the model_types added as first-class families (the older ones are listed in test_hf_config)
NEW_FAMILIES = {"smollm3", "olmo3", "seed_oss", "exaone4", "cohere2"}

# (config class, model class when not AutoModelForCausalLM)
DEFAULTS: dict[str, str | None] = {
    "SmolLM3Config": None, "Olmo3Config": None, "SeedOssConfig": None, "Exaone4Config": None, "Cohere2Config": None,
}


def _check(cfg: dict[str, Any], reference: Any = None, model_class: str | None = None) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from _meta_oracle import reference_counts

    total, per_block, embed = reference_counts(cfg if reference is None else reference, model_class)
    spec = spec_from_config(cfg)
    count = count_parameters(spec)
    assert count.total == total
    assert {i: layer_parameters(spec, i) for i in range(spec.num_layers)} == per_block
    (token_embd,) = [t for t in inventory(spec) if t.kind == "token_embd"]
    assert token_embd.numel == embed


@pytest.mark.parametrize("config_class", sorted(DEFAULTS))
def test_default_config_count_is_exact(config_class: str) -> None:
    transformers = pytest.importorskip("transformers")
    conf = getattr(transformers, config_class)()
    _check(conf.to_dict(), conf, DEFAULTS[config_class])


def test_each_new_family_has_its_default_config_checked() -> None:
    transformers = pytest.importorskip("transformers")
    assert {getattr(transformers, c)().model_type for c in DEFAULTS} == NEW_FAMILIES


@pytest.mark.parametrize("name", sorted(REAL))
def test_real_config_count_is_exact(name: str) -> None:
    _check(REAL[name]["config"])


def test_every_real_config_cites_its_source() -> None:
    assert all(row["source"].startswith("https://huggingface.co/") for row in REAL.values())


def _spec(name: str) -> Any:
    return spec_from_config(REAL[name]["config"])


# ---- KV cache, by hand from the architecture (bf16: 2 bytes; K and V: factor 2) ------------------------------


def test_kv_smollm3_all_layers_global() -> None:
    # 36 layers × 4 kv heads × 128 head_dim (2048 / 16); NoPE layers cache K/V like the others, no window
    spec = _spec("smollm3-3b")
    assert kv_bytes_per_token(spec) == 2 * 36 * 4 * 128 * 2 == 73_728
    assert kv_cache_bytes(spec, 65_536, 2) == 2 * 65_536 * 73_728


def test_kv_olmo3_three_sliding_one_global() -> None:
    # 32 layers, 32 kv heads × 128: 8 global layers keep every token, 24 sliding layers keep window - 1 = 4,095
    spec = _spec("olmo-3-7b")
    row = 2 * 32 * 128 * 2
    assert kv_cache_bytes(spec, 10_000, 1) == 8 * 10_000 * row + 24 * 4095 * row == 2_920_939_520
    assert kv_cache_bytes(spec, 1000, 3) == 3 * 32 * 1000 * row


def test_kv_seed_oss() -> None:
    spec = _spec("seed-oss-36b-instruct")  # 64 layers × 8 kv heads × head_dim 128
    assert kv_bytes_per_token(spec) == 2 * 64 * 8 * 128 * 2 == 262_144


def test_kv_exaone4_lllg_and_no_window() -> None:
    spec = _spec("exaone-4.0-32b")  # 64 layers: 48 local (4,096), 16 global; 8 kv heads × 128
    row = 2 * 8 * 128 * 2
    assert kv_cache_bytes(spec, 32_768, 1) == 16 * 32_768 * row + 48 * 4095 * row == 2_952_593_408
    small = _spec("exaone-4.0-1.2b")  # sliding_window null: 30 global layers, 8 kv heads × 64
    assert kv_cache_bytes(small, 32_768, 1) == 30 * 32_768 * (2 * 8 * 64 * 2)


def test_kv_cohere2_r7b() -> None:
    spec = _spec("c4ai-command-r7b-12-2024")  # 32 layers: 24 sliding (4,096), 8 global; 8 kv heads × 128
    row = 2 * 8 * 128 * 2
    assert kv_cache_bytes(spec, 8192, 4) == 4 * (8 * 8192 * row + 24 * 4095 * row)
