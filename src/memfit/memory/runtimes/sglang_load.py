"""What SGLang's weight load takes from the free memory: the parameter tensors of one tensor-parallel rank as the
CUDA caching allocator holds them.

SGLang prints the load as the fall in free memory (``Load weight end ... mem usage=X GB``: ``get_available_gpu_memory``
before and after, ``torch.cuda.mem_get_info`` after ``empty_cache``), so it counts the allocator's segments, not the
tensor bytes. Each parameter is its own allocation, made in module order when the model is built: one of 10 MiB or
more gets a segment of its size rounded up to 2 MiB, one below 10 MiB is cut from a 20 MiB segment, and the rest of a
segment that no later tensor fits stays reserved (``memory/caching_allocator.py``, the rules of PyTorch's
``CUDACachingAllocator.cpp``). Tensors whose sizes are multiples of 2 MiB (Llama-3.1-8B: hidden 4096, intermediate
14,336) waste nothing; Qwen's (hidden 3584 or 5120, intermediate 18,944 or 27,648 per rank) leave up to 2 MiB per
tensor, 0.1 to 0.2 GiB per GPU.

SGLang's layout (``python/sglang/srt/models/qwen2.py``, ``llama.py``, ``layers/linear.py``): q, k and v are one
``QKVParallelLinear`` weight (and bias), gate and up one ``MergedColumnParallelLinear`` weight, each split over the
ranks by output rows; o and down split by input columns; the vocabulary padded to a multiple of 64
(``VocabParallelEmbedding``) and split; MoE experts as two stacked tensors per layer (``FusedMoE`` ``w13_weight``,
``w2_weight``). The float32 rotary cache is made with the first attention layer. Layers memfit cannot lay out this
way (MLA, recurrent mixers) count their tensor bytes, without rounding.

Block-FP8 checkpoints (``weight_block_size`` [128, 128], e.g. Qwen3-235B-A22B-FP8) keep the same layout with
float8_e4m3 linear and expert weights, each followed by its float32 ``weight_scale_inv`` of one value per 128 × 128
tile (``layers/quantization/fp8.py``: ``Fp8LinearMethod`` / ``Fp8MoEMethod.create_weights``; block-quantized weights
are not processed after loading on CUDA). Their per-rank attention tensors are small (Qwen3-235B tp 4: qkv 9 MiB, o
8 MiB), so they are cut from 20 MiB segments, and the many scales from the small pool's 2 MiB segments.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from ...spec import LayerSpec, ModelSpec
from ..caching_allocator import CachingAllocator

__all__ = ["Layout", "load_reserved_bytes", "rank_tensors"]


@dataclass(frozen=True)
class Layout:
    """How one rank's tensors are stored: ``dense`` bytes per element for what stays in 16 bits (embeddings, norms,
    routers, biases), ``weight`` for the linear and expert weights, and, for block FP8, one float32 scale per
    ``block`` × ``block`` tile of each of those weights (0: no scales)."""

    dense: int = 2
    weight: int = 2
    block: int = 0

    def linear(self, out: int, inp: int) -> list[int]:
        """A linear's weight, then its ``weight_scale_inv`` (SGLang ``Fp8LinearMethod.create_weights``)."""
        if not self.block:
            return [out * inp * self.weight]
        return [out * inp * self.weight, -(-out // self.block) * -(-inp // self.block) * 4]

    def experts(self, n: int, inter: int, h: int) -> list[int]:
        """``w13_weight`` (n, 2·inter, h) and ``w2_weight`` (n, h, inter), then their block scales
        (``Fp8MoEMethod.create_weights``: (n, 2·ceil(inter/b), ceil(h/b)) and (n, ceil(h/b), ceil(inter/b)))."""
        out = [n * 2 * inter * h * self.weight, n * h * inter * self.weight]
        if self.block:
            hb, ib = -(-h // self.block), -(-inter // self.block)
            out += [n * 2 * ib * hb * 4, n * hb * ib * 4]
        return out


def _attention(layer: LayerSpec, h: int, tp: int, lay: Layout) -> Iterator[int]:
    a = layer.attention
    if a is None or a.kind == "mla":
        return
    hd = a.head_dim
    q, kv = a.num_heads * hd // tp, max(1, a.num_kv_heads // tp) * (a.v_head_dim or hd)
    yield from lay.linear(q + 2 * kv, h)
    if a.qkv_bias:
        yield (q + 2 * kv) * lay.dense
    yield from lay.linear(h, q)
    if a.qk_norm == "head":
        yield from (hd * lay.dense, hd * lay.dense)


def _feed_forward(layer: LayerSpec, h: int, tp: int, lay: Layout) -> Iterator[int]:
    if layer.mlp is not None:
        i = layer.mlp.intermediate_size // tp
        yield from lay.linear((2 if layer.mlp.kind == "gated" else 1) * i, h)
        yield from lay.linear(h, i)
    if (moe := layer.moe) is not None:
        i = moe.expert_intermediate_size // tp
        # qwen2_moe.py / qwen3_moe.py build the experts (FusedMoE) before the router (a ReplicatedLinear left in
        # 16 bits: no quant_config)
        yield from lay.experts(moe.num_experts, i, h)
        yield moe.num_experts * h * lay.dense
        if moe.num_shared_experts:
            si = (moe.shared_intermediate_size or moe.expert_intermediate_size) * moe.num_shared_experts // tp
            yield from lay.linear(2 * si, h)
            yield from lay.linear(h, si)


def rank_tensors(spec: ModelSpec, tp: int, layout: Layout, rope_bytes: int) -> list[int]:
    """Byte sizes of one rank's parameter tensors in SGLang's layout, in the order the model builds them."""
    h, eb = spec.hidden_size, layout.dense
    vocab = -(-spec.vocab_size // 64) * 64 // tp
    out = [vocab * h * eb]
    for index, layer in enumerate(spec.layers):
        out += list(_attention(layer, h, tp, layout))
        if index == 0 and rope_bytes:
            out.append(rope_bytes)
        out += list(_feed_forward(layer, h, tp, layout))
        out += [h * eb, h * eb]  # input and post-attention norms
    out.append(h * eb)
    if not spec.tie_word_embeddings:
        out.append(vocab * h * eb)
    return out


def load_reserved_bytes(spec: ModelSpec, tp: int, layout: Layout, rope_bytes: int) -> tuple[int, int]:
    """(segments reserved, tensor bytes) of one rank's parameters allocated one after the other."""
    alloc = CachingAllocator()
    sizes = rank_tensors(spec, tp, layout, rope_bytes)
    for key, nbytes in enumerate(sizes):
        alloc.malloc(key, nbytes)
    return alloc.reserved, sum(sizes)
