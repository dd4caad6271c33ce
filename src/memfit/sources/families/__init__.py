"""The family builders, one ``config.json`` → ``ModelSpec`` function per ``model_type``, grouped by kind.

Every builder reads the keys transformers reads for that family, with transformers' defaults where a real
config may leave a key out, so the tensor inventory equals what ``AutoModelForCausalLM.from_config`` builds
(checked on the meta device by the tests).
"""

from __future__ import annotations

from . import (
    classic,
    deepseek_v4,
    dense,
    dense_recent,
    gemma3n,
    gemma4,
    gemma4_unified,
    hybrid_linear,
    hybrid_ssm,
    kimi_linear,
    llama4,
    mimo,
    mla,
    moe,
    moe_recent,
    ssm,
    vision,
    vision_lm,
    vision_mistral,
)
from .common import Builder

__all__ = ["BUILDERS", "DEFERRED"]

# model_type -> a predicate on the config: true when the family's builder leaves that config to the generic path
DEFERRED = hybrid_ssm.DEFERRED

BUILDERS: dict[str, Builder] = {}
for _module in (dense, dense_recent, moe, moe_recent, classic, mla, ssm, vision, vision_mistral, hybrid_linear,
                llama4, hybrid_ssm, kimi_linear, gemma3n, gemma4, vision_lm, deepseek_v4,
                gemma4_unified, mimo):
    for _key, _builder in _module.BUILDERS.items():
        if _key in BUILDERS:
            raise RuntimeError(f"model_type {_key!r} has two builders")  # pragma: no cover - a coding error
        BUILDERS[_key] = _builder
