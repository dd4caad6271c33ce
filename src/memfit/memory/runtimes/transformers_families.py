"""Family facts of the transformers profile: what a family's modelling code keeps alive beyond the llama-shaped
block (read off transformers 5.25's modelling files and checked with the simulator, docs/simulator.md).

Gemma 3n (``gemma3n_text``) during a prefill MLP: AltUp keeps the block's input and its predictions as two stacks of
``n`` hidden-sized copies; the model keeps the embeddings and the ``n − 1`` AltUp projections it stacked; the block
keeps its normed input, LAuReL output, attention output, the gated and averaged residuals and the normed MLP input
beside the MLP's output (8); the per-layer inputs ``b·s × layers × hidden_size_per_layer_input`` live for the whole
forward; and the MLP holds ``gate_proj`` in a local, so four intermediate-sized tensors are alive, not three.
"""

from __future__ import annotations

from ...spec import LayerSpec, ModelSpec
from ..axk2_attention import gated_norm_saved, gated_norms
from .transformers_inkling_text import rel_bias_saved_bytes
from .transformers_zaya import MODEL_DTYPE_EMBEDDINGS

__all__ = ["ALL_PROMPT_LOGITS", "CACHE_RESET_FAMILIES", "DROPPED_PROBS_EAGER", "FORCED_MASK", "FP32_COPY_ROPE",
           "FP32_QK_EAGER", "FP32_ROUTING", "FP32_SINK_EAGER", "FP32_STREAM", "FP32_WEIGHT_NORM", "HELD_GATE",
           "HELD_LOOP_INPUT", "HELD_PREV_PROBS", "INT_ZEROS_LIKE_EMBEDDINGS", "KEPT_SCORES_EAGER", "L2_SUB_NORMED",
           "MODEL_DTYPE_LOSS", "MODEL_DTYPE_SOFTMAX_EAGER", "MOE_ACT_TENSORS", "ONE_EXPRESSION_SOFTCAP",
           "PER_ROUTE_NORM", "PY_GELU", "Q_CAT_FAMILIES", "ROPE_PER_LAYER_TYPE", "SCALED_LOGITS",
           "SOFTCAPPED_ATTENTION", "SOFTCAPPED_LOGITS", "SUB_NORMED", "altup_copies", "block_extras_saved",
           "extra_stream_tensors", "fp32_stream_extra", "gemma_norm", "l2_norm_bytes", "per_layer_input_bytes",
           "rel_bias_saved_bytes", "sub_norm_bytes", "token_type_zeros_bytes"]

# Families whose MLP computes gelu_new in python ops (4 intermediate-sized tensors alive at once)
PY_GELU = ("gelu_new", "gelu_fast", "gelu_pytorch")
# Hidden-sized tensors a family's decoder block keeps alive during its MLP beyond the usual four
# (embeddings, layer input, residual, normed input), read off the modelling code and traced:
# GPT-2 keeps ``attn_output``; StableLM keeps the input-norm output and ``self_attn_output``.
# GPTBigCode and GPT-Neo keep ``attn_output`` too (transformers 5.25 GPTBigCodeBlock.forward / GPTNeoBlock.forward:
# ``hidden_states = attn_output + residual`` leaves the name bound through the MLP). ModernBERT-decoder keeps its
# attention's output (transformers 5.25 ModernBertDecoderLayer.forward: ``attn_outputs = self.attn(...)``, a tuple
# bound to that name until the block returns, ``hidden_states = attn_outputs[0]`` then ``residual + hidden_states``)
# CPM-Ant keeps ``segment_states`` (CpmAntModel.forward binds it until it returns; transformers_cpmant)
# Dory keeps the input section's normed output (transformers 5.25 modeling_dory.py DoryModel.forward:
# ``input_hidden_states = self.norm(hidden_states)``, added to every recurrent loop's input, bound until it returns)
_EXTRA_STREAM = {"gpt2": 1, "stablelm": 2, "gpt_bigcode": 1, "gpt_neo": 1, "modernbert-decoder": 1, "cpmant": 1,
                 "dory": 1}
# MoE families that give every route its own row and normalise it in float32 before the weighted sum (ergo:
# transformers 5.25 modeling_ergo.py ErgoExperts.forward repeats the tokens top_k times (repeat_interleave), the
# expert backend returns one output row per route, then ErgoExpertNorm.forward takes F.rms_norm of the rows in
# float32 and multiplies by the gathered per-expert fp32 weight (weight[expert_ids]); at that product the rows, their
# outputs (model dtype), the normalised rows, the gathered weights and the product (fp32) are alive together: the
# simulator's trace of ergo-default-l2/prefill-b1-s12288, sweep-dev.jsonl)
PER_ROUTE_NORM = ("ergo",)
# families whose residual stream is float32 whatever the model dtype (ergo: modeling_ergo.py ErgoModel embeds in
# fp32 (embed_tokens built with dtype=torch.float32), ErgoDecoderLayer.forward norms the branch outputs in fp32
# (post_attention_layernorm(hidden_states.float())) and ErgoResidualGate mixes them with the fp32 residual; only the
# normed branch inputs are cast to the branch dtype): the stream's embeddings, layer input and residual take 4 bytes;
# zaya: modeling_zaya.py ZayaModel.forward casts the stream to fp32 after the (model-dtype) embedding, its
# ZayaResidualScaling adds the branch outputs to the fp32 residual (transformers_zaya.py: its embeddings stay 2 bytes)
FP32_STREAM = ("ergo", "zaya")
# MoE families whose expert outputs are weighted by fp32 routing scores (their routers return fp32 weights; AFMoE:
# transformers 5.25 modeling_afmoe.py AfmoeTokenChoiceRouter.forward casts the router logits to fp32 and returns the
# normalised, route_scale'd top scores in fp32; Solar Open: modeling_solar_open.py SolarOpenTopkRouter.forward gathers
# the top-k weights from the fp32 sigmoid scores, as modeling_minicpm5_moe.py MiniCPM5MoeTopkRouter.forward and
# modeling_hy_v3.py HYV3TopKRouter.forward do; LongCat-Flash: modeling_longcat_flash.py LongcatFlashTopkRouter.forward
# scores fp32 router logits and returns ``topk_weights.to(router_logits.dtype)``, fp32; A.X-K1: modeling_axk1.py
# AXK1TopkRouter.forward is DeepseekV3's, top-k weights gathered from the fp32 sigmoid scores; Beam: modeling_beam.py
# BeamTopKRouter.forward gathers the top-k weights from the sigmoid of fp32 logits)
FP32_ROUTING = ("deepseek_v2", "deepseek_v3", "axk1", "deepseek_v32", "gemma4_text", "glm4_moe", "glm4_moe_lite",
                "glm_moe_dsa", "hunyuan_v1_moe", "mimo_v2_flash", "minimax_m2",
                "nemotron_h", "kimi_linear", "bailing_hybrid", "afmoe", "solar_open", "minicpm5_moe", "hy_v3",
                "longcat_flash", "beam", "minimax_m3_vl_text")
# MoE families whose expert activation keeps many intermediate-sized temporaries: gpt-oss's
# gate_up output (2), both clamps, sigmoid-GLU products and (up + 1) (10 in all, traced)
MOE_ACT_TENSORS = {"gpt_oss": 10}
# Families whose model builds the causal mask even where SDPA could run is_causal (``create_causal_mask(...,
# allow_is_causal_skip=False)``: transformers 5.25 FalconModel.forward, to add ALiBi onto it), so SDPA gets a bool mask
# and takes the memory-efficient kernel with the mask made additive
FORCED_MASK = ("falcon",)
# Families whose causal-LM head soft-caps the logits (final_logit_softcapping; transformers 5.25
# VaultGemmaForCausalLM.forward too: logits / cap, tanh, × cap; RecurrentGemmaForCausalLM.forward always, by
# ``logits_soft_cap``)
SOFTCAPPED_LOGITS = ("gemma2", "gemma3n", "gemma3n_text", "gemma4_text", "vaultgemma", "recurrent_gemma")
# Of those, the heads that soft-cap in one expression, ``logits = tanh(logits / cap) * cap``
# (RecurrentGemmaForCausalLM.forward): the projection's output stays bound to ``logits`` until the product is made,
# so it, ``logits / cap`` and tanh's output are alive together (Gemma 2's three statements free each as it goes)
ONE_EXPRESSION_SOFTCAP = ("recurrent_gemma",)
# Families whose causal-LM head scales the logits into a new tensor beside the projection's (transformers 5.25:
# Granite's ``logits / logits_scaling`` in modeling_granite.py, granitemoe, granitemoeshared, granitemoehybrid,
# granite_swa, granitemoe_swa; Cohere's ``logits * logit_scale``, cohere2, cohere2_moe; HyperCLOVA X's
# ``lm_head(...) * logits_scaling``; Falcon-H1's ``* lm_head_multiplier``): two logits tensors at the head
SCALED_LOGITS = ("granite", "granitemoe", "granitemoeshared", "granitemoehybrid", "granite_swa", "granitemoe_swa",
                 "cohere", "cohere2", "cohere2_moe", "hyperclovax", "falcon_h1")
# Families whose eager attention soft-caps the scores (attn_logit_softcapping: / cap, tanh, × cap, each a new tensor,
# autograd keeping tanh's output; Gemma 2's and VaultGemma's eager_attention_forward, which has no SDPA path)
SOFTCAPPED_ATTENTION = ("gemma2", "vaultgemma")
# Families with Gemma's RMSNorm (x.float(), normed × (1 + weight.float()) in fp32, cast back) beyond the gemma* names
# (transformers 5.25 VaultGemmaRMSNorm.forward, RecurrentGemmaRMSNorm.forward)
_GEMMA_NORM = ("vaultgemma", "recurrent_gemma")
# Families whose RMSNorm multiplies the fp32 normed values by the weight before casting back
# (``return (self.weight * hidden_states).to(input_dtype)``, transformers 5.25 modeling_olmo2.py "main diff with
# Llama", also olmo3, flex_olmo, olmo_hybrid, gpt_oss, afmoe, deepseek_v4, beam's BeamRMSNorm): autograd keeps the
# fp32 normed values
FP32_WEIGHT_NORM = ("olmo2", "olmo3", "flex_olmo", "olmo_hybrid", "gpt_oss", "afmoe", "deepseek_v4", "beam",
                    "minimax_m3_vl_text")  # MiniMaxM3VLRMSNorm: output * (1.0 + weight.float()), then type_as(x)
# Families whose eager attention keeps the scores in float32 and softmaxes them with a sink logit per head (flint:
# transformers 5.25 modeling_flint.py eager_attention_forward: torch.matmul(query.float(), key_states.float()...) *
# scaling under autocast off, + the mask, torch.cat with the fp32 sinks (one more column), F.softmax, sliced and cast
# to the value dtype): at the softmax the masked scores, their concatenation and the softmax (fp32) are alive
FP32_SINK_EAGER = ("flint",)
# Families whose eager attention computes the scores from fp32 copies of q and k (GPT-J's _attn)
FP32_QK_EAGER = ("gptj",)
# Families whose model loop binds each block's output tuple (hidden states, attention probabilities) to one variable
# until the next block returns (``outputs = block(...)``, ``hidden_states = outputs[0]``: transformers 5.25
# BloomModel, GPTNeoModel, MptModel, FalconModel, GPTNeoXJapaneseModel ``forward``; each block returns its
# attention's weights whatever ``output_attentions`` says): under eager attention the previous layer's probabilities
# are alive through the next layer's attention and MLP; RemBERT's too (modeling_rembert.py RemBertLayer.forward returns
# ``(layer_output,) + self_attention_outputs[1:]``, the probabilities whatever ``output_attentions`` says, and
# RemBertEncoder.forward binds ``layer_outputs`` until the next layer returns)
HELD_PREV_PROBS = ("bloom", "gpt_neo", "mpt", "falcon", "gpt_neox_japanese", "rembert")
# Families whose attention module drops the eager probabilities as it returns, before the block's MLP (transformers
# 5.25 modeling_git.py GitAttention.forward: ``attn_output, _ = self.self(...)``, returns ``self.output(attn_output,
# hidden_states)`` alone; GitLayer.forward then runs the MLP): not the shared decoder layers' ``hidden_states, _ =
# self.self_attn(...)``, whose ``_`` keeps the probabilities through the MLP
DROPPED_PROBS_EAGER = ("git",)
# Families whose model forward keeps an int32 tensor the size of the embeddings through the whole forward
# (transformers 5.25 GitModel.forward: ``token_type_ids = torch.zeros_like(embedding_output, dtype=torch.int)[..., 0]``,
# a view of the b × s × hidden zeros, bound until the forward returns; with images it is replaced by a cat)
INT_ZEROS_LIKE_EMBEDDINGS = ("git",)
# Families whose eager attention keeps the raw scores under their own name beside the masked ones until it returns
# (transformers 5.25 ``BloomAttention.forward``: ``attention_scores = alibi.baddbmm(...)``, viewed as ``attn_weights``,
# then ``attn_weights = attn_weights + attention_mask``: one more score-sized tensor in the model dtype)
KEPT_SCORES_EAGER = ("bloom",)
# Families whose apply_rotary_pos_emb rotates fp32 copies of q and k and casts the results back (transformers 5.25
# modeling_cohere.py / modeling_cohere2.py ``apply_rotary_pos_emb``: ``q = q.float(); k = k.float()``, ``q_embed =
# (q * cos) + (rotate_half(q) * sin)``, the same for k, ``.to(dtype)``): in half precision the fp32 copies, q's
# rotated copy and k's three rotation temporaries are alive beside the model-dtype q, k and v
FP32_COPY_ROPE = ("cohere", "cohere2", "cohere2_moe")
# Families that compute a rotary cos/sin pair per layer type (local and global RoPE bases) up front
ROPE_PER_LAYER_TYPE = ("gemma3", "gemma3_text", "gemma3n", "gemma3n_text", "gemma4_text", "mimo_v2_flash")
# Families whose generate() drops the cache and re-prefills when crossing original_max_position_embeddings
CACHE_RESET_FAMILIES = ("phi3", "phimoe")
# Families whose gated MLP keeps gate_proj's output in a local until the down projection (4 intermediates alive)
HELD_GATE = ("gemma3n", "gemma3n_text")
# Families that RMS-norm the attention's output before o_proj and the MLP's product act(gate)·up before down_proj
# (transformers 5.25 modeling_bitnet.py: BitNetAttention.forward ``attn_sub_norm``, BitNetMLP.forward
# ``down_proj(ffn_sub_norm(act_fn(gate_proj(x)) * up_proj(x)))``, BitNetRMSNorm in fp32)
SUB_NORMED = ("bitnet",)
# Families whose gated MLP scales gate and up (new tensors, held as locals until it returns) and L2-normalises the
# product in fp32 before down_proj (transformers 5.25 modeling_dory.py DoryMLP.forward: ``gate = gate_proj(x) *
# (suv_gate * suv_scale)``, the same for up, ``down_proj(ffn_sub_norm(act_fn(gate) * up))``; DoryL2Norm.forward:
# ``_norm(x.float()).type_as(x)``, ``x * rsqrt(x.pow(2).sum(-1) + eps)``, no weight)
L2_SUB_NORMED = ("dory",)
# Families whose model forward keeps a hidden-sized tensor from before the layers' loop to its end (Dory:
# ``input_hidden_states``, modeling_dory.py DoryModel.forward; counted in the MLP's stream by _EXTRA_STREAM)
HELD_LOOP_INPUT = ("dory",)
_ALTUP = ("gemma3n", "gemma3n_text")
_PER_LAYER_PATH = ("gemma4", "gemma4_text")  # Gemma 4: per-layer inputs (block_extras_saved)


def altup_copies(spec: ModelSpec) -> int:
    """AltUp's number of residual copies (``altup_num_inputs``: the model-level projections + 1); 0 without AltUp."""
    if spec.family not in _ALTUP:
        return 0
    return 1 + sum(1 for name, _ in spec.extra if name.startswith("model.altup_projections."))


def extra_stream_tensors(spec: ModelSpec) -> int:
    """Hidden-sized tensors alive during a block's MLP beyond the usual four."""
    n = altup_copies(spec)
    if n:
        return 3 * n + 8 - 4
    return _EXTRA_STREAM.get(spec.family, 0)


def per_layer_input_bytes(spec: ModelSpec, tokens: int, dt: int) -> int:
    """Gemma 3n's per-layer inputs for ``tokens`` tokens: every layer's slice, alive through the whole forward."""
    for name, size in spec.extra:
        if name == "model.per_layer_projection_norm.weight":
            width = size[0] if isinstance(size, tuple) else size
            return tokens * spec.num_layers * width * dt
    return 0


def token_type_zeros_bytes(spec: ModelSpec, tokens: int) -> int:
    """GIT's int32 zeros shaped like the embeddings (``INT_ZEROS_LIKE_EMBEDDINGS``) for ``tokens`` tokens; else 0."""
    return tokens * spec.hidden_size * 4 if spec.family in INT_ZEROS_LIKE_EMBEDDINGS else 0


def block_extras_saved(spec: ModelSpec, layer: LayerSpec, amp: bool, resid: int, proj: int, full: bool) -> int:
    """Bytes per token a Gemma 3n or Gemma 4 block saves for backward beyond a Gemma 3 sandwich block (0 for other
    families): Gemma 3n's AltUp (``altup_saved_per_token``), Gemma 4's per-layer input path.

    Gemma 4 (``modeling_gemma4.py``, ``Gemma4TextDecoderLayer`` after the MLP's residual, with
    ``hidden_size_per_layer_input``): ``per_layer_input_gate`` keeps its input, the stream (trained weights: the
    stream itself; under autocast its bf16 cast of the fp32 stream), the GELU the gate's output, the product with
    the layer's per-layer input the GELU's output, ``per_layer_projection`` the product (three tensors of the
    per-layer width), ``post_per_layer_input_norm`` (``Gemma4RMSNorm``) an fp32 copy of the projection's output and,
    with its weight trained, the normed product. A.X-K2's gated norms: ``axk2_attention.gated_norm_saved``."""
    gate = head_gate_saved(layer, proj) + gated_norms(spec, layer) * gated_norm_saved(spec.hidden_size, proj)
    if altup_copies(spec):
        return gate + altup_saved_per_token(spec, layer, amp, resid, proj)
    if gate:
        return gate
    if spec.family in SUB_NORMED:
        return _sub_norms_saved(spec, layer, proj, full)
    width = next((size[0] for name, size in layer.extra if name == "per_layer_input_gate.weight"), 0)
    if not width or spec.family not in _PER_LAYER_PATH:
        return 0
    h = spec.hidden_size
    stream = (2 if amp and resid == 4 else resid) * h if full else 0
    return stream + 3 * proj * width + 4 * h + (4 * h if full else 0)


def head_gate_saved(layer: LayerSpec, proj: int) -> int:
    """Bytes per token an attention's per-head sigmoid output gate keeps for backward (0 without one). LFM3
    (transformers 5.25 ``modeling_lfm3.py`` ``Lfm3Attention.forward``, ``use_attention_gate``): ``attn_output *
    torch.sigmoid(self.g_proj(hidden_states)).unsqueeze(-1)`` after the kernel: ``sigmoid`` keeps its output (one
    value per head), the product keeps both operands (the kernel's output, which o_proj read before, and the gate),
    and o_proj now keeps the product: one more tensor of the attention's output width and the gate, in the
    projections' dtype. ``g_proj``'s input is the normed stream q_proj already keeps."""
    heads = next((size[0] for name, size in layer.extra if name == "self_attn.g_proj.weight"), 0)
    if not heads or layer.attention is None:
        return 0
    return proj * (layer.attention.num_heads * layer.attention.value_dim + heads)


def _sub_norms_saved(spec: ModelSpec, layer: LayerSpec, proj: int, full: bool) -> int:
    """BitNet's two sub-layer norms (transformers 5.25 modeling_bitnet.py: ``attn_sub_norm`` over the attention
    output, hidden-sized, before o_proj; ``ffn_sub_norm`` over the MLP's product before down_proj; ``BitNetRMSNorm``:
    ``x.to(float32)``, ``pow(2).mean``, ``x * rsqrt``, ``weight * x.to(input dtype)``): each keeps the fp32 copy
    (``pow`` and ``mul`` read it; on an fp32 model the input itself, which nothing else keeps) and, when the weight
    trains, the normed copy cast back (the weight's ``mul``); the weighted result is the next Linear's input, which
    the block already counts."""
    widths = [spec.hidden_size] if layer.attention is not None else []
    widths += [layer.mlp.intermediate_size] if layer.mlp is not None else []
    return sum(4 * w + (proj * w if full else 0) for w in widths)


def altup_saved_per_token(spec: ModelSpec, layer: LayerSpec, amp: bool, resid: int, proj: int) -> int:
    """Bytes per token a Gemma 3n block saves for backward beyond a Gemma 3 sandwich block (0 for other families),
    read off ``modeling_gemma3n.py``: AltUp's prediction matmul keeps its input stack (n copies; a bf16 copy under
    autocast) and ``correct`` keeps the n-fold repeated innovation; the two router RMSNorms, LAuReL's and the
    per-layer input's post-norms each keep an fp32 copy of their input and the normed product (8 B per element; the
    routers also their Linear's input); ``correct_output_scale`` keeps the corrected copy, ``per_layer_input_gate`` its
    input; ``v_norm`` an fp32 copy of V; a gaussian top-k keeps the gate output for its ``std``. Under autocast the
    fp32 predictions stay alive through the input norm's saved view (n − 1 copies more than a plain stream) and the
    prediction router's input is a view of the fp32 input stack."""
    n = altup_copies(spec)
    if not n:
        return 0
    h = spec.hidden_size
    per_h = (2 * n if amp else resid * n) + resid * n  # prediction matmul's input, correct's repeated innovation
    per_h += (4 * n + 6 + 10) if amp else 2 * (8 + proj)  # the two router norms and their Linear inputs
    per_h += 4 * (n - 1) if amp else 0  # the fp32 predictions kept by the input norm's view
    per_h += 8 + 8 + resid + proj  # LAuReL and per-layer post-norms, correct_output_scale, per_layer_input_gate
    total = per_h * h
    a = layer.attention
    if a is not None and not a.kv_shared:
        total += 4 * a.num_kv_heads * a.head_dim  # v_norm's fp32 copy of V
    if layer.mlp is not None and layer.mlp.gaussian_topk:
        total += proj * layer.mlp.intermediate_size
    return total


def l2_norm_bytes(dt: int) -> int:
    """Bytes per element DoryL2Norm holds beyond its input, which the caller keeps alive: the fp32 copy (none in
    fp32: ``.float()`` returns the input) beside its square, then beside ``x * rsqrt``; the cast back (none in fp32)
    comes after the copy is freed, beside the fp32 result."""
    copy = 0 if dt == 4 else 4
    return max(copy + 4, 4 + (0 if dt == 4 else dt))


def sub_norm_bytes(dt: int) -> int:
    """Bytes per element an RMSNorm (``BitNetRMSNorm.forward``) holds beyond its input, which the caller keeps alive:
    the fp32 copy (none when the input is fp32: ``.to(float32)`` returns it) beside its square, then beside the
    normed fp32 values; then the normed values, their cast back (none in fp32) and the weighted output."""
    copy = 0 if dt == 4 else 4
    cast = 0 if dt == 4 else dt
    return max(copy + 4, 4 + cast + dt)


def gemma_norm(family: str) -> bool:
    """Whether the family's RMSNorm is Gemma's (fp32 ``x·(1 + w)``, then the cast back)."""
    return family.startswith("gemma") or family in _GEMMA_NORM


# Families whose eager_attention_forward calls softmax in the model dtype (no dtype=float32): transformers 5.25
# gpt2, codegen, ctrl, biogpt, mimo_v2_flash; gpt-oss (softmax over the scores and the sinks in their dtype).
# The BART family (transformers 5.25, each model's own copy of models/bart/modeling_bart.py eager_attention_forward:
# matmul(q, kᵀ) * scaling, + attention_mask, nn.functional.softmax(attn_weights, dim=-1), no fp32 upcast):
# modeling_bart.py, modeling_mbart.py, modeling_plbart.py, modeling_blenderbot.py, modeling_blenderbot_small.py,
# modeling_marian.py, modeling_pegasus.py, modeling_bigbird_pegasus.py (its decoder's full attention),
# modeling_whisper.py; and two with their own attention class of the same chain (query pre-scaled, torch.bmm,
# .view + attention_mask, softmax in the input dtype): modeling_mvp.py MvpAttention.forward, modeling_trocr.py
# TrOCRAttention.forward. The BERT family read by sources/bert_family.py (transformers 5.25 modeling_bert.py
# eager_attention_forward and its copies in electra, roberta, camembert, xlm_roberta, data2vec_text, ernie,
# roberta_prelayernorm, xlm_roberta_xl, xmod: the same chain, softmax without dtype=); megatron_bert's own
# MegatronBertSelfAttention.forward (torch.matmul, / sqrt(head_size), + mask, nn.functional.softmax without dtype=);
# GIT's own GitSelfAttention.forward (modeling_git.py: torch.matmul, / math.sqrt(head size), + attention_mask,
# nn.functional.softmax(attention_scores, dim=-1): the masked scores stay bound beside the probabilities);
# RemBERT's RemBertSelfAttention.forward (modeling_rembert.py: the same chain)
MODEL_DTYPE_SOFTMAX_EAGER = ("gpt2", "codegen", "ctrl", "biogpt", "mimo_v2_flash",
                             "bart", "mbart", "plbart", "blenderbot", "blenderbot-small", "marian", "pegasus",
                             "bigbird_pegasus", "whisper", "mvp", "trocr",
                             "bert", "roberta", "camembert", "xlm-roberta", "data2vec-text", "ernie",
                             "roberta-prelayernorm", "xlm-roberta-xl", "megatron-bert", "electra", "git", "xmod",
                             "rembert")
# Causal-LM heads whose forward takes no logits_to_keep (transformers 5.25 TrOCRForCausalLM.forward:
# logits = self.output_projection(outputs[0]); WhisperForCausalLM.forward: logits = self.proj_out(outputs[0])), so
# generate's prefill projects every prompt position, and outputs.logits stays referenced through the first token's
# sampling (generation/utils.py _sample: outputs.logits[:, -1].to(copy=True, dtype=torch.float32), del outputs at
# the end of the step). Also (l12small, read in transformers 5.25, none takes logits_to_keep):
# MusicgenForCausalLM.forward and MusicgenMelodyForCausalLM.forward (models/musicgen/modeling_musicgen.py,
# models/musicgen_melody/modeling_musicgen_melody.py: torch.stack([head(hidden_states) for head in self.lm_heads],
# dim=1)), ProphetNetForCausalLM.forward (models/prophetnet/modeling_prophetnet.py: self.lm_head(predicting_streams))
# and xLSTMForCausalLM.forward (models/xlstm/modeling_xlstm.py: self.lm_head(hidden_states...).float()); what they do
# beyond every position's logits (MusicGen's per-codebook heads and stack, ProphetNet's n-gram streams, xLSTM's
# float32 logits and soft-cap) is not priced
ALL_PROMPT_LOGITS = ("trocr", "whisper", "musicgen", "musicgen_melody", "prophetnet", "xlstm")
# Causal-LM heads whose training loss is nn.CrossEntropyLoss() on the model-dtype logits (transformers 5.25
# {Bart,BigBirdPegasus,Blenderbot,BlenderbotSmall,Marian,MBart,Mvp,Pegasus,PLBart,TrOCR,Whisper}ForCausalLM.forward:
# loss_fct(logits.view(-1, vocab_size), labels.view(-1))), not ForCausalLMLoss's logits.float(): log_softmax's output
# and its backward's gradients are in the model dtype (under autocast log_softmax runs in fp32 as before)
MODEL_DTYPE_LOSS = ("bart", "bigbird_pegasus", "blenderbot", "blenderbot-small", "marian", "mbart", "mvp", "pegasus",
                    "plbart", "trocr", "whisper")


# Families whose rotary embedding returns ``torch.cat([rotated part, pass-through part])`` for the query
# (transformers' Phi-3, Phi, StableLM, GPT-NeoX apply_rotary_pos_emb / attention forward)
Q_CAT_FAMILIES = ("phi3", "phi", "stablelm", "gpt_neox")
# Families whose RMSNorm has no weight, whose model norms the embeddings before the first layer and whose attention
# norms q and k per head after RoPE (transformers 5.25 modeling_nanochat.py: NanoChatRMSNorm.forward is
# ``_norm(x.float()).type_as(x)``; NanoChatModel.forward ``hidden_states = self.norm(hidden_states)`` before the
# layers, ``inputs_embeds`` still bound; NanoChatAttention.forward applies apply_rotary_pos_emb, then q_norm, k_norm)
WEIGHTLESS_NORM = ("nanochat",)


def fp32_stream_extra(spec: ModelSpec, tensors: int, elements: int, dt: int) -> int:
    """Bytes beyond ``dt`` of ``tensors`` stream tensors (``elements`` each; the embeddings first) a FP32_STREAM
    family keeps in float32 (its embeddings too, unless it embeds in the model dtype: MODEL_DTYPE_EMBEDDINGS)."""
    if spec.family not in FP32_STREAM or dt >= 4:
        return 0
    return (tensors - (spec.family in MODEL_DTYPE_EMBEDDINGS)) * elements * (4 - dt)
