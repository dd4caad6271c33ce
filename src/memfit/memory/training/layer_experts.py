"""A MoE block's routed experts in a training step as the caching allocator sees them (called from
``layer_stream._moe``; the block's backward runs through ``layer_grads``).

transformers 5.25 runs the fused 3-D experts (``gate_up_proj`` (E, 2I, h), ``down_proj`` (E, h, I)) through its
grouped-matmul path (``integrations/moe.py``), written from the simulator's allocation traces of
``qwen3.5-35b-a3b-l4`` and ``deepseek-v4-flash-e16-l4`` checkpointed training (development):

* forward: the routed rows gathered (``index``), gate_up's ``grouped_mm`` output, DeepSeek-V4's two clamps
  (``DeepseekV4Experts._apply_gate``), act(gate), the product (down's input), down's output, × the routing
  weights, the rows put back in token order, their sum over the top-k. A checkpointed first forward drops each
  tensor after its last reader; otherwise what each op's backward reads is kept;
* backward, in the order autograd runs the nodes: the token order's ``index`` backward (the sum's expanded
  gradient, ``new_zeros``, ``index_put``), the routing-weight product's two gradients (down's output freed), down's
  ``grouped_mm`` backward — its weight gradient first (the parameter's ``.grad``, kept), then its input's —, the
  product's two gradients, the clamps' ``where``s, ``silu_backward``, the ``cat`` into gate_up's gradient,
  gate_up's weight gradient, then the gathered rows' gradient and the gather's ``index`` backward into a token-sized
  gradient. The experts' weight gradients are thus made inside the block's backward, down_proj's before
  gate_up_proj's (``LayerRun.made``), not after the layer's.
"""

from __future__ import annotations

from ...spec import MoESpec
from .layer_ops import LayerRun, StepContext

__all__ = ["CLAMPED_GLU", "grouped_experts"]

# experts whose activation clamps gate and up before silu (transformers 5.25 DeepseekV4Experts._apply_gate:
# ``gate.clamp(max=limit)``, ``up.clamp(min=-limit, max=limit)``, both kept for their backward)
CLAMPED_GLU = ("deepseek_v4", "hy_v4")  # (HYV4Experts._apply_gate, the same two clamps)


def grouped_experts(c: StepContext, run: LayerRun, m: MoESpec, eb: int, up_trains: bool, down_trains: bool) -> int:
    """The routed experts of a gated MoE block without adapters on them (``eb``: the experts' dtype bytes;
    ``up_trains``/``down_trains``: gate_up's / down's weight gradient is made). Returns the block's routed output
    (tokens × hidden) and leaves the experts' backward op in ``run``."""
    tr, t, h = c.tr, c.t, c.spec.hidden_size
    rows, inter = t * m.routed_rows, m.expert_intermediate_size
    wide, mid, narrow = rows * h * eb, rows * inter * eb, t * h * eb
    keep = run.keep
    gathered = tr.alloc(wide)
    gu = tr.alloc(2 * mid)
    clamps = [tr.alloc(mid), tr.alloc(mid)] if c.spec.family in CLAMPED_GLU else []
    act = tr.alloc(mid)
    prod = tr.alloc(mid)
    if not keep:
        tr.free(*clamps, act, gu)
    down = tr.alloc(wide)
    if not (keep and down_trains):  # frozen experts: down's backward needs its weight, not its input
        tr.free(prod)
        prod = 0
    tr.pack()  # × the routing weights saves both
    weighted = tr.alloc(wide)
    tr.pack()  # ``weighted_out[inv_perm]`` saves the (small) indices: the block's last pack
    back = tr.alloc(wide)
    tr.free(weighted)
    out = tr.alloc(narrow)
    if not keep:
        tr.free(gathered, down, back)
        return out
    tr.free(back)
    if not up_trains:
        tr.free(gathered)
        gathered = 0

    def backward(cc: StepContext, grads: list[int]) -> list[int]:
        trr = cc.tr
        expanded, zeros = trr.alloc(wide), trr.alloc(wide)  # the top-k sum's gradient; the index backward
        g_back = trr.alloc(wide)
        trr.free(zeros, expanded)
        g_down, g_weights = trr.alloc(wide), trr.alloc(wide)  # × the routing weights: both operands' gradients
        trr.free(down, g_weights, g_back)
        if down_trains:
            run.made["ffn_down_exps"] = trr.alloc(m.num_experts * h * inter * eb)
        g_prod = trr.alloc(mid)
        trr.free(prod, g_down)
        g_act, g_up = trr.alloc(mid), trr.alloc(mid)  # the product's two gradients
        trr.free(act, *clamps[1:], g_prod)
        g_gate = trr.alloc(mid)  # silu_backward
        if clamps:  # then each clamp's backward: its bool masks and a where; gate_up's output is their input
            trr.free(clamps[0], g_act)
            masks = [trr.alloc(rows * inter), trr.alloc(rows * inter)]
            g_upc = trr.alloc(mid)
            trr.free(*masks, g_up)
            mask = trr.alloc(rows * inter)
            g_gc = trr.alloc(mid)
            trr.free(mask, gu, g_gate)
            g_gate, g_up = g_gc, g_upc
        else:
            trr.free(gu, g_act)
        g_gu = trr.alloc(2 * mid)  # cat
        trr.free(g_gate, g_up)
        if up_trains:
            run.made["ffn_up_exps"] = trr.alloc(m.num_experts * 2 * inter * h * eb)
        g_rows = trr.alloc(wide)
        trr.free(gathered, g_gu)
        z = trr.alloc(narrow)  # the gather's backward: new_zeros, index_put
        g_x = trr.alloc(narrow)
        trr.free(z, g_rows, *grads)
        return [g_x]

    run.ops.append((len(run.linears), backward))
    return out
