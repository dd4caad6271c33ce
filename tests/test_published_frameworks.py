"""The published framework runs (tests/data/groundtruth/published-frameworks.jsonl, blind, and
published-frameworks-dev.jsonl, development; published-frameworks.md): each case
keeps its source and a quote holding the very figure recorded, the multi-GPU rows their layout, and ``memfit validate``
prices a LoRA / QLoRA case with the layout it states (``gpus``, ``zero``), as it does a full fine-tuning case."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.sources.hf_config import SUPPORTED_FAMILIES
from memfit.validate import workload_for_case

DIR = Path(__file__).parent / "data" / "groundtruth"
BLIND, DEV = (
    [r for r in map(json.loads, (DIR / name).read_text().splitlines()) if "case" in r]
    for name in ("published-frameworks.jsonl", "published-frameworks-dev.jsonl")
)
CASES = BLIND + DEV


def test_the_file_holds_every_listed_case() -> None:
    # 26 two-GPU fms-acceleration rows (three reference commits) and torchtune's packed row (published-frameworks.md),
    # then six Mixtral QLoRA two-GPU rows of the same commits (listed by l16qlora before they were scored)
    assert len(CASES) == 33 and len({r["case"] for r in CASES}) == 33
    two_gpu = [r for r in CASES if r["params"].get("gpus") == 2]
    assert len(two_gpu) == 32 and all(r["params"]["zero"] == 3 for r in two_gpu)
    assert sorted({r["params"]["transformers"] for r in two_gpu}) == ["4.44.2", "4.45.2", "4.48.1"]
    # the development part is the 4.48.1 rows (nine moved by l16fsdp1 before FSDP1 was modelled, two Mixtral QLoRA
    # listed there by l16qlora) and the torchtune row (moved by l12torchtune); the rest stays blind
    assert {r["params"].get("transformers") for r in DEV} == {"4.48.1", None} and len(DEV) == 12
    assert [r["case"] for r in DEV if "torchtune" in str(r["published"])] == [
        "llama-3.2-3b/torchtune-full-bf16-adamw-packed-b2-s4096"
    ]


@pytest.mark.parametrize("rec", CASES, ids=[r["case"] for r in CASES])
def test_each_case_quotes_its_figure(rec: dict[str, object]) -> None:
    pub = rec["published"]
    assert isinstance(pub, dict) and str(pub["source"]).startswith("https://")
    quote, peak = str(pub["quote"]), rec["peak_alloc"]
    assert isinstance(peak, int)
    if "fms-acceleration" in str(pub["source"]):  # the CSV row: bytes, and nvidia-smi MiB (mean of the two GPUs)
        used = rec["device_used_peak"]
        assert isinstance(used, int) and used % (1 << 20) == 0
        assert any(f",{peak}{end}," in quote for end in ("", ".0"))
        assert any(f",{used >> 20}{end}," in quote for end in ("", ".0"))
        params = rec["params"]
        assert isinstance(params, dict) and f",{params['batch']}," in quote and ",2," in quote  # batch, num_gpus
    else:  # torchtune's README: GiB with one decimal
        assert peak == 60 * 2**30 and "| 60.0 |" in quote
    assert pub["versions"] and pub["settings"] and pub["config_source"]
    config = rec["config"]
    assert isinstance(config, dict) and config["model_type"] in SUPPORTED_FAMILIES


def test_lora_cases_take_their_layout() -> None:
    """A multi-GPU LoRA / QLoRA case is priced on its layout, not as one GPU."""
    p = {"batch": 2, "seq": 4096, "r": 16, "quant": "nf4-dq", "gpus": 2, "zero": 3}
    wl = workload_for_case("lora", p)
    assert (wl.mode, wl.gpus, wl.zero) == ("qlora", 2, 3)
    one = workload_for_case("lora", {k: v for k, v in p.items() if k not in ("gpus", "zero")})
    assert (one.gpus, one.zero) == (1, 0)
