"""memfit against SIMULATED cases (tests/data/simulated/cases.jsonl) — simulated data, not measurements.

The cases were produced by ``tools/simulate_memory.py``: the real transformers / PEFT / torch code of the
measurement script run on fake tensors, with the CUDA caching allocator's accounting emulated (docs/simulator.md).
They extend the 32 real H100 measurements (tests/data/groundtruth/) to other families and workloads: Phi-3's
LongRoPE cache reset, fp32 and fp16 models, Gemma 3, StableLM, StarCoder2, OLMo 2, scaled-down MoE, LoRA subsets.

Tolerances, and why:

* the simulator reproduces the 32 real H100 cases to median 0.02 % and at most 1.1 % (``validate`` in
  docs/simulator.md), so a memfit error on a simulated case is memfit's error within about ±1 %;
* the simulation runs transformers 5.23, the measurements 5.17: the sliding-window mask is one ``s × s`` bool in
  5.23 and per sequence in 5.17 (the Mistral H100 case shows the latter, and memfit follows the measurement), which
  alone puts ``gemma-3-1b-it/gen-b4-s4096-new16`` at +1.5 % here;
* so a development-set case further than about ±3 % from memfit points at memfit, not at the simulator.

The accuracy bounds themselves (development and held-out sets, current figures + 0.2 percentage points) are in
tests/test_accuracy.py, with every other ground-truth file. The held-out set (tests/data/simulated/heldout.jsonl,
docs/simulator.md "Development and held-out sets") is never tuned on: its rows there are regression guards, not
targets, tightened (never loosened) when a development-set fix happens to improve them.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from _simulated import records, relative_errors

SIMULATED = Path(__file__).resolve().parent / "data" / "simulated" / "cases.jsonl"
HELDOUT = SIMULATED.with_name("heldout.jsonl")
HELDOUT_LIST = SIMULATED.with_name("heldout-list.jsonl")
# models in both sets: the catalog has few MoE models (other workloads in each set), and the models of the three
# cases moved from held-out to development (docs/simulator.md: gpt2 and smollm-360m keep other held-out workloads)
SHARED_MODELS = {"qwen1.5-moe-a2.7b", "gpt-oss-20b", "gpt2", "smollm-360m",
                 "qwen2-0.5b"}  # moved for the device total (issue 12): qwen2-0.5b/gen-fp32-b4-s4096-new16


def _records() -> list[dict[str, object]]:
    return records(SIMULATED)


def test_file_is_labelled_simulated() -> None:
    """Every line says it is simulated, so nobody mistakes these numbers for measurements."""
    env, *cases = _records()
    assert env["env"]["simulated"] is True  # type: ignore[index]
    assert len(cases) >= 40
    # the reserved peak, where present, is the simulator's caching-allocator emulation, and says so
    assert all(c["simulated"] is True and (c["peak_reserved"] is None or c.get("reserved_source") == "emulated")
               for c in cases)


@pytest.fixture(scope="module")
def results() -> list[tuple[str, float]]:
    return relative_errors(SIMULATED)


@pytest.mark.parametrize("case", ["phi-3.5-mini-instruct/gen-b2-s4096", "phi-4-mini-instruct/gen-b1-s4090-new16"])
def test_longrope_cache_reset_cases(results: list[tuple[str, float]], case: str) -> None:
    """The two generations that cross original_max_position_embeddings (two caches at the peak) agree closely."""
    assert abs(dict(results)[case]) <= 0.002


def _held_records() -> list[dict[str, object]]:
    return records(HELDOUT)


def test_heldout_is_separate_and_labelled() -> None:
    """The held-out file holds only cases of the frozen list, none of them in the development set."""
    env, *cases = _held_records()
    assert env["env"]["simulated"] is True  # type: ignore[index]
    listed = [json.loads(line)["case"] for line in HELDOUT_LIST.read_text().splitlines() if line.strip()]
    names = [str(c["case"]) for c in cases]
    assert len(names) >= 60 and set(names) <= set(listed)
    assert all(c["simulated"] is True and c["set"] == "heldout" for c in cases)
    dev = {str(c["case"]) for c in _records()[1:]}
    assert not dev & set(names)
    dev_models = {_base_model(str(c["model"])) for c in _records()[1:]}
    held_models = {_base_model(str(c["model"])) for c in cases}
    assert dev_models & held_models <= SHARED_MODELS, "a held-out model is also a development model"


def _base_model(name: str) -> str:
    """The catalog model of a case (without the ``-lN`` layer cut)."""
    return re.sub(r"-l\d+$", "", name)


def test_case_errors_prices_the_file_env_line_as_validate_does(tmp_path: Path) -> None:
    """tests/_simulated.case_errors reads the file's env line (torch 2.13: RWKV's build runs ``orthogonal_``,
    whose QR buffers set the reserve) as ``memfit validate`` does; without it the RWKV dev case's device total
    read +1.40 % where ``validate`` prints +0.01 %."""
    from _simulated import case_errors, case_line
    from memfit.validate import validate_file

    src = SIMULATED.with_name("train-sweep-dev.jsonl")
    case = "rwkv-default-l2/train-bf16-adamw-fused-eager-b1-s256"
    env_line = json.dumps(records(src)[0])
    alone = tmp_path / "one.jsonl"
    alone.write_text(env_line + "\n" + case_line(src, case) + "\n")
    (row,), _ = validate_file(alone)
    assert case_errors(src, case) == pytest.approx((row.relative_error, row.total_error), abs=1e-9)
