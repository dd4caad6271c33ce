"""GPT-2 / GPT-J / GPT-NeoX / Falcon / DBRX: other key names, fused projections, LayerNorm with bias."""

from __future__ import annotations

from collections.abc import Sequence

from ...errors import ConfigError
from ...spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec
from .common import (
    MAX_LAYERS,
    Builder,
    Config,
    act,
    build_model,
    dropouts,
    get_bool,
    get_int,
    get_opt_int,
    head_dim,
    int_alias,
    kv_heads,
    layer_count,
    rope_fraction,
    sub_config,
)

__all__ = ["BUILDERS"]


def _dims(cfg: Config, hidden: Sequence[str], layers: Sequence[str], heads: Sequence[str]) -> tuple[int, int, int]:
    """(hidden size, layers, heads) under a family's own key names, heads dividing the hidden size."""
    h = int_alias(cfg, hidden)
    n_layers = int_alias(cfg, layers, maximum=MAX_LAYERS)
    n_heads = int_alias(cfg, heads)
    if h % n_heads:
        raise ConfigError(f"config.json {hidden[0]} = {h} is not divisible by {heads[0]} = {n_heads}")
    return h, n_layers, n_heads


_GPT_KEYS = (("n_embd", "hidden_size"), ("n_layer", "num_hidden_layers"), ("n_head", "num_attention_heads"))


def _gpt2(cfg: Config, name: str) -> ModelSpec:
    h, n_layers, heads = _dims(cfg, *_GPT_KEYS)
    if get_bool(cfg, "add_cross_attention", False):
        raise ConfigError("config.json 'add_cross_attention' is true: memfit models GPT-2 as a decoder only; "
                          "set it to false")
    inner = int_alias(cfg, ("n_inner",), 4 * h)
    attn = AttentionSpec(heads, heads, h // heads, qkv_bias=True, o_bias=True, fused_qkv=True)
    mlp = MLPSpec(inner, "plain", True, act(cfg, "gelu_new"))
    layer = LayerSpec("attention", attn, mlp=mlp, norms=2)
    return build_model(cfg, name, h, [layer] * n_layers, tie=True, norm="layernorm", position="learned",
                  max_pos=int_alias(cfg, ("n_positions", "max_position_embeddings")),
                  **dropouts(cfg, "embd_pdrop", "resid_pdrop", "attn_pdrop", 0.1))  # GPT2Config defaults 0.1


def _openai_gpt(cfg: Config, name: str) -> ModelSpec:
    """OpenAI GPT (transformers 5.25 ``models/openai/modeling_openai.py``): GPT-2's Conv1D blocks with biases
    (``c_attn`` fused q/k/v, ``c_proj``, ``c_fc``), but post-norm (``Block.forward``: ``n = self.ln_1(x + a)``,
    ``h = self.ln_2(n + m)``), no final norm (``OpenAIGPTModel`` has no ``ln_f``), an MLP of 4 × n_embd whose
    activation is ``ACT_FNS[config.afn]`` (``"gelu"`` is ``gelu_new``), learned positions (``positions_embed``) and
    the embedding, residual and attention dropouts of ``embd_pdrop`` / ``resid_pdrop`` / ``attn_pdrop``."""
    h, n_layers, heads = _dims(cfg, *_GPT_KEYS)
    attn = AttentionSpec(heads, heads, h // heads, qkv_bias=True, o_bias=True, fused_qkv=True)
    afn = str(cfg.get("afn") or "gelu")
    mlp = MLPSpec(4 * h, "plain", True, {"gelu": "gelu_new", "swish": "silu"}.get(afn, afn))
    layer = LayerSpec("attention", attn, mlp=mlp, norms=2, norm_layout="post")
    return build_model(cfg, name, h, [layer] * n_layers, tie=True, norm="layernorm", position="learned",
                       max_pos=int_alias(cfg, ("n_positions", "max_position_embeddings")), final_norm=False,
                       **dropouts(cfg, "embd_pdrop", "resid_pdrop", "attn_pdrop", 0.1))  # OpenAIGPTConfig: 0.1


def _gptj(cfg: Config, name: str) -> ModelSpec:
    h, n_layers, heads = _dims(cfg, *_GPT_KEYS)
    attn = AttentionSpec(heads, heads, h // heads, rope_dim=get_opt_int(cfg, "rotary_dim"))
    mlp = MLPSpec(int_alias(cfg, ("n_inner",), 4 * h), "plain", True, act(cfg, "gelu_new"))
    layer = LayerSpec("attention", attn, mlp=mlp, norms=1, norm_layout="parallel")
    return build_model(cfg, name, h, [layer] * n_layers, norm="layernorm", lm_head_bias=True,
                  max_pos=int_alias(cfg, ("n_positions", "max_position_embeddings"), 0, minimum=0))


def _gpt_neox(cfg: Config, name: str) -> ModelSpec:
    h, heads = get_int(cfg, "hidden_size"), get_int(cfg, "num_attention_heads")
    bias = get_bool(cfg, "attention_bias", True)
    hd = head_dim(cfg, h, heads)
    rope = int(hd * rope_fraction(cfg, "rotary_pct", 0.25))
    attn = AttentionSpec(heads, heads, hd, qkv_bias=bias, o_bias=bias, fused_qkv=True, rope_dim=rope)
    mlp = MLPSpec(get_int(cfg, "intermediate_size"), "plain", True, act(cfg, "gelu"))
    # GPTNeoXLayer.forward with use_parallel_residual (GPTNeoXConfig's default): attention and MLP each norm the
    # layer's input with their own LayerNorm, their outputs added to it together (transformers 5.25)
    layout = "parallel" if get_bool(cfg, "use_parallel_residual", True) else "pre"
    layer = LayerSpec("attention", attn, mlp=mlp, norms=2, norm_layout=layout)  # type: ignore[arg-type]
    return build_model(cfg, name, h, [layer] * layer_count(cfg), norm="layernorm")


def _falcon(cfg: Config, name: str) -> ModelSpec:
    h, n_layers, heads = _dims(cfg, ("hidden_size", "n_embed"), ("num_hidden_layers", "n_layer"),
                               ("num_attention_heads", "n_head"))
    new_arch = get_bool(cfg, "new_decoder_architecture", False)
    # new architecture: grouped kv heads; else multi-query (one kv head) or plain multi-head
    multi_query = get_bool(cfg, "multi_query", True)
    kv = kv_heads(cfg, heads, "num_kv_heads") if new_arch else (1 if multi_query else heads)
    bias = get_bool(cfg, "bias", False)
    attn = AttentionSpec(heads, kv, h // heads, qkv_bias=bias, o_bias=bias, fused_qkv=True)
    mlp = MLPSpec(get_int(cfg, "ffn_hidden_size", 4 * h), "plain", bias, str(cfg.get("activation") or "gelu"))
    if not get_bool(cfg, "parallel_attn", True):
        norms, layout = 2, "pre"
    else:
        n_ln = get_opt_int(cfg, "num_ln_in_parallel_attn")
        norms = 2 if (n_ln if n_ln is not None else (2 if new_arch else 1)) == 2 else 1
        layout = "parallel"
    layer = LayerSpec("attention", attn, mlp=mlp, norms=norms, norm_layout=layout)  # type: ignore[arg-type]
    alibi = get_bool(cfg, "alibi", False)
    return build_model(cfg, name, h, [layer] * n_layers, tie=True, norm="layernorm",
                  position="alibi" if alibi else "rope")


def _dbrx(cfg: Config, name: str) -> ModelSpec:
    h, n_layers, heads = _dims(cfg, ("d_model", "hidden_size"), ("n_layers", "num_hidden_layers"),
                               ("n_heads", "num_attention_heads"))
    attn_cfg, ffn_cfg = sub_config(cfg, "attn_config"), sub_config(cfg, "ffn_config")
    kv = kv_heads(attn_cfg, heads, "kv_n_heads") if attn_cfg.get("kv_n_heads") is not None else 1
    attn = AttentionSpec(heads, kv, h // heads, fused_qkv=True)
    moe = MoESpec(get_int(ffn_cfg, "moe_num_experts", 4), get_int(ffn_cfg, "moe_top_k", 1),
                  get_int(ffn_cfg, "ffn_hidden_size", 3584), norm_topk_prob=True)
    layer = LayerSpec("attention", attn, moe=moe, norms=2)
    return build_model(cfg, name, h, [layer] * n_layers, norm="layernorm_nobias",
                  max_pos=int_alias(cfg, ("max_seq_len", "max_position_embeddings"), 0, minimum=0))


BUILDERS: dict[str, Builder] = {
    "dbrx": _dbrx,
    "falcon": _falcon,
    "gpt2": _gpt2,
    "gpt_neox": _gpt_neox,
    "gptj": _gptj,
    "openai-gpt": _openai_gpt,
}
