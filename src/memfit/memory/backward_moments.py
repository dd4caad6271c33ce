"""When a layer's backward reaches its largest moment (weights trained in full).

The one-moment backward of ``training.step`` holds a layer's saved tensors, its backward transients and all its
weight gradients at once. They are never alive together: torch.autograd frees a node's saved tensors once the node
has run (``torch/csrc/autograd/engine.cpp``, ``release_variables``), while the weight gradients appear one matmul
backward at a time. Each function gives by how much the largest of a layer's backward moments is below that sum.

An expert block is walked in reverse: the down projection's backward (its input's
gradient and the two gradients of the gate·up product) comes first and frees what the activation kept; the fused
gate_up weight's gradient (every expert, the layer's largest) is made last, by the grouped matmul / bmm backward
that also makes the gradient of the tokens it read, while gate_up's output already has its gradient in place. Both
moments are below the sum (none is relieved where eager attention's softmax backward outgrows the MLP's).

A dense attention + MLP layer is walked the same way, in three moments: the down projection's backward (its
weight gradient the only one of the layer yet), the attention kernel's backward (the MLP's saved tensors and
transients gone, the MLP's and o_proj's weight gradients made, q/k/v's not yet, the kernel's dq/dk/dv and fp32
dq accumulator alive; with a materialised score matrix, eager attention, the softmax backward's buffers beside the
kept probabilities instead), and the end of the layer (every weight gradient, only the input norm's saved tensors
and the residual's gradients left).
"""

from __future__ import annotations

from ..spec import AttentionSpec, MLPSpec, MoESpec

__all__ = ["EXPERT_KINDS", "MOE_ACT_SAVED", "dense_backward_relief", "expert_backward_relief"]

EXPERT_KINDS = ("ffn_gate_exps", "ffn_up_exps", "ffn_down_exps")
# Intermediate-sized tensors a routed expert's activation keeps for backward (per routed token, beside the down
# projection's input): silu-GLU keeps gate_up's output (2·I) and act(gate); gpt-oss's clamped GLU keeps gate_up's
# output, the clamped gate, sigmoid(α·gate), glu and up + 1 (transformers 5.25 GptOssExperts._apply_gate); HY-V4's
# keeps gate_up's output, both clamps and silu(gate) (models/hy_v4/modeling_hy_v4.py HYV4Experts._apply_gate:
# ``gate.clamp(max=limit)``, ``up.clamp(min=-limit, max=limit)``, ``F.silu(gate) * up``)
MOE_ACT_SAVED = {"gpt_oss": 6, "hy_v4": 5}


def expert_backward_relief(
    m: MoESpec, h: int, tokens: int, expert_bytes: int, grad_bytes: int, kept: int, mlp_back: int
) -> int:
    """Bytes the one-moment backward over-counts for a MoE layer whose experts train in full.

    ``expert_bytes``: the dtype the experts run in; ``grad_bytes``: the expert weights' gradient dtype;
    ``kept``: intermediate-sized tensors the activation keeps per routed row (gate_up's output counts 2 for a
    gated MLP); ``mlp_back``: the down projection's backward transients the one-moment model holds.
    """
    width = (2 if m.kind == "gated" else 1) * m.expert_intermediate_size
    rows = tokens * m.routed_rows
    gate_up_grad = m.num_experts * h * width * grad_bytes  # made last: the late moment holds it
    freed = rows * expert_bytes * kept * m.expert_intermediate_size + mlp_back
    if not m.dense_dispatch:  # the routing-weight product's saved expert outputs go with its backward, first
        freed += rows * expert_bytes * h
    freed -= rows * expert_bytes * (width + h)  # gate_up output's gradient and the gathered tokens' gradient
    # early moment: everything but gate_up's weight gradient; late moment: everything but what was freed
    return max(0, min(gate_up_grad, freed))


def dense_backward_relief(
    a: AttentionSpec,
    mlp: MLPSpec,
    h: int,
    tokens: int,
    grad_bytes: int,
    proj_bytes: int,
    layer_weights: int,
    mlp_saved: int,
    input_norm_saved: int,
    saved: int,
    backward_extra: int,
    resid_grads: int,
    mlp_back: int,
    sq_back: int = 0,
) -> int:
    """Bytes the one-moment backward over-counts for a dense attention + MLP layer trained in full.

    ``layer_weights``: the layer's matrix parameters; ``mlp_saved`` / ``input_norm_saved``: per token;
    ``saved`` / ``backward_extra``: the layer's totals; ``resid_grads``: the residual's gradients (in
    ``backward_extra``); ``mlp_back``: the MLP backward's transients; ``sq_back``: a materialised score
    matrix's softmax backward buffers (eager attention, else 0); ``backward_extra`` holds the larger of the two.
    """
    grads = layer_weights * grad_bytes
    held = max(mlp_back, sq_back)  # the transients the one-moment backward holds
    # only down's weight gradient made yet, beside the MLP's transients
    early = grads - h * mlp.intermediate_size * grad_bytes + held - mlp_back
    q, kv = a.num_heads * a.head_dim, a.num_kv_heads * (a.head_dim + a.value_dim)
    # the kernel's dq, dk, dv (K/V expanded to every query head, the larger case) and its fp32 dq accumulator; or
    # eager attention's softmax backward (torch.autograd frees the MLP's saved tensors as its nodes run, before it)
    kernel = sq_back or tokens * q * (3 * proj_bytes + 4)
    middle = tokens * mlp_saved + held + h * (q + kv) * grad_bytes - kernel
    late = saved - tokens * input_norm_saved + backward_extra - resid_grads
    return max(0, min(early, middle, late))
