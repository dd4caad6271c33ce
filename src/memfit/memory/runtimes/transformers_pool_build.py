"""The model build of a transformers inference run as the caching allocator sees it, where a family's modelling code
lays its parameters out otherwise than ``allocator_trace.build_weights`` assumes (the inventory's order, bytes in
proportion to the elements).

Kimi Linear (transformers 5.25 ``modeling_kimi_linear.py``): ``KimiLinearExperts`` holds the experts' gate and up
projections as one ``gate_up_proj`` tensor; ``KimiLinearMoE`` registers the experts, then the router
(``KimiLinearTopkRouter``, whose weight is made in float32 whatever the model dtype), then the shared experts. The
simulator's allocation trace of ``kimi-linear-l5/gen-b2-s4096-new8`` (development) shows that order and the router's
2.25 MiB fp32 weight (256 experts × 2,304 × 4 B); where these small weights sit in their 20 MiB segments decides
where a later 4.5 MiB temporary lands.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ..allocator_trace import CUBLAS_WORKSPACE, Block, Trace, block_bytes, build_weights, parameter_blocks
from ..orthogonal_init import ORTHOGONAL_INIT, orthogonal_build
from ..weight_init import build_initialised, rescale_out_proj
from .transformers_pool_zamba import shared_block_copies

__all__ = ["build_inference_weights"]

# families whose MoE layers are laid out as described above: fused gate_up experts, the fp32 router after them
FUSED_EXPERTS_FP32_ROUTER = ("kimi_linear", "bailing_hybrid")  # BailingHybridMoE: experts, gate, shared
_ROUTER = ("ffn_gate_inp", "exp_probs_b")


def build_inference_weights(tr: Trace, spec: ModelSpec, weights_bytes: int, dt: int, random_init: bool = False,
                            dense: bool = True) -> None:
    """The cuBLAS workspace and the parameters in the order and sizes the family's modelling code makes them;
    ``random_init``: made on the device with the family's weight init (``memory/weight_init.py``); ``dense``: the
    model's own 16- or 32-bit weights, not a quantized format (``allocator_trace.block_bytes``)."""
    if random_init and spec.init_cutoff and spec.family not in FUSED_EXPERTS_FP32_ROUTER:
        tr.alloc(CUBLAS_WORKSPACE)
        blocks = parameter_blocks(spec)
        tied = (spec.vocab_size * spec.hidden_size, spec.vocab_size * spec.hidden_size * dt)
        build_initialised(tr, spec.family, spec.init_cutoff, blocks, block_bytes(blocks, weights_bytes, dense),
                          tied if spec.tie_word_embeddings else None)
        return
    if random_init and spec.family in ORTHOGONAL_INIT and dense:  # RWKV's orthogonal_ init (memory/orthogonal_init.py)
        tr.alloc(CUBLAS_WORKSPACE)
        blocks = parameter_blocks(spec)
        orthogonal_build(tr, spec, blocks, block_bytes(blocks, weights_bytes, dense), dt)
        return
    if spec.family not in FUSED_EXPERTS_FP32_ROUTER:
        # Zamba: the later hybrid layers' shared blocks, each weight its own segment, freed by the tie before the
        # output projection is made and tied; only a model made from its config on the GPU (``random_init``):
        # from_pretrained makes the modules on the meta device (transformers 5.25 modeling_utils.py
        # ``get_init_context``) and ties them before any weight is loaded
        copies = shared_block_copies(spec, dt) if dense and random_init else []
        build_weights(tr, spec, weights_bytes, 1, None if copies else dt, dense)
        if random_init and dense and spec.init_rescaled_out_proj:  # Nemotron-H's out_proj rescale (weight_init.py)
            blocks = parameter_blocks(spec)
            rescale_out_proj(tr, blocks, block_bytes(blocks, weights_bytes, dense))
        if copies:
            tr.free(*[tr.alloc(n) for n in copies])
            tr.free(tr.alloc(spec.vocab_size * spec.hidden_size * dt if spec.tie_word_embeddings else 0))
        return
    tr.alloc(CUBLAS_WORKSPACE)
    for n in block_bytes(_laid_out(parameter_blocks(spec)), weights_bytes, dense):
        tr.alloc(n)
    if spec.tie_word_embeddings:
        tr.free(tr.alloc(spec.vocab_size * spec.hidden_size * dt))


def _laid_out(blocks: list[Block]) -> list[Block]:
    """Each layer's experts' gate and up blocks as one, the router right after the experts' down projection."""
    out: list[Block] = []
    router: list[Block] = []
    for b in blocks:
        if b.kind in _ROUTER:
            router.append(b)
            continue
        if b.kind == "ffn_up_exps" and out and out[-1].kind == "ffn_gate_exps" and out[-1].layer == b.layer:
            gate = out.pop()
            b = Block(b.layer, gate.numel + b.numel, b.matrix, b.group, b.kind, fp32=b.fp32)
        out.append(b)
        if b.kind == "ffn_down_exps":
            out.extend(r for r in router if r.layer == b.layer)
            router = [r for r in router if r.layer != b.layer]
    return out + router
