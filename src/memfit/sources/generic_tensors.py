"""The parameter tensors of a generic-path spec and where they came from (the label is memfit.sources.generic's).

With transformers installed the tensors are the ones it builds on the meta device (exact names and shapes;
each is given a llama.cpp-style kind and a breakdown group from its name, so format rules apply). Without
it they are the standard layout's (``memfit.inventory.standard_inventory``), its feed-forward part sized to
an exact total when a checkpoint's headers or a catalog row give one, and otherwise labelled approximate.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..inventory import Group, Tensor, standard_inventory
from ..spec import ModelSpec
from .meta_build import MetaBuild, config_key, meta_build, refused, shipped

__all__ = ["REFERENCE_KEY", "GenericTensors", "build", "build_key", "reference_total"]

REFERENCE_KEY = "_memfit_reference_parameters"  # a catalog row's measured count, carried in the config text


@dataclass(frozen=True)
class GenericTensors:
    """A generic-path spec's ``tensor_source``: the config as canonical JSON text, built when first asked."""

    config_json: str

    def tensors(self, spec: ModelSpec) -> tuple[Tensor, ...]:
        """The tensors transformers builds; else the standard layout's, its feed-forward part sized to a
        reference total when the checkpoint or the catalog gives one."""
        built = build(spec)
        if built.ok:
            return tuple(_tensor(name, shape) for name, shape in built.tensors)
        tensors = standard_inventory(spec)
        reference = reference_total(spec)
        fitted = _fit_feed_forward(tensors, reference[0]) if reference else None
        return tensors if fitted is None else fitted


_LAYER = re.compile(r"(?:^|\.)(?:layers|h|blocks|block|layer|decoder_layers)\.(\d+)\.")
_VISION = ("vision", "visual", "image", "audio", "multi_modal_projector", "mm_projector", "patch_embed", "vqmodel",
           "speech", "video")
_SSM = ("linear_attn", "mamba", "mixer", "ssm", "conv", "recurrent", "time_mix", "short_conv", "rwkv")
_ATTN = ("attn", "attention")
_MLP = ("mlp", "ffn", "feed_forward", "fc1", "fc2", "c_fc", "dense_h_to_4h", "dense_4h_to_h")
# a BERT-type layer's feed-forward (transformers 5.25 models/bert/modeling_bert.py and its copies: BertLayer's
# ``intermediate`` = BertIntermediate, ``dense`` Linear(h, I) then ACT2FN; ``output`` = BertOutput, ``dense``
# Linear(I, h)); the attention's own ``attention.output.dense`` is taken as attention before this
_BERT_MLP = {"intermediate": "ffn_up", "output": "ffn_down"}
_ROLE = (  # module-name pieces → (attention kind, mlp kind); checked in order
    # multi-head latent attention's nn.Linears (transformers 5.25 modeling_longcat_flash.py LongcatFlashMLA, as
    # DeepseekV3Attention): q_a_proj, q_b_proj, kv_a_proj_with_mqa, kv_b_proj
    (("q_a_proj",), ("attn_q_a", "ffn_up")), (("q_b_proj",), ("attn_q_b", "ffn_up")),
    (("kv_a_proj",), ("attn_kv_a_mqa", "ffn_up")), (("kv_b_proj",), ("attn_kv_b", "ffn_up")),
    (("qkv", "query_key_value", "c_attn", "wqkv", "in_proj"), ("attn_qkv", "ffn_up")),
    (("gate_up",), ("attn_other", "ffn_up")),
    (("q_proj", "query", "wq"), ("attn_q", "ffn_up")),
    (("k_proj", "key", "wk"), ("attn_k", "ffn_up")),
    (("v_proj", "value", "wv"), ("attn_v", "ffn_up")),
    (("gate", "w1"), ("attn_other", "ffn_gate")),
    (("up", "w3", "fc1", "c_fc", "h_to_4h", "fc_in"), ("attn_other", "ffn_up")),
    (("o_proj", "out_proj", "dense", "c_proj", "wo", "down", "w2", "fc2", "4h_to_h", "fc_out"),
     ("attn_output", "ffn_down")),
)


def _role(module: str, attention: bool) -> str:
    for pieces, (attn_kind, mlp_kind) in _ROLE:
        if any(p in module for p in pieces):
            return attn_kind if attention else mlp_kind
    return "attn_other" if attention else "ffn_other"


def _in_layer(low: str, module: str, param: str) -> tuple[str, Group]:
    """(kind, group) of a tensor inside decoder block."""
    if "norm" in module or module.startswith("ln"):
        return ("attn_q_norm" if "q_norm" in module else "attn_k_norm" if "k_norm" in module else "norm"), (
            "attention" if module in ("q_norm", "k_norm") else "norms")
    if "shared_expert" in low:
        return ("ffn_gate_inp_shexp" if module.endswith("gate") and "proj" not in module
                else _role(module, False) + "_shexp"), "experts"
    if "expert" in low:
        return _role(param if module == "experts" else module, False) + "_exps", "experts"
    if module in ("gate", "router") or "router" in low:
        return "ffn_gate_inp", "experts"
    if any(s in low for s in _SSM):
        kinds = {"a_log": "ssm_a", "d": "ssm_d", "dt_bias": "ssm_dt"}
        return (kinds.get(param) or ("ssm_conv1d" if "conv" in module else "ssm_in" if "in_proj" in module
                                     else "ssm_out" if "out_proj" in module else "ssm_other")), "ssm"
    if any(s in low for s in _ATTN):
        return _role(module, True), "attention"
    if any(s in low for s in _MLP):
        return _role(module, False), "mlp"
    if module == "dense" and (parent := low.split(".")[-3]) in _BERT_MLP:
        return _BERT_MLP[parent], "mlp"
    return "other", "other"


def _tensor(name: str, shape: tuple[int, ...]) -> Tensor:
    """A built parameter as an inventory tensor: kind and group from its name."""
    low = name.lower()
    parts = low.split(".")
    param = parts[-1]
    module = parts[-2] if len(parts) > 1 else ""
    is_bias = param == "bias" or param.endswith("_bias")
    m = _LAYER.search(low)
    layer = int(m.group(1)) if m else None
    kind: str
    group: Group
    if any(v in low for v in _VISION):
        kind, group, layer = "vision", "vision", None
    elif layer is not None:
        kind, group = _in_layer(low, module, param)
    elif "norm" in module or module.startswith("ln"):
        kind, group = "output_norm", "norms"
    elif low.startswith(("lm_head", "embed_out", "output.")) or module in ("lm_head", "embed_out"):
        kind, group = "output", "lm_head"
    elif any(p in low for p in ("position", "wpe", "pos_emb")):
        kind, group = "pos_embd", "embeddings"
    elif "emb" in low or module in ("wte", "tok_embeddings"):
        kind, group = "token_embd", "embeddings"
    else:
        kind, group = "other", "other"
    return Tensor(name, shape, kind, group, layer, is_bias=is_bias)


def _fit_feed_forward(tensors: tuple[Tensor, ...], total: int) -> tuple[Tensor, ...] | None:
    """The standard layout with its feed-forward part (dense MLPs and experts, where layouts differ most: latent
    or ungated experts) resized so the whole equals ``total``: one tensor per layer, shared out in proportion to
    the layout's own feed-forward sizes. None when the rest alone exceeds ``total`` or there is no FFN."""
    ffn = [t for t in tensors if t.group in ("mlp", "experts") and t.layer is not None]
    rest = [t for t in tensors if not (t.group in ("mlp", "experts") and t.layer is not None)]
    budget = total - sum(t.numel for t in rest)
    weights: dict[tuple[int, bool], int] = {}
    for t in ffn:
        key = (t.layer or 0, t.group == "experts")
        weights[key] = weights.get(key, 0) + t.numel
    whole = sum(weights.values())
    if budget <= 0 or not whole:
        return None
    out = list(rest)
    given = 0
    for n, ((layer, experts), w) in enumerate(sorted(weights.items())):
        size = budget - given if n == len(weights) - 1 else budget * w // whole
        given += size
        name = f"model.layers.{layer}.{'experts' if experts else 'mlp'} (sized to the reference total)"
        out.append(Tensor(name, (1, 1, size) if experts else (1, size), "ffn_up_exps" if experts else "ffn_up",
                          "experts" if experts else "mlp", layer))
    return tuple(out)


def _config_json(spec: ModelSpec) -> str:
    source = spec.tensor_source
    return source.config_json if isinstance(source, GenericTensors) else "{}"


def reference_total(spec: ModelSpec) -> tuple[int, str] | None:
    """An exact total from outside transformers: the checkpoint's headers, or a catalog row's measured count."""
    if spec.stored is not None:
        return spec.stored.logical_parameters, f"the {spec.stored.container} headers"
    value = json.loads(_config_json(spec)).get(REFERENCE_KEY)
    if isinstance(value, dict) and isinstance(value.get("parameters"), int):
        return int(value["parameters"]), str(value.get("source") or "the catalog row")
    return None


def build_key(spec: ModelSpec) -> tuple[str, str, int, int]:
    """(table key, config text, approximate parameters, approximate modules): what ``meta_build`` is given."""
    approx = sum(t.numel for t in standard_inventory(spec))
    modules = sum(16 + (layer.moe.num_experts * 3 if layer.moe else 0) for layer in spec.layers)
    text = _config_json(spec)
    return config_key(text), text, approx, modules


def build(spec: ModelSpec) -> MetaBuild:
    """transformers' meta-device build of the spec's config: the shipped one for a catalog model (no torch), else
    built (cached), bounded by the standard layout's size; refused where the caller refuses builds."""
    done = shipped(_config_json(spec))
    if done is not None:
        return done
    if refused():
        return MetaBuild(error=refused())
    _, text, approx, modules = build_key(spec)
    return meta_build(text, approx, modules)
