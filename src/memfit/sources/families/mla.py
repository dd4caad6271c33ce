"""DeepSeek: v1 MoE (remote code), v2/v3 with multi-head latent attention, v3.2 with sparse attention's indexer."""

from __future__ import annotations

from dataclasses import replace

from ...errors import ConfigError
from ...spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec
from .common import Builder, Config, act, build_model, decoder, get_bool, get_int, get_opt_int, layer_count

__all__ = ["BUILDERS"]


def _deepseek(cfg: Config, name: str) -> ModelSpec:
    """DeepSeek-MoE (``model_type: deepseek``, remote code ``modeling_deepseek.py``): a layer is MoE when
    ``n_routed_experts`` is set, its index ≥ ``first_k_dense_replace`` and divisible by ``moe_layer_freq``;
    shared experts form one MLP of ``n_shared_experts × moe_intermediate_size``; the router is E × hidden."""
    bias = get_bool(cfg, "attention_bias", False)
    first = get_int(cfg, "first_k_dense_replace", 0, minimum=0)
    freq = get_int(cfg, "moe_layer_freq", 1)
    experts = get_opt_int(cfg, "n_routed_experts")
    moe = None if experts is None else MoESpec(
        experts, get_int(cfg, "num_experts_per_tok"), get_int(cfg, "moe_intermediate_size"),
        num_shared_experts=get_int(cfg, "n_shared_experts", 0, minimum=0),
        norm_topk_prob=get_bool(cfg, "norm_topk_prob", False))
    return decoder(cfg, name, qkv_bias=bias, o_bias=bias,
                    moe_at=lambda i: moe if moe is not None and i >= first and i % freq == 0 else None)


def _deepseek_mla(cfg: Config, name: str, v3: bool, indexer: bool = False, typed: bool = False) -> ModelSpec:
    h = get_int(cfg, "hidden_size")
    n_layers = layer_count(cfg)
    heads = get_int(cfg, "num_attention_heads")
    bias = get_bool(cfg, "attention_bias", False)
    nope, rope = get_int(cfg, "qk_nope_head_dim", 128), get_int(cfg, "qk_rope_head_dim", 64)
    q_lora = cfg.get("q_lora_rank", 1536)  # transformers' default when the key is absent; null = no q LoRA
    attn = AttentionSpec(heads, heads, nope + rope, v_head_dim=get_int(cfg, "v_head_dim", 128), qkv_bias=bias,
                         o_bias=bias, q_lora_rank=None if q_lora is None else get_int(cfg, "q_lora_rank", 1536),
                         kv_lora_rank=get_int(cfg, "kv_lora_rank", 512), qk_rope_head_dim=rope,
                         qk_nope_head_dim=nope)
    if indexer:
        attn = replace(attn, index_heads=get_int(cfg, "index_n_heads", 64),
                       index_head_dim=get_int(cfg, "index_head_dim", 128), index_topk=get_int(cfg, "index_topk", 2048))
    first = get_int(cfg, "first_k_dense_replace", 3 if v3 else 0, minimum=0)
    moe = MoESpec(get_int(cfg, "n_routed_experts", 256 if v3 else 64),
                  get_int(cfg, "num_experts_per_tok", 8 if v3 else None),
                  get_int(cfg, "moe_intermediate_size", 2048 if v3 else 1407),
                  num_shared_experts=get_int(cfg, "n_shared_experts", 1 if v3 else 2, minimum=0),
                  score_correction_bias=v3, norm_topk_prob=get_bool(cfg, "norm_topk_prob", v3),
                  num_groups=get_int(cfg, "n_group", 8 if v3 else 1), topk_group=get_int(cfg, "topk_group",
                                                                                         4 if v3 else 1))
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "gated", get_bool(cfg, "mlp_bias", False) and not v3,
                  act(cfg))
    dense, sparse = LayerSpec("attention", attn, mlp=mlp), LayerSpec("attention", attn, moe=moe)
    layers = [sparse if i >= first else dense for i in range(n_layers)]
    if indexer or typed:
        layers = [sparse if kind == "sparse" else dense for kind in _mlp_layer_types(cfg, n_layers, first)]
    if indexer:  # GLM-5's "shared" layers build no indexer and reuse the previous full layer's top-k (index_topk kept:
        # they still build the top-k mask from it, GlmMoeDsaAttention.forward's ``index_mask``)
        bare = replace(attn, index_heads=0, index_head_dim=0)
        layers = [replace(lay, attention=bare) if kind == "shared" else lay
                  for lay, kind in zip(layers, _indexer_types(cfg, n_layers), strict=True)]
    mtp = get_int(cfg, "num_nextn_predict_layers", 0, minimum=0) if v3 else 0
    return build_model(cfg, name, h, layers, mtp_layers=mtp)


def _mlp_layer_types(cfg: Config, n_layers: int, first: int) -> list[str]:
    """``mlp_layer_types`` ("dense" / "sparse" per layer) when given, else ``first_k_dense_replace`` dense layers."""
    types = cfg.get("mlp_layer_types")
    if types is None:
        return ["dense" if i < first else "sparse" for i in range(n_layers)]
    if not isinstance(types, list) or len(types) != n_layers or not set(types) <= {"dense", "sparse"}:
        raise ConfigError(f"config.json 'mlp_layer_types' = {str(types)[:80]} must list 'dense' or 'sparse' for each "
                          f"of the {n_layers} layers")
    return [str(t) for t in types]


def _indexer_types(cfg: Config, n_layers: int) -> list[str]:
    """GLM-5's per-layer indexer mode, as transformers 5.25 ``GlmMoeDsaConfig.__post_init__`` derives it:
    ``indexer_types``, else ``index_topk_pattern`` ("F"/"S"), else full where ``max(i - offset + 1, 0) % freq == 0``
    (``index_topk_freq``, default 1; ``index_skip_topk_offset``, default 2); DeepSeek-V3.2 has no such field: all
    full."""
    types = cfg.get("indexer_types")
    pattern = cfg.get("index_topk_pattern")
    if types is None and isinstance(pattern, str | list):
        types = [{"F": "full", "S": "shared"}.get(c, c) for c in pattern]
    if types is None:
        freq = max(get_int(cfg, "index_topk_freq", 1), 1)
        offset = get_int(cfg, "index_skip_topk_offset", 2, minimum=0)
        types = ["full" if max(i - offset + 1, 0) % freq == 0 else "shared" for i in range(n_layers)]
    if not isinstance(types, list) or len(types) != n_layers or not set(types) <= {"full", "shared"}:
        raise ConfigError(f"config.json 'indexer_types' = {str(types)[:80]} must list 'full' or 'shared' for each "
                          f"of the {n_layers} layers")
    return [str(t) for t in types]


def _glm_moe_dsa(cfg: Config, name: str) -> ModelSpec:
    """GLM-5 (transformers 5.25 ``glm_moe_dsa``, modular_glm_moe_dsa.py): DeepSeek-V3.2's MLA, indexer and MoE
    (``GlmMoeDsaConfig(DeepseekV32Config)``, the decoder layer and model V3.2's), with ``GlmMoeDsaConfig``'s defaults
    (32 indexer heads, one expert group, 3 dense layers then sparse) and cross-layer top-k sharing: a "shared"
    layer builds no indexer (``GlmMoeDsaAttention.__init__``)."""
    defaults = {"index_n_heads": 32, "n_group": 1, "topk_group": 1, "first_k_dense_replace": 3}
    merged = {**cfg, **{k: v for k, v in defaults.items() if cfg.get(k) is None}}
    return _deepseek_mla(merged, name, v3=True, indexer=True)


BUILDERS: dict[str, Builder] = {
    "deepseek": _deepseek,
    "deepseek_v2": lambda cfg, name: _deepseek_mla(cfg, name, v3=False),
    "deepseek_v3": lambda cfg, name: _deepseek_mla(cfg, name, v3=True),
    # DeepSeek-V3.2: V3's MLA and MoE with DeepSeek sparse attention's indexer in every layer
    "deepseek_v32": lambda cfg, name: _deepseek_mla(cfg, name, v3=True, indexer=True),
    # GLM-4.7-Flash (transformers 5.25 ``glm4_moe_lite``): DeepSeek-V3's MLA and its MoE (fp32 sigmoid router with
    # e_score_correction_bias, group-limited top-k, shared experts after the routed ones), dense/sparse per
    # ``mlp_layer_types``
    "glm4_moe_lite": lambda cfg, name: _deepseek_mla(cfg, name, v3=True, typed=True),
    "glm_moe_dsa": _glm_moe_dsa,
}
