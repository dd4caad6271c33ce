"""One meaning for every option in every command (issue 15): implied modes, unread options, the checkpoint's
own format, runtime refusals with the fix, engine divisibility rules, and one verdict across fit, plan,
estimate and the Python API."""

from __future__ import annotations

import json

import pytest

import memfit
from _cli import run
from memfit.errors import ConfigError, MemfitError, UnsupportedError
from memfit.hardware import get_device
from memfit.plan import layouts
from memfit.rules import resolve, tp_problem
from memfit.workload import Workload


def _fit(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run(["fit", *args, "--check"], capsys)


# ----------------------------------------------------------------------------------------------
# the commands quoted in the issue, before → after


def test_readme_70b_vllm_example_is_judged_for_inference(capsys: pytest.CaptureFixture[str]) -> None:
    # before: FITS (weights mode, --runtime and --context ignored); vLLM's KV pool on 2 × H100 (0.9 × 79.18 GiB
    # each, 70.55 GB of bf16 weights per GPU) cannot hold one 8,192-token sequence
    code, out, _ = _fit(["llama-3.1-70b", "--gpu", "h100", "--gpus", "2", "--tp", "2", "--runtime", "vllm",
                         "--context", "8192"], capsys)
    assert code == 1 and "DOES NOT FIT" in out
    assert "--context, --runtime implies --mode inference" in out
    api = memfit.fit("llama-3.1-70b", "h100", gpus=2, tp=2, runtime="vllm", context=8192)
    assert api.estimate.mode == "inference" and not api.fits


def test_fit_without_a_mode_asks_whether_it_runs(capsys: pytest.CaptureFixture[str]) -> None:
    # before: FITS on a T4 (weights mode: 16.06 GB of weights in 16 GiB); now judged for inference
    code, out, _ = _fit(["llama-3.1-8b", "--gpu", "t4"], capsys)
    assert code == 1 and "no --mode given: judged for inference" in out
    r = memfit.fit("llama-3.1-8b", "t4")
    assert r.estimate.mode == "inference" and not r.fits and "judged for inference" in r.notes[0]
    code, out, _ = _fit(["llama-3.2-3b", "--gpu", "t4", "--mode", "weights"], capsys)
    assert code == 0 and "FITS" in out and "judged for inference" not in out


def test_checkpoint_format_is_priced_by_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    # the checkpoint's bytes (weights mode) are the baseline: vLLM pads them for Marlin on Ada and Ampere and holds
    # the scales twice on Hopper's Triton path
    est = memfit.estimate("gpt-oss-20b", mode="weights")
    r = memfit.fit("gpt-oss-20b", "rtx-4090", mode="inference", runtime="vllm")
    assert est.dtype == r.estimate.dtype == "mxfp4"
    hopper = memfit.estimate("gpt-oss-20b", mode="inference", runtime="vllm")  # the default device, an H100
    rope = 131_072 * 64 * 4  # vLLM's rotary cos/sin cache (float32 for gpt-oss), counted in "Model loading took"
    # on Hopper: a second, swizzled copy of the scales with rows padded to 256 (w13: 5,888 x 90 B, w2: 3,072 x 90 B
    # = 806,400 B per expert) and fp32 biases (+2 B x (2 x 2880 + 2880)), 768 experts
    assert hopper.component("weights") == est.component("weights") + (806_400 + 17_280) * 32 * 24 + rope
    # the same MXFP4 bytes, plus on the 4090 (Ada) vLLM's Marlin padding of the experts: 2880 x 2880 matrices
    # created as 3072 x 2944, 3 x 749,568 x 17/32 B + (2 x 64 + 192) x 2 B of biases, x 32 experts x 24 layers
    assert r.estimate.component("weights") == est.component("weights") + (1_194_624 + 640) * 32 * 24 + rope
    assert r.fits  # before: 41.83 GB of bf16 weights, no KV cache blocks
    r1 = memfit.fit("deepseek-r1", "h200", mode="inference", runtime="vllm", gpus=8, tp=8)
    assert r1.estimate.dtype == "fp8-block" and r1.fits  # before: priced in bf16, "does not fit"
    code, out, _ = run(["plan", "deepseek-r1", "--gpu", "h200", "--runtime", "vllm", "-q", "gpus", "--json"], capsys)
    assert code == 0
    ans = json.loads(out)["answers"]["min_gpus"]  # before: 11 (bf16 weights); fp8: 6 (tp 2 × pp 3) fit
    assert ans["value"] == 6 and ans["workload"]["dtype"] == "fp8-block" and ans["at_value"]["fits"]


@pytest.mark.parametrize(("args", "words"), [
    (["--dtype", "q4_k_m", "--runtime", "transformers"], ["dequantizes GGUF", "--runtime llamacpp"]),
    (["--dtype", "awq", "--runtime", "llamacpp"], ["GGUF files only", "q4_k_m"]),
    (["--dtype", "nf4", "--runtime", "llamacpp"], ["GGUF files only"]),
    (["--quant", "nf4", "--runtime", "llamacpp"], ["bitsandbytes", "cannot run under --runtime llamacpp"]),
    (["--kv-dtype", "q4_0"], ["transformers keeps its KV cache", "--runtime llamacpp"]),
    (["--kv-dtype", "q4_0", "--runtime", "vllm"], ["fp8"]),
    (["--kv-dtype", "fp8", "--runtime", "llamacpp"], ["q8_0"]),
    (["--mode", "train", "--quant", "nf4"], ["--mode qlora"]),
    (["--mode", "train", "--dtype", "gptq"], ["training needs float weights"]),
    (["--tp", "3", "--gpus", "3", "--mode", "inference"], ["must divide the 32 attention heads", "2, 4, 8"]),
    (["--tp", "2", "--gpus", "2", "--runtime", "llamacpp"], ["--split-mode layer"]),
    (["--mode", "weights", "--context", "8192"], ["--context is not read in --mode weights"]),
    (["--zero", "3"], ["--zero is read only when training", "--mode train"]),
    (["--mode", "inference", "--runtime", "vllm", "-ngl", "10"], ["-ngl is a llamacpp option"]),
    (["--mode", "train", "--runtime", "vllm"], ["--runtime is not read in --mode train"]),
    (["--mode", "inference", "--lora-rank", "8"], ["--lora-rank is not read in --mode inference"]),
])
def test_impossible_combinations_are_one_line_refusals(args: list[str], words: list[str],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    for cmd in (["estimate", "llama-3.1-8b"], ["fit", "llama-3.1-8b", "--gpu", "h100"]):
        code, out, err = run([*cmd, *args], capsys)
        assert code == 2, (cmd, args, out)
        line = err.strip()
        assert "\n" not in line and "Traceback" not in line
        for w in words:
            assert w in line, (w, line)


def test_options_imply_inference_and_their_runtime() -> None:
    wl, notes = resolve(Workload(n_gpu_layers=10), {"n_gpu_layers"})
    assert wl.mode == "inference" and wl.runtime == "llamacpp"
    assert notes == ("-ngl implies --mode inference (KV cache and runtime buffers counted)",
                     "-ngl implies --runtime llamacpp")
    wl, notes = resolve(Workload(batch=4), {"batch"})
    assert wl.mode == "inference" and wl.runtime == "transformers" and len(notes) == 1
    wl, notes = resolve(Workload(mode="lora", lora_rank=8), {"mode", "lora_rank"})
    assert wl.mode == "lora" and notes == ()
    with pytest.raises(ConfigError, match="different runtimes"):
        resolve(Workload(n_gpu_layers=4, max_num_seqs=8), {"n_gpu_layers", "max_num_seqs"})
    est = memfit.estimate("llama-3.2-1b", context=4096)
    assert est.mode == "inference" and est.notes[0].startswith("--context implies --mode inference")


def test_kv_head_rules_follow_each_engine() -> None:
    qwen = memfit.load_model("qwen2.5-7b")  # 28 query heads, 4 KV heads
    assert tp_problem(qwen, 2) is None and tp_problem(qwen, 4) is None
    assert "28 attention heads" in (tp_problem(qwen, 8) or "")
    assert "28 attention heads" in (tp_problem(qwen, 3) or "")
    assert tp_problem(qwen, 7) is not None  # 7 divides 28 heads but neither divides nor is a multiple of 4
    assert tp_problem(qwen, 14, "vllm") is not None and tp_problem(qwen, 28, "vllm") is None  # 28 = 7 × 4
    assert tp_problem(qwen, 28, "megatron") is not None  # Megatron: query groups must be divisible by tp
    for n in range(1, 29):
        for lay in layouts(qwen, n, "train"):
            assert lay["tp"] in (1, 2, 4), lay  # before: tp = 7 proposed for 4 KV groups
    with pytest.raises(UnsupportedError, match="must divide the 128 experts"):
        memfit.estimate("qwen3-30b-a3b", mode="train", gpus=6, ep=3)


def test_check_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert _fit(["llama-3.2-1b", "--gpu", "rtx-4090"], capsys)[0] == 0
    assert _fit(["llama-3.1-70b", "--gpu", "rtx-4090"], capsys)[0] == 1
    assert _fit(["llama-3.2-1b", "--gpu", "rtx-4090", "--context", "-5"], capsys)[0] == 2
    assert _fit(["llama-3.2-1b", "--gpu", "no-such-gpu"], capsys)[0] == 2


# ----------------------------------------------------------------------------------------------
# one verdict per question: fit (CLI and API), plan, estimate


GPU, CAP = "rtx-4090", 24 * 1024**3
CASES = [(mode, rt, fmt) for mode in ("inference",) for rt in ("transformers", "vllm", "llamacpp")
         for fmt in (None, "bf16", "q4_k_m", "awq", "nf4", "fp8")] + \
        [(mode, "transformers", fmt) for mode in ("train", "lora", "qlora") for fmt in (None, "bf16", "q4_k_m", "nf4")]


@pytest.mark.parametrize("model", ["llama-3.2-3b", "gpt-oss-20b"])
@pytest.mark.parametrize(("mode", "runtime", "fmt"), CASES)
def test_one_verdict_across_commands(model: str, mode: str, runtime: str, fmt: str | None,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--mode", mode, "--context", "4096"] + (["--runtime", runtime] if mode == "inference" else []) + \
        (["--dtype", fmt] if fmt else [])
    kw: dict[str, object] = {"mode": mode, "context": 4096, **({"runtime": runtime} if mode == "inference" else {}),
                             **({"dtype": fmt} if fmt else {})}
    code, out, err = run(["fit", model, "--gpu", GPU, *args, "--json"], capsys)
    try:
        api = memfit.fit(model, GPU, **kw)  # type: ignore[arg-type]
    except MemfitError as e:
        assert code == 2 and err.strip() == f"error: {e}"  # every command refuses with the same line
        for cmd in (["estimate", model, *args], ["plan", model, "--gpu", GPU, *args, "-q", "context"]):
            c2, _, e2 = run(cmd, capsys)
            assert c2 == 2 and e2.strip().endswith(str(e)), (cmd, e2)
        return
    assert code == 0, err
    doc = json.loads(out)
    assert doc["fits"] == api.fits and doc["per_gpu_bytes"] == list(api.per_gpu_bytes)
    if runtime != "vllm" or mode != "inference":  # vLLM plans its KV pool for the device: estimate has none
        # on the same GPU: the CUDA context is its generation's (data/runtime_overheads.toml)
        est = memfit.estimate(model, device=get_device(GPU), **kw)  # type: ignore[arg-type]
        assert est.total_bytes == api.estimate.total_bytes
        assert api.fits == (est.total_bytes <= CAP)
    code, out, _ = run(["plan", model, "--gpu", GPU, *args, "-q", "context", "--limit", "4096", "--json"], capsys)
    ans = json.loads(out)["answers"]["max_context"]
    assert (ans["value"] == 4096) == api.fits, ans["explanation"]


# ----------------------------------------------------------------------------------------------
# what runs on my GPU


def test_models_fits_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models", "--fits", "rtx-4090", "--runtime", "llamacpp", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    rows = {r["model"]: r for r in doc["models"]}
    assert doc["runtime"] == "llamacpp" and doc["context"] == 2048
    assert len(rows) == len(memfit.catalog())
    assert rows["gpt-oss-20b"]["format"] == "mxfp4"  # the checkpoint's own format first
    assert not rows["deepseek-r1"]["fits"] and "weights alone need" in rows["deepseek-r1"]["reason"]
    for name, r in rows.items():  # every answer is a verdict fit gives too, and one more token does not fit
        if r["fits"] and name in ("llama-3.1-8b", "mixtral-8x7b-v0.1", "qwen2.5-32b"):
            ctx = r["max_context"]
            assert memfit.fit(name, "rtx-4090", mode="inference", runtime="llamacpp", dtype=r["format"],
                              context=ctx).fits
            spec = memfit.load_model(name)
            if ctx < spec.max_position_embeddings:
                assert not memfit.fit(name, "rtx-4090", mode="inference", runtime="llamacpp", dtype=r["format"],
                                      context=ctx + 1).fits
    mixtral = rows["mixtral-8x7b-v0.1"]
    assert mixtral["fits"] and mixtral["format"] not in ("bfloat16", "q8_0")  # 46.7 B parameters need < 4 bits
    code, out, err = run(["models", "--context", "8k"], capsys)
    assert code == 2 and "--fits" in err


def test_seed_arithmetic_for_bare_counts(capsys: pytest.CaptureFixture[str]) -> None:
    # the seed teaches 1 byte per int8 weight and ½ per int4 weight; scales belong to the named schemes
    assert memfit.estimate("7B", dtype="int8").total_bytes == 7_000_000_000
    assert memfit.estimate("7B", dtype="int4").total_bytes == 3_500_000_000
    assert memfit.estimate("7B", dtype="fp16").total_bytes == 14_000_000_000
    assert memfit.estimate("7B", dtype="int8-rowwise").total_bytes == 7_006_835_938  # + 4 bytes per 512 weights
    assert memfit.estimate("7B", dtype="gptq").total_bytes > 3_500_000_000
    code, out, _ = run(["estimate", "7B", "--dtype", "int8", "--explain"], capsys)
    assert code == 0 and "7,000,000,000 parameters × 8 bits (int8" in out


# ----------------------------------------------------------------------------------------------
# when it does not fit: the cheapest levers that would make it fit


@pytest.mark.parametrize("args", [
    ["llama-3.1-8b", "--gpu", "t4"],
    ["llama-3.1-70b", "--gpu", "h100", "--gpus", "2", "--tp", "2", "--runtime", "vllm", "--context", "8192"],
    ["llama-3.1-8b", "--gpu", "rtx-4090", "--mode", "train"],
    ["qwen2.5-7b", "--gpu", "rtx-4090", "--mode", "train", "--gpus", "2", "--zero", "1"],
])
def test_fixes_fit_and_the_original_does_not(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["fit", *args, "--json"], capsys)
    doc = json.loads(out)
    assert code == 0 and not doc["fits"] and doc["fixes"]
    for fix in doc["fixes"]:
        assert fix["per_gpu_bytes"] <= fix["capacity_bytes"]
        assert fix["text"].startswith("add ") and ": fits at " in fix["text"]
        flags: list[str] = []
        for k, v in fix["change"].items():
            flags += ["--" + k.replace("_", "-"), str(v)]
        c2, out2, _ = run(["fit", *_without(args, fix["change"]), *flags, "--json"], capsys)
        assert c2 == 0 and json.loads(out2)["fits"], (args, fix)
    code, out, _ = run(["fit", *args], capsys)
    assert "to make it fit, cheapest first:" in out


def _without(args: list[str], change: dict[str, object]) -> list[str]:
    """args minus the options the change sets (so that the change's value is the one used)."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
            continue
        if a.startswith("--") and a[2:].replace("-", "_") in change:
            skip = True
            continue
        out.append(a)
    return out


def test_notes_that_explain_a_number_are_kept() -> None:
    # Mixtral in NF4 is 91 GB because bitsandbytes leaves the fused 3-D experts in 16 bits: say so everywhere
    for est in (memfit.estimate("mixtral-8x7b-v0.1", dtype="nf4"),
                memfit.estimate("mixtral-8x7b-v0.1", mode="inference", quant="nf4"),
                memfit.estimate("mixtral-8x7b-v0.1", mode="qlora")):
        assert any("bitsandbytes leaves them in 16 bits" in n for n in est.notes), est.notes
    assert memfit.estimate("mixtral-8x7b-v0.1", dtype="nf4").total_bytes > 90e9
