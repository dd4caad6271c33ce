"""ZAYA's inference moments beyond the generic reading (issue 12, l12zaya; transformers 5.25
``models/zaya/modeling_zaya.py``), found on the development case zaya-default-l2/gen-b3-s4000-new8 (sweep-dev.jsonl,
moved there from blind round 5 before its trace was read) against the simulator's allocation trace of it.

* **A float32 residual stream with model-dtype embeddings.** ``ZayaModel.forward`` embeds in the model dtype
  (``inputs_embeds``, still bound through the layers) and casts ``(inputs_embeds + input_hidden_states_bias) *
  input_hidden_states_scale`` to float32; ``ZayaDecoderLayer.forward`` keeps ``residual`` in float32 (only the norms'
  inputs are cast, ``residual.to(dtype=self.input_layernorm.weight.dtype)``) and ``ZayaResidualScaling.forward``
  adds the model-dtype branch output to the float32 residual, a float32 sum. So the layer input (held by the model
  loop's ``hidden_states``) and the residual take 4 bytes, the embeddings the model dtype (ergo's fp32 stream keeps
  its embeddings in fp32 too: ``transformers_families.FP32_STREAM``).
* **The router states handed from layer to layer.** ``ZayaRouter.forward`` returns ``router_hidden_states_next =
  router_hidden_states[:, -seq_length:].clone()`` (tokens × ``router_hidden_size``, the model dtype), which
  ``ZayaModel.forward``'s loop passes to the next layer (``prev_router_hidden_states``): inside a layer's MoE block
  after the first, the previous layer's clone and the layer's own are alive.

What the generic reading already has right: the CCA projection's convolutions and the QK norm (their tensors are
q/k-sized, below the MoE block's peak), the grouped-mm experts (``integrations/moe.py``), the parameters (exact).
"""

from __future__ import annotations

import json
from typing import Any

from ...sources.generic_tensors import GenericTensors
from ...spec import ModelSpec

__all__ = ["MODEL_DTYPE_EMBEDDINGS", "router_state_bytes", "zaya_config"]

# FP32_STREAM families whose embeddings stay in the model dtype (ZayaModel.forward casts the stream to float32 after
# the embedding, ``inputs_embeds`` keeps the model dtype)
MODEL_DTYPE_EMBEDDINGS = ("zaya",)


def zaya_config(spec: ModelSpec) -> dict[str, Any]:
    """The config the generic path read ``spec`` from (ZayaConfig's ``router_hidden_size``, ``cca_time0/1``)."""
    source = spec.tensor_source
    return json.loads(source.config_json) if isinstance(source, GenericTensors) else {}


def router_state_bytes(spec: ModelSpec, tokens: int, dt: int) -> int:
    """Bytes of the router states alive in a ZAYA MoE block at its peak (0 for other families): the layer's own
    ``router_hidden_states_next`` clone, and from the second MoE layer on the previous layer's one beside it."""
    if spec.family != "zaya":
        return 0
    moe_layers = sum(layer.moe is not None for layer in spec.layers)
    held = min(moe_layers, 2)
    return held * tokens * int(zaya_config(spec).get("router_hidden_size") or 0) * dt
