"""XLM's full forward as its code holds it (memory/runtimes/transformers_xlm.py; transformers 5.25
models/xlm/modeling_xlm.py, XLMModel.forward / MultiHeadAttention.forward), worked by hand on the development case."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _simulated import case_record
from memfit.memory.inference import estimate_inference
from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "xlm-default-l2/fwd-fp16-eager-b3-s430"


def test_xlm_forward_holds_its_cache_inputs_embeds_and_previous_output_by_hand() -> None:
    r = case_record(DEV, CASE)
    spec = spec_from_config(r["config"], "xlm")
    wl = workload_for_case("forward", dict(r["params"])).validate()
    moments = {m.name: m for m in peak_moments(spec, wl)}
    # fp16, batch 3 × 430 tokens, hidden 2048 (16 heads × 128), 2 layers, FFN 8192
    e = 3 * 430 * 2048 * 2  # 5,283,840: one hidden-sized tensor
    assert e == 5_283_840
    # layer 1's attention: inputs_embeds, both layers' K/V cat copies in the forward's own EncoderDecoderCache (4),
    # layer 0's out_lin output (attn_outputs), the layer's input, q / sqrt(head_dim): 8 tensors; the scores
    # 3 × 16 × 430 × 430 at 10 B (fp16, its .float() copy, the fp32 softmax); masks 2 × 1,290 bools; ids 1,290 × 8
    attention = moments["prefill attention (layer 1)"]
    assert attention.kv_cache == 0
    assert attention.activations == 8 * 5_283_840 + 3 * 16 * 430 * 430 * 10 + 2 * 1290 + 1290 * 8 == 131_035_620
    assert "3×16×430×430 × 10 B" in attention.formula
    # layer 1's FFN: inputs_embeds, 4 K/V, the layer's attention output, its normed input; lin1's output and GELU's
    ffn = moments["prefill MLP (layer 1)"]
    assert ffn.activations == 7 * 5_283_840 + 2 * 1290 * 8192 * 2 + 12_900 == 79_270_500
    assert "prefill attention (layer 0)" not in moments  # the last layer, beside every layer's K/V, is the peak
    # weights 163,536,321 × 2 B + the cuBLAS workspace 32 MiB + layer 1's attention (the simulator: 491,668,992)
    assert estimate_inference(spec, wl).allocated_bytes == 327_072_642 + 33_554_432 + 131_035_620 == 491_662_694


def test_xlm_forward_fp32_scores_and_generate_untouched() -> None:
    r = case_record(DEV, CASE)
    spec = spec_from_config(r["config"], "xlm")
    wl = replace(workload_for_case("forward", dict(r["params"])), dtype="float32").validate()
    attention = next(m for m in peak_moments(spec, wl) if m.name == "prefill attention (layer 1)")
    # fp32: .float() and type_as return their input: the scores and the softmax, 8 B each score; tensors 4 B
    assert attention.activations == 8 * 3 * 430 * 2048 * 4 + 3 * 16 * 430 * 430 * 8 + 2 * 1290 + 1290 * 8
    gen = replace(workload_for_case("forward", dict(r["params"])), task="generate", new_tokens=4).validate()
    assert not any(m.name == "prefill attention (layer 1)" for m in peak_moments(spec, gen))  # the shared path's


def test_xlm_forward_replay_by_hand() -> None:
    # the pool emulation of XLM's forward (transformers_pool_xlm.py) on the development case, at its 430 tokens
    from memfit.memory.runtimes.transformers_pool import _pool

    r = case_record(DEV, CASE)
    spec = spec_from_config(r["config"], "xlm")
    wl = workload_for_case("forward", dict(r["params"])).validate()
    figures = _pool(spec, wl, 327_072_642, False)
    assert figures.allocated_after_build == 360_885_248
    # layer 1's softmax, blocks rounded to 512 B: the token ids 10,320 -> 10,752; 8 hidden-sized tensors of
    # 5,283,840 (inputs_embeds, 4 K/V cat copies, layer 0's out_lin output, the layer's input, the scaled q); the
    # fp16 scores 17,750,400 -> 17,750,528; their fp32 copy and the fp32 softmax 35,500,800 -> 35,501,056 each
    assert figures.peak_allocated == 360_885_248 + 10_752 + 8 * 5_283_840 + 17_750_528 + 2 * 35_501_056 == 491_919_360
    # the build's 478 MiB, then one new 34 MiB segment (35,501,056 rounded to 2 MiB) at layer 0's fp32 softmax: the
    # simulator's peak_reserved, 512 MiB (the shared path's replay made no segment after the build: 478 MiB)
    assert figures.reserved_after_build == 478 * 2**20
    assert figures.peak_reserved == 512 * 2**20 == r["peak_reserved"]
