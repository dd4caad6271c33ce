"""The reference count: the model transformers builds on the meta device (no memory, no weights).

Shared by the family tests: total, parameters per decoder block and the token embedding of the model
``AutoModelForCausalLM`` (or the family's multimodal class) builds from a config dict or config object.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

_BLOCK = re.compile(r"\.(?:layers|h|blocks)\.(\d+)\.")
# families whose checkpoint holds the vision tower too (memfit counts it): built with their multimodal class
MULTIMODAL = {"gemma3": "Gemma3ForConditionalGeneration", "mistral3": "Mistral3ForConditionalGeneration",
              "llava": "LlavaForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
              "qwen3_vl": "Qwen3VLForConditionalGeneration", "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration",
              "idefics3": "Idefics3ForConditionalGeneration", "mllama": "MllamaForConditionalGeneration",
              "llama4": "Llama4ForConditionalGeneration", "gemma4": "Gemma4ForConditionalGeneration",
              "gemma3n": "Gemma3nForConditionalGeneration"}
# token-table rows beyond the head's vocabulary that memfit lists as a separate tensor (mllama: 8 image-marker rows)
EXTRA_EMBED_ROWS = {"mllama": 8}


def build_meta(cfg: dict[str, Any] | Any, model_class: str | None = None) -> Any:
    import torch
    import transformers

    if isinstance(cfg, dict):
        cfg = {k: v for k, v in cfg.items() if k not in ("quantization_config", "auto_map")}
        conf = transformers.AutoConfig.for_model(cfg.pop("model_type"), **cfg)
    else:
        conf = cfg
    model_class = model_class or MULTIMODAL.get(conf.model_type)
    with torch.device("meta"):
        if model_class is not None:
            return getattr(transformers, model_class)(conf)
        return transformers.AutoModelForCausalLM.from_config(conf)


def reference_counts(cfg: dict[str, Any] | Any, model_class: str | None = None) -> tuple[int, dict[int, int], int]:
    """(total, parameters per decoder block, token-embedding numel); tied weights once."""
    model = build_meta(cfg, model_class)
    total, per_block, seen = 0, defaultdict(int), set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += p.numel()
        m = _BLOCK.search(name)
        if m and "vision" not in name and "visual" not in name:
            per_block[int(m.group(1))] += p.numel()
    return total, dict(per_block), model.get_input_embeddings().weight.numel()


def assert_counts_match(cfg: dict[str, Any], reference: Any = None, model_class: str | None = None) -> None:
    """memfit on ``cfg`` equals transformers on ``reference`` (default: the same dict): the total, every decoder
    block, the token embedding, and the groups add up to the total."""
    from memfit.inventory import count_parameters, inventory, layer_parameters
    from memfit.sources.hf_config import spec_from_config

    total, per_block, embed = reference_counts(cfg if reference is None else reference, model_class)
    spec = spec_from_config(cfg)
    count = count_parameters(spec)
    assert count.total == total
    assert {i: layer_parameters(spec, i) for i in range(spec.num_layers)} == per_block
    (token_embd,) = [t for t in inventory(spec) if t.kind == "token_embd"]
    assert token_embd.numel + EXTRA_EMBED_ROWS.get(spec.family, 0) * spec.hidden_size == embed
    assert sum(count.by_group.values()) == count.total
