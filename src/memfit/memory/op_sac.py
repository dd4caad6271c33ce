"""Op-level selective activation checkpointing: what a decoder layer keeps under torchtitan's per-op policy.

torchtitan (``selective_ac_option = 'op'``, ``torchtitan/parallelisms/parallelize_llama.py`` of commit 9dec370, the
one behind its published Llama 3.1 benchmark) wraps each decoder layer in a non-reentrant checkpoint whose
``create_selective_checkpoint_contexts`` policy marks MUST_SAVE the outputs of ``aten.mm`` — except every second
one, counted per layer — and of the flash / memory-efficient attention kernels; every other op is recomputed in
backward. So a layer keeps its input (the checkpoint's argument) and those outputs, whatever its modelling code
saves otherwise. Checked against PyTorch's own SAC on fake tensors (``tools/simulate_pipeline.py titan``).
"""

from __future__ import annotations

from ..spec import LayerSpec, ModelSpec
from .runtimes.transformers_families import altup_copies

__all__ = ["op_level_saved"]


def _mm_outputs(spec: ModelSpec, layer: LayerSpec) -> list[int]:
    """Output features of the layer's ``aten.mm`` calls per token, in forward order: q, k, v (or fused qkv), o, then
    gate, up (or fused gate_up), down; an MoE layer's router and shared experts (routed experts run grouped
    matmuls, not ``mm``). A Linear with a bias on a 3-D input runs ``aten.addmm`` (``at::linear`` flattens it,
    ``_flatten_nd_linear``), which is neither counted nor saved by the policy."""
    outs: list[int] = []
    a = layer.attention
    if a is not None and a.kind != "mla":
        q, kv = a.num_heads * a.head_dim, a.num_kv_heads * a.head_dim
        v = a.num_kv_heads * a.value_dim
        if not a.qkv_bias:
            outs += [q + kv + v] if a.fused_qkv else [q, kv, v]
        if not a.o_bias:
            outs.append(spec.hidden_size)
    ffns: list[tuple[int, str, bool, bool]] = []
    if layer.mlp is not None:
        ffns.append((layer.mlp.intermediate_size, layer.mlp.kind, layer.mlp.fused_gate_up, layer.mlp.bias))
    if layer.moe is not None:
        m = layer.moe
        if not m.router_bias:
            outs.append(m.num_experts)
        if m.num_shared_experts:
            ffns.append((m.num_shared_experts * (m.shared_intermediate_size or m.expert_intermediate_size), m.kind,
                         False, m.shared_expert_bias))
    for inter, kind, fused, bias in ffns:
        if bias:
            continue
        if kind == "gated":
            outs += [2 * inter] if fused else [inter, inter]
        else:
            outs.append(inter)
        outs.append(spec.hidden_size)
    return outs


def op_level_saved(spec: ModelSpec, layer: LayerSpec, tokens: int, proj_bytes: int, resid_bytes: int, amp: bool,
                   fused_attention: bool) -> int:
    """Bytes one layer keeps under op-level selective activation checkpointing (torchtitan's ``selective_ac_option =
    'op'``: ``create_selective_checkpoint_contexts`` with a policy that saves the outputs of ``aten.mm`` except every
    second one, counted per layer, and of the flash / memory-efficient attention kernels; everything else is
    recomputed in backward): the layer's input (the checkpoint's argument), the 1st, 3rd, 5th … matmul outputs and
    the attention kernel's output and fp32 log-sum-exp (torchtitan 9dec370 ``parallelize_llama._save_list``).
    ``proj_bytes``: a matmul output's dtype; ``resid_bytes``: the layer input's; ``amp``: bf16 autocast (the
    attention kernel runs in bf16); ``fused_attention``: SDPA's flash / efficient kernels (eager attention runs
    ``bmm``, which the policy does not save)."""
    kept = resid_bytes * spec.hidden_size * max(1, altup_copies(spec))
    kept += sum(w * proj_bytes for w in _mm_outputs(spec, layer)[::2])
    a = layer.attention
    if a is not None and fused_attention:
        kept += a.num_heads * a.value_dim * (2 if amp else proj_bytes) + 4 * a.num_heads
    return tokens * kept
