"""The catalog past the shared 62: at least 120 models, each row with the Hub config URL its copy reproduces and
the parameter count transformers builds on the meta device, stored so that a family memfit describes only
through its generic path has its exact count offline. Offline (transformers not importable) memfit's count
equals the stored one for every such row; with transformers installed the stored count equals an independent
meta-device build (a stratified subset by default, every row with ``MEMFIT_FULL_SWEEP=1``), and memfit's own
count equals it too, whichever path (first-class builder or generic) describes the family by then."""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import pytest
from tests._cli import run
from tests._meta_oracle import MULTIMODAL
from tests.conftest import clear_model_caches

from memfit import count_parameters, estimate, load_model
from memfit.sources.catalog import catalog, catalog_config
from memfit.sources.meta_build import shipped_disabled

COUNTED = [e for e in catalog() if e.parameters is not None]
SUBSET = ("qwen3-next-80b-a3b-thinking", "qwen3.5-35b-a3b", "llama-4-scout-17b-16e-instruct", "gemma-4-26b-a4b",
          "nemotron-3-nano-30b-a3b", "glm-4.7-flash", "qwen3-vl-2b-instruct", "gpt-oss-120b", "nemotron-nano-9b-v2",
          "ministral-3-8b-instruct-2512")


def test_catalog_size_and_sources() -> None:
    rows = catalog()
    assert len(rows) >= 120 and len(COUNTED) >= 58
    for e in COUNTED:
        assert e.config_url == f"https://huggingface.co/{e.repo}/blob/main/config.json", e.id
        assert e.source and "meta device" in e.parameters_source, e.id


def test_stored_counts_hold_offline(no_transformers: Any) -> None:
    for e in COUNTED:
        spec = load_model(e.id)
        assert count_parameters(spec).total == e.parameters, e.id
    generic = next(e.id for e in COUNTED if load_model(e.id).is_generic)  # a family still on the generic path
    est = estimate(generic)  # its tensors as transformers built them, shipped in data/catalog_tensors.json.gz
    assert est.details["architecture"] == "generic" and est.details["parameters_exact"] is True
    assert "built on the meta device" in est.details["parameters_source"]
    clear_model_caches()
    with shipped_disabled():  # without the shipped build: the catalog row's count (the standard layout's split)
        est = estimate(generic)
        assert "catalog row" in est.details["parameters_source"] and est.details["parameters_exact"] is True
        assert est.parameters.total == next(e.parameters for e in COUNTED if e.id == generic)
    clear_model_caches()


def _independent_count(cfg: dict[str, Any]) -> int:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    cfg = {k: v for k, v in cfg.items() if k not in ("quantization_config", "auto_map") and not k.startswith("_")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model_type = cfg.pop("model_type")
        conf = transformers.AutoConfig.for_model(model_type, **cfg)
        with torch.device("meta"):
            try:  # the checkpoint's class where it holds a vision tower that AutoModelForCausalLM leaves out (llama4)
                model = (getattr(transformers, MULTIMODAL[model_type])(conf) if model_type in MULTIMODAL
                         else transformers.AutoModelForCausalLM.from_config(conf))
            except ValueError:
                model = transformers.AutoModelForImageTextToText.from_config(conf)
    return sum(p.numel() for p in model.parameters())


@pytest.mark.oracle
@pytest.mark.parametrize("model_id", [e.id for e in COUNTED
                                      if os.environ.get("MEMFIT_FULL_SWEEP") == "1" or e.id in SUBSET])
def test_stored_count_equals_transformers(model_id: str) -> None:
    entry, cfg = catalog_config(model_id)
    reference = _independent_count(cfg)
    assert entry.parameters == reference
    assert count_parameters(load_model(model_id)).total == reference


def test_deepseek_v2_lite_has_no_query_lora() -> None:
    # the published config's q_lora_rank is null (DeepSeek-V2 paper, Appendix B: V2-Lite does not compress the
    # queries); the checkpoint's index gives total_size 31,412,968,448 bytes of bf16 weights
    assert count_parameters(load_model("deepseek-v2-lite")).total == 31_412_968_448 // 2


def test_models_family_and_newest(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models", "--family", "qwen3_5", "--json"], capsys)
    rows = json.loads(out)
    assert code == 0 and {r["model_type"] for r in rows} == {"qwen3_5", "qwen3_5_moe"}
    assert {r["id"] for r in rows} >= {"qwen3.5-27b", "qwen3.5-397b-a17b", "qwen3.6-35b-a3b"}
    code, out, _ = run(["models", "--newest", "--json"], capsys)
    versions = [r["transformers_version"] for r in json.loads(out)]
    assert code == 0 and versions[0].startswith("5.") and versions[-1] < "4.4"
    code, _, err = run(["models", "--family", "no_such"], capsys)
    assert code == 2 and "no_such" in err and "qwen3_next" in err
