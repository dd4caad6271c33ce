"""Any causal LM: a ``ModelSpec`` from the standard config fields, for a ``model_type`` without a builder.

The layout (what the KV cache, activations and engine estimates need) comes from the fields most
transformers configs share, under their usual spellings: hidden size, layers, heads, kv heads, head_dim,
intermediate size, vocabulary, ``layer_types`` (or ``layers_block_type`` / ``hybrid_override_pattern`` /
Jamba's attention period), sliding windows, MoE and linear-attention / Mamba fields, in ``text_config``
for a multimodal model. Linear-attention, Mamba and short-convolution layers are described as a Mamba-2
mixer whose state has the same size (a recurrent state constant per sequence plus a convolution window).

The parameter tensors come from transformers' own build of the config on the meta device when it is
installed (exact, ``memfit.sources.meta_build``), else from a checkpoint's headers (exact total), else
from a catalog row's measured count, else from the standard layout (approximate). Every estimate on such
a spec carries ``details["architecture"] = "generic"`` and notes saying what could not be known.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Any

from ..errors import UnknownModelError
from ..inventory import count_parameters
from ..spec import AttentionSpec, LayerSpec, LinearAttentionSpec, MLPSpec, ModelSpec, MoESpec, SSMSpec
from .bart_family import bart_layout
from .bert_family import bert_layout
from .dots3_layers import dots3_attention
from .families.common import MAX_DIM, MAX_LAYERS, dropouts, get_int
from .generic_tensors import GenericTensors, build, reference_total
from .layer_kinds import layer_kinds
from .zamba_layers import NO_POSITIONS, zamba_layers

__all__ = ["generic_label", "generic_spec", "layout_assumptions"]

Config = Mapping[str, Any]

MAX_POSITIONS = 2**31  # Llama 4 Scout declares 10,485,760 positions; nothing declares billions
_HIDDEN = ("hidden_size", "n_embd", "d_model", "n_embed", "model_dim", "dim", "embed_dim", "emb_dim", "hidden_dim")
_LAYERS = ("num_hidden_layers", "n_layer", "num_layers", "n_layers", "decoder_layers", "num_decoder_layers")
_HEADS = ("num_attention_heads", "n_head", "num_heads", "n_heads", "decoder_attention_heads", "attention_heads",
          "num_decoder_attention_heads")  # ProphetNetConfig (transformers 5.25 configuration_prophetnet.py)
_KV = ("num_key_value_heads", "num_kv_heads", "n_kv_heads", "kv_n_heads", "num_key_value_groups")
_HEAD_DIM = ("head_dim", "attention_head_dim", "kv_channels", "d_head", "dim_head", "head_size")
_INTER = ("intermediate_size", "ffn_hidden_size", "n_inner", "d_ff", "ffn_dim", "decoder_ffn_dim", "dim_ff",
          "dff", "inner_size", "ffn_hidden_dim", "d_inner")  # d_inner: XLNetConfig's layer_1 width
_VOCAB = ("vocab_size", "n_vocab", "padded_vocab_size")
_POS = ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length", "n_ctx", "max_sequence_length")
_EXPERTS = ("num_experts", "num_local_experts", "n_routed_experts", "moe_num_experts", "num_routed_experts")
_TOP_K = ("num_experts_per_tok", "num_experts_per_token", "moe_top_k", "moe_k", "moe_topk", "top_k",
          "num_selected_experts")
# an expert's width; LongCat-Flash names it expert_ffn_hidden_size (transformers 5.25 modeling_longcat_flash.py
# LongcatFlashExperts: ``intermediate_dim = config.expert_ffn_hidden_size``; its ffn_hidden_size is the dense MLPs')
_EXPERT_INTER = ("moe_intermediate_size", "expert_intermediate_size", "moe_ffn_hidden_size", "expert_ffn_dim",
                 "expert_ffn_hidden_size")
_SHARED = ("n_shared_experts", "num_shared_experts", "moe_num_shared_experts")
_SHARED_INTER = ("shared_expert_intermediate_size", "shared_intermediate_size", "shared_experts_intermediate_size")
_NESTED = ("text_config", "language_config", "llm_config", "decoder", "decoder_config", "text_decoder",
           "global_config", "thinker_config")


_GATED_RELU2 = ("bitnet",)  # model types whose relu² MLP has a gate projection
# generic MLA types with DeepSeek sparse attention's indexer in every layer (transformers 5.25 modeling_axk2.py
# AXK2Attention.__init__: ``self.indexer = AXK2Indexer(config, layer_idx)``, index_n_heads × index_head_dim)
_INDEXED_MLA = ("axk2",)
# generic types whose attention norms q and k per head (transformers 5.25 modeling_minimax_m3_vl.py
# MiniMaxM3VLAttention: ``q_norm`` / ``k_norm`` = MiniMaxM3VLRMSNorm(head_dim) on the projections viewed per head) and
# rotates ``rotary_dim`` features of each head (``apply_rotary_pos_emb``: q_rot, q_pass, ``torch.cat``); and
# modeling_inkling.py InklingAttention (inkling_text): ``q_norm`` / ``k_norm`` = InklingRMSNorm(head_dim), fp32 inside
_HEAD_QK_NORM = ("minimax_m3_vl_text", "inkling_text")
# generic types whose ``layer_types`` entry "minimax_m3_sparse" builds a block-sparse lightning indexer
# (MiniMaxM3VLAttention.__init__; MiniMaxM3VLTextConfig's defaults: 4 heads of 128, blocks of 128, 16 kept)
_BLOCK_SPARSE = ("minimax_m3_vl_text",)
# model types whose MLP is fc1 -> activation -> fc2 although their config names its width intermediate_size
# (transformers 5.25 modeling_biogpt.py BioGptDecoderLayer: fc1, activation_fn, fc2; no gate)
_PLAIN_FC = ("biogpt",)
# model types whose gated MLP is half the config's intermediate_size wide, with biases (transformers 5.25
# modeling_recurrent_gemma.py RecurrentGemmaMlp: ``intermediate_size // 2``, gate/up/down ``bias=True``)
_HALF_GATED = ("recurrent_gemma",)
# model types whose o_proj has a bias whatever attention_bias says (RecurrentGemmaAttention: ``bias=True``)
_O_BIAS = ("recurrent_gemma",)


# model types whose blocks use nn.LayerNorm although the config has no eps field (transformers 5.25 modeling_opt.py
# OPTDecoderLayer: self_attn_layer_norm and final_layer_norm are nn.LayerNorm; OPTConfig declares no eps)
_LAYERNORM = ("opt",)
# model types whose norms are a LayerNorm with neither weight nor bias over an fp32 copy of the input, cast back,
# although the config has no eps field (transformers 5.25 modeling_olmo.py ``OlmoLayerNorm``: ``F.layer_norm(
# hidden_states.to(torch.float32), self.normalized_shape, None, None, eps=1e-5).to(orig_dtype)``)
_FP32_LAYERNORM = ("olmo",)
# model types whose norms are nn.LayerNorm with a bias only when ``norm_bias`` says so, under an eps field named
# ``norm_eps`` (transformers 5.25 modeling_modernbert_decoder.py: every norm is ``nn.LayerNorm(hidden, eps=norm_eps,
# bias=norm_bias)``), which the generic reader would take for an RMSNorm's
_LAYERNORM_NORM_BIAS = ("modernbert-decoder",)
# model types whose causal LM never ties its output projection to the embeddings although the config has no
# tie_word_embeddings field (transformers 5.25 modeling_inkling2_loop.py Inkling2LoopForCausalLM: ``_tied_weights_keys
# = {}``, "embed and unembed are separate tensors in the checkpoints, never tied"; lm_head has unpadded_vocab_size rows)
# and modeling_inkling.py InklingForCausalLM (inkling_text) and modeling_inkling2.py Inkling2ForCausalLM
# (inkling2_text): ``_tied_weights_keys = {}``, the same words
_NEVER_TIED = ("inkling2_loop_text", "inkling2_loop", "inkling_text", "inkling2_text", "inkling2")
# model types whose modelling code runs dropout in training under these config keys (embedding, residual,
# attention): transformers 5.25 modeling_opt.py OPTDecoderLayer.forward drops the attention output and fc2's output
# with config.dropout, OPTAttention passes config.attention_dropout to the kernel; OPTDecoder.forward drops nothing;
# modeling_biogpt.py BioGptModel.forward drops the embeddings (positions added) with hidden_dropout_prob, and
# BioGptDecoderLayer.forward the attention output and fc2's output with it, its attention attention_probs_dropout_prob
# modeling_xglm.py: XGLMModel.forward drops the scaled embeddings (positions added) with config.dropout,
# XGLMDecoderLayer the attention output and fc2's output with it, XGLMAttention its probabilities with attention_dropout
# modeling_xlnet.py: XLNetModel.forward drops the word embeddings (and the relative position embedding) with
# config.dropout, XLNetRelativeAttention its probabilities (rel_attn_core) and o's output (post_attention),
# XLNetFeedForward layer_1's activation and layer_2's output, all with the same config.dropout
_DROPOUT_KEYS = {"opt": ("", "dropout", "attention_dropout"),
                 "biogpt": ("hidden_dropout_prob", "hidden_dropout_prob", "attention_probs_dropout_prob"),
                 "xglm": ("dropout", "dropout", "attention_dropout"),
                 "xlnet": ("dropout", "dropout", "dropout")}
# model types whose blocks norm after each residual add, with no final norm and no rotary or learned positions
# (transformers 5.25 modeling_xlnet.py: XLNetRelativeAttention.post_attention ``layer_norm(attn_out + h)``,
# XLNetFeedForward ``layer_norm(output + inp)``; XLNetModel has no final norm and adds a relative positional
# encoding inside attention, memory.relative_attention)
_POST_NORM_RELATIVE = ("xlnet",)


def _first(cfg: Config, keys: Sequence[str]) -> str | None:
    """The first of ``keys`` that the config sets to a number."""
    return next((k for k in keys if isinstance(cfg.get(k), int | float) and not isinstance(cfg.get(k), bool)), None)


def _int(cfg: Config, keys: Sequence[str], default: int | None = None, *, minimum: int = 1,
         maximum: int = MAX_DIM) -> int | None:
    key = _first(cfg, keys)
    return default if key is None else get_int(cfg, key, minimum=minimum, maximum=maximum)


def _flag(cfg: Config, key: str, default: bool) -> bool:
    value = cfg.get(key)
    return value if isinstance(value, bool) else default


def _text_part(cfg: Config) -> Config:
    """The part of the config that describes the language model: the config itself, or a nested one."""
    if _first(cfg, _HIDDEN) and (_first(cfg, _LAYERS) or _listed_layers(cfg)):
        return cfg
    for key in _NESTED:
        sub = cfg.get(key)
        if isinstance(sub, Mapping):
            if isinstance(sub.get("text_config"), Mapping):
                sub = sub["text_config"]
            if _first(sub, _HIDDEN) and _first(sub, _LAYERS):
                return sub
    return cfg


def _missing(cfg: Config, keys: Sequence[str]) -> UnknownModelError:
    from .families import BUILDERS

    return UnknownModelError(
        f"model_type {cfg.get('model_type')!r} has no first-class builder in memfit (supported families: "
        f"{', '.join(sorted(BUILDERS))}), and its config.json has no {keys[0]!r} (nor "
        f"{', '.join(repr(k) for k in keys[1:4])}) for the generic path: add it, or pass the checkpoint's "
        "safetensors files")


def _required(cfg: Config, keys: Sequence[str], maximum: int = MAX_DIM) -> int:
    value = _int(cfg, keys, maximum=maximum)
    if value is None:
        raise _missing(cfg, keys)
    return value


def _attention(cfg: Config, hidden: int, notes: list[str]) -> AttentionSpec | None:
    heads = _int(cfg, _HEADS)
    if heads is None:
        return None
    if cfg.get("kv_lora_rank") is not None:  # multi-head latent attention (DeepSeek-V2/V3 and descendants)
        rope, nope = get_int(cfg, "qk_rope_head_dim", 64), get_int(cfg, "qk_nope_head_dim", 128)
        q_lora = None if cfg.get("q_lora_rank") is None else get_int(cfg, "q_lora_rank")
        indexed = cfg.get("model_type") in _INDEXED_MLA  # AXK2Attention builds an AXK2Indexer in every layer
        return AttentionSpec(heads, heads, rope + nope, v_head_dim=get_int(cfg, "v_head_dim", 128),
                             q_lora_rank=q_lora, kv_lora_rank=get_int(cfg, "kv_lora_rank"), qk_rope_head_dim=rope,
                             qk_nope_head_dim=nope, index_heads=get_int(cfg, "index_n_heads") if indexed else 0,
                             index_head_dim=get_int(cfg, "index_head_dim") if indexed else 0,
                             index_topk=get_int(cfg, "index_topk") if indexed else 0)
    kv = 1 if cfg.get("multi_query") is True else _int(cfg, _KV)
    if kv is None:
        kv = heads
        notes.append("no key/value head count in the config: assumed one per attention head")
    dim = _int(cfg, _HEAD_DIM) or max(1, hidden // heads)
    bias = _flag(cfg, "attention_bias", False) or _flag(cfg, "qkv_bias", False)
    o_bias = _flag(cfg, "attention_bias", False) or cfg.get("model_type") in _O_BIAS
    own = cfg.get("model_type") in _HEAD_QK_NORM  # q/k RMS-normed per head, RoPE on the first rotary_dim features
    return AttentionSpec(heads, min(kv, heads), dim, qkv_bias=bias, o_bias=o_bias, qk_norm="head" if own else "none",
                         rope_dim=_int(cfg, ("rotary_dim",)) if own else None)


# gated delta-nets whose output gate is projected after the delta rule (transformers 5.25 modeling_olmo_hybrid.py
# OlmoHybridGatedDeltaNet.forward: ``gate = self.g_proj(hidden_states)`` once the rule and the cache update are done)
_LATE_GATE = ("olmo_hybrid",)


def _gated_deltanet(cfg: Config) -> LinearAttentionSpec | None:
    """A gated delta-net's shape where the config spells Qwen3-Next's four ``linear_*`` head fields: transformers'
    gated delta-nets (``Qwen3NextGatedDeltaNet``, Qwen3.5's and its copies, e.g. 5.25 ``modeling_lara_mini.py``
    ``LaraMiniGatedDeltaNet``) all run ``torch_chunk_gated_delta_rule`` on the prompt, which the pool replays
    (``transformers_pool_mixers._gated_delta``); described as a Mamba-2 mixer it was replayed as a Mamba-2 scan."""
    keys = ("linear_num_key_heads", "linear_num_value_heads", "linear_key_head_dim", "linear_value_head_dim")
    values = [_int(cfg, (k,)) for k in keys]
    if any(v is None for v in values):
        return None
    nk, nv, kd, vd = (int(v or 0) for v in values)
    return LinearAttentionSpec(nk, nv, kd, vd, _int(cfg, ("linear_conv_kernel_dim",), 4) or 4, split_proj=True,
                               late_gate=cfg.get("model_type") in _LATE_GATE)


def _recurrent(cfg: Config, hidden: int, attn: AttentionSpec | None, word: str) -> SSMSpec:
    """A non-attention mixer as a Mamba-2 mixer with the same recurrent and convolution state."""
    if cfg.get("model_type") == "rwkv":  # RWKV's time mixing (memory/rwkv.py): hidden-wide, no convolution
        return SSMSpec(hidden, 1, 1, num_heads=1, head_dim=hidden, n_groups=0, gated_norm=False, rwkv=True)
    lru = _int(cfg, ("lru_width",))
    if lru is not None:  # RecurrentGemma's RG-LRU block (transformers 5.25 RecurrentGemmaRecurrentBlock, Rglru)
        heads = _int(cfg, _HEADS, 1) or 1
        return SSMSpec(lru, 1, _int(cfg, ("conv1d_width",), 4) or 4, num_heads=heads, head_dim=lru // heads,
                       n_groups=0, conv_bias=True, proj_bias=True, rglru=True)
    nv = _int(cfg, ("linear_num_value_heads", "linear_num_heads"))
    if nv is not None:  # gated delta-net / linear attention: state heads × k_dim × v_dim, conv over q, k and v
        vd = _int(cfg, ("linear_value_head_dim", "linear_head_dim"), 128) or 128
        kd = _int(cfg, ("linear_key_head_dim", "linear_head_dim"), vd) or vd
        nk = _int(cfg, ("linear_num_key_heads", "linear_num_heads"), nv) or nv
        conv = _int(cfg, ("linear_conv_kernel_dim", "short_conv_kernel_size", "conv_kernel_size"), 4) or 4
        return SSMSpec(nv * vd, kd, conv, num_heads=nv, head_dim=vd, n_groups=nk)
    state = _int(cfg, ("mamba_d_state", "ssm_state_size", "state_size", "d_state"))
    if state is not None or "mamba" in word:
        state = state or 128
        kernel = _int(cfg, ("mamba_d_conv", "conv_kernel", "d_conv", "mamba_conv_kernel"), 4) or 4
        n_heads = _int(cfg, ("mamba_n_heads", "mamba_num_heads", "ssm_num_heads", "n_mamba_heads"))
        d_head = _int(cfg, ("mamba_d_head", "mamba_head_dim", "ssm_head_dim"))
        expand = cfg.get("mamba_expand", cfg.get("expand", 2))
        inner = _int(cfg, ("mamba_d_ssm",)) or (n_heads * d_head if n_heads and d_head else None) or int(
            (expand if isinstance(expand, int | float) and 0 < expand <= 64 else 2) * hidden)
        n_heads = n_heads or max(1, inner // (d_head or 64))
        groups = _int(cfg, ("mamba_n_groups", "n_groups", "ssm_n_groups"), 1) or 1
        return SSMSpec(inner, state, kernel, num_heads=n_heads, head_dim=inner // n_heads, n_groups=groups)
    short = _int(cfg, ("conv_L_cache", "conv_kernel_size", "short_conv_kernel_size", "conv_kernel"))
    if short is not None or "conv" in word:  # a short convolution (LFM2): a window of inputs, no recurrent state
        return SSMSpec(hidden, 0, short or 3, num_heads=0, head_dim=0, n_groups=0)
    heads, dim = (attn.num_heads, attn.head_dim) if attn else (1, hidden)  # plain linear attention: heads × d × d
    return SSMSpec(heads * dim, dim, 1, num_heads=heads, head_dim=dim, n_groups=0)


def _moe(cfg: Config, notes: list[str]) -> MoESpec | None:
    experts = _int(cfg, _EXPERTS, minimum=0)
    if not experts or experts < 2 or cfg.get("is_moe") is False:
        return None
    top_k = _int(cfg, _TOP_K, minimum=0)
    if not top_k:
        top_k = 1
        notes.append("no experts-per-token field: assumed 1 active expert per token")
    inter = _int(cfg, _EXPERT_INTER) or _int(cfg, _INTER) or 0
    shared_inter = _int(cfg, _SHARED_INTER, minimum=0) or 0
    declared = _int(cfg, _SHARED, minimum=0)
    shared = (1 if shared_inter else 0) if declared is None else declared
    return MoESpec(experts, min(top_k, experts), inter, num_shared_experts=shared,
                   shared_intermediate_size=shared_inter, norm_topk_prob=_flag(cfg, "norm_topk_prob", False))


def _moe_layers(cfg: Config, n: int, notes: list[str]) -> list[bool]:
    """Which layers route through the experts (the others have a dense MLP)."""
    types = cfg.get("mlp_layer_types")
    if isinstance(types, list) and len(types) == n:
        return [str(t).lower() in ("sparse", "moe") for t in types]
    period, offset = cfg.get("expert_layer_period"), cfg.get("expert_layer_offset", 0)
    if isinstance(period, int) and isinstance(offset, int) and period > 0:  # Jamba
        return [i % period == offset for i in range(n)]
    dense_only = cfg.get("mlp_only_layers")
    skip = set(dense_only) if isinstance(dense_only, list) else set()
    first = _int(cfg, ("first_k_dense_replace", "num_dense_layers", "num_dense_blocks", "moe_layer_start_index"),
                 0, minimum=0) or 0
    last = _int(cfg, ("moe_layer_end_index",), n - 1, minimum=0)
    step = _int(cfg, ("moe_layer_freq", "decoder_sparse_step", "interleave_moe_layer_step", "moe_layer_interval"),
                1) or 1
    placing = ("mlp_only_layers", "first_k_dense_replace", "num_dense_layers", "num_dense_blocks", "moe_layer_freq",
               "decoder_sparse_step", "interleave_moe_layer_step", "moe_layer_interval", "moe_layer_start_index")
    if not any(cfg.get(k) is not None for k in placing):
        notes.append("no field places the MoE layers: every layer assumed to route through the experts")
    return [i not in skip and first <= i <= (last if last is not None else n) and (i - first) % step == 0
            for i in range(n)]


# gate and up as one Linear of 2 x intermediate outputs, chunked (transformers 5.25 modeling_glm.py GlmMLP,
# modeling_glm4.py Glm4MLP: ``gate_up_proj``, ``up_states.chunk(2, dim=-1)``; modeling_modernbert_decoder.py
# ModernBertDecoderMLP: ``input, gate = self.Wi(hidden_states).chunk(2, dim=-1)``, ``Wo(act(input) * gate)``)
_FUSED_GATE_UP = ("glm", "glm4", "modernbert-decoder")


def _mlp(cfg: Config, hidden: int) -> MLPSpec | None:
    inter = _int(cfg, _INTER)
    act = str(cfg.get("mlp_hidden_act") or cfg.get("hidden_act") or "")
    # relu²: Nemotron-H, Arcee; xIELU: Apertus (ApertusMLP is up, xIELU, down) — up/down MLPs with no gate; BitNet's
    # relu² MLP is gated (transformers 5.25 modeling_bitnet.py BitNetMLP: down(sub_norm(relu²(gate(x)) · up(x))))
    gated = _first(cfg, ("intermediate_size", "ffn_hidden_size")) is not None and (
        act not in ("relu2", "xielu") or cfg.get("model_type") in _GATED_RELU2
    ) and cfg.get("model_type") not in _PLAIN_FC
    if inter is None:
        inter, gated = 4 * hidden, False
    if cfg.get("model_type") == "rwkv":  # RwkvFeedForward: value(square(relu(key(x)))), no gate (memory/rwkv.py)
        return MLPSpec(inter, "plain", False, "relu2")
    half = cfg.get("model_type") in _HALF_GATED
    return MLPSpec(inter // 2 if half else inter, "gated" if gated else "plain", half or _flag(cfg, "mlp_bias", False),
                   str(cfg.get("hidden_act") or cfg.get("hidden_activation") or cfg.get("activation_function")
                       or cfg.get("ff_activation") or "silu"),  # ff_activation: XLNetConfig's
                   fused_gate_up=gated and cfg.get("model_type") in _FUSED_GATE_UP)


def _swa(cfg: Config, attn: AttentionSpec) -> AttentionSpec:
    """A sliding layer's heads where the config gives them its own fields (transformers 5.25 modeling_inkling.py
    InklingAttention.__init__, modeling_inkling2.py / modeling_inkling2_loop.py Inkling2*SlidingAttention.__init__:
    ``num_heads = config.swa_num_attention_heads if self.is_sliding else config.num_attention_heads``, the same for
    ``swa_num_key_value_heads`` and ``swa_head_dim``)."""
    heads = _int(cfg, ("swa_num_attention_heads",)) or attn.num_heads
    kv = _int(cfg, ("swa_num_key_value_heads",)) or attn.num_kv_heads
    return replace(attn, num_heads=heads, num_kv_heads=min(kv, heads),
                   head_dim=_int(cfg, ("swa_head_dim",)) or attn.head_dim)


def _layers(cfg: Config, hidden: int, n: int, notes: list[str]) -> list[LayerSpec]:
    attn = _attention(cfg, hidden, notes)
    kinds = layer_kinds(cfg, n, notes, has_attention=attn is not None)
    moe = _moe(cfg, notes)
    routed = _moe_layers(cfg, n, notes) if moe else [False] * n
    dense = _mlp(cfg, hidden)
    # attention_window_size: RecurrentGemma's window (transformers 5.25 RecurrentGemmaConfig.attribute_map maps
    # sliding_window to it; RecurrentGemmaAttention passes it to the attention, DynamicCache keeps a sliding layer)
    windows = _int(cfg, ("sliding_window", "sliding_window_size", "attention_chunk_size", "window_size",
                         "local_attention_window_len", "attention_window_size"), minimum=0)
    gdn = _gated_deltanet(cfg)
    out: list[LayerSpec] = []
    for i, kind in enumerate(kinds):
        ffn = None if kind.no_ffn else (moe if routed[i] and not kind.dense_ffn else None)
        mlp = None if kind.no_ffn or ffn is not None else dense
        if kind.moe_only and moe is not None:
            ffn, mlp = moe, None
        if kind.mixer in ("attention", "parallel") and attn is not None:
            a = replace(_swa(cfg, attn) if kind.sliding else attn, sliding_window=windows if kind.sliding and windows
                        else None)
            a = _block_sparse(cfg, dots3_attention(cfg, a, i), i)
            ssm = _recurrent(cfg, hidden, attn, "mamba") if kind.mixer == "parallel" else None
            out.append(LayerSpec("attention", a, ssm=ssm, mlp=mlp, moe=ffn))
        elif kind.mixer == "recurrent" and gdn is not None and "linear" in kind.word:
            out.append(LayerSpec("linear_attention", linear=gdn, mlp=mlp, moe=ffn))
        elif kind.mixer in ("recurrent", "parallel"):
            out.append(LayerSpec("mamba2", ssm=_recurrent(cfg, hidden, attn, kind.word), mlp=mlp, moe=ffn))
        else:
            out.append(LayerSpec("attention", None, mlp=mlp, moe=ffn))
    return zamba_layers(cfg, hidden, out) if cfg.get("model_type") == "zamba" else out


def _block_sparse(cfg: Config, a: AttentionSpec, i: int) -> AttentionSpec:
    """MiniMax-M3's ``minimax_m3_sparse`` layer: its indexer's shape (``index_*`` fields, the config's defaults)."""
    types = cfg.get("layer_types")
    if cfg.get("model_type") not in _BLOCK_SPARSE or not isinstance(types, list) or i >= len(types) \
            or types[i] != "minimax_m3_sparse":
        return a
    return replace(a, index_heads=get_int(cfg, "index_n_heads", 4), index_head_dim=get_int(cfg, "index_head_dim", 128),
                   index_topk=get_int(cfg, "index_topk_blocks", 16), index_block=get_int(cfg, "index_block_size", 128))


def _listed_layers(cfg: Config) -> int | None:
    """The layer count a per-layer list implies when no count field is set (Nemotron-H)."""
    for key in ("layer_types", "layers_block_type", "hybrid_override_pattern"):
        value = cfg.get(key)
        if isinstance(value, list | str) and 0 < len(value) <= MAX_LAYERS:
            return len(value)
    return None


def _layout(cfg: Config) -> tuple[Config, int, int, list[LayerSpec], list[str]]:
    """(text config, hidden size, vocabulary, layers, what had to be assumed)."""
    text = _text_part(cfg)
    hidden = _required(text, _HIDDEN)
    n = _int(text, _LAYERS, maximum=MAX_LAYERS) or _listed_layers(text) or _required(text, _LAYERS, MAX_LAYERS)
    vocab = _int(text, _VOCAB) or _int(cfg, _VOCAB)
    if vocab is None:
        raise _missing(cfg, _VOCAB)
    notes: list[str] = []
    layers = _layers(text, hidden, n, notes)
    return text, hidden, vocab, layers, notes


def layout_assumptions(spec: ModelSpec) -> list[str]:
    """What the generic path had to assume for ``spec``'s layout (empty when every field was declared)."""
    source = spec.tensor_source
    return list(_assumptions(source.config_json)) if isinstance(source, GenericTensors) else []


@lru_cache(maxsize=64)
def _assumptions(config_json: str) -> tuple[str, ...]:
    """Once per config: a plan search labels thousands of estimates of the same spec."""
    return tuple(_layout(json.loads(config_json))[4])


def _norm_kind(cfg: Config, text: Config) -> str:
    if cfg.get("model_type") in _LAYERNORM_NORM_BIAS:
        return "layernorm" if _flag(cfg, "norm_bias", False) else "layernorm_nobias"
    return "layernorm_fp32" if cfg.get("model_type") in _FP32_LAYERNORM else "rms" if _first(
        text, ("rms_norm_eps", "norm_eps", "rms_norm_epsilon")) else (
        "layernorm" if _first(text, ("layer_norm_eps", "layer_norm_epsilon", "layernorm_epsilon"))
        or cfg.get("model_type") in _LAYERNORM else "rms")


def generic_spec(cfg: Config, name: str) -> ModelSpec:
    """The ModelSpec of any causal-LM config from its standard fields (see the module docstring)."""
    text, hidden, vocab, layers, _ = _layout(cfg)
    post = cfg.get("model_type") in _POST_NORM_RELATIVE
    if post:
        layers = [replace(layer, norm_layout="post") for layer in layers]
    eps = _norm_kind(cfg, text)
    keys = _DROPOUT_KEYS.get(str(cfg.get("model_type")))
    # modeling_biogpt.py BioGptDecoderLayer.forward drops fc1's activation with config.activation_dropout
    act_key = "activation_dropout" if cfg.get("model_type") == "biogpt" else ""
    drop = dropouts(text, *keys, 0.0, activation=act_key) if keys else {}
    tie = text.get("tie_word_embeddings", cfg.get("tie_word_embeddings", cfg.get("model_type") not in _NEVER_TIED))
    dtype = str(cfg.get("torch_dtype") or cfg.get("dtype") or text.get("torch_dtype") or text.get("dtype")
                or "float32").removeprefix("torch.")
    return bart_layout(cfg, bert_layout(cfg, ModelSpec(
        name=name, family=str(cfg.get("model_type")), hidden_size=hidden, vocab_size=vocab, layers=tuple(layers),
        tie_word_embeddings=tie is not False, norm=eps,  # type: ignore[arg-type]
        position_embedding="none" if post or cfg.get("model_type") in NO_POSITIONS else "rope", final_norm=not post,
        max_position_embeddings=_int(text, _POS, 0, minimum=0, maximum=MAX_POSITIONS) or 0,
        dtype=dtype if dtype in ("float32", "float16", "bfloat16") else "float32",
        tensor_source=GenericTensors(json.dumps(cfg, sort_keys=True, default=str)), **drop)))


def generic_label(spec: ModelSpec) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``details`` entries and notes for an estimate of a generic-path spec."""
    built = build(spec)
    reference = reference_total(spec)
    if built.ok:
        source, exact = f"transformers {built.version} built on the meta device", True
    elif reference is not None and count_parameters(spec).total == reference[0]:
        source, exact = (f"{reference[1]} (exact total; the split by tensor is the standard layout's, its "
                         "feed-forward part sized to the total)"), True
    else:
        source, exact = "the standard layout of the config's fields (approximate)", False
    notes = [f"generic path: memfit has no builder for model_type {spec.family!r}; the layout (KV cache, "
             "activations) comes from the config's standard fields and cannot know per-layer shapes or "
             "mechanisms the fields do not declare"]
    notes += [f"generic path: {a}" for a in layout_assumptions(spec)]
    notes.append(f"parameters: {source}" + ("" if exact else f"; exact needs transformers ({built.error})"))
    details: dict[str, Any] = {"architecture": "generic", "model_type": spec.family,
                               "parameters_source": source, "parameters_exact": exact}
    return details, tuple(notes)
