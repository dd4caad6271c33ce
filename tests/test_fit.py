"""fit(): the verdict per GPU, headroom, blame, dtype flags, the per-GPU split rules, the CLI."""

from __future__ import annotations

import json

import pytest

import memfit
from _cli import run
from memfit.fit import budget_bytes, fit_estimate, split_per_gpu
from memfit.hardware import get_device
from memfit.inventory import ParameterCount
from memfit.result import Component, Estimate
from memfit.workload import Workload

GIB = 1024**3
P_8B = 8_030_261_248  # Llama-3.1-8B, published count (formulas.md §6)
P_70B = 70_553_706_496  # Llama-3.1-70B


def test_fits_with_exact_headroom() -> None:
    # a cloud T4 reports 14.56 GiB to CUDA (15360 MiB in nvidia-smi, ECC on): 16.06 GB of weights do not fit
    r = memfit.fit("llama-3.1-8b", "t4", mode="weights", dtype="fp16")
    assert r.per_gpu_bytes == (P_8B * 2,)
    assert r.capacity_bytes == round(14.56 * GIB)
    assert not r.fits
    assert r.headroom_bytes == round(14.56 * GIB) - P_8B * 2
    assert r.warnings == ()  # fp16 is native on Turing
    r = memfit.fit("llama-3.1-8b", "rtx 3090", mode="weights", dtype="fp16")  # 23.58 GiB as vLLM printed it
    assert r.fits and r.headroom_bytes == round(23.58 * GIB) - P_8B * 2


def test_does_not_fit_blames_the_largest_component() -> None:
    r = memfit.fit("llama-3.1-8b", "rtx 3080", mode="weights", dtype="bf16")  # 10 GiB card
    assert not r.fits
    # the 3080's CUDA total as a published Linux OOM message prints it: "9.78 GiB total capacity" (gpus.toml)
    assert r.headroom_bytes == round(9.78 * GIB) - P_8B * 2
    assert r.blame == "weights" and r.blame_bytes == P_8B * 2
    assert "short by" in r.summary()
    # no published CUDA total for a 4070: 12 GiB less the catalog's rule (400 MiB + 0.65 %)
    r = memfit.fit("llama-3.1-8b", "rtx 4070", mode="weights", dtype="bf16")
    assert not r.fits and r.headroom_bytes == int((12288 - 400 - 0.0065 * 12288) * 2**20) - P_8B * 2


def test_non_native_dtype_is_flagged() -> None:
    r = memfit.fit("llama-3.1-8b", "v100-32gb", dtype="bf16")
    assert r.fits
    assert len(r.warnings) == 1 and "is not native on NVIDIA V100" in r.warnings[0]
    r = memfit.fit("llama-3.1-8b", "a100", dtype="fp8")
    assert any("fp8 is not native" in w for w in r.warnings)
    assert memfit.fit("llama-3.1-8b", "h100", dtype="fp8").warnings == ()


def test_weights_split_over_gpus_without_details() -> None:
    r = memfit.fit("llama-3.1-70b", "a100", mode="weights", dtype="bf16", gpus=2)
    assert r.per_gpu_bytes == (P_70B, P_70B)  # 141,107,412,992 / 2
    assert r.fits
    assert "layer split over 2" in r.split
    one = memfit.fit("llama-3.1-70b", "a100", mode="weights", dtype="bf16")
    assert not one.fits and one.per_gpu_bytes == (2 * P_70B,)


def _est(components: tuple[Component, ...], mode: str = "inference", **details: object) -> Estimate:
    return Estimate("m", mode, "bfloat16", ParameterCount(10, {}, 10), components, details=dict(details))


def test_split_uses_per_gpu_details_when_present() -> None:
    comps = (Component("weights", 100), Component("kv_cache", 50))
    wl = Workload(mode="train", gpus=4, zero=3)
    assert split_per_gpu(_est(comps, "train", per_gpu=40), wl)[0] == (40, 40, 40, 40)
    assert split_per_gpu(_est(comps, "train", per_gpu=[41, 40, 40, 39]), wl)[0] == (41, 40, 40, 39)
    assert split_per_gpu(_est(comps, "train", per_gpu={"0": {"total_bytes": 45}, "1": 44}), wl)[0] == (45, 44)
    # training without details: every GPU holds the whole estimate (an upper bound), and says so
    per, how, _ = split_per_gpu(_est(comps, "train"), wl)
    assert per == (150,) * 4 and "upper bound" in how


def test_inference_tp_splits_weights_only() -> None:
    comps = (Component("weights", 101), Component("kv_cache", 50), Component("cuda_context", 7))
    per, how, parts = split_per_gpu(_est(comps), Workload(mode="inference", gpus=2, tp=2))
    assert per == (51 + 50 + 7,) * 2  # ceil(101 / 2) + the rest whole
    assert parts["weights"] == 51 and "tp × pp = 2" in how


def test_host_components_do_not_count_against_the_gpu() -> None:
    comps = (Component("weights", 100), Component("weights", 900, on_device=False))
    r = fit_estimate(_est(comps), get_device("cpu", memory=150), Workload(mode="inference"))
    assert r.per_gpu_bytes == (100,) and r.host_bytes == 900 and r.fits


def test_vllm_budget_is_the_utilization_share() -> None:
    dev = get_device("h100")
    b, note = budget_bytes(dev, Workload(mode="inference", runtime="vllm", gpu_memory_utilization=0.9))
    assert b == int(85_017_493_504 * 0.9)
    assert note and "gpu_memory_utilization" in note
    assert budget_bytes(dev, Workload(mode="inference"))[0] == 85_017_493_504


def test_fit_json_and_check_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["fit", "llama-3.1-8b", "--gpu", "rtx 4090", "--mode", "weights", "-d", "fp16", "--json"],
                       capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["fits"] is True and doc["per_gpu_bytes"] == [P_8B * 2]
    assert doc["headroom_bytes"] == round(23.64 * GIB) - P_8B * 2  # the 4090 as CUDA reports it
    assert doc["estimate"]["total_bytes"] == P_8B * 2
    assert doc["speed"]["label"].startswith("upper bound")
    code, out, _ = run(["fit", "llama-3.1-8b", "--gpu", "rtx 3080", "--check"], capsys)
    assert code == 1 and "DOES NOT FIT" in out


def test_fit_unknown_gpu_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["fit", "llama-3.1-8b", "--gpu", "rtx 4900"], capsys)
    assert code == 2
    assert "unknown GPU" in err and "did you mean" in err and "Traceback" not in err


def test_fit_with_memory_override(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["fit", "llama-3.1-8b", "--gpu", "cpu", "--memory", "32GiB", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["capacity_bytes"] == 32 * GIB


def test_vllm_without_tp_is_replicas() -> None:
    comps = (Component("weights", 100), Component("kv_cache", 50))
    per, how, _ = split_per_gpu(_est(comps), Workload(mode="inference", runtime="vllm", gpus=2))
    assert per == (150, 150) and "replicas" in how


def test_fit_all_judges_every_device_with_one_estimate(capsys: pytest.CaptureFixture[str]) -> None:
    from memfit.fit import fit_all

    rows = {r.device.id: r for r in fit_all("llama-3.1-8b", dtype="bf16")}
    assert len(rows) == len(memfit.devices()) - 1  # every device but CPU-only, which has no fixed memory
    assert rows["h100-sxm"].fits and not rows["rtx-3080"].fits
    assert rows["t4"].warnings and not rows["a100-80gb"].warnings
    code, out, _ = run(["fit", "llama-3.1-8b", "--gpu", "all", "--json"], capsys)
    assert code == 0 and len(json.loads(out)) == len(rows)


def test_per_gpu_details_with_components_leave_host_memory_out() -> None:
    comps = (Component("weights", 100), Component("optimizer_states", 80, on_device=False))
    ranks = [{"rank": 0, "components": {"weights": 60, "optimizer_states": 80}},
             {"rank": 1, "components": {"weights": 40, "host_optimizer_states": 80}}]
    per, _, _ = split_per_gpu(_est(comps, "train", per_gpu=ranks), Workload(mode="train", gpus=2, zero=3))
    assert per == (60, 40)
    per, _, _ = split_per_gpu(_est(comps, "train", per_gpu={"components": {"weights": 70}}),
                              Workload(mode="train", gpus=3, zero=3))
    assert per == (70, 70, 70)
    # one GPU: the estimate's own total, whatever the details say
    assert split_per_gpu(_est(comps, "train", per_gpu=[5]), Workload(mode="train"))[0] == (100,)


def test_vllm_that_cannot_start_on_replicas_counts_whole_weights_per_gpu() -> None:
    # Llama-3.1-70B bf16 = 70,553,706,496 × 2 B on each of 2 data-parallel replicas (tp = 1): each GPU holds
    # all of it; the verdict used to divide it by the GPU count and print "short by -5.96 GB"
    import memfit

    r = memfit.fit("llama-3.1-70b", "h100", mode="inference", runtime="vllm", gpus=2)
    assert not r.fits
    assert r.per_gpu_bytes == (141_107_412_992, 141_107_412_992)
    assert r.capacity_bytes == 85_017_493_504 * 9 // 10
    assert r.headroom_bytes == 85_017_493_504 * 9 // 10 - 141_107_412_992
    assert "short by 64.59 GB" in r.summary() and r.blame_bytes == 141_107_412_992


def test_a_verdict_that_fits_in_bytes_but_not_in_the_runtime_says_why() -> None:
    import memfit

    r = memfit.fit("llama-3.1-8b", "h100", mode="inference", runtime="vllm", batch=1000, context=8192)
    assert not r.fits and r.headroom_bytes >= 0
    assert "short by -" not in r.summary()
    assert "but vLLM's KV pool holds" in r.summary() and "batch = 1,000 needs more" in r.summary()
