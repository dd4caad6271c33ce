"""vLLM and SGLang: engine defaults by version and device, the KV pool each plans, the binding JSON contract."""

from __future__ import annotations

import json
import math

import pytest

import memfit
from _cli import run
from memfit.errors import ConfigError
from memfit.hardware import get_device
from memfit.memory.runtimes.engine_profile import parse_version, vllm_profile
from memfit.memory.runtimes.vllm import estimate_vllm, sharded_weights
from memfit.sources.loader import load_model
from memfit.workload import Workload

GIB = 1024**3
P_8B_BF16 = 16_060_522_496  # Llama-3.1-8B, 8,030,261,248 parameters × 2 B
KV_8B = 131_072  # Llama-3.1-8B: 32 layers × 8 KV heads × 128 × 2 (K, V) × 2 B per token
ROPE_8B = 131_072 * 128 * 2  # vLLM's rotary cos/sin cache: max_position_embeddings × head_dim in bf16


@pytest.mark.parametrize(("gpu", "seqs", "tokens"), [
    ("h100", 1024, 8192),  # reports 79.6 GiB, not an A100
    ("h200", 1024, 8192),
    ("a100-80gb", 256, 2048),  # >= 70 GiB but named A100 (vLLM PR #17885)
    ("l40s", 256, 2048),
    ("rtx-4090", 256, 2048),
])
def test_v1_server_defaults_by_device(gpu: str, seqs: int, tokens: int) -> None:
    p = vllm_profile("0.10.1", get_device(gpu), 1, 8192, None, None)
    assert (p.max_num_seqs, p.max_num_batched_tokens, p.engine) == (seqs, tokens, "v1")


def test_defaults_by_version() -> None:
    b200 = get_device("b200")
    assert vllm_profile("0.27.1", b200, 1, 8192, None, None).max_num_batched_tokens == 8192
    assert vllm_profile("0.28.0", b200, 1, 8192, None, None).max_num_batched_tokens == 16384  # >= 160 GiB tier
    assert vllm_profile("0.28.0", get_device("h200"), 1, 8192, None, None).max_num_batched_tokens == 8192
    v0 = vllm_profile("0.6.4.post1", get_device("rtx-3090"), 1, 20000, None, None)
    assert (v0.engine, v0.max_num_seqs, v0.max_num_batched_tokens, v0.chunked_prefill) == ("v0", 256, 20000, False)
    v0_long = vllm_profile("0.6.4", get_device("rtx-3090"), 1, 35000, None, None)
    assert v0_long.chunked_prefill and v0_long.max_num_batched_tokens == 512
    given = vllm_profile(None, get_device("h100"), 1, 8192, 64, 4096)
    assert (given.max_num_seqs, given.max_num_batched_tokens) == (64, 4096)


def test_version_parsing() -> None:
    assert parse_version("0.10.1.post1") == (0, 10, 1)
    assert parse_version("v0.8") == (0, 8)
    with pytest.raises(ConfigError, match="not a version"):
        parse_version("latest")
    with pytest.raises(ConfigError, match="older than"):
        vllm_profile("0.2", get_device("h100"), 1, 2048, None, None)


def test_vllm_pool_on_l40s_by_hand() -> None:
    e = memfit.estimate("llama-3.1-8b", mode="inference", runtime="vllm", context=8192,
                        device=get_device("l40s"))
    d = e.details
    total = round(44.53 * GIB)  # the L40S as CUDA reports it
    requested = math.floor(total * 0.9)
    # 256 sequences on a 44.5 GiB card: the native sampler sorts 256 rows of 128,256 logits, 38 B alive per element
    # (bf16 logits 2 + fp32 copy 4 + sorted values 4 + int64 indices 8 + sort's reverse indices 8 + cub's alternate
    # key/value buffers 12), beside the profile run's hidden states: (2048 tokens + 2 × 256 rows) × 4096 × 2 B
    sampler = 256 * 128_256 * 38 + (2048 + 2 * 256) * 4096 * 2
    assert sampler > 2048 * (4 * 4096 + 3 * 14_336) * 2
    pool = requested - P_8B_BF16 - ROPE_8B - sampler - round(0.13 * GIB)
    assert d["device_total_bytes"] == total and d["kv_pool_bytes"] == pool
    blocks = pool // (16 * KV_8B)
    assert d["num_gpu_blocks"] == blocks and d["kv_cache_tokens"] == blocks * 16
    assert d["max_concurrency"] == round(blocks * 16 / 8192, 2)
    assert d["device"] == "l40s" and d["device_assumed"] is False
    assert d["sampler"] == "native"
    # FlashInfer's top-k/top-p kernel sorts nothing: logits 2 + fp32 copy 4 + masked copy 4 + softmax 4 = 14 B
    fi = memfit.estimate("llama-3.1-8b", mode="inference", runtime="vllm", context=8192, device=get_device("l40s"),
                         vllm_sampler="flashinfer")
    assert fi.details["kv_pool_bytes"] - pool == 256 * 128_256 * (38 - 14)


def test_tensor_parallel_adds_the_nccl_reserve_before_0_11_only() -> None:
    # 0.10.2 snapshots free memory before the distributed init, so NCCL's and the custom all-reduce's buffers count
    # (llm-d's H100 logs: 0.13 GiB at tp 1, 0.55 at tp 2); 0.11 snapshots after it (gpu_worker.py init_device)
    def overhead(version: str, tp: int) -> int:
        return memfit.estimate("llama-3.1-8b", mode="inference", runtime="vllm", tp=tp, gpus=tp, vllm_version=version,
                               device=get_device("h100")).component("overhead")
    assert overhead("0.10.2", 2) - overhead("0.10.2", 1) == round(0.55 * GIB) - round(0.13 * GIB)
    assert overhead("0.11", 2) == overhead("0.11", 1)
    two = memfit.estimate("llama-3.1-8b", mode="inference", runtime="vllm", tp=2, gpus=2, device=get_device("h100"))
    # the rotary cache is whole on every rank; the embedding and lm_head shards (64,128 x 4,096 x 2 B = 501 MiB) each
    # keep the 1 MiB rest of their 502 MiB segment (the caching allocator splits off only more than 1 MiB)
    assert two.component("weights") == P_8B_BF16 // 2 + ROPE_8B + 2 * 2**20


def test_enforce_eager_has_no_graph_memory() -> None:
    e = memfit.estimate("llama-3.1-8b", mode="inference", runtime="vllm", enforce_eager=True)
    assert e.component("cuda_graphs") == 0
    assert memfit.estimate("llama-3.1-8b", mode="inference", runtime="vllm").component("cuda_graphs") > 0


def test_sglang_pool_by_hand() -> None:
    e = memfit.estimate("llama-3.1-8b", mode="inference", runtime="sglang", context=8192)
    d = e.details
    # default mem_fraction_static on an H100 (nvidia-smi 81559 MiB), SGLang 0.5.3+: chunked prefill 8192 and CUDA graphs
    # to batch 256 reserve 512 + 8192 × 1.5 + 256 × 2 + 1/8 × 1024 MiB; before 0.5.3: (9.5 + 1/2) GiB
    mfs = round((81559 - (512 + 8192 * 1.5 + 256 * 2 + 1024 / 8)) / 81559, 3)
    assert d["mem_fraction_static"] == mfs == 0.835
    old = memfit.estimate("llama-3.1-8b", mode="inference", runtime="sglang", context=8192, sglang_version="0.4.9")
    assert old.details["mem_fraction_static"] == round((81559 - 10 * 1024) / 81559, 3) == 0.874
    free = 85_017_493_504 - round(0.5 * GIB)
    rope = 131_072 * 128 * 4  # SGLang keeps the rotary cos/sin cache in float32
    # the load as the allocator holds it (sglang_load): every large tensor of Llama-3.1-8B is a multiple of 2 MiB, the
    # 65 norm weights (8 KiB each) share one 2 MiB small-pool segment
    rope += 2 * 2**20 - 65 * 8192
    rest = free - P_8B_BF16 - rope - free * (1 - mfs)
    assert d["kv_cache_tokens"] == int(rest // KV_8B) and d["device_assumed"] is True
    assert d["kv_pool_bytes"] == d["kv_cache_tokens"] * KV_8B
    given = memfit.estimate("llama-3.1-8b", mode="inference", runtime="sglang", mem_fraction_static=0.7)
    assert given.details["kv_cache_tokens"] == int((free - P_8B_BF16 - rope - free * 0.3) // KV_8B)


def test_sglang_refuses_when_weights_exceed_the_share() -> None:
    with pytest.raises(ConfigError, match="mem-fraction-static"):
        memfit.estimate("llama-3.1-8b", mode="inference", runtime="sglang", device=get_device("t4"))


BINDING = ("kv_pool_bytes", "kv_cache_tokens", "max_concurrency", "device_total_bytes")


@pytest.mark.parametrize("runtime", ["vllm", "sglang"])
def test_estimate_json_contract(runtime: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "llama-3.1-8b", "--mode", "inference", "--runtime", runtime, "--gpu", "l40s",
                        "--context", "8192", "--json"], capsys)
    assert code == 0
    d = json.loads(out)["details"]
    for key in BINDING:
        assert key in d, key
    assert isinstance(d["max_concurrency"], float) and isinstance(d["kv_cache_tokens"], int)
    assert d["device_total_bytes"] == round(44.53 * GIB)
    if runtime == "vllm":
        assert d["num_gpu_blocks"] * 16 == d["kv_cache_tokens"]
    code, out, _ = run(["fit", "llama-3.1-8b", "--mode", "inference", "--runtime", runtime, "--gpu", "l40s",
                        "--context", "8192", "--json"], capsys)
    inner = json.loads(out)["estimate"]["details"]
    assert all(inner[k] == d[k] for k in BINDING)


def test_estimate_prints_what_vllm_prints(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "llama-3.1-8b", "--runtime", "vllm", "--gpu", "l40s", "--context", "8192"],
                       capsys)
    assert code == 0
    text = " ".join(out.split())
    assert "NVIDIA L40S" in text and "44.53 GiB" in text
    assert "GPU KV cache size:" in text and "tokens" in text
    assert "Maximum concurrency for 8,192 tokens per request:" in text
    code, out, _ = run(["estimate", "llama-3.1-8b", "--runtime", "vllm"], capsys)
    assert "assumed" in out


def test_t4_does_not_serve_llama_8b() -> None:
    r = memfit.fit("llama-3.1-8b", "t4", mode="inference", runtime="vllm", dtype="fp16")
    assert not r.fits


def test_sglang_claims_the_device_once() -> None:
    # context, weights, token pool and the (1 - mem_fraction_static) share left to activations add up to the device
    e = memfit.estimate("qwen2.5-7b", mode="inference", runtime="sglang", context=32768, device=get_device("rtx-4090"))
    assert e.total_bytes <= get_device("rtx-4090").capacity_bytes
    assert get_device("rtx-4090").capacity_bytes - e.total_bytes < e.details["cell_size_bytes"] + 2
    assert memfit.fit("qwen2.5-7b", "rtx-4090", mode="inference", runtime="sglang", context=32768).fits


def test_marlin_pads_mxfp4_experts_below_hopper() -> None:
    # vLLM's Marlin MXFP4 path (Ampere/Ada) creates the expert weights with the hidden size rounded up to 256 and
    # each rank's intermediate size to 128: gpt-oss-120b at tp 4 grows 2880 x 720 to 3072 x 768 per matrix, i.e.
    # 3 x (3072 x 768 - 2880 x 720) x 17/32 B (4-bit values + one e8m0 scale per 32) = 455,328 B per expert, plus
    # the bf16 biases' padding (2 x 48 + 192) x 2 = 576 B; x 128 experts x 36 layers
    kw = dict(mode="inference", runtime="vllm", tp=4, gpus=4, context=16384)
    a100 = memfit.estimate("gpt-oss-120b", device=get_device("a100-80gb"), **kw)  # type: ignore[arg-type]
    h100 = memfit.estimate("gpt-oss-120b", device=get_device("h100"), **kw)  # type: ignore[arg-type]
    # the checkpoint's share plus vLLM's rotary cache, float32 for gpt-oss (131,072 positions × 64 × 4 B)
    checkpoint = sharded_weights(load_model("gpt-oss-120b"), "mxfp4", 4, 1).bytes + 131_072 * 64 * 4
    assert a100.component("weights") - checkpoint == (455_328 + 576) * 128 * 36
    # Hopper's Triton path (mxfp4.py): intermediate 720 -> 768 per rank, the loaded scales, their swizzled copy with
    # rows padded to 256 (w13: 1,536 rows x 90 = 138,240 B; w2: 2,880 -> 3,072 rows x 24 = 73,728 B), fp32 biases:
    # 3 x 2880 x 768 / 2 + 3 x 2880 x 768 / 32 + 138,240 + 73,728 + (2 x 768 + 2880) x 4 = 3,754,752 B held per
    # expert against 3 x 2880 x 720 x 17/32 + (2 x 720 + 2880) x 2 = 3,313,440 B stored
    assert h100.component("weights") - checkpoint == (3_754_752 - 3_313_440) * 128 * 36


def test_rope_cache_is_counted_with_the_weights() -> None:
    # "Model loading took" includes the rotary cos/sin cache: Llama-4-Scout's 10,485,760 positions × 128 × 2 B =
    # 2.5 GiB (its v0.19.0 log prints 53.12 GiB of weights per GPU at tp 4; the checkpoint's share is 50.18)
    from memfit.memory.runtimes.vllm import rope_cache_bytes

    assert rope_cache_bytes(load_model("llama-3.1-8b"), "bfloat16") == ROPE_8B
    assert rope_cache_bytes(load_model("llama-4-scout-17b-16e-instruct"), "bfloat16") == 10_485_760 * 128 * 2
    assert rope_cache_bytes(load_model("llama-3.1-8b"), "float32") == 2 * ROPE_8B
    # gpt-oss builds its rotary embedding in float32 (vLLM gpt_oss.py: get_rope(..., dtype=torch.float32))
    assert rope_cache_bytes(load_model("gpt-oss-20b"), "mxfp4") == 131_072 * 64 * 4


def test_profile_rows_inherit_what_changed() -> None:
    h100 = get_device("h100")
    p16 = vllm_profile("0.16.0", h100, 2, 8192, None, None)
    p17 = vllm_profile("0.17.0", h100, 1, 8192, None, None)
    p19 = vllm_profile("0.19.0", h100, 2, 8192, None, None)
    p21 = vllm_profile("0.21", h100, 1, 8192, None, None)
    assert (p16.sampler, p17.sampler) == ("native", "triton")  # vllm#33538 from 0.17
    assert (p17.sampler_bytes, p17.sampler_fixed_bytes) == (14, 80 * 2**20)
    # from 0.11 the snapshot follows the distributed init: tensor parallelism adds nothing off NVSwitch parts
    assert p17.non_torch_bytes == round(0.13 * GIB) and p16.non_torch_bytes == round(0.13 * GIB)
    assert vllm_profile("0.10.2", h100, 2, 8192, None, None).non_torch_bytes == round((0.13 + 0.42) * GIB)
    assert p19.non_torch_bytes == round((0.25 + 1.84) * GIB) and p19.moe_workspace and not p17.moe_workspace
    assert not p19.graphs_in_budget and p21.graphs_in_budget
    assert (p21.max_num_seqs, p21.max_num_batched_tokens, p21.sampler) == (1024, 8192, "triton")  # inherited
    assert "vllm#33538" in p21.source and "0.21" in p21.source


def test_capture_sizes_by_version() -> None:
    from memfit.memory.runtimes.vllm import capture_sizes

    # 0.11+: [1, 2, 4] + 8..248 step 8 (31) + 256..512 step 16 (17) = 51, as the v0.19.0 logs print
    assert capture_sizes(1024, 16) == 51 and capture_sizes(256, 16) == 51
    assert capture_sizes(16, 16) == 7  # largest 32: 1, 2, 4, 8, 16, 24, 32
    assert capture_sizes(1024, 8) == 67  # 0.10: [1, 2, 4] + 8..512 step 8, as a v0.10.2 log lists them


def test_moe_workspace_by_hand() -> None:
    from memfit.memory.runtimes.vllm import moe_workspace_bytes

    # Qwen1.5-MoE-A2.7B, 8,192 tokens: top 4, intermediate 1,408, hidden 2,048 -> (8192, 4, max(1408, 2048)) +
    # (8192, 4, max(2816, 2048)) + (8192, 2048) bf16 = (67,108,864 + 92,274,688 + 16,777,216) x 2 B
    assert moe_workspace_bytes(load_model("qwen1.5-moe-a2.7b"), 8192, 1) == (67_108_864 + 92_274_688 + 16_777_216) * 2
    assert moe_workspace_bytes(load_model("llama-3.1-8b"), 8192, 1) == 0


def test_v019_pool_by_hand() -> None:
    # vLLM 0.19 on an H100 (79.19 GiB as its log prints), Llama-3.1-8B, util 0.95: 1,024 rows x 128,256 x 14 B +
    # 80 MiB (Triton sampler) + hidden states (8192 + 2048) x 4096 x 2 B; non-torch 0.25 GiB
    total = round(79.19 * GIB)
    e = memfit.estimate("llama-3.1-8b", mode="inference", runtime="vllm", context=8192, vllm_version="0.19.0",
                        gpu_memory_utilization=0.95, device=get_device("h100", memory=total))
    act = 1024 * 128_256 * 14 + 80 * 2**20 + (8192 + 2048) * 4096 * 2
    pool = math.floor(total * 0.95) - P_8B_BF16 - ROPE_8B - act - round(0.25 * GIB)
    assert e.details["kv_pool_bytes"] == pool
    assert e.details["kv_cache_tokens"] == pool // (16 * KV_8B) * 16
    # the log: 58.11 GiB, 476,016 tokens, weights 14.99 GiB (llm-d planner v0.19.0)
    assert pool / GIB == pytest.approx(58.11, rel=0.002)
    assert e.component("weights") / GIB == pytest.approx(14.99, abs=0.005)


def test_vllm_pipeline_partition_is_get_pp_indices() -> None:
    # vllm/distributed/utils.py get_pp_indices: L // pp each, the remainder one each from the second-to-last backwards
    from memfit.memory.runtimes.vllm_stages import pp_partition, stage_range
    assert pp_partition(32, 4) == (8, 8, 8, 8)
    assert pp_partition(61, 4) == (15, 15, 16, 15)
    assert pp_partition(80, 3) == (27, 27, 26)
    assert pp_partition(10, 4) == (2, 3, 3, 2)
    assert stage_range(61, 4, 2) == range(30, 46)


def test_vllm_pipeline_stage_weights_by_hand() -> None:
    # Llama-3.1-8B bf16 pp 4: a decoder layer is 4096² × 2 (q, o) + 1024 × 4096 × 2 (k, v) + 3 × 4096 × 14,336 (MLP) +
    # 2 × 4096 (norms) = 218,112,000 parameters; the embedding and lm_head 128,256 × 4096 = 525,336,576 each, the final
    # norm 4096. First stage: embedding + 8 layers; last: 8 layers + norm + lm_head; middle: 8 layers (× 2 B)
    from memfit.memory.runtimes.vllm import stage_weights
    spec = load_model("llama-3.1-8b")
    got = [stage_weights(spec, "bfloat16", 1, 4, r).bytes for r in range(4)]
    layer, embed = 218_112_000, 525_336_576
    assert got == [2 * (embed + 8 * layer), 2 * 8 * layer, 2 * 8 * layer, 2 * (8 * layer + 4096 + embed)]
    assert sum(got) == 2 * 8_030_261_248
    # with tp 2 each stage is halved (rounded up)
    assert stage_weights(spec, "bfloat16", 2, 4, 0).bytes == -(-got[0] // 2)


def test_vllm_pipeline_pool_is_the_first_stage_blocks_the_smallest() -> None:
    # the log prints Worker_PP0's "Available KV cache memory"; get_kv_cache_configs gives every worker the fewest
    # blocks, here the last stage's (it also runs the sampler and keeps the received hidden states and residual)
    spec = load_model("llama-3.1-8b")
    est = estimate_vllm(spec, Workload(context=8192, new_tokens=0, tp=1, pp=4, gpus=4, vllm_version="0.19.0"),
                        device=get_device("h100-sxm"))
    d = est.details
    block = 8 * 2 * 8 * 128 * 2 * 16  # 8 layers of K and V, 8 KV heads × 128 × bf16, 16 tokens
    assert d["block_bytes"] == block
    assert d["num_gpu_blocks"] < d["kv_pool_bytes"] // block
    assert d["kv_cache_tokens"] == d["num_gpu_blocks"] * 16


@pytest.mark.parametrize(("gpu", "version", "tp", "gib"), [
    ("h100-sxm", "0.9.2", 4, 2.04),  # NVLS from 3 ranks on an NVSwitch Hopper (vllm#9699), vllm#21429's log: 2.04 GiB
    ("h100-sxm", "0.9.2", 2, 0.13 + 0.12),  # two ranks: no NVLS before 0.19
    ("a100-80gb", "0.9.2", 4, 0.13 + 0.12),  # no SHARP on A100
    ("h100-sxm", "0.19.0", 2, 2.09),  # the v0.19.0 H100 logs print the NVLS figure at tp 2 too
    ("h100-pcie", "0.19.0", 2, 0.25),  # no NVSwitch: NCCL's init buffers precede the snapshot (0.11+)
    ("l40s", "0.10.2", 2, 0.13 + 0.42),  # 0.10.2 took its snapshot before the distributed init
    ("h100-sxm", "0.19.0", 1, 0.25),
])
def test_vllm_non_torch_follows_nvls(gpu: str, version: str, tp: int, gib: float) -> None:
    prof = vllm_profile(version, get_device(gpu), tp, 8192, None, None)
    assert prof.non_torch_bytes == round(gib * GIB)


def test_hopper_mxfp4_values_padded_to_64_from_vllm_0_17() -> None:
    # vLLM 0.17+ vendors a triton_kernels whose HopperMXValueLayout.swizzle_data pads both dims of each expert's
    # packed uint8 values to a multiple of 64 ("Pre-pad both matrix dims to multiples of 64"; the 0.16.0 wheel's copy
    # pads only to its 16 x 32 mma packs). gpt-oss-20b at tp 2: intermediate 1440 -> 1472 per rank (the Triton
    # backend's round-up to 64); w13 transposed (hidden / 2 = 1440, 2 x 1472 = 2944) -> 1472 x 2944, 32 x 2944 =
    # 94,208 B more; w2 (1472 / 2 = 736, 2880) -> 768 x 2880, 32 x 2880 = 92,160 B more; x 32 experts x 24 layers
    kw = dict(mode="inference", runtime="vllm", tp=2, gpus=2, context=8192)
    old = memfit.estimate("gpt-oss-20b", device=get_device("h100"), vllm_version="0.16.0", **kw)  # type: ignore[arg-type]
    new = memfit.estimate("gpt-oss-20b", device=get_device("h100"), vllm_version="0.19.0", **kw)  # type: ignore[arg-type]
    assert new.component("weights") - old.component("weights") == (94_208 + 92_160) * 32 * 24
    # Ampere runs Marlin, not the Triton layout: no change there
    a_old = memfit.estimate("gpt-oss-20b", device=get_device("a100-80gb"), vllm_version="0.16.0", **kw)  # type: ignore[arg-type]
    a_new = memfit.estimate("gpt-oss-20b", device=get_device("a100-80gb"), vllm_version="0.19.0", **kw)  # type: ignore[arg-type]
    assert a_new.component("weights") == a_old.component("weights")
