"""The graph llama.cpp reserves for its worst-case micro-batch, described per architecture.

``llama_context::sched_reserve`` (src/llama-context.cpp, build b10605) builds the graph of one
micro-batch of ``T = min(n_ctx, n_ubatch)`` tokens (rounded up to a multiple of the sequences), every
token an output up to ``n_batch``, over every cell of the cache (``n_kv`` = the cells of a stream), and
ggml-alloc sizes the compute buffer from it (memory/runtimes/llamacpp_alloc.py). This module writes
that graph as llama.cpp's builders do (src/llama-graph.cpp: ``build_inp_embd``, ``build_norm``,
``build_qkv``, ``build_attn`` / ``build_attn_mha``, ``build_ffn``, ``build_moe_ffn``; the per-model
builders in src/models/*.cpp), op by op with ggml's shapes, the inputs it creates (token ids,
positions, cache row indices, the attention mask, the output ids, the Hadamard rotations of a quantized
cache) and the ``ggml_build_forward_expand`` calls that fix the node order. Written from reading the
llama.cpp source; checked against graphs dumped from the real build (tools/llamacpp_graphdump.cpp).
"""

from __future__ import annotations

from functools import lru_cache

from ...spec import AttentionSpec, LayerSpec, ModelSpec
from ...workload import Workload
from .llamacpp_builds import graph_generation
from .llamacpp_ggml import Graph, Tensor
from .llamacpp_graph_mamba import mamba_graph
from .llamacpp_graph_ops import Attn, GraphShape, build_attn, ffn_gated, ffn_plain, mla_attn, moe, new_graph, norm
from .llamacpp_kv import CacheGeometry

__all__ = ["GraphShape", "build_graph", "graph_families", "graph_for_shape", "graph_shape", "reserved_bytes"]

# families whose graph is described here (spec.family -> builder flavour)
_LLAMA_LIKE = {"llama": "llama", "mistral": "llama", "mixtral": "llama", "qwen2": "qwen2", "qwen3": "qwen3",
               "qwen3_moe": "qwen3", "phi3": "phi3", "gpt_oss": "gpt_oss", "deepseek_v2": "deepseek2",
               "gemma2": "gemma", "gemma3": "gemma", "gemma3_text": "gemma", "gpt2": "gpt2",
               "starcoder2": "starcoder2", "stablelm": "stablelm", "olmo2": "olmo2"}


_MAMBA = frozenset({"mamba", "falcon_mamba"})


def graph_families() -> frozenset[str]:
    return frozenset(_LLAMA_LIKE) | _MAMBA


def graph_shape(wl: Workload, geo: CacheGeometry, n_outputs_max: int | None = None) -> GraphShape:
    n_seq = max(1, wl.batch)
    t = min(geo.n_ctx, wl.n_ubatch, wl.n_batch)  # cparams.n_ubatch = min(n_batch, n_ubatch)
    if t % n_seq:
        t = -(-t // n_seq) * n_seq  # graph_reserve rounds the tokens up to a multiple of the sequences
    kv = (wl.kv_dtype or "f16").lower()
    outputs = min(t, wl.n_batch if n_outputs_max is None else n_outputs_max)  # cparams.n_outputs_max
    build = graph_generation(wl.llamacpp_build)
    streams = n_seq if build.kv_streams and not wl.kv_unified else 1
    return GraphShape(t, streams, outputs, geo.n_ctx_seq, geo.swa_cells, bool(wl.flash_attn), kv, kv, build.name)


def _qkv(g: Graph, a: AttentionSpec, x: Tensor, flavour: str, pos: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """build_qkv, the per-head q/k norms of qwen3 and the rotary embedding of q and k."""
    h, t = x.ne[0], x.ne[1]
    hd, nh, nkv = a.head_dim, a.num_heads, a.num_kv_heads
    if a.fused_qkv:
        qkv = g.mul_mat(g.weight("f16", h, hd * (nh + 2 * nkv)), x)
        if a.qkv_bias:
            qkv = g.same("ADD", qkv, g.weight("f32", qkv.ne[0]))
        nb1 = qkv.nb[1]
        es = qkv.nb[0]
        q = g.view(qkv, (hd, nh, t), (es, hd * es, nb1, nb1 * t))
        k = g.view(qkv, (hd, nkv, t), (es, hd * es, nb1, nb1 * t))
        v = g.view(qkv, (hd, nkv, t), (es, hd * es, nb1, nb1 * t))
    else:
        outs: list[Tensor] = []
        for heads in (nh, nkv, nkv):
            y = g.mul_mat(g.weight("f16", h, hd * heads), x)
            if a.qkv_bias:
                y = g.same("ADD", y, g.weight("f32", hd * heads))
            if a.qk_norm == "full" and len(outs) < 2:  # olmo2 normalises all of q and of k, then splits heads
                y = norm(g, y, "rms")
            outs.append(g.reshape(y, hd, heads, t))
        q, k, v = outs
    if a.qk_norm == "head" and flavour in ("qwen3", "gemma"):
        q = norm(g, q, "rms")
        k = norm(g, k, "rms")
    if flavour == "gpt2":  # learned positions, added to the embeddings: no rotary embedding
        return q, k, v
    q = g.same("ROPE", q, pos)
    k = g.same("ROPE", k, pos)
    if flavour in ("phi3", "gemma"):
        q = g.same("SCALE", q)  # phi3 and gemma scale q before attention (kq_scale 1)
    return q, k, v


def build_graph(spec: ModelSpec, wl: Workload, geo: CacheGeometry) -> Graph | None:
    """The reserved graph of ``spec`` under ``wl``, or None for an architecture not described here."""
    return graph_for_shape(spec, graph_shape(wl, geo))


@lru_cache(maxsize=256)
def reserved_bytes(spec: ModelSpec, gs: GraphShape, alignment: int = 32) -> int | None:
    """ggml-alloc's buffer for the graph (None where the architecture is not described); the weights'
    format does not enter the graph, so listings over formats and sizes reuse it."""
    g = graph_for_shape(spec, gs)
    return None if g is None else g.reserve(alignment)


def graph_for_shape(spec: ModelSpec, gs: GraphShape) -> Graph | None:
    if spec.family in _MAMBA and all(layer.ssm is not None and layer.mixer == "mamba" for layer in spec.layers):
        return mamba_graph(spec, gs)
    flavour = _LLAMA_LIKE.get(spec.family)
    if flavour is None or any(layer.attention is None for layer in spec.layers):
        return None
    g, embd_input = new_graph(gs)
    t, h = gs.tokens, spec.hidden_size
    tok_embd = g.weight("f16", h, spec.vocab_size)
    tokens = g.input("i32", t)
    inp_l = g.get_rows(tok_embd, tokens)
    g.expand(inp_l)
    if embd_input:  # the embeddings input, a graph leaf beside the token path (llama.cpp PR 18550, 2026)
        g.expand(g.input("f32", h, t))
    if flavour == "gemma":
        inp_l = g.same("SCALE", inp_l)  # gemma scales the embeddings by sqrt(n_embd)
    pos = g.input("i32", t)
    if flavour == "gpt2":  # learned position embeddings, gathered by position and added
        inp_l = g.same("ADD", inp_l, g.get_rows(g.weight("f32", h, spec.max_position_embeddings or 1024), pos))
    a0 = spec.layers[0].attention
    assert a0 is not None
    v_rows = a0.num_kv_heads * a0.value_dim
    full = Attn(g, gs, gs.n_kv, a0.head_dim, a0.value_dim, v_rows)
    # a model whose sliding window llama.cpp applies has a second cache (and its own inputs) for those layers
    swa = Attn(g, gs, gs.swa_kv, a0.head_dim, a0.value_dim, v_rows) if gs.swa_kv else None
    out_ids = g.input("i32", gs.outputs)
    n_layers = len(spec.layers)
    late_ids = flavour == "gpt_oss"  # openai-moe gathers the output rows after the last layer
    for il, layer in enumerate(spec.layers):
        a = layer.attention
        inp = swa if (swa is not None and a is not None and a.sliding_window is not None) else full
        ids = out_ids if il == n_layers - 1 and not late_ids else None
        inp_l = _layer(g, spec, layer, inp_l, inp, pos, ids, flavour, swa is not None)
    if late_ids:
        inp_l.is_output = True  # res->t_h_nextn, the last hidden state: a graph output, never freed
        inp_l = g.get_rows(inp_l, out_ids)
    cur = norm(g, inp_l, spec.norm, spec.norm == "layernorm")
    cur.is_output = True
    logits = g.mul_mat(g.weight("f16", h, spec.vocab_size), cur)
    if spec.family == "gemma2":  # final logit soft-capping: scale, tanh, scale
        logits = g.same("SCALE", g.same("UNARY", g.same("SCALE", logits)))
    logits.is_output = True
    g.expand(logits)
    return g


def _gemma_tail(g: Graph, spec: ModelSpec, layer: LayerSpec, cur: Tensor, inp_l: Tensor,
                out_ids: Tensor | None) -> Tensor:
    """gemma2/gemma3 after attention: post-attention norm, residual, norm, GeGLU feed-forward, post-FFN
    norm, residual (src/models/gemma2.cpp, gemma3.cpp)."""
    if out_ids is not None:
        cur = g.get_rows(cur, out_ids)
        inp_l = g.get_rows(inp_l, out_ids)
    sa_out = g.same("ADD", norm(g, cur, spec.norm), inp_l)
    assert layer.mlp is not None
    cur = norm(g, ffn_gated(g, norm(g, sa_out, spec.norm), layer.mlp.intermediate_size), spec.norm)
    return g.same("ADD", cur, sa_out)


def _olmo2_tail(g: Graph, spec: ModelSpec, layer: LayerSpec, cur: Tensor, inp_l: Tensor,
                out_ids: Tensor | None) -> Tensor:
    """olmo2 after attention: post-attention norm, residual, the feed-forward straight on the residual sum,
    post-FFN norm, residual (src/models/olmo2.cpp)."""
    if out_ids is not None:
        cur = g.get_rows(cur, out_ids)
        inp_l = g.get_rows(inp_l, out_ids)
    ffn_inp = g.same("ADD", norm(g, cur, spec.norm), inp_l)
    assert layer.mlp is not None
    return g.same("ADD", norm(g, ffn_gated(g, ffn_inp, layer.mlp.intermediate_size), spec.norm), ffn_inp)


def _layer(g: Graph, spec: ModelSpec, layer: LayerSpec, inp_l: Tensor, inp: Attn, pos: Tensor,
           out_ids: Tensor | None, flavour: str, iswa: bool) -> Tensor:
    a = layer.attention
    assert a is not None
    h = spec.hidden_size
    bias = spec.norm == "layernorm"  # gpt2, starcoder2, stablelm: LayerNorm with a bias
    cur = inp_l if flavour == "olmo2" else norm(g, inp_l, spec.norm, bias)
    if a.kind == "mla":
        cur = mla_attn(g, inp, a, cur, pos, h)
    else:
        q, k, v = _qkv(g, a, cur, flavour, pos)
        sinks = g.weight("f32", a.num_heads) if a.sinks else None
        cur = build_attn(g, inp, q, k, v, g.weight("f16", a.num_heads * a.value_dim, h), sinks, iswa,
                         spec.family == "gemma2")
    if flavour == "gemma":
        return _gemma_tail(g, spec, layer, cur, inp_l, out_ids)
    if flavour == "olmo2":
        return _olmo2_tail(g, spec, layer, cur, inp_l, out_ids)
    if a.o_bias:
        cur = g.same("ADD", cur, g.weight("f32", h))
    res = inp_l
    if out_ids is not None:
        cur = g.get_rows(cur, out_ids)
        res = g.get_rows(res, out_ids)
    ffn_inp = g.same("ADD", cur, res)
    cur = norm(g, ffn_inp, spec.norm, bias)
    if layer.moe is not None:
        m = layer.moe
        oai = flavour == "gpt_oss"
        norm_w = m.norm_topk_prob if flavour == "deepseek2" else not oai
        moe_out = moe(g, cur, m.num_experts, m.top_k, m.expert_intermediate_size, norm_w, oai)
        if m.num_shared_experts:
            n_sh = (m.shared_intermediate_size or m.expert_intermediate_size) * m.num_shared_experts
            cur = g.same("ADD", moe_out, ffn_gated(g, cur, n_sh))
        else:
            cur = moe_out
    elif layer.mlp is not None and layer.mlp.fused_gate_up:
        # phi3: one up projection of 2 × n_ff, a single-input SwiGLU halving it, down
        n_ff = layer.mlp.intermediate_size
        up = g.mul_mat(g.weight("f16", h, 2 * n_ff), cur)
        cur = g.mul_mat(g.weight("f16", n_ff, h), g.new("GLU", "f32", (n_ff, up.ne[1], 1, 1), up))
    elif layer.mlp is not None and layer.mlp.kind == "plain":
        cur = ffn_plain(g, cur, layer.mlp.intermediate_size)
    else:
        assert layer.mlp is not None
        cur = ffn_gated(g, cur, layer.mlp.intermediate_size)
    if flavour == "phi3":
        return g.same("ADD", ffn_inp, cur)  # ggml_add(residual, cur): the residual is the first source
    return g.same("ADD", cur, ffn_inp)
