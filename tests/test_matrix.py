"""memfit.fit_matrix / memfit matrix: precisions × workloads on one GPU, each cell the verdict of memfit.fit."""

from __future__ import annotations

import json

import pytest

import memfit
from memfit.cli import main
from memfit.matrix import PRECISIONS, WORKLOADS

CASES = [("llama-3.1-8b", "rtx-4090", {}), ("gpt-oss-20b", "rtx-4090", {"runtime": "vllm"}),
         ("qwen2.5-0.5b", "t4", {"runtime": "llamacpp", "context": 8192}),
         ("mixtral-8x7b", "h100", {"runtime": "sglang"})]


@pytest.mark.parametrize(("model", "gpu", "kw"), CASES)
def test_every_cell_is_the_verdict_of_fit_on_its_own_workload(model: str, gpu: str, kw: dict[str, object]) -> None:
    m = memfit.fit_matrix(model, gpu, **kw)  # type: ignore[arg-type]
    assert [(c.precision, c.workload) for c in m.cells] == [(p, w) for p in PRECISIONS for w in WORKLOADS]
    for c in m.cells:
        if c.fits is None:
            assert c.reason and c.per_gpu_bytes is None
            continue
        r = memfit.fit(model, gpu, memfit.Workload(**c.options))  # an independent call on the cell's workload
        assert (r.fits, r.max_gpu_bytes, r.headroom_bytes) == (c.fits, c.per_gpu_bytes, c.headroom_bytes)
        # vLLM that cannot start (no room for one KV block) is judged on the weights and says why
        assert r.estimate.mode == c.workload or (not c.fits and any("KV cache" in n for n in r.notes))


def test_which_combinations_exist() -> None:
    m = memfit.fit_matrix("llama-3.1-8b", "h100")
    none = {(c.precision, c.workload) for c in m.cells if c.fits is None}
    # LoRA on a quantized base is QLoRA; QLoRA needs a quantized base; 8/4-bit weights cannot be fully trained
    assert none == {("8-bit", "lora"), ("4-bit", "lora"), ("32-bit", "qlora"), ("16-bit", "qlora"),
                    ("8-bit", "train"), ("4-bit", "train")}
    assert m.cell("4-bit", "qlora").options["quant"] == "nf4-dq" and m.cell("8-bit", "qlora").options["quant"] == "int8"
    assert m.cell("16-bit", "train").options["mixed_precision"] is True
    assert m.cell("32-bit", "train").options == {"mode": "train", "dtype": "float32", "mixed_precision": False,
                                                 "context": 2048, "batch": 1}


def test_the_mechanism_fewer_bits_never_need_more() -> None:
    # weights shrink with the width; the rest of the inference workload is the same
    for runtime in ("transformers", "vllm", "llamacpp"):
        m = memfit.fit_matrix("qwen2.5-7b", "h200", runtime=runtime, context=4096)
        sizes = [m.cell(p, "inference").per_gpu_bytes for p in PRECISIONS]
        if runtime == "vllm":  # vLLM claims its share of the device whatever the weights: the pool grows instead
            assert max(sizes) - min(sizes) < max(sizes) / 1000  # type: ignore[type-var,operator]
        else:
            assert sizes == sorted(sizes, reverse=True), (runtime, sizes)  # type: ignore[type-var]
    m = memfit.fit_matrix("qwen2.5-7b", "h200")
    assert m.cell("32-bit", "lora").per_gpu_bytes > m.cell("16-bit", "lora").per_gpu_bytes  # type: ignore[operator]


def test_the_checkpoints_own_format_takes_the_row_of_its_width() -> None:
    m = memfit.fit_matrix("gpt-oss-20b", "rtx-4090", runtime="vllm")  # published in MXFP4
    assert m.checkpoint_format == "mxfp4"
    assert m.cell("4-bit", "inference").format == "mxfp4" and m.cell("8-bit", "inference").format == "fp8"
    assert m.cell("4-bit", "inference").fits is True


def test_ollama_context_is_the_inference_columns_only() -> None:
    m = memfit.fit_matrix("llama-3.1-8b", "rtx-4090", runtime="ollama")
    assert m.context == 32768 and any("Ollama's default context" in n for n in m.notes)
    assert m.cell("16-bit", "inference").options["context"] == 32768
    assert m.cell("16-bit", "lora").options["context"] == 2048  # training reads the asked (default) context
    typed = memfit.fit_matrix("llama-3.1-8b", "rtx-4090", runtime="ollama", context=2048)
    assert typed.context == 2048 and typed.notes == ()


def test_cli_json_is_the_api(capsys: pytest.CaptureFixture[str]) -> None:
    main(["matrix", "llama-3.2-1b", "--gpu", "NVIDIA GeForce RTX 4090", "--context", "8k", "--json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc == memfit.fit_matrix("llama-3.2-1b", "rtx-4090", context=8192).to_json()
    assert doc["context"] == 8192 and len(doc["cells"]) == 16
    main(["matrix", "llama-3.2-1b", "--gpu", "rtx-4090"])
    out = capsys.readouterr().out
    assert "full fine-tune" in out and "QLoRA" in out and "fits" in out


def test_bad_input_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main(["matrix", "llama-3.2-1b", "--gpu", "rtx-4090", "--runtime", "tgi"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "tgi" in err
    with pytest.raises(memfit.ConfigError, match="context = 0"):
        memfit.fit_matrix("llama-3.2-1b", "rtx-4090", context=0)
