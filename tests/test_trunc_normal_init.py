"""torch 2.12+ ``trunc_normal_`` (rejection sampling, torch/nn/init.py ``_no_grad_trunc_normal_``) in a model made with
random weights on the device: how many rounds it runs, what each round allocates, and the build memfit replays for
ModernBERT-decoder, whose ``_init_weights`` fills every Linear and the embeddings with it (issue 12, l12sweep)."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from types import ModuleType

import pytest
import torch

from _tools import load_tool
from memfit import Workload
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_build import build_inference_weights
from memfit.memory.trunc_normal import TruncNormal, redraw_rounds, rejection_rate, replay_trunc_normal
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

DATA = Path(__file__).resolve().parent / "data"
TOOLS = Path(__file__).resolve().parents[1] / "tools"
DEV = "modernbert-decoder-default-l4/gen-fp32-b2-s1500-new8"


def _case(name: str, path: str = "simulated/sweep-dev.jsonl") -> dict[str, object]:
    for line in (DATA / path).read_text().splitlines():
        rec: dict[str, object] = json.loads(line)
        if rec.get("case") == name:
            return rec
    raise AssertionError(name)


class _Recorder:
    """A trace that records its allocations and frees by size."""

    def __init__(self) -> None:
        self.events: list[tuple[str, int]] = []
        self.sizes: dict[int, int] = {}

    def alloc(self, nbytes: int) -> int:
        key = len(self.sizes) + 1
        self.sizes[key] = nbytes
        self.events.append(("alloc", nbytes))
        return key

    def free(self, *keys: int) -> None:
        self.events.extend(("free", self.sizes[k]) for k in keys if k)


def test_rejection_rate_and_rounds_by_hand() -> None:
    # bounds at +-2 std, normal proposal (p = erf(sqrt 2) = 0.9545 > 0.3): a draw is out with r = erfc(sqrt 2)
    r = math.erfc(2 / math.sqrt(2))
    assert rejection_rate(0.0, 0.02, -0.04, 0.04) == pytest.approx(r, rel=1e-12)
    assert r == pytest.approx(0.0455002639, rel=1e-9)
    # 1,000 elements: out after k+1 draws with r^(k+1); the median round count is the least k with
    # 1000 * r^(k+1) <= ln 2 (= 0.693): 1000 r = 45.5, 1000 r^2 = 2.07, 1000 r^3 = 0.094 -> 2 rounds
    assert redraw_rounds(1000, 0.0, 1.0, -2.0, 2.0) == 2
    # the dev case's embeddings, 50,368 x 768 = 38,682,624 elements: N r^5 = 7.6, N r^6 = 0.35 -> 5 rounds
    assert redraw_rounds(50_368 * 768, 0.0, 0.02, -0.04, 0.04) == 5
    # bounds at +-100 std (trunc_normal_'s default a=-2, b=2 with std 0.02): no draw is ever out
    assert redraw_rounds(10**9, 0.0, 0.02, -2.0, 2.0) == 0
    # a window of +-0.2 std (p = 0.159 <= 0.3): the uniform proposal on [a, b], accepted with
    # exp(-x^2 / 2) averaged over [-0.2, 0.2] = p * sqrt(2 pi) / 0.4 = 0.99337
    p = math.erf(0.2 / math.sqrt(2))
    assert rejection_rate(0.0, 1.0, -0.2, 0.2) == pytest.approx(1 - p * math.sqrt(2 * math.pi) / 0.4, rel=1e-12)


def test_one_call_allocates_as_torch_does() -> None:
    # 1,000 fp32 elements, +-2 std: 2 rounds. Each check: lt, gt (bool temporaries), the mask, then lt, gt and the
    # previous mask freed; each round: a fresh draw (empty_like) and the where's result, the draw freed, then the
    # previous result (not the tensor itself); at the end the result and the mask
    tr = _Recorder()
    replay_trunc_normal(tr, 1000, 4000, TruncNormal(0.0, 1.0, -2.0, 2.0))
    check = [("alloc", 1000), ("alloc", 1000), ("alloc", 1000), ("free", 1000), ("free", 1000)]
    assert tr.events == [
        *check,
        ("alloc", 4000), ("alloc", 4000), ("free", 4000),
        *check, ("free", 1000),
        ("alloc", 4000), ("alloc", 4000), ("free", 4000), ("free", 4000),
        *check, ("free", 1000),
        ("free", 4000), ("free", 1000),
    ]  # fmt: skip
    # the uniform proposal: two tensor-sized buffers and the pending mask, then per round the where's result and a
    # new pending mask (gt and where), the old ones freed; here 1 round
    tr = _Recorder()
    replay_trunc_normal(tr, 1000, 4000, TruncNormal(0.0, 1.0, -0.2, 0.2))
    assert tr.events == [
        ("alloc", 4000), ("alloc", 4000), ("alloc", 1000),
        ("alloc", 4000), ("alloc", 1000), ("alloc", 1000), ("free", 1000), ("free", 1000),
        ("free", 4000), ("free", 4000), ("free", 1000), ("free", 4000),
    ]  # fmt: skip


def test_dev_case_build_is_the_simulators() -> None:
    # the simulator's build of the development case (tools/simulate_memory.py with the rounds above) leaves
    # 1,172,307,968 B reserved; a loaded model's build (no init) 450,887,680 B = 430 MiB: the 32 MiB workspace,
    # the 148 MiB embeddings, four 20 MiB segments of layer weights (19.125 MiB each), one for the head's dense
    # weight, the 148 MiB tied output projection made and freed, one 2 MiB small-pool segment
    rec = _case(DEV)
    spec = spec_from_config(rec["config"], "dev")  # type: ignore[arg-type]
    assert spec.init_cutoff == 2.0  # initializer_cutoff_factor
    reserved = []
    for random_init in (False, True):
        tr = Trace()
        build_inference_weights(tr, spec, int(rec["param_bytes"]), 4, random_init)  # type: ignore[call-overload]
        tr.built()
        reserved.append(tr.figures().reserved_after_build)
    assert reserved == [430 << 20, rec["reserved_after_build"]] == [450_887_680, 1_172_307_968]


def test_validate_prices_the_init_from_torch_212() -> None:
    params = {"batch": 2, "seq": 1500, "new": 8, "dtype": "float32"}
    assert workload_for_case("generate", {**params, "torch": "2.13.0+cpu"}).random_init
    assert workload_for_case("generate", {**params, "torch": "2.12.0"}).random_init
    assert not workload_for_case("generate", {**params, "torch": "2.11.0+cu130"}).random_init  # erfinv, in place
    assert not workload_for_case("generate", params).random_init  # a run that states no torch: loaded weights
    assert not Workload().random_init


def test_dev_case_device_total() -> None:
    from memfit.validate import validate_file

    results, _ = validate_file(str(DATA / "simulated" / "sweep-dev.jsonl"))
    (r,) = [x for x in results if x.case == DEV]
    assert r.total_error is not None and abs(r.total_error) < 0.01  # -8.85 % before (the loop not replayed)


def _tool() -> ModuleType:
    return load_tool("simulate_memory")


def test_simulator_runs_the_rounds() -> None:
    # 1,000 fp32 elements at +-2 std on fake tensors: torch's loop runs 2 rounds (two empty_like draws of 4,000 B and
    # two where results) and 3 checks (3 x lt / gt / bitwise_or of 1,000 B); before, every any() read False: 1 check
    sm = _tool()
    warnings.filterwarnings("ignore")
    fake = sm.FakeTensorMode(allow_non_fake_inputs=True)
    tracker = sm.AllocTracker(fake, trace=True)
    with fake, tracker, sm._trunc_normal_rounds(tracker):
        w = torch.empty(1000)
        torch.nn.init.trunc_normal_(w, 0.0, 1.0, -2.0, 2.0)
    ops = [(e["op"], e["bytes"]) for e in tracker.pool.events if e["ev"] == "malloc"]
    assert ops.count(("aten.where.self", 4000)) == 2
    assert ops.count(("aten.empty_like.default", 4000)) == 2
    assert ops.count(("aten.bitwise_or.Tensor", 1000)) == 3
    assert tracker.any_true == 0
