"""DeepSeek-V4 (``deepseek_v4``), read off transformers 5.25's ``configuration_deepseek_v4.py`` and
``modeling_deepseek_v4.py``.

* **Attention**: one K=V head of ``head_dim`` (512) over a sliding window of ``sliding_window`` (128) tokens in every
  layer, queries through a ``q_lora_rank`` pair, a per-head sink and a grouped output projection (``o_groups`` ×
  ``o_lora_rank``). ``layer_types`` adds a compressor: ``compressed_sparse_attention`` (CSA) pools every
  ``compress_rates[CSA]`` (4) tokens into one more cached entry and picks ``index_topk`` of them with a lightning
  indexer (``index_n_heads`` × ``index_head_dim``); ``heavily_compressed_attention`` (HCA) pools every 128, with no
  indexer; ``sliding_attention`` has no compressor. A file may give the schedule as ``compress_ratios`` (0 / 4 / 128
  per layer) instead; without either, transformers' default is two HCA layers then CSA/HCA alternating.
* **MoE in every layer**: ``n_routed_experts`` fused experts of ``moe_intermediate_size``, top
  ``num_experts_per_tok``, a bias-free router (the first ``mlp_layer_types`` "hash_moe" layers route through a frozen
  token table, a buffer) and one shared expert of the same width (``n_shared_experts`` does not change its size).
* **Hyper-connections**: the residual is ``hc_mult`` streams; each block mixes them in and out twice (attention and
  MoE), each with a ((2 + n)·n, n·hidden) projection, a bias of (2 + n)·n and three scales; the model collapses
  them at the end (an (n, n·hidden) projection, n biases, one scale). The multi-token-prediction layer is not built.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ...errors import ConfigError
from ...spec import AttentionSpec, LayerSpec, ModelSpec, MoESpec
from .common import Builder, Config, build_model, get_int, layer_count
from .dense_recent import with_defaults

__all__ = ["BUILDERS"]

_DEFAULTS: dict[str, Any] = {  # DeepseekV4Config's
    "vocab_size": 129280, "hidden_size": 4096, "moe_intermediate_size": 2048, "num_hidden_layers": 43,
    "num_attention_heads": 64, "head_dim": 512, "q_lora_rank": 1024, "num_experts_per_tok": 6,
    "n_routed_experts": 256, "max_position_embeddings": 1048576, "hc_mult": 4, "sliding_window": 128, "o_groups": 8,
    "o_lora_rank": 1024, "index_n_heads": 64, "index_head_dim": 128, "index_topk": 512,
}
_CSA, _HCA, _SWA = "compressed_sparse_attention", "heavily_compressed_attention", "sliding_attention"
_RATIO_TYPES = {0: _SWA, 4: _CSA, 128: _HCA}


def _layer_types(cfg: Config, n: int) -> list[str]:
    """``layer_types``, else the legacy per-layer ``compress_ratios``, else transformers' default schedule."""
    types = cfg.get("layer_types")
    if types is None and cfg.get("compress_ratios") is not None:
        ratios = cfg["compress_ratios"]
        if not isinstance(ratios, list) or any(r not in _RATIO_TYPES for r in ratios):
            raise ConfigError(f"config.json 'compress_ratios' = {str(ratios)[:80]} must list 0, 4 or 128 per layer")
        types = [_RATIO_TYPES[r] for r in ratios]
    if types is None:
        types = [_HCA] * min(n, 2) + [_CSA if i % 2 else _HCA for i in range(max(n - 2, 0))]
    if not isinstance(types, list) or len(types) < n or set(types[:n]) - {_CSA, _HCA, _SWA}:
        raise ConfigError(f"config.json 'layer_types' must list {n} entries of {_SWA!r}, {_CSA!r} or {_HCA!r}")
    return [str(t) for t in types[:n]]


def _rates(cfg: Config) -> dict[str, int]:
    rates = {_CSA: 4, _HCA: 128}
    given = cfg.get("compress_rates")
    if isinstance(given, dict):
        rates.update({k: get_int(given, k) for k in given if k in rates})
    for key, kind in (("compress_rate_csa", _CSA), ("compress_rate_hca", _HCA)):
        if cfg.get(key) is not None:
            rates[kind] = get_int(cfg, key)
    return rates


def _hc_extra(h: int, n: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    mix = (2 + n) * n
    return tuple(item for hc in ("attn_hc", "ffn_hc")
                 for item in ((f"{hc}.fn", (mix, n * h)), (f"{hc}.base", (mix,)), (f"{hc}.scale", (3,))))


def _deepseek_v4(raw: Config, name: str) -> ModelSpec:
    cfg = with_defaults(raw, _DEFAULTS)
    h, n = get_int(cfg, "hidden_size"), layer_count(cfg)
    heads, d = get_int(cfg, "num_attention_heads"), get_int(cfg, "head_dim")
    groups = get_int(cfg, "o_groups")
    if heads * d % groups:
        raise ConfigError(f"config.json 'o_groups' = {groups} must divide num_attention_heads × head_dim = {heads * d}")
    rope = cfg.get("qk_rope_head_dim")
    base = AttentionSpec(heads, 1, d, sliding_window=get_int(cfg, "sliding_window"), sinks=True, single_kv=True,
                         q_lora_rank=get_int(cfg, "q_lora_rank"), o_groups=groups,
                         o_lora_rank=get_int(cfg, "o_lora_rank"),
                         rope_dim=get_int(cfg, "qk_rope_head_dim") if rope is not None else d // 8)
    rates = _rates(cfg)
    csa = replace(base, compress_rate=rates[_CSA], index_heads=get_int(cfg, "index_n_heads"),
                  index_head_dim=get_int(cfg, "index_head_dim"), index_topk=get_int(cfg, "index_topk"))
    hca = replace(base, compress_rate=rates[_HCA])
    moe = MoESpec(get_int(cfg, "n_routed_experts"), get_int(cfg, "num_experts_per_tok"),
                  get_int(cfg, "moe_intermediate_size"), num_shared_experts=1, score_correction_bias=True,
                  norm_topk_prob=True)
    extra = _hc_extra(h, get_int(cfg, "hc_mult", maximum=64))
    layers = []
    for kind in _layer_types(cfg, n):
        attn = csa if kind == _CSA else hca if kind == _HCA else base
        layers.append(LayerSpec("attention", attn, moe=moe, extra=extra))
    hc = get_int(cfg, "hc_mult", maximum=64)
    model_extra = (("model.hc_head.hc_fn", (hc, hc * h)), ("model.hc_head.hc_base", (hc,)),
                   ("model.hc_head.hc_scale", (1,)))
    return build_model(cfg, name, h, layers, extra=model_extra,
                       max_pos=get_int(cfg, "max_position_embeddings", maximum=2**31 - 1))


BUILDERS: dict[str, Builder] = {
    "deepseek_v4": _deepseek_v4,
}
