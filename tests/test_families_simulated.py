"""memfit against the SIMULATED cases of the issue-10 families (tests/data/simulated/families.jsonl, written by
tools/simulate_families.py: transformers 5.25's own code on fake tensors under an imitation of the caching
allocator, docs/simulator.md). Simulated data, not measurements.

Each family has an inference and a training case on a scaled-down real config (the real widths, fewer layers);
memfit's predicted peak must agree within 3 % (the issue's bar) and never be more than 2 % low.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _simulated import records, relative_errors

CASES = Path(__file__).resolve().parent / "data" / "simulated" / "families.jsonl"
MAX_ABS = 0.03
MAX_UNDER = -0.02
# Known high: none since an expert block's backward moments were modelled (memory/backward_moments.py): GLM-4.5-Air
# LoRA with checkpointing was +7.88 % (the merged down weight freed before the merged gate_up weight's gradient is
# made; +0.71 % since), Llama 4 Scout / Maverick training with checkpointing +4.91 % / +11.64 % (the all-expert
# bmm backward frees gate_up's output, act(gate) and the product before the gate_up weight gradient; +0.40 % /
# +0.16 % since)
KNOWN_HIGH: dict[str, float] = {}
# Known low: none since qwen3-next's generate (-2.97 % before the torch chunked gated delta rule's fp32 temporaries
# were modelled, +0.07 % since) and LFM2-350M's training step (-5.91 % before its short convolutions' kept tensors
# were modelled, -0.01 % since; memory/ssm_activations.py)
KNOWN_LOW: dict[str, float] = {}


def _records() -> list[dict[str, object]]:
    return records(CASES)


def test_file_is_labelled_simulated() -> None:
    env, *cases = _records()
    assert env["env"]["simulated"] is True  # type: ignore[index]
    # every case re-simulated with the allocator emulation (simulator 2): its reserved peak is the emulation's
    assert all(c["simulated"] is True and c["peak_reserved"] and c["reserved_source"] == "emulated" for c in cases)


@pytest.fixture(scope="module")
def errors() -> dict[str, float]:
    return dict(relative_errors(CASES))


def test_every_case_within_three_percent(errors: dict[str, float]) -> None:
    bad = {c: f"{100 * e:+.2f} %" for c, e in errors.items()
           if c not in KNOWN_HIGH and c not in KNOWN_LOW and (abs(e) > MAX_ABS or e < MAX_UNDER)}
    assert not bad, bad


def test_known_deviations_stay_high_and_bounded(errors: dict[str, float]) -> None:
    for case, bound in KNOWN_HIGH.items():
        assert 0 < errors[case] < bound, (case, errors[case])
    for case, bound in KNOWN_LOW.items():
        assert bound < errors[case] < 0, (case, errors[case])


def test_each_family_has_inference_and_training(errors: dict[str, float]) -> None:
    kinds: dict[str, set[str]] = {}
    for r in _records()[1:]:
        family = str(r["config"]["model_type"])  # type: ignore[index]
        kinds.setdefault(family, set()).add("training" if r["kind"] in ("train", "lora") else "inference")
    assert all(k == {"inference", "training"} for k in kinds.values()), kinds
