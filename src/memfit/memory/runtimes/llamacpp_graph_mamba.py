"""The graph llama.cpp reserves for a Mamba (1) model: src/models/mamba.cpp and ``build_mamba_layer`` in
src/models/mamba-base.cpp, with the recurrent-state reads of ``build_rs`` (src/llama-graph.cpp), build
b10605. Written from reading the source; see memory/runtimes/llamacpp_graph.py for the attention models.

Per layer: the conv states of the sequences gathered (``get_rows`` by the state-copy ids; the unused rows
zeroed in place and copied, both views of the cache), the input projection into x and z, the causal conv
over ``concat(states, xᵀ)`` (its last ``d_conv − 1`` columns written back to the cache), SiLU, the x
projection into dt, B and C (RMS-normed for falcon-mamba: ``ssm_dt_b_c_rms``), dt's projection, the
selective scan (one f32 tensor holding y and the new states, the states copied back), ``y + x·D``, the
gate ``silu(z) × y`` (z copied contiguous first) and the output projection.
"""

from __future__ import annotations

from ...spec import LayerSpec, ModelSpec
from .llamacpp_ggml import Graph, Tensor
from .llamacpp_graph_ops import GraphShape, new_graph, norm

__all__ = ["mamba_graph"]


def _cpy(g: Graph, src: Tensor, dst: Tensor) -> Tensor:
    """ggml_cpy into a view of the cache: the result is a view of the cache (nothing allocated)."""
    return g.expand(g._make("CPY", dst.type, dst.ne, (src, dst), dst.nb, view_of=dst))


def _read_states(g: Graph, cache: Tensor, size: int, n_rs: int, main: Tensor, extra: Tensor) -> Tensor:
    """build_rs before ``get_state_rows``: the 2-D states, the zeroed row (an in-place view)."""
    states = g.reshape(cache, size, n_rs)
    zero = g.view(states, (size,))
    g.expand(g._make("SCALE", zero.type, zero.ne, (zero,), zero.nb, view_of=zero))
    return states


def _copy_extra(g: Graph, cache: Tensor, states: Tensor, size: int, extra: Tensor) -> None:
    rows = g.get_rows(states, extra)
    _cpy(g, rows, g.view(cache, (size, extra.ne[0])))


def _layer(g: Graph, spec: ModelSpec, layer: LayerSpec, x_in: Tensor, gs: GraphShape, main: Tensor,
           extra: Tensor) -> Tensor:
    ssm = layer.ssm
    assert ssm is not None
    h, t, ns = spec.hidden_size, gs.tokens, gs.n_stream
    nst = t // ns
    d_inner, d_state, d_conv = ssm.d_inner, ssm.d_state, ssm.d_conv
    dt_rank = ssm.dt_rank or -(-h // 16)
    n_rs = ns
    size_r, size_s = (d_conv - 1) * d_inner, d_state * d_inner
    cur = norm(g, x_in, "rms")
    cache_r = g.weight("f32", size_r, n_rs)
    states_r = _read_states(g, cache_r, size_r, n_rs, main, extra)
    conv = g.expand(g.get_rows(states_r, main))
    _copy_extra(g, cache_r, states_r, size_r, extra)
    conv = g.reshape(conv, d_conv - 1, d_inner, ns)
    xz = g.mul_mat(g.weight("f16", h, 2 * d_inner), g.reshape(cur, h, nst, ns))
    x = g.view(xz, (d_inner, nst, ns), (4, xz.nb[1], xz.nb[2], xz.nb[3]))
    z = g.view(xz, (d_inner, nst, ns), (4, xz.nb[1], xz.nb[2], xz.nb[3]))
    conv_x = g.new("CONCAT", "f32", (d_conv - 1 + nst, d_inner, ns, 1), conv, g.transpose(x))
    last = g.view(conv_x, (d_conv - 1, d_inner, ns), (4, conv_x.nb[1], conv_x.nb[2], conv_x.nb[3]))
    _cpy(g, last, g.view(cache_r, (size_r * ns,)))
    x = g.new("SSM_CONV", "f32", (d_inner, nst, ns, 1), conv_x, g.weight("f32", d_conv, d_inner))
    x = g.same("UNARY", g.same("ADD", x, g.weight("f32", d_inner)))
    x_db = g.mul_mat(g.weight("f16", d_inner, dt_rank + 2 * d_state), x)
    nb = (4, x_db.nb[1], x_db.nb[2], x_db.nb[3])
    dt = g.view(x_db, (dt_rank, nst, ns), nb)
    b = g.view(x_db, (d_state, 1, nst, ns), (4, d_state * 4, x_db.nb[1], x_db.nb[2]))
    c = g.view(x_db, (d_state, 1, nst, ns), (4, d_state * 4, x_db.nb[1], x_db.nb[2]))
    if spec.family == "falcon_mamba":  # ssm_dt_b_c_rms: RMS norms without weights on dt, B and C
        dt, b, c = (g.new("RMS_NORM", "f32", y.ne, y) for y in (dt, b, c))
    dt = g.same("ADD", g.mul_mat(g.weight("f16", dt_rank, d_inner), dt), g.weight("f32", d_inner))
    cache_s = g.weight("f32", size_s, n_rs)
    states_s = _read_states(g, cache_s, size_s, n_rs, main, extra)
    scan_size = d_inner * nst * ns + d_state * d_inner * ns
    y_ssm = g.new("SSM_SCAN", "f32", (scan_size, 1, 1, 1), g.reshape(states_s, d_state, 1, d_inner, n_rs),
                  g.reshape(x, 1, d_inner, nst, ns), dt, g.weight("f32", d_state, d_inner), b, c, main)
    g.expand(y_ssm)
    _copy_extra(g, cache_s, states_s, size_s, extra)
    _cpy(g, g.view(y_ssm, (size_s * ns,)), g.view(cache_s, (size_s * ns,)))
    y = g.view(y_ssm, (d_inner, nst, ns))
    y = g.same("ADD", y, g.same("MUL", x, g.weight("f32", d_inner)))
    y = g.glu(g.cont(z), y)
    out = g.mul_mat(g.weight("f16", d_inner, h), y)
    return g.reshape(out, h, t)


def mamba_graph(spec: ModelSpec, gs: GraphShape) -> Graph:
    g, embd_input = new_graph(gs)
    t, h = gs.tokens, spec.hidden_size
    inp_l = g.expand(g.get_rows(g.weight("f16", h, spec.vocab_size), g.input("i32", t)))
    if embd_input:
        g.expand(g.input("f32", h, t))
    s_copy = g.input("i32", gs.n_stream)  # one state per sequence in the reserve (n_rs = sequences)
    main = g.view(s_copy, (gs.n_stream,))
    extra = g.view(s_copy, (0,))
    out_ids = g.input("i32", gs.outputs)
    n = len(spec.layers)
    for il, layer in enumerate(spec.layers):
        cur = _layer(g, spec, layer, inp_l, gs, main, extra)
        if il == n - 1:
            cur = g.get_rows(cur, out_ids)
            inp_l = g.get_rows(inp_l, out_ids)
        inp_l = g.same("ADD", cur, inp_l)
    cur = norm(g, inp_l, "rms")
    cur.is_output = True
    logits = g.mul_mat(g.weight("f16", h, spec.vocab_size), cur)
    logits.is_output = True
    g.expand(logits)
    return g
