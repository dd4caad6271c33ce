"""The sizes of a decoder layer's weight matrices that the training activations need: the largest one (its
gradient's cast under autocast, a 4-bit weight's dequantised copy) and all of them (autocast's bf16 casts, the
layer's weight gradients)."""

from __future__ import annotations

from ..spec import LayerSpec, ModelSpec

__all__ = ["largest_matrix", "layer_linear_params"]


def largest_matrix(spec: ModelSpec, layer: LayerSpec) -> int:
    """Elements of the layer's largest weight matrix."""
    h = spec.hidden_size
    sizes = [0]
    a = layer.attention
    if a is not None:
        sizes += [h * a.num_heads * a.head_dim, h * a.num_heads * a.value_dim]
    if layer.mlp is not None:
        sizes.append(h * layer.mlp.intermediate_size * (2 if layer.mlp.fused_gate_up else 1))
    if layer.moe is not None:
        sizes.append(h * layer.moe.expert_intermediate_size)
    return max(sizes)


def layer_linear_params(spec: ModelSpec, layer: LayerSpec) -> int:
    """Parameters of the layer's matrices (what autocast casts to bf16)."""
    h = spec.hidden_size
    n = 0
    a = layer.attention
    if a is not None:
        n += h * (a.num_heads * a.head_dim + a.num_kv_heads * (a.head_dim + a.value_dim))
        n += a.num_heads * a.value_dim * h
    if layer.mlp is not None:
        n += (3 if layer.mlp.kind == "gated" else 2) * h * layer.mlp.intermediate_size
    if layer.moe is not None:
        m = layer.moe
        n += h * m.num_experts  # the router; fused experts are not cast by autocast
        n += 3 * h * m.num_shared_experts * (m.shared_intermediate_size or m.expert_intermediate_size)
    if layer.ssm is not None:  # in_proj (Mamba-2: gate, x, B, C, dt per head) and out_proj
        x = layer.ssm
        n += h * (3 * x.d_inner + (2 * x.n_groups * x.d_state + x.num_heads if layer.mixer == "mamba2" else 0))
    return n + (4 * h * h if layer.conv is not None else 0)  # LFM2's short conv: in_proj (B, C, x) and out_proj
