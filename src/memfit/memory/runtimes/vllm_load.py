"""What vLLM's "Model loading took" counts beyond the tensor bytes of a 16-bit checkpoint: the caching allocator's
unsplit block remainders.

vLLM measures the load as allocated bytes (``DeviceMemoryProfiler``: ``torch.cuda.max_memory_allocated`` after
resetting the peak), and the caching allocator counts a block's whole size as allocated. A parameter of 10 MiB or
more gets a segment rounded up to 2 MiB; the rest is split off as a free block only if it is over 1 MiB
(``CUDACachingAllocator.cpp`` ``should_split``: large-pool remainders of at most ``kSmallSize``, 1 MiB, stay with the
block), so a tensor that ends 1 MiB or less short of a 2 MiB boundary is counted up to it. Llama-3.1-8B's tensors
(hidden 4,096, intermediate 14,336) are multiples of 2 MiB and lose nothing; Qwen2.5's are not: Qwen2.5-72B at tp 2
has a 231 MiB down projection per layer (232 MiB counted, 80 MiB per GPU over 80 layers), Qwen2.5-32B at tp 2 a
35 MiB qkv, 25 MiB o and 135 MiB down per layer (+1 MiB each, 0.19 GiB per GPU). The parameters are laid out as
SGLang's loader lays them (``sglang_load.rank_tensors``: fused qkv and gate_up per rank, the vocabulary padded to 64,
stacked experts; vLLM's ``QKVParallelLinear``, ``MergedColumnParallelLinear``, ``VocabParallelEmbedding`` and
``FusedMoE`` make the same tensors) and allocated in build order through ``memory/caching_allocator.py``.

8-bit checkpoints with one scale per tensor or per output channel (``fp8``, compressed-tensors ``int8`` w8a8 and
FP8_DYNAMIC) keep that layout with 1-byte linear and expert weights and 16-bit embeddings, norms and biases: vLLM's
``Fp8LinearMethod`` and the compressed-tensors W8A8 schemes create the weight in ``float8_e4m3fn`` / ``int8`` at its
full per-rank shape, and their ``process_weights_after_loading`` only transposes it (the CUTLASS scaled-mm kernel,
``layers/quantization/kernels/scaled_mm/cutlass.py``: ``replace_parameter(layer, "weight", weight.t().data)``, a
view), so the loaded blocks stay. Qwen2.5-7B at 1 byte: a 15.75 MiB qkv and a 129.5 MiB gate_up, each counted up
to the 2 MiB boundary (+0.75 MiB per layer); Mistral-Small-3.1-24B at tp 2: a 15 MiB qkv per rank (+1 MiB per
layer). Their per-channel scales (4 B per output row) are small-pool blocks counted at their size. Other quantized
checkpoints (GPTQ, GGUF, block FP8) and pipeline stages count their tensor bytes (not modelled).

From vLLM 0.21 the worker loads the model under ``max_split_size_mb:20`` (``Worker.load_model`` in
``vllm/v1/worker/gpu_worker.py``: ``_scoped_allocator_max_split(max_split_size_mb=20)``, vllm-project/vllm#41268, read
in the 0.21.0 and 0.26.0 wheels; absent from 0.20.2). The allocator then never splits a block handed to a request of
20 MiB or more, so such a tensor counts its whole 2 MiB-rounded block, a rest of up to 2 MiB, not 1
(``caching_allocator`` ``max_split``). For 16-bit and 8-bit checkpoints that moves only tensors of 20 MiB or more whose
size ends more than 1 MiB short of a 2 MiB boundary. 4-bit AWQ checkpoints go through ``AutoAWQMarlinLinearMethod``
(``quantization/auto_awq.py``), whose int32 qweight of k × n / 8 is rarely a whole number of 2 MiB: Qwen2.5-7B's
gate_up qweight is 64.75 MiB (block 66) and its down 32.375 MiB (block 34), 2.875 MiB per layer, 80.5 MiB over 28
layers. ``awq_marlin_extra_bytes`` replays the load: every AWQ linear's qweight, qzeros and scales (and bias) in build
order, then per module ``process_weights_after_loading``, i.e. ``_convert_awq_to_standard_format`` (the qweight and
qzeros unpacked to int32 per weight, re-ordered and re-packed along the input dimension; the old tensors dropped when
the function returns) and ``MarlinLinearKernel.process_weights_after_loading``
(``kernels/linear/mixed_precision/marlin.py``: zero points unpacked, permuted and packed again, ``gptq_marlin_repack``
of the qweight, ``marlin_permute_scales``, the bias permuted, a workspace of one int32 per SM), through the allocator.
"""

from __future__ import annotations

from collections.abc import Iterator

from ...spec import ModelSpec
from ..caching_allocator import CachingAllocator
from .sglang_load import Layout, rank_tensors

__all__ = ["allocator_remainder_bytes", "awq_marlin_extra_bytes", "load_extra_bytes"]

MIB = 1 << 20

SIXTEEN_OR_32 = {"bfloat16": 2, "float16": 2, "float32": 4}
# the 8-bit formats whose linear weights are loaded in place at 1 byte per element (see above)
EIGHT_BIT = ("int8", "fp8")


def allocator_remainder_bytes(spec: ModelSpec, fmt: str, tp: int, rope_bytes: int, max_split_mib: int = 0) -> int:
    """Bytes the caching allocator counts as allocated beyond one rank's parameter tensors (16-bit, float32 and the
    per-tensor / per-channel 8-bit formats; 0 for other quantized formats); ``max_split_mib``: the load's
    ``max_split_size_mb`` (0: unlimited)."""
    width = SIXTEEN_OR_32.get(fmt)
    if width is not None:
        layout = Layout(dense=width, weight=width)
    elif fmt in EIGHT_BIT:
        layout = Layout(dense=2, weight=1)
    else:
        return 0
    sizes = rank_tensors(spec, tp, layout, rope_bytes)
    alloc = CachingAllocator(max_split=max_split_mib * MIB or None)
    for key, nbytes in enumerate(sizes):
        alloc.malloc(key, nbytes)
    return alloc.allocated - sum(sizes)


# one AWQ linear of one rank: (name, k = input features, n = output features, bias)
_Linear = tuple[str, int, int, bool]


def _awq_linears(spec: ModelSpec, tp: int, index: int) -> Iterator[_Linear]:
    """The AWQ linears of decoder layer ``index`` in build order (attention's qkv and o, then the MLP's gate_up and
    down), as one rank holds them."""
    layer, h = spec.layers[index], spec.hidden_size
    if (a := layer.attention) is not None:
        q, kv = a.num_heads * a.head_dim // tp, max(1, a.num_kv_heads // tp) * (a.v_head_dim or a.head_dim)
        yield f"{index}.qkv", h, q + 2 * kv, a.qkv_bias
        yield f"{index}.o", q, h, False
    if (m := layer.mlp) is not None:
        i = m.intermediate_size // tp
        yield f"{index}.gate_up", h, (2 if m.kind == "gated" else 1) * i, False
        yield f"{index}.down", i, h, False


class _Replay:
    """The allocator with the requested bytes of each live tensor."""

    def __init__(self, max_split: int | None) -> None:
        self.alloc, self.live = CachingAllocator(max_split=max_split), dict[object, int]()

    def new(self, key: object, nbytes: int) -> None:
        self.alloc.malloc(key, nbytes)
        self.live[key] = nbytes

    def run(self, *ops: tuple[object, int]) -> None:
        """Each op: (key, bytes) allocates, (key, 0) frees."""
        for key, nbytes in ops:
            if nbytes:
                self.new(key, nbytes)
            else:
                self.alloc.free(key)
                self.live.pop(key, None)


def _awq_create(r: _Replay, lin: _Linear, group: int) -> None:
    """``AutoAWQMarlinLinearMethod.create_weights``: qweight (k, n/8) int32, qzeros (k/g, n/8) int32, scales
    (k/g, n) 16-bit; the linear layer then adds its bias."""
    name, k, n, bias = lin
    g = k // group
    r.run(((name, "qweight"), k * n // 2), ((name, "qzeros"), g * n // 2), ((name, "scales"), g * n * 2),
          ((name, "bias"), n * 2 if bias else 0))


def _awq_process(r: _Replay, lin: _Linear, group: int, sms: int) -> None:
    """``process_weights_after_loading`` of one AWQ linear on the Marlin kernel (see the module docstring)."""
    name, k, n, bias = lin
    g = k // group
    big, zbig = k * n * 4, g * n * 4  # one int32 per weight / per zero point while unpacked
    # _convert_awq_to_standard_format: qweight (qw >> shifts) & mask, [..., reverse_order], << shifts, sum
    r.run(("t1", big), ("t2", big), ("t1", 0), ("t3", big), ("t2", 0),
          ("t4", big), ((name, "qweight2"), k * n // 2), ("t4", 0))
    # qzeros the same, with a copy for the transposed reshape; its locals (the old tensors) go when it returns
    r.run(("u1", zbig), ("u2", zbig), ("u1", 0), ("u3", zbig), ("u2", 0), ("u4", zbig), ("u3", 0),
          ("u5", zbig), ((name, "qzeros2"), g * n // 2), ("u5", 0),
          ((name, "qweight"), 0), ("t3", 0), ((name, "qzeros"), 0), ("u4", 0))
    # MarlinLinearKernel: workspace; zero points unpacked (unpack_cols, via the host), permuted twice, packed
    r.run(((name, "workspace"), sms * 4), ("z1", zbig), ("z2", zbig), ("z3", zbig), ("z2", 0),
          ((name, "zp"), g * n // 2), ("z3", 0), ("z1", 0), ((name, "qzeros2"), 0))
    # gptq_marlin_repack, marlin_permute_scales, marlin_permute_bias: each replaces its tensor
    r.run(((name, "marlin_qweight"), k * n // 2), ((name, "qweight2"), 0),
          ((name, "marlin_scales"), g * n * 2), ((name, "scales"), 0))
    if bias:
        r.run(((name, "marlin_bias"), n * 2), ((name, "bias"), 0))


def awq_marlin_extra_bytes(spec: ModelSpec, tp: int, group: int, rope_bytes: int, max_split_mib: int,
                           sms: int = 132) -> int:
    """What vLLM's "Model loading took" counts beyond the tensor bytes of a 4-bit AWQ checkpoint loaded through the
    Marlin kernel (dense layers; 0 for MoE or recurrent layers, not modelled): the allocator's unsplit block rests
    after the load's replay (module docstring)."""
    if any(layer.moe is not None or (layer.attention is None and layer.mlp is None) for layer in spec.layers):
        return 0
    r, h = _Replay(max_split_mib * MIB or None), spec.hidden_size
    vocab = -(-spec.vocab_size // 64) * 64 // tp
    r.new("embed", vocab * h * 2)
    linears = [list(_awq_linears(spec, tp, i)) for i in range(len(spec.layers))]
    for index, lins in enumerate(linears):
        for lin in lins:
            _awq_create(r, lin, group)
            if index == 0 and rope_bytes and lin[0].endswith(".o"):
                r.new("rope", rope_bytes)  # the rotary cache, built with the first attention layer
        r.run(((index, "norm"), 2 * h), ((index, "norm2"), 2 * h))
    r.new("norm", 2 * h)
    if not spec.tie_word_embeddings:
        r.new("lm_head", vocab * h * 2)
    for lins in linears:
        for lin in lins:
            _awq_process(r, lin, group, sms)
    r.alloc.empty_cache()
    return r.alloc.allocated - sum(r.live.values())


def load_extra_bytes(spec: ModelSpec, fmt: str, tp: int, rope_bytes: int, max_split_mib: int = 0) -> int:
    """What "Model loading took" counts beyond one rank's tensor bytes: the block remainders of 16-bit and 8-bit
    checkpoints and, under the 0.21+ load's ``max_split_size_mb`` (CUDA only), the AWQ Marlin replay."""
    if max_split_mib and fmt.startswith("awq"):
        from ...formats import get_format

        f = get_format(fmt)
        if f.kind == "awq" and f.element_bits == 4 and f.block > 0:  # AutoAWQ: 4-bit only, grouped
            return awq_marlin_extra_bytes(spec, tp, f.block, rope_bytes, max_split_mib)
        return 0
    return allocator_remainder_bytes(spec, fmt, tp, rope_bytes, max_split_mib)
