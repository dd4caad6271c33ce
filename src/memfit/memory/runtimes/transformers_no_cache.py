"""Whether a transformers prefill leaves a cache: the BERT family's base models make none unless their config is a
decoder's. transformers 5.25 ``BertModel.forward`` (models/bert/modeling_bert.py) and its copies
(``RobertaModel``, ``CamembertModel``, ``XLMRobertaModel``, ``XLMRobertaXLModel``, ``RobertaPreLayerNormModel``,
``Data2VecTextModel``, ``ErnieModel``, ``ElectraModel``, ``MegatronBertModel``, ``RemBertModel``, ``RoCBertModel``,
``RoFormerModel``, ``BertGenerationEncoder``, ``XmodModel``)::

    if self.config.is_decoder:
        use_cache = use_cache if use_cache is not None else self.config.use_cache
    else:
        use_cache = False

so ``model(ids, use_cache=True)`` on a config with ``is_decoder`` false (every one of these configs' default)
makes no ``DynamicCache``: its layers' keys and values go with the layer, as in a forward."""

from __future__ import annotations

import json
from functools import lru_cache

from ...spec import ModelSpec
from ...workload import Workload

__all__ = ["DECODER_ONLY_CACHE", "prefill_keeps_cache"]

# the model types whose base model caches only as a decoder (the module docstring)
DECODER_ONLY_CACHE = (
    "bert",
    "roberta",
    "camembert",
    "xlm-roberta",
    "xlm-roberta-xl",
    "roberta-prelayernorm",
    "data2vec-text",
    "ernie",
    "electra",
    "megatron-bert",
    "rembert",
    "roc_bert",
    "roformer",
    "bert-generation",
    "xmod",
)


@lru_cache(maxsize=64)
def _is_decoder(config_json: str) -> bool:
    """The config's ``is_decoder`` (PreTrainedConfig's default False); True where the config cannot be read."""
    try:
        value = json.loads(config_json)
    except ValueError:
        return True
    return bool(value.get("is_decoder", False)) if isinstance(value, dict) else True


def prefill_keeps_cache(spec: ModelSpec, wl: Workload) -> bool:
    """Whether the prompt's forward of ``wl`` leaves its keys and values in a cache: not for a ``forward``
    (``use_cache=False``), nor for a prefill of a :data:`DECODER_ONLY_CACHE` type whose config is no decoder's."""
    if wl.task == "forward":
        return False
    if wl.task != "prefill" or spec.family not in DECODER_ONLY_CACHE:
        return True
    config_json = getattr(spec.tensor_source, "config_json", None)
    return _is_decoder(config_json) if isinstance(config_json, str) else True
