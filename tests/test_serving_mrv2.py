"""vLLM's Model Runner V2 (the default runner for some dense models from 0.22 to 0.27): which models it runs, and
the profile run it does (vllm/v1/worker/gpu/model_runner.py: the dummy sampler run without top-k/top-p, no
CUDA-graph estimate); every expected figure worked out by hand below."""

from __future__ import annotations

import pytest

import memfit
from memfit.hardware import get_device
from memfit.memory.runtimes.engine_profile import vllm_profile, with_model_runner


@pytest.mark.parametrize(
    ("version", "family", "dense", "runner"),
    [
        ("0.21", "qwen3", True, "v1"),  # before MRV2 was anyone's default
        ("0.22.0", "qwen3", True, "v2"),  # v0.22.0: Qwen3 dense models (#39337)
        ("0.22.0", "llama", True, "v1"),
        ("0.23.0", "llama", True, "v2"),  # v0.23.0: Llama and Mistral dense models (#43458)
        ("0.23.0", "qwen2", True, "v1"),
        ("0.25.0", "qwen2", True, "v2"),  # v0.25.0: every dense model (#44443)
        ("0.25.0", "qwen3_moe", False, "v1"),
        ("0.28.0", "qwen3", True, "v1"),  # from 0.28 memfit does not apply the placeholder profile
    ],
)
def test_which_models_run_on_mrv2(version: str, family: str, dense: bool, runner: str) -> None:
    prof = with_model_runner(vllm_profile(version, get_device("h100-sxm"), 1, 8192, None, None), family, dense)
    assert prof.runner == runner
    if runner == "v2":
        assert (prof.sampler, prof.sampler_bytes, prof.sampler_fixed_bytes, prof.graphs_in_budget) == (
            "mrv2",
            6,
            0,
            False,
        )


@pytest.mark.parametrize("version", ["0.26.0", "0.27.1"])
def test_mrv2_dummy_sampler_holds_only_the_logits_from_0_26(version: str) -> None:
    # read in the 0.26.0 and 0.27.1 source: the dummy batch's requests have no sampling parameters, so the sampler
    # copies nothing (0.26.0 mutates in place and skips unset ops; 0.27.1 returns the logits unless
    # _requires_logits_processing): the model-dtype logits, 2 B per element
    prof = with_model_runner(vllm_profile(version, get_device("h100-sxm"), 1, 8192, None, None), "qwen3", True)
    assert (prof.runner, prof.sampler, prof.sampler_bytes, prof.sampler_fixed_bytes) == ("v2", "mrv2_logits", 2, 0)


@pytest.mark.parametrize(("version", "runner"), [("0.23.0", "v1"), ("0.24.0", "v2")])
def test_quantized_checkpoints_join_in_0_24(version: str, runner: str) -> None:
    # v0.25.0's notes: "Building on quantized-model support from the previous release"
    prof = vllm_profile(version, get_device("h100-sxm"), 1, 8192, None, None)
    assert with_model_runner(prof, "llama", True, quantized=True).runner == runner
    assert with_model_runner(prof, "llama", True).runner == "v2"


@pytest.mark.parametrize("path", ["native", "flashinfer"])
def test_a_named_sampler_path_does_not_pick_the_runner(path: str) -> None:
    # VLLM_USE_FLASHINFER_SAMPLER picks the V1 runner's TopKTopPSampler kernel (v1/sample/ops/topk_topp_sampler.py);
    # MRV2's Sampler.sample (v1/worker/gpu/sample/sampler.py) calls apply_top_k_top_p itself, and its dummy run skips
    # top-k/top-p: a Qwen3 dense model on 0.24 stays on MRV2 (6 B per logit element, no graph estimate in the budget)
    prof = vllm_profile("0.24.0", get_device("rtx-5090"), 1, 32768, None, None, path)
    v2 = with_model_runner(prof, "qwen3", True, path)
    assert (v2.runner, v2.sampler, v2.sampler_bytes, v2.graphs_in_budget) == ("v2", "mrv2", 6, False)
    # a MoE model stays on the V1 runner, whose sampler is the named path: 38 B per element sorted, 14 B FlashInfer
    v1 = with_model_runner(prof, "qwen3_moe", False, path)
    assert (v1.runner, v1.sampler, v1.sampler_bytes) == ("v1", path, {"native": 38, "flashinfer": 14}[path])


def test_a_named_sampler_changes_nothing_under_mrv2() -> None:
    # the RTX 5090 development row's inputs (Qwen3-8B, vLLM 0.24.0, util 0.92, 32,768 tokens): naming the native path
    # gives the same pool as naming nothing, and the estimate says why
    kw = dict(
        mode="inference",
        runtime="vllm",
        vllm_version="0.24.0",
        context=32768,
        new_tokens=0,
        gpu_memory_utilization=0.92,
        device=get_device("rtx-5090"),
    )
    plain = memfit.estimate("qwen3-8b", **kw)
    named = memfit.estimate("qwen3-8b", vllm_sampler="native", **kw)
    assert named.details["model_runner"] == "v2" and named.details["sampler"] == "mrv2"
    assert named.details["kv_pool_bytes"] == plain.details["kv_pool_bytes"]
    assert any("V1 runner's top-k/top-p kernel" in n for n in named.notes)
    assert not any("V1 runner's top-k/top-p kernel" in n for n in plain.notes)


def test_mrv2_profile_by_hand() -> None:
    # Qwen3-32B tp 2 on RTX PRO 6000s (>= 70 GiB, not an A100: 1024 sequences, 8192 tokens), vLLM 0.27.1
    est = memfit.estimate(
        "qwen3-32b",
        mode="inference",
        runtime="vllm",
        vllm_version="0.27.1",
        tp=2,
        gpus=2,
        context=32768,
        new_tokens=0,
        gpu_memory_utilization=0.426,
        device=get_device("rtx-pro-6000"),
    )
    comps = {c.name: c for c in est.components}
    # sampler: 1024 × 151,936 bf16 logits × 2 B = 311,164,928 (no fp32 copy for the dummy batch from 0.26); with the
    # forward's hidden states (8192 + 2 × 1024) × 5120 × 2 B = 104,857,600 -> 416,022,528, below the forward's
    # 8192 × (3 × 5120 + 3 × 25,600 / 2) × 2 B = 880,803,840, which is the peak
    # + from 0.27 (total_consumed) MRV2's sampler states built in load_model: output_bin_counts 1024 × 151,936 int32,
    # prompt_bin_mask and grammar_bitmask 1024 × cdiv(151,936, 32) = 4,748 int32 each = 661,225,472, and the
    # sampler's fixed-width per-request tables (bad words 1,024 + 129, logit bias 3 × 1,024 + 128 stop ids, logprob
    # token ids 128: 4,481 words) 1024 × 4,481 × 4 = 18,354,176
    states = 1024 * 151_936 * 4 + 2 * 1024 * 4748 * 4 + 1024 * 4481 * 4
    assert states == 661_225_472 + 18_354_176 == 679_579_648
    assert comps["activations"].bytes == 8192 * (3 * 5120 + 3 * 25_600 // 2) * 2 + states
    assert comps["overhead"].bytes == round(0.25 * 2**30)  # NCCL's init precedes the snapshot: no TP term
    assert "captured after the KV cache" in comps["cuda_graphs"].formula
    assert est.details["model_runner"] == "v2" and est.details["sampler"] == "mrv2_logits"
    # the graphs are not taken from the budget: pool = requested - weights - activation - non-torch
    requested = est.details["requested_bytes"]
    assert (
        est.details["kv_pool_bytes"]
        == requested - comps["weights"].bytes - comps["activations"].bytes - comps["overhead"].bytes
    )


def test_float32_config_is_served_in_16_bits() -> None:
    # the catalog's Qwen2.5-0.5B config says float32; vLLM's and SGLang's dtype "auto" serve it in 16 bits
    for runtime in ("vllm", "sglang"):
        est = memfit.estimate("qwen2.5-0.5b", mode="inference", runtime=runtime, device=get_device("rtx-4090"))
        assert est.dtype == "bfloat16", runtime
        assert {c.name: c for c in est.components}["weights"].bytes >= 494_032_768 * 2
    assert memfit.estimate("qwen2.5-0.5b", mode="inference", runtime="transformers").dtype == "float32"


def test_sglang_load_segments_by_hand() -> None:
    # Qwen2.5-7B (hidden 3584, 28 heads / 4 KV heads of 128, intermediate 18,944): per layer the fused qkv weight
    # (3584 + 2 × 512) × 3584 × 2 B = 31.5 MiB -> a 32 MiB segment, o 24.5 -> 26 (the 1.5 MiB rest is split off and
    # stays cached: nothing later fits it), gate_up 259 -> 260 (a 1 MiB rest is not split), down 129.5 -> 130
    from memfit.memory.runtimes.sglang_load import Layout, rank_tensors

    spec = memfit.load_model("qwen2.5-7b")
    sizes = rank_tensors(spec, 1, Layout(), 0)
    mib = 2**20
    assert sizes[1:6] == [
        (3584 + 1024) * 3584 * 2,
        (3584 + 1024) * 2,
        3584 * 3584 * 2,
        2 * 18_944 * 3584 * 2,
        3584 * 18_944 * 2,
    ]
    assert [s / mib for s in (sizes[1], sizes[3], sizes[4], sizes[5])] == [31.5, 24.5, 259.0, 129.5]


def test_sampler_states_by_hand() -> None:
    from memfit.memory.runtimes.vllm_mrv2 import sampler_state_bytes, sampler_table_bytes

    # Llama 3's 128,256 tokens at 256 sequences: 256 × 128,256 × 4 + 2 × 256 × 4,008 × 4 (cdiv(128,256, 32) = 4,008)
    # + the fixed-width per-request tables read in the 0.27.1 wheel's gpu/sample/ (bad_words.py 1,024 token ids and
    # 129 offsets, logit_bias.py 1,024 allowed ids, 1,024 bias ids, 1,024 fp32 biases and 128 stop ids, logprob.py
    # 128 token ids): 256 × 4,481 × 4 = 4,588,544
    assert sampler_table_bytes(256) == 256 * (1024 + 129 + 1024 + 1024 + 1024 + 128 + 128) * 4 == 4_588_544
    assert sampler_state_bytes(128_256, 256) == 131_334_144 + 8_208_384 + 4_588_544 == 144_131_072
    # with one speculative token the grammar bitmask covers two logits per request
    assert sampler_state_bytes(32, 2, decode_query_len=2) == 2 * (32 + 1) * 4 + 4 * 1 * 4 + 2 * 4481 * 4


@pytest.mark.parametrize(("version", "counted"), [("0.26.0", False), ("0.27.0", True), ("0.27.1", True)])
def test_sampler_states_count_from_0_27(version: str, counted: bool) -> None:
    # 0.26.0's profiler counts torch memory as weights + peak increase, so the states allocated after the weights and
    # before the profile run are not in it; 0.27.0's total_consumed (the fall in free memory) counts them
    kw = dict(mode="inference", runtime="vllm", context=4096, new_tokens=0, device=get_device("rtx-4090"))
    est = memfit.estimate("qwen3-8b", vllm_version=version, **kw)
    act = {c.name: c for c in est.components}["activations"]
    assert ("MRV2's sampler states" in act.formula) is counted
    # pipeline stages: only the last one builds the sampler (and prints no pool: the first stage's is printed)
    first = memfit.estimate("qwen3-8b", vllm_version=version, pp=2, gpus=2, **kw)
    assert "MRV2's sampler states" not in {c.name: c for c in first.components}["activations"].formula
