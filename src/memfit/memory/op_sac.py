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


def _mm_outputs(spec: ModelSpec, layer: LayerSpec) -> list[tuple[int, bool]]:
    """The layer's ``aten.mm`` calls in forward order, each as (output features per token, whether its Linear is
    column-wise under torchtitan's TP plan: its output split over the TP ranks; the row-wise o and down
    projections' outputs are whole partial sums): q, k, v (or fused qkv), o, then gate, up (or fused gate_up),
    down; an MoE layer's router and shared experts (routed experts run grouped matmuls, not ``mm``). A Linear with
    a bias on a 3-D input runs ``aten.addmm`` (``at::linear`` flattens it, ``_flatten_nd_linear``), which is
    neither counted nor saved by the policy."""
    outs: list[tuple[int, bool]] = []
    a = layer.attention
    if a is not None and a.kind != "mla":
        q, kv = a.num_heads * a.head_dim, a.num_kv_heads * a.head_dim
        v = a.num_kv_heads * a.value_dim
        if not a.qkv_bias:
            outs += [(q + kv + v, True)] if a.fused_qkv else [(q, True), (kv, True), (v, True)]
        if not a.o_bias:
            outs.append((spec.hidden_size, False))
    ffns: list[tuple[int, str, bool, bool]] = []
    if layer.mlp is not None:
        ffns.append((layer.mlp.intermediate_size, layer.mlp.kind, layer.mlp.fused_gate_up, layer.mlp.bias))
    if layer.moe is not None:
        m = layer.moe
        if not m.router_bias:
            outs.append((m.num_experts, False))
        if m.num_shared_experts:
            ffns.append((m.num_shared_experts * (m.shared_intermediate_size or m.expert_intermediate_size), m.kind,
                         False, m.shared_expert_bias))
    for inter, kind, fused, bias in ffns:
        if bias:
            continue
        if kind == "gated":
            outs += [(2 * inter, True)] if fused else [(inter, True), (inter, True)]
        else:
            outs.append((inter, True))
        outs.append((spec.hidden_size, False))
    return outs


def op_level_saved(spec: ModelSpec, layer: LayerSpec, tokens: int, proj_bytes: int, resid_bytes: int, amp: bool,
                   fused_attention: bool, tp: int = 1, sp: bool = False) -> int:
    """Bytes one layer keeps under op-level selective activation checkpointing (torchtitan's ``selective_ac_option =
    'op'``: ``create_selective_checkpoint_contexts`` with a policy that saves the outputs of ``aten.mm`` except every
    second one, counted per layer, and of the flash / memory-efficient attention kernels; everything else is
    recomputed in backward): the layer's input (the checkpoint's argument), the 1st, 3rd, 5th … matmul outputs and
    the attention kernel's output and fp32 log-sum-exp (torchtitan 9dec370 ``parallelize_llama._save_list``).
    ``proj_bytes``: a matmul output's dtype; ``resid_bytes``: the layer input's; ``amp``: bf16 autocast (the
    attention kernel runs in bf16); ``fused_attention``: SDPA's flash / efficient kernels (eager attention runs
    ``bmm``, which the policy does not save). ``tp`` > 1: one rank of DTensor TP (torchtitan's plan,
    ``torch/distributed/tensor/parallel/style.py``): a column-wise Linear's mm output and the attention kernel's
    output and log-sum-exp hold ``1/tp`` of the features or heads, a row-wise Linear's mm output is the whole
    partial sum (reduced afterwards, a new tensor); the layer's input is split over the sequence only with
    ``sp``. The simulated PP x TP rank of dev llama-3.1-8b-l4/pp2-tp4-r1-gpipe-sacop keeps 40.96 MB per layer and
    micro-batch, as this gives."""
    inp = tokens * resid_bytes * spec.hidden_size * max(1, altup_copies(spec))
    kept = sum((w // tp if col else w) * proj_bytes for w, col in _mm_outputs(spec, layer)[::2])
    a = layer.attention
    if a is not None and fused_attention:
        kept += (a.num_heads // tp) * (a.value_dim * (2 if amp else proj_bytes) + 4)
    return (inp // tp if sp else inp) + tokens * kept
