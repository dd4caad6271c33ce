"""The simulator's fake tensors answer ``is_cuda`` as the H100's tensors do (issue 12, l12simgpu;
tools/simulate_memory.py ``_reports_cuda``). transformers 5.25 models/ergo/modeling_ergo.py
``ErgoLinearWithFP32Output.forward`` (lm_head and router) multiplies bf16 operands straight into fp32 with
``torch.mm(..., out_dtype=torch.float32)`` when ``hidden_states.is_cuda`` and no grad, and on CPU takes
``F.linear(x.float(), weight.float())``: an fp32 copy of the bf16 lm_head weight (8 GiB on the development case
ergo-default-l2/prefill-b1-s12288, sweep-dev.jsonl, whose device total read -11.40 % against the CPU branch)."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import ModuleType

import torch

from _tools import load_tool
from memfit.validate import validate_file

TOOLS = Path(__file__).resolve().parents[1] / "tools"
# the tiny config of tests/test_ergo.py: vocab 100, hidden 64, 4 experts (2 per token), the lm_head not tied
TINY = dict(model_type="ergo", vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2, first_dense_intermediate_size=128, num_dense_blocks=1, moe_intermediate_size=32,
            shared_intermediate_size=64, num_experts=4, num_experts_per_tok=2, sliding_window=16,
            layer_types=["sliding_attention", "sliding_attention"], mlp_layer_types=["dense", "sparse"])


def _tool() -> ModuleType:
    return load_tool("simulate_memory")


def test_fake_tensors_report_cuda_only_inside_the_context() -> None:
    sm = _tool()
    fake = sm.FakeTensorMode(allow_non_fake_inputs=True)
    with fake:
        x = torch.empty(4, 8, dtype=torch.bfloat16)
        assert not x.is_cuda
        with sm._reports_cuda():
            assert x.is_cuda
            assert x.device.type == "cpu"  # only is_cuda is flipped: device-type branches stay listed, not followed
        assert not x.is_cuda
    assert "is_cuda" not in sm.FakeTensor.__dict__


def test_tiny_ergo_takes_the_cuda_branch() -> None:
    # prefill b1 s64 in bf16 (logits_to_keep=1): the lm_head's CUDA branch is one torch.mm into fp32, 1 token × 100
    # × 4 B = 400 B; the router's, 64 tokens × 4 experts × 4 B = 1,024 B (its fp32 weight cast to bf16 first, 4 × 64
    # × 2 = 512 B). The CPU branch copied the bf16 lm_head weight to fp32 (100 × 64 × 4 = 25,600 B): not made.
    sm = _tool()
    warnings.filterwarnings("ignore")
    rec = sm.simulate(dict(TINY), "prefill", dict(batch=1, seq=64), trace=True)
    mallocs = [e for e in rec["trace"] if e["ev"] == "malloc"]
    assert sorted(e["bytes"] for e in mallocs if e["op"] == "aten.mm.dtype") == [400, 1_024]
    copies = {e["bytes"] for e in mallocs if e["op"] == "aten._to_copy.default"}
    assert 512 in copies and 25_600 not in copies


def test_ergo_development_case_device_total() -> None:
    # -11.40 % against the CPU branch's trace (the 8 GiB fp32 lm_head copy opened a segment: reserved 81.25 GB);
    # re-simulated with the CUDA branch (reserved 72.66 GB): -1.03 %
    path = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
    results, _ = validate_file(path)
    case = next(r for r in results if r.case == "ergo-default-l2/prefill-b1-s12288")
    err = case.total_error
    assert err is not None and abs(err) < 0.015
