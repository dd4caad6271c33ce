"""llama.cpp's graph helpers (src/llama-graph.cpp, build b10605), op by op with ggml's shapes.

``build_attn`` over a KV cache (the K/V stores, flash attention or the KQ softmax per stream, the
Hadamard rotations of a quantized cache), MLA over a K-only latent cache (src/models/deepseek2.cpp),
``build_norm``, ``build_ffn`` and ``build_moe_ffn``. Written from reading the llama.cpp source; used by
memory/runtimes/llamacpp_graph.py.
"""

from __future__ import annotations

from dataclasses import dataclass

from ...spec import AttentionSpec
from .llamacpp_builds import graph_generation
from .llamacpp_ggml import Graph, Tensor

__all__ = ["Attn", "GraphShape", "build_attn", "ffn_gated", "ffn_plain", "mla_attn", "moe", "new_graph", "norm"]


@dataclass(frozen=True)
class GraphShape:
    """The micro-batch llama.cpp reserves: tokens, sequences (streams), outputs and cells per stream."""

    tokens: int
    n_stream: int
    outputs: int
    n_kv: int
    swa_kv: int
    flash_attn: bool
    type_k: str
    type_v: str
    build: str = "current"  # the graph generation (--llamacpp-build; data/llamacpp_builds.toml)


def new_graph(gs: GraphShape) -> tuple[Graph, bool]:
    """An empty graph of ``gs``'s build generation, and whether that generation has the embeddings input leaf."""
    gen = graph_generation(gs.build)
    return Graph(set_rows_op=gen.set_rows, glu_op=gen.glu_op), gen.embd_input


def _is_quantized(typ: str) -> bool:
    return typ.startswith("q") or typ.startswith("iq")


class Attn:
    """The attention inputs one KV cache adds (``build_attn_inp_kv``) and the cache tensors per layer."""

    def __init__(self, g: Graph, gs: GraphShape, n_kv: int, head_k: int, head_v: int, v_rows: int) -> None:
        t, ns = gs.tokens, gs.n_stream
        self.g, self.gs, self.n_kv = g, gs, n_kv
        self.k_idxs = g.input("i64", t)
        self.v_idxs = g.input("i64", t if gs.flash_attn else t * v_rows)
        self.mask = g.input("f16" if gs.flash_attn else "f32", n_kv, t // ns, 1, ns)
        self.k_rot = self.v_rot = None
        if _is_quantized(gs.type_k) and head_k % 64 == 0:
            n = 64
            while head_k % (n * 2) == 0:
                n *= 2
            self.k_rot = g.input("f32", n, n)
        if _is_quantized(gs.type_v) and head_v % 64 == 0:
            self.v_rot = g.input("f32", 64, 64)


def _hadamard(g: Graph, x: Tensor, rot: Tensor) -> Tensor:
    """llama_mul_mat_hadamard: rows of ``rot``'s size, rotated by one matrix product, shape restored."""
    n = rot.ne[0]
    flat = g.reshape(x, n, x.nelements() // n) if x.is_contiguous() else g.cont(x, n, x.nelements() // n)
    return g.reshape(g.mul_mat(rot, flat), *x.ne)


def build_attn(g: Graph, inp: Attn, q: Tensor, k: Tensor, v: Tensor, wo: Tensor | None, sinks: Tensor | None,
               iswa: bool = False, softcap: bool = False) -> Tensor:
    """``build_attn`` with a KV cache: store K and V, attend (flash or not, per stream), project out.

    ``q``/``k``/``v`` are ``[head_dim, heads, T]``; the cache of this layer is made here (external). The
    plain cache expands q, v, k (so that rope can fuse into the K store); the sliding-window pair of caches
    (``llm_graph_input_attn_kv_iswa``) expands q, k, v."""
    gs = inp.gs
    t, ns, n_kv = gs.tokens, gs.n_stream, inp.n_kv
    hk, nkv = k.ne[0], k.ne[1]
    hv = v.ne[0]
    if inp.k_rot is not None:
        q = _hadamard(g, q, inp.k_rot)
        k = _hadamard(g, k, inp.k_rot)
    if inp.v_rot is not None:
        v = _hadamard(g, v, inp.v_rot)
    for x in (q, k, v) if iswa else (q, v, k):
        g.expand(x)
    cache_k = g.weight(gs.type_k, hk * nkv, n_kv, ns)
    cache_v = g.weight(gs.type_v, hv * nkv, n_kv, ns)
    # cpy_k / cpy_v (src/llama-kv-cache.cpp)
    k_rows = g.view(k, (hk * nkv, t), (k.nb[0], k.nb[2], k.nb[2] * t, k.nb[2] * t))
    k_dst = g.reshape(cache_k, hk * nkv, n_kv * ns) if ns > 1 else cache_k
    g.expand(g.set_rows(k_dst, k_rows, inp.k_idxs))
    if gs.flash_attn:
        v_rows = g.view(v, (hv * nkv, t), (v.nb[0], v.nb[2], v.nb[2] * t, v.nb[2] * t))
        v_dst = g.reshape(cache_v, hv * nkv, n_kv * ns) if ns > 1 else cache_v
        g.expand(g.set_rows(v_dst, v_rows, inp.v_idxs))
    else:
        contiguous = v.nb[2] == v.nb[0] * hv * nkv
        v2 = g.reshape(v, hv * nkv, t) if contiguous else g.cont(v, hv * nkv, t)
        v_flat = g.reshape(v2, 1, hv * nkv * t)
        g.expand(g.set_rows(g.reshape(cache_v, 1, cache_v.nelements()), v_flat, inp.v_idxs))
    # build_attn_mha
    qv = g.permute(g.view(q, (q.ne[0], q.ne[1], t // ns, ns)), 0, 2, 1, 3)
    kv = g.permute(g.view(cache_k, (hk, nkv, n_kv, ns)), 0, 2, 1, 3)
    if gs.flash_attn:
        vv = g.permute(g.view(cache_v, (hv, nkv, n_kv, ns)), 0, 2, 1, 3)
        srcs = (qv, kv, vv, inp.mask) + ((sinks,) if sinks is not None else ())
        fa = g.new("FLASH_ATTN_EXT", "f32", (hv, q.ne[1], t // ns, ns), *srcs)
        cur = g.reshape(fa, hv * q.ne[1], t)
    else:
        vv = g.permute(g.view(cache_v, (n_kv, nkv, hv, ns)), 0, 2, 1, 3)
        kq = g.mul_mat(kv, qv)
        if softcap:  # attention logit soft-capping (gemma2): scale, tanh, scale before the softmax
            kq = g.same("SCALE", g.same("UNARY", g.same("SCALE", kq)))
        kq = g.same("SOFT_MAX", kq, inp.mask, *((sinks,) if sinks is not None else ()))
        kqv = g.mul_mat(vv, kq)
        cur = g.cont(g.permute(kqv, 0, 2, 1, 3), hv * q.ne[1], t)
    g.expand(cur)
    if inp.v_rot is not None:
        cur = _hadamard(g, cur, inp.v_rot)
    if wo is not None:
        cur = g.mul_mat(wo, cur)
    return cur


def mla_attn(g: Graph, inp: Attn, a: AttentionSpec, x: Tensor, pos: Tensor, h: int) -> Tensor:
    """deepseek2 with MLA (src/models/deepseek2.cpp, ``build_attn`` over a K-only cache): q (one
    projection without q-LoRA, else down, norm, up), the compressed kv and its rope part from one
    projection, q's no-rope part absorbed into the latent space; the cache holds ``kv_lora_rank + rope``
    per token and V is its first ``kv_lora_rank`` values, decompressed per head after attention."""
    gs = inp.gs
    t, ns, n_kv = gs.tokens, gs.n_stream, inp.n_kv
    nh = a.num_heads
    rank, rope = a.kv_lora_rank or 0, a.qk_rope_head_dim or 0
    nope = a.qk_nope_head_dim or 0
    hv = a.value_dim
    if a.q_lora_rank:
        q = g.mul_mat(g.weight("f16", h, a.q_lora_rank), x)
        q = g.mul_mat(g.weight("f16", a.q_lora_rank, nh * (nope + rope)), norm(g, q, "rms"))
    else:
        q = g.mul_mat(g.weight("f16", h, nh * (nope + rope)), x)
    q = g.reshape(q, nope + rope, nh, t)
    kv_pe = g.mul_mat(g.weight("f16", h, rank + rope), x)
    row = kv_pe.nb[1]
    kv_c = g.view(kv_pe, (rank, t), (4, row, row * t, row * t))
    k_pe = g.same("ROPE", g.view(kv_pe, (rope, 1, t), (4, row, row, row * t)), pos)
    kv_c = norm(g, kv_c, "rms")
    q_nope = g.permute(g.view(q, (nope, nh, t), (4, q.nb[1], q.nb[2], q.nb[3])), 0, 2, 1, 3)
    q_pe = g.same("ROPE", g.view(q, (rope, nh, t), (4, q.nb[1], q.nb[2], q.nb[3])), pos)
    absorbed = g.permute(g.mul_mat(g.weight("f16", nope, rank, nh), q_nope), 0, 2, 1, 3)
    q_cur = g.new("CONCAT", "f32", (rank + rope, nh, t, 1), absorbed, q_pe)
    v_cur = g.reshape(kv_c, rank, 1, t)
    k_cur = g.new("CONCAT", "f32", (rank + rope, 1, t, 1), v_cur, k_pe)
    for y in (q_cur, v_cur, k_cur):
        g.expand(y)
    cache = g.weight(gs.type_k, rank + rope, n_kv, ns)
    k_rows = g.view(k_cur, (rank + rope, t), (4, k_cur.nb[2], k_cur.nb[2] * t, k_cur.nb[2] * t))
    g.expand(g.set_rows(g.reshape(cache, rank + rope, n_kv * ns) if ns > 1 else cache, k_rows, inp.k_idxs))
    kview = g.view(cache, (rank + rope, 1, n_kv, ns))
    vview = g.view(cache, (rank, 1, n_kv, ns), kview.nb)
    qv = g.permute(g.view(q_cur, (rank + rope, nh, t // ns, ns)), 0, 2, 1, 3)
    kp = g.permute(kview, 0, 2, 1, 3)
    vp = g.permute(vview, 0, 2, 1, 3)
    wv_b = g.weight("f16", rank, hv, nh)
    if gs.flash_attn:
        fa = g.new("FLASH_ATTN_EXT", "f32", (rank, nh, t // ns, ns), qv, kp, vp, inp.mask)
        cur = g.mul_mat(wv_b, g.permute(fa, 0, 2, 1, 3))
        cur = g.reshape(g.cont(g.permute(cur, 0, 2, 1, 3)), hv * nh, t)
    else:
        kq = g.same("SOFT_MAX", g.mul_mat(kp, qv), inp.mask)
        v = g.cont(g.transpose(vp))  # V is not stored transposed: one contiguous copy per layer
        kqv = g.mul_mat(wv_b, g.mul_mat(v, kq))
        cur = g.cont(g.permute(kqv, 0, 2, 1, 3), hv * nh, t)
    g.expand(cur)
    return g.mul_mat(g.weight("f16", hv * nh, h), cur)


def norm(g: Graph, x: Tensor, kind: str, bias: bool = False) -> Tensor:
    h = x.ne[0]
    cur = g.same("RMS_NORM" if kind == "rms" else "NORM", x)
    cur = g.same("MUL", cur, g.weight("f32", h))
    if bias:
        cur = g.same("ADD", cur, g.weight("f32", h))
    return cur


def ffn_plain(g: Graph, x: Tensor, n_ff: int) -> Tensor:
    """build_ffn without a gate (gpt2, starcoder2): up and its bias, GELU (in place), down and its bias."""
    h = x.ne[0]
    up = g.same("ADD", g.mul_mat(g.weight("f16", h, n_ff), x), g.weight("f32", n_ff))
    down = g.mul_mat(g.weight("f16", n_ff, h), g.same("UNARY", up))
    return g.same("ADD", down, g.weight("f32", h))


def ffn_gated(g: Graph, x: Tensor, n_ff: int) -> Tensor:
    """build_ffn with a parallel gate: up, gate, their gated product (one GLU node), down."""
    h = x.ne[0]
    up = g.mul_mat(g.weight("f16", h, n_ff), x)
    gate = g.mul_mat(g.weight("f16", h, n_ff), x)
    return g.mul_mat(g.weight("f16", n_ff, h), g.glu(gate, up))


def moe(g: Graph, x: Tensor, n_expert: int, k: int, n_ff: int, norm_w: bool, oai: bool = False) -> Tensor:
    """build_moe_ffn, separate gate and up experts: softmax gating and SiLU, or (gpt-oss, ``oai``) biased
    router logits with a softmax over the chosen experts' weights, biased experts and the OAI SwiGLU."""
    h, t = x.ne[0], x.ne[1]
    logits = g.mul_mat(g.weight("f16", h, n_expert), x)
    probs = g.same("ADD", logits, g.weight("f32", n_expert)) if oai else g.same("SOFT_MAX", logits)
    sel = g.view(g.new("ARGSORT", "i32", probs.ne, probs), (k, t))
    weights = g.get_rows(g.reshape(probs, 1, n_expert, t), sel)
    if oai:
        weights = g.reshape(g.same("SOFT_MAX", g.reshape(weights, k, t)), 1, k, t)
    if norm_w:
        w2 = g.reshape(weights, k, t)
        total = g.same("CLAMP", g.new("SUM_ROWS", "f32", (1, t, 1, 1), w2))
        weights = g.reshape(g.same("DIV", w2, total), 1, k, t)
    g.expand(weights)
    cur = g.reshape(x, h, 1, t)
    up = g.mul_mat_id(g.weight("f16", h, n_ff, n_expert), cur, sel)
    if oai:
        up = g.same("ADD_ID", up, g.weight("f32", n_ff, n_expert), sel)
    gate = g.mul_mat_id(g.weight("f16", h, n_ff, n_expert), cur, sel)
    if oai:
        gate = g.same("ADD_ID", gate, g.weight("f32", n_ff, n_expert), sel)
    act = g.glu(gate, up)
    experts = g.mul_mat_id(g.weight("f16", n_ff, h, n_expert), act, sel)
    if oai:
        experts = g.same("ADD_ID", experts, g.weight("f32", h, n_expert), sel)
    experts = g.same("MUL", experts, weights)
    g.expand(experts)
    nb = (experts.nb[0], experts.nb[2], experts.nb[2] * t, experts.nb[2] * t)
    views = [g.expand(g.view(experts, (h, t), nb)) for _ in range(k)]  # expert i's rows, offset i × nb[1]
    out = views[0]
    for v in views[1:]:
        out = g.expand(g.same("ADD", out, v))
    if k == 1:
        out = g.cont(out)
    return out


