"""The first layer of a parallel block under LoRA without checkpointing: its input needs no gradient.

PEFT freezes the embedding, and only gradient checkpointing or kbit preparation calls
``enable_input_require_grads`` (transformers 5.25 modeling_utils.py ``PreTrainedModel.enable_input_require_grads``),
so the embedding's output needs no gradient. In a parallel block (modeling_gptj.py ``GPTJBlock.forward``, as
modeling_phi.py ``PhiDecoderLayer`` and modeling_codegen.py ``CodeGenBlock``) attention and MLP read one norm of
that input: the frozen LayerNorm saves nothing (autograd records no node for an op none of whose inputs needs a
gradient) and an MLP without adapters saves nothing; only the adapted attention keeps its tensors. The simulator's
trace of gpt-j-6b-l2 (tests/data/simulated/train-sweep-dev.jsonl) shows it: layer 0 keeps 304 MiB, layer 1 624.
"""

from __future__ import annotations

from dataclasses import replace

from ..spec import LayerSpec, ModelSpec
from .activations import LayerActivations, Precision, _mlp, _norm
from .shared_norm import shared_norm_input

MLP_KINDS = frozenset({"ffn_gate", "ffn_up", "ffn_down"})


def first_layer_no_grad(p: Precision, layer: LayerSpec, layernorm: bool, checkpointed: bool) -> bool:
    """The first layer is a parallel LayerNorm block whose plain MLP has no adapter, under LoRA on a 16- or 32-bit
    model without autocast and without full checkpointing."""
    return (not p.full and bool(p.lora_kinds) and not p.quantized and not p.embed_out_bytes and not p.amp
            and not checkpointed and layernorm and layer.norm_layout == "parallel"
            and layer.attention is not None and layer.mlp is not None and layer.moe is None
            and layer.mlp.kind != "gated" and not (p.lora_kinds & MLP_KINDS))


def first_layer_saved(spec: ModelSpec, p: Precision, layers: tuple[LayerActivations, ...], tokens: int
                      ) -> tuple[LayerActivations, ...]:
    """``layers`` with the first one's norm and MLP keeping nothing where its input needs no gradient."""
    if not layers or not first_layer_no_grad(p, spec.layers[0], spec.norm != "rms", not p.kv_cache):
        return layers
    layer, h = spec.layers[0], spec.hidden_size
    assert layer.mlp is not None
    n_saved, out_b = _norm(h, p.resid_bytes, p, False, True)
    norms = n_saved * layer.norms - shared_norm_input(layer, p.resid_bytes * h, True)
    relief = tokens * (norms + _mlp(layer.mlp, h, out_b, p)[0])
    return (replace(layers[0], saved=layers[0].saved - relief), *layers[1:])
