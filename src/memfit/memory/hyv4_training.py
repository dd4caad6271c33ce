"""HY-V4 (transformers 5.25 models/hy_v4/modeling_hy_v4.py) in training: what its hyper-connections, its hyper head and
its gradient-checkpointed decoder layers keep beyond the generic layer's figures.

* ``HYV4Model.forward`` runs the layers on ``inputs_embeds.unsqueeze(2).expand(-1, -1, hc_mult, -1).contiguous()``:
  the residual is ``hc_mult`` streams (``b × s × hc_mult × hidden``, the residual's dtype), and each
  ``HYV4DecoderLayer`` returns the new streams, ``(post.float().unsqueeze(-1) * out.float().unsqueeze(-2) +
  residual.float()).to(dtype)``. A checkpointed layer (``GradientCheckpointingLayer``, torch.utils.checkpoint)
  keeps its input: the ``hc_mult``-stream tensor, not one hidden-size stream.
* The checkpoint's ``partial`` also binds the layer's keyword arguments until its backward: the causal mask, which
  ``HYV4Model.forward`` always makes (``create_causal_mask(..., allow_is_causal_skip=False)``; eager attention: a
  ``b × 1 × s × s`` float mask in the embeddings' dtype), held by every layer's checkpoint until layer 0's backward;
  and ``prev_topk_indices``, the int32 ``b × s × min(index_topk, s)`` top-k the previous layer returned
  (``HYV4Indexer.forward``'s ``.indices.to(torch.int32)``; a ``"shared"`` layer of ``indexer_types`` returns the one it
  was given, so only a ``"full"`` layer's top-k is a new tensor).
* Under LoRA with checkpointing, ``enable_input_require_grads`` makes the (frozen) embedding's output a leaf that
  requires grad: its AccumulateGrad node keeps it through the backward, beside the contiguous streams made from it
  (full training: the embedding's backward saves only the indices, and the output goes once copied).
* ``HYV4HyperHead.forward`` (before the final norm): ``flat = x.flatten(2).float()`` (an fp32 copy of the last
  layer's streams, the same tensor when they are fp32) is saved by ``HYV4UnweightedRMSNorm``'s ``square`` (and by
  ``F.linear`` for ``hc_fn``'s gradient); ``(pre.unsqueeze(-1) * x).sum(dim=2)`` saves the streams ``x`` themselves,
  which no checkpoint and no layer keeps.

DeepSeek-V4's replay (``dsv4_attention``, ``training/layer_hc``) is not shared: its hyper-connections mix with
``comb`` (Sinkhorn rounds), norm the flattened streams into a second fp32 copy and apply ``post`` inside the
connection; HY-V4 has no ``comb``, keeps only the rsqrt of the norm and applies ``post`` in fp32 in the layer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..spec import ModelSpec
from .activations import LayerActivations, Precision
from .hyv4_attention import config_int, hyv4_config, hyv4_gate_input

__all__ = [
    "hc_head_parts",
    "hyv4_checkpoints",
    "hyv4_connections_saved",
    "hyv4_head_saved",
    "hyv4_streams",
    "hyv4_topk",
]

FP32 = 4
INT32 = 4
HC_MULT = 4  # HYV4Config.hc_mult's default
INDEX_TOPK = 2048  # HYV4Config.index_topk's default


def hyv4_streams(spec: ModelSpec) -> int:
    """HY-V4's ``hc_mult`` residual streams (0 for other families)."""
    return config_int(hyv4_config(spec), "hc_mult", HC_MULT) if spec.family == "hy_v4" else 0


def hyv4_head_saved(spec: ModelSpec, tokens: int, r: int) -> int:
    """What ``HYV4HyperHead`` keeps for backward over ``tokens`` tokens whose streams are ``r`` bytes per element:
    the fp32 flattened copy (none when the streams are fp32 already) and the streams; 0 for other families."""
    n = hyv4_streams(spec)
    return tokens * n * spec.hidden_size * ((FP32 if r != FP32 else 0) + r)


def hc_head_parts(spec: ModelSpec, hc_head: int, r: int) -> list[int]:
    """The tensors of a hyper-connection head's ``hc_head`` saved bytes the training replay makes after the last
    layer: HY-V4's fp32 flattened streams (the streams it also keeps are the replayed last layer's output,
    ``hyv4_head_saved``), DeepSeek-V4's two equal fp32 copies (``dsv4_attention.dsv4_head_saved``); none without a
    head."""
    if not hc_head:
        return []
    if spec.family != "hy_v4":
        return [hc_head // 2, hc_head // 2]
    flat = hc_head // (r + (FP32 if r != FP32 else 0)) * FP32
    return [flat] if r != FP32 else []


def _full_indexers(cfg: dict[str, Any], layers: int) -> list[bool]:
    """Which layers run their own indexer (``HYV4Config.__post_init__``'s default: layer 0 and every fourth after
    layer 1 are ``"full"``, the others ``"shared"``)."""
    types = cfg.get("indexer_types")
    if isinstance(types, list) and len(types) >= layers:
        return [t == "full" for t in types[:layers]]
    return [i == 0 or (i - 1) % 4 == 0 for i in range(layers)]


def hyv4_topk(spec: ModelSpec, b: int, s: int) -> list[int]:
    """Per layer, the bytes of the int32 top-k its indexer makes over ``b`` sequences of ``s`` tokens (0: a
    ``"shared"`` layer, which returns the one it was given)."""
    cfg = hyv4_config(spec)
    each = b * s * min(config_int(cfg, "index_topk", INDEX_TOPK), s) * INT32
    return [each if full else 0 for full in _full_indexers(cfg, len(spec.layers))]


def hyv4_connections_saved(spec: ModelSpec, p: Precision, tokens: int, grad_input: bool) -> int:
    """What a HY-V4 layer's two hyper-connections keep for backward over ``tokens`` tokens (0 for other families).
    Each connection keeps its fp32 flattened streams (``HYV4UnweightedRMSNorm``'s ``square``; none when the streams
    are fp32, the same tensor then) and the streams (``pre × streams``); each ``post`` product keeps the block
    output's fp32 copy (``post.float().unsqueeze(-1) * out.float()``, for ``post``'s gradient). When the layer's
    input needs no gradient (``grad_input`` False: LoRA's first layer without checkpointing, whose embedding is
    frozen and no ``enable_input_require_grads`` hook), the first connection and the attention's ``post`` have no
    gradient path: only the second connection and the MLP's ``post`` keep theirs."""
    n = hyv4_streams(spec)
    h, r = spec.hidden_size, p.resid_bytes
    connection = n * h * ((FP32 if r != FP32 else 0) + r)
    return tokens * (connection + FP32 * h) * (2 if grad_input else 1) if n else 0


def hyv4_checkpoints(
    spec: ModelSpec, p: Precision, layers: tuple[LayerActivations, ...], b: int, s: int
) -> tuple[LayerActivations, ...]:
    """HY-V4's layers with what full checkpointing keeps per layer (the module's docstring): the ``hc_mult``-stream
    input; layer 0 also the causal mask and, under LoRA, the embedding's output; layer ``i > 0`` the top-k of layer
    ``i - 1`` when that layer made one; and in what each layer saves, its hyper-connections'
    (``hyv4_connections_saved``; ``p.kv_cache`` set: no full checkpointing). Other families' layers unchanged."""
    n = hyv4_streams(spec)
    if not n or not layers:
        return layers
    t, h, r = b * s, spec.hidden_size, p.resid_bytes
    topk = hyv4_topk(spec, b, s)
    out = []
    for i, la in enumerate(layers):
        kept = t * n * h * r
        if i == 0:
            kept += b * s * s * r + (0 if p.full else t * h * (p.embed_out_bytes or r))
        else:
            kept += topk[i - 1]
        grad_input = i > 0 or p.full or not p.kv_cache
        saved = la.saved + hyv4_connections_saved(spec, p, t, grad_input)
        a = spec.layers[i].attention
        if not grad_input and a is not None:  # the input norm keeps no fp32 copy, the gate's product no output
            saved -= t * (FP32 * h + FP32 + hyv4_gate_input(a, p.proj_bytes))
        out.append(replace(la, checkpoint=kept, saved=saved))
    return tuple(out)
