"""FSDP2's parameters on one rank, for the per-rank replay (``fsdp_pool.py``): each tensor's TP-local shape
(``torch/distributed/tensor/parallel/style.py``), FSDP's dim-0 padded chunks per group (``FSDPParam``), and the
decoder layers as one TP rank runs them."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ...inventory import Tensor, inventory
from ...spec import LayerSpec, ModelSpec
from ..allocator_trace import parameter_blocks

__all__ = ["ROW_WISE", "Param", "backward_order", "layer_params", "local_shape", "param_groups", "param_order",
           "reduce_peak", "tp_spec"]

ROW_WISE = ("attn_output", "ffn_down", "ffn_down_shexp")  # split along dim 1 by tensor parallelism
# families whose attention module registers o_proj before its fused qkv_proj (transformers' Phi3Attention.__init__:
# ``self.o_proj`` then ``self.qkv_proj``): ``named_parameters``, FSDP's group order and the build follow it
O_PROJ_FIRST = ("phi3",)


def _module_order(spec: ModelSpec, tensors: list[Tensor]) -> list[Tensor]:
    """The parameters in the order the model's modules register them (``O_PROJ_FIRST``: o_proj before qkv_proj)."""
    if spec.family not in O_PROJ_FIRST:
        return tensors
    out = list(tensors)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if a.kind == "attn_qkv" and b.kind == "attn_output" and a.layer == b.layer and not a.is_bias:
            out[i], out[i + 1] = b, a
    return out


def local_shape(t: Tensor, tp: int) -> tuple[int, ...]:
    """The tensor on one TP rank: column-wise and vocabulary splits divide dim 0, row-wise dim 1, norms and the
    row-wise biases are replicated (``torch/distributed/tensor/parallel/style.py``)."""
    shape = t.shape
    if tp == 1 or len(shape) == 0 or "norm" in t.kind:
        return shape
    if t.kind in ROW_WISE:
        return shape if t.is_bias or len(shape) < 2 else (shape[0], -(-shape[1] // tp), *shape[2:])
    return (-(-shape[0] // tp), *shape[1:])


def tp_spec(spec: ModelSpec, tp: int) -> ModelSpec:
    """The decoder layers as one TP rank runs them (torchtitan's plan): its share of the attention heads (the K/V
    heads replicated when fewer than ``tp``) and of the MLP's intermediate features; the hidden size is whole."""
    if tp == 1:
        return spec

    def one(la: LayerSpec) -> LayerSpec:
        a, m = la.attention, la.mlp
        return replace(la, attention=None if a is None else replace(
            a, num_heads=max(1, a.num_heads // tp), num_kv_heads=max(1, a.num_kv_heads // tp)),
            mlp=None if m is None else replace(m, intermediate_size=-(-m.intermediate_size // tp)))

    return replace(spec, layers=tuple(one(la) for la in spec.layers))


@dataclass(frozen=True)
class Param:
    """One FSDP parameter on this rank: elements gathered (dim 0 padded), its own (the gradient), its shard."""

    gathered: int
    local: int
    sharded: int


def param_groups(spec: ModelSpec, tp: int, shard: int) -> tuple[tuple[Param, ...], ...]:
    """The FSDP groups' parameters in model order: one list per decoder layer, then the root's. A MoE layer's
    experts of one kind are one parameter, gate and up one (transformers >= 5 keeps them as 3-D ``gate_up_proj``
    and ``down_proj``)."""
    merged: dict[tuple[int | None, str, bool, int], Param] = {}
    for i, t in enumerate(_module_order(spec, list(inventory(spec)))):
        shape = local_shape(t, tp)
        rest = math.prod(shape[1:]) if len(shape) > 1 else 1
        chunk = -(-shape[0] // shard) if shape else 1
        p = Param(chunk * shard * rest, math.prod(shape), chunk * rest)
        kind = "ffn_up_exps" if t.kind == "ffn_gate_exps" else t.kind
        key = (t.layer, kind, t.is_bias, -1 if t.group == "experts" else i)
        old = merged.get(key)
        merged[key] = p if old is None else Param(old.gathered + p.gathered, old.local + p.local,
                                                  old.sharded + p.sharded)
    groups: list[list[Param]] = [[] for _ in range(spec.num_layers + 1)]
    for (layer, _, _, _), p in merged.items():
        groups[spec.num_layers if layer is None else layer].append(p)
    return tuple(tuple(g) for g in groups)


def layer_params(spec: ModelSpec) -> list[list[tuple[str, int, bool]]]:
    """Each layer's parameters as ``layer_backward`` makes their gradients: (kind, elements, a weight matrix), a
    MoE layer's experts of one projection as one tensor (transformers >= 5: ``gate_up_proj``, ``down_proj``)."""
    out: list[list[tuple[str, int, bool]]] = [[] for _ in range(spec.num_layers)]
    for b in parameter_blocks(spec):
        if b.layer is None:
            continue
        own = out[b.layer]
        if b.kind == "ffn_up_exps" and own and own[-1][0] == "ffn_gate_exps":
            own[-1] = (b.kind, own[-1][1] + b.numel, True)
        else:
            own.append((b.kind, b.numel, b.matrix))
    if spec.family in O_PROJ_FIRST:  # o_proj registered before qkv_proj (``_module_order``)
        out = [_o_first(own) for own in out]
    return out


def _o_first(own: list[tuple[str, int, bool]]) -> list[tuple[str, int, bool]]:
    """One layer's parameters with o_proj's weight moved before the fused qkv_proj's."""
    kinds = [k for k, _, _ in own]
    if "attn_qkv" not in kinds or "attn_output" not in kinds:
        return own
    i, j = kinds.index("attn_qkv"), kinds.index("attn_output")
    return [*own[:i], own[j], *own[i:j], *own[j + 1:]] if j > i else own


def backward_order(params: list[tuple[str, int, bool]]) -> list[tuple[str, int, bool]]:
    """The order autograd makes the gradients ``layer_backward`` does not make op by op: the experts' down
    projection's before ``gate_up_proj``'s (the grouped MoE backward runs from its last matmul)."""
    return sorted(params, key=lambda p: p[0] != "ffn_down_exps")


def param_order(grads: list[int], params: list[tuple[str, int, bool]]) -> list[int]:
    """The gradients back in parameter order (``foreach_reduce`` walks the group's parameters)."""
    made = dict(zip(backward_order(params), grads, strict=False))
    return [made[p] for p in params if p in made] + grads[len(params):]


def reduce_peak(unsharded_grads: int, rs_input: int, shard: int, last: int = 0) -> int:
    """One group's ``foreach_reduce``: the reduce-scatter input is filled from the unsharded gradients, which are
    then dropped (``unsharded_grads.clear()``), before the reduced shard (the new sharded gradient) is made. The
    group's last gradient is not dropped: the loop that checks each gradient's shard dim (``for i, (fsdp_param,
    unsharded_grad) in enumerate(zip(fsdp_params, unsharded_grads))``, run whenever the shard group has more than
    one rank) leaves it bound to the local ``unsharded_grad`` until ``foreach_reduce`` returns (``last``)."""
    return max(unsharded_grads + rs_input, rs_input + shard + last)
