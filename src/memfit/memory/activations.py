"""Training activations: what PyTorch autograd keeps for backward, layer by layer, in bytes.

The model follows the tensors a Hugging Face transformers forward saves (``ctx.save_for_backward``
and the derivative formulas' saved inputs), not a textbook constant:

* a Linear saves its input only when its weight trains; under autocast each Linear casts an fp32
  input to bf16 on its own (autocast caches casts of weights, not of activations), so q, k and v
  save three bf16 copies; PEFT casts an adapter's input to fp32 (``_cast_input_dtype``);
* Llama-style RMSNorm saves the fp32 input and, when its weight trains, the normalised tensor;
  Gemma's saves both in fp32; LayerNorm saves its input (plus per-token mean and rstd);
* SDPA on Hopper runs flash / memory-efficient kernels: q, k, v, the output and a fp32 log-sum-exp,
  no ``s × s`` matrix; eager attention keeps the fp32 softmax and the bf16 probabilities
  (``b·heads·s²`` each), the tanh output when logits are soft-capped, K/V repeated to all heads;
* a gated MLP keeps gate, act(gate), up and their product (``4·I`` elements per token); GPT-2's
  ``gelu_new`` is a chain of elementwise ops, five tensors of ``I`` (fp32 under autocast);
* the loss: transformers upcasts the logits to fp32 and log_softmax keeps ``b·s·V`` fp32.

Korthikanti et al. 2022 ("Reducing Activation Recomputation in Large Transformer Models", arXiv 2205.05198,
Table 2) give ``sbh(34 + 5as/h)`` per layer for Megatron's fp16 GPT with dropout; ``korthikanti_layer_bytes``
reproduces that table for the parallel module. The per-model numbers here are what PyTorch actually allocates for
the Hugging Face implementation, checked against the H100 measurements in the test suite.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec
from .axk2_attention import OWN_MLA, attention_saved
from .backward_moments import EXPERT_KINDS, MOE_ACT_SAVED, dense_backward_relief, expert_backward_relief
from .dsv4_attention import dsv4_training
from .korthikanti import korthikanti_layer_bytes
from .layer_weights import largest_matrix, layer_linear_params
from .lora_dropout import adapter_input_saved
from .op_sac import op_level_saved
from .runtimes import transformers_families as fam
from .runtimes.transformers_own_attention import OWN_EAGER_SCORES
from .shared_norm import shared_norm_input
from .ssm_activations import mamba_backward_relief, recurrent_training

__all__ = ["LayerActivations", "ModelActivations", "Precision", "korthikanti_layer_bytes"]

LOG_SOFTMAX_BYTES = 4  # transformers' ForCausalLMLoss: logits.float() before cross_entropy


@dataclass(frozen=True)
class Precision:
    """Dtypes and trainability that decide what autograd saves.

    ``amp``: bf16 autocast over fp32 weights. ``weight_bytes``: bytes of a (non-quantized) parameter.
    ``resid_bytes``: the residual stream. ``full``: base weights train. ``lora_kinds``: adapted tensor
    kinds (empty without LoRA). ``quantized``: base Linears are bitsandbytes layers (output cast back
    to the input dtype).
    """

    amp: bool
    weight_bytes: int
    resid_bytes: int
    full: bool
    lora_kinds: frozenset[str] = frozenset()
    lora_rank: int = 0
    lora_dropout: float = 0.0  # PEFT's lora_dropout: each adapter keeps its dropped input and a bool mask
    attn: str = "sdpa"
    dropout: float = 0.0  # residual dropout (attention and MLP outputs): a bool mask each
    attention_dropout: float = 0.0  # on materialised attention probabilities (eager, math path)
    embedding_dropout: float = 0.0
    activation_dropout: float = 0.0  # on a plain MLP's activation (BART family, BioGPT): a bool mask, a new fc2 input
    quantized: bool = False
    # transformers builds a DynamicCache in a training forward unless gradient checkpointing turned
    # use_cache off: it concatenates K/V into fresh tensors (in the key's dtype) held until the forward returns
    kv_cache: bool = False
    loss_shift_copy: bool = False  # transformers < 4.49: the loss copies the shifted fp32 logits (loss_release.py)
    model_float_logits: bool = False  # transformers < 4.46: the model's .float() frees the 16-bit logits first
    embed_out_bytes: int = 0  # the embedding's output (the first layer's input) when not resid_bytes (trl QLoRA)
    adapter_bytes: int = 4  # LoRA adapters' compute dtype: PEFT's fp32; bf16 when FSDP's mixed precision gathers them
    expert_loop: bool = False  # transformers 4.x loops its nn.Linear experts (``_expert_rows``); 5: grouped_mm
    trainer: str = "transformers"  # the model code: torchtune's own Llama keeps more (memory/torchtune.py)

    @property
    def proj_bytes(self) -> int:
        """Bytes of a Linear's output: bf16 under autocast, else the input's dtype."""
        return 2 if self.amp else (self.resid_bytes if self.quantized else self.weight_bytes)

    @property
    def mlp_bytes(self) -> int:
        """Bytes of a dense MLP's Linear outputs and of its activation and product. bitsandbytes' ``Linear4bit``
        casts its output back to its input's dtype under autocast too (bitsandbytes 0.43 ``nn/modules.py``
        ``Linear4bit.forward``: ``out = out.to(inp_dtype)``), and the kbit preparation's fp32 norms feed it fp32:
        gate, up, act(gate) and their product are fp32 there (autocast does not cast silu or mul)."""
        return max(self.resid_bytes, self.weight_bytes) if self.quantized else self.proj_bytes


@dataclass(frozen=True)
class LayerActivations:
    """One decoder layer for the whole micro-batch, in bytes.

    ``saved``: kept for backward without checkpointing. ``attention_core``: the part of ``saved``
    selective recomputation drops. ``checkpoint``: kept with full checkpointing (the layer input).
    ``forward_extra``: transient above ``saved`` at the layer's forward peak. ``backward_extra``:
    gradient buffers alive while the layer's backward runs. ``weight_casts``: bf16 copies of the
    layer's weights under autocast.
    """

    saved: int
    attention_core: int
    checkpoint: int
    forward_extra: int
    backward_extra: int
    weight_casts: int
    replicated: int = 0  # part of ``saved`` tensor parallelism does not split without sequence parallelism
    cache: int = 0  # the DynamicCache's K/V copies not saved for backward, alive until the forward returns
    op_saved: int = 0  # kept under op-level selective checkpointing (``op_level_saved``)
    backward_relief: int = 0  # of saved + backward_extra + the layer's gradients, never alive together (MoE)


@dataclass(frozen=True)
class ModelActivations:
    """Per-layer activations plus what lives outside the layers."""

    layers: tuple[LayerActivations, ...]
    outside: int  # embeddings, final norm, lm_head input (saved)
    loss_saved: int  # fp32 log_softmax output (+ tanh output with logit soft-capping)
    loss_forward_extra: int  # logits and their fp32 copy at the cross-entropy, final hidden state
    loss_backward_extra: int  # fp32 gradient of the logits and log_softmax's backward output
    head_weight_casts: int  # bf16 copy of the lm_head / embedding under autocast
    embedding_backward_extra: int  # a dense V×h gradient made by the tied embedding's backward
    tower: int = 0  # a training vision tower's saved tensors: alive from before the text layers to after them
    final_norm: int = 0  # the part of ``outside`` the final norm and the head's input keep: made after the last layer
    hc_head: int = 0  # the part of ``outside`` DeepSeek-V4's hyper-connection head keeps (two equal fp32 tensors)

    @property
    def saved_total(self) -> int:
        return sum(la.saved for la in self.layers) + self.outside + self.loss_saved


def _inputs(width: int, kinds: list[str], in_bytes: int, p: Precision) -> tuple[int, int]:
    """(own, shared) bytes per token saved for Linear layers of ``kinds`` reading one input of ``width``: ``own``,
    copies made per Linear (autocast casts, PEFT fp32 casts, lora_A outputs); ``shared``, the input tensor itself
    when some Linear keeps it (0 when none does)."""
    own = 0
    shared = False
    for kind in kinds:
        if p.full:
            if p.amp and in_bytes == 4:
                own += 2 * width  # autocast casts the fp32 input again for every Linear
            else:
                shared = True
        if kind in p.lora_kinds:  # PEFT casts the input to the adapter's fp32, then its dropout (lora_dropout.py)
            adapter_own, keeps_input = adapter_input_saved(width, in_bytes, p.lora_dropout, p.amp, p.adapter_bytes)
            own += adapter_own
            shared = shared or keeps_input
            own += (2 if p.amp else p.adapter_bytes) * p.lora_rank  # lora_A output, kept by lora_B
    return own, (in_bytes * width if shared else 0)


def _linear_inputs(width: int, kinds: list[str], in_bytes: int, p: Precision) -> int:
    """Bytes per token saved for Linear layers of ``kinds`` reading one input of ``width`` features."""
    own, shared = _inputs(width, kinds, in_bytes, p)
    return own + shared


def _norm(width: int, in_bytes: int, p: Precision, gemma: bool, layernorm: bool,
          fp32_copy: bool = False) -> tuple[int, int]:
    """(saved bytes per token, output bytes) of one norm over ``width`` features. ``fp32_copy``: OLMo's weightless
    LayerNorm (spec ``layernorm_fp32``) keeps the fp32 copy it norms, mean and rstd, and returns the input dtype."""
    if fp32_copy:
        return 4 * width + 8, in_bytes
    if layernorm:  # native_layer_norm keeps input, mean and rstd; fp32 under autocast
        return in_bytes * width + 8, (4 if p.amp else in_bytes)
    if gemma:  # x.float(), normed fp32 × (1 + w) (or × w: FP32_WEIGHT_NORM), cast back to the input dtype
        return 4 * width + (4 * width if p.full else 0) + 4, in_bytes
    # Llama: x.to(fp32) (pow and mul keep it), normed cast to the input dtype, × weight
    normed = in_bytes * width if p.full else 0
    return 4 * width + normed + 4, max(in_bytes, p.weight_bytes)


def _attention(a: AttentionSpec, h: int, in_bytes: int, p: Precision, b: int, s: int, softcap: bool,
               rotary: bool, q_cat: bool = False, low_softmax: bool = False,
               fp32_qk: bool = False) -> tuple[int, int, int, int, int]:
    """(saved per token, of which attention core per token, s² bytes per sequence saved, s² transient,
    DynamicCache bytes per token alive until the end of the forward and not saved). ``q_cat``: the rotated
    query is assembled by ``torch.cat`` (a fresh contiguous tensor, see ``Q_CAT_FAMILIES``)."""
    pb = p.proj_bytes
    heads, kv, d, dv = a.num_heads, a.num_kv_heads, a.head_dim, a.value_dim
    att_b = 2 if p.amp else pb  # what the attention kernel gets (autocast casts q, k, v to bf16)
    saved = 0
    if a.kind == "mla":  # latent projections: q/kv low-rank inputs are saved like Linear inputs
        q_lora = a.q_lora_rank or 0
        saved += (q_lora + (a.kv_lora_rank or 0)) * (pb + 4)
    kinds = ["attn_qkv"] if a.fused_qkv else ["attn_q", "attn_k", "attn_v"]
    saved += _linear_inputs(h, kinds, in_bytes, p)
    if a.qk_norm != "none":  # q/k norms keep fp32 input and normed values (FP32_WEIGHT_NORM families: fp32)
        saved += (heads + kv) * (d * (4 + ((4 if fp32_qk else pb) if p.full else 0)) + 4)
    core = 0
    q, k, v = heads * d * att_b, kv * d * att_b, kv * dv * att_b
    # SDPA on fp32 inputs cannot use flash; with grouped K/V (enable_gqa) the memory-efficient kernel is
    # not eligible either and PyTorch falls back to the math path, which materialises the scores
    # beyond the window transformers passes an explicit mask: no flash kernel, no enable_gqa
    windowed = p.attn != "eager" and a.sliding_window is not None and s > a.sliding_window
    math_path = p.attn != "eager" and att_b == 4 and kv < heads
    if p.attn == "eager" or math_path:
        rep_k = heads * d * att_b
        rep_v = heads * dv * att_b
        core += q + rep_k + rep_v
        if math_path:
            probs = 4
        else:
            dropped = (1 + att_b) if p.attention_dropout else 0  # dropout mask and output
            probs = 4 + (att_b if att_b != 4 else 0) + (att_b if softcap else 0) + dropped
            if low_softmax and not p.amp:  # softmax in the model dtype: its output is the probabilities kept
                probs = att_b + (att_b if softcap else 0) + dropped
        sq_saved = b * heads * s * s * probs
        # the masked scores (fp32 under autocast, whose mask is fp32) stay alive beside the softmax output,
        # and the 4-D causal mask beside them
        masked = 4 if p.amp else att_b
        sq_transient = b * heads * s * s * masked + b * s * s * masked
        # the output goes through transpose(1, 2).contiguous(): a new tensor that o_proj keeps
        saved += core + _linear_inputs(heads * dv, ["attn_output"], att_b, p)
    else:
        if a.fused_qkv and p.kv_cache:  # the cache copies K and V out of the fused output
            core += (q if rotary else (heads * d + kv * d + kv * dv) * pb) + k + v
        elif a.fused_qkv:  # v (and q, k without rotary) are views of the fused projection output
            core += (heads * d + kv * d + kv * dv) * pb
            if rotary:
                core += q + k
        elif (windowed or max(d, dv) > 256) and kv < heads:
            # a mask, or a head wider than 256, turns enable_gqa off (transformers 5.25 use_gqa_in_sdpa: no mask and
            # head dims <= 256 on CUDA): repeat_kv copies K/V to every head
            core += q + heads * (d + dv) * att_b
        else:
            core += q + k + v
        saved += core + heads * dv * att_b  # q, k, v (a selective checkpoint's inputs: kept) and the kernel's output
        core = 4 * heads  # selective recomputation drops the fp32 log-sum-exp, the output only if o_proj keeps no view
        sq_saved = sq_transient = 0
        if windowed:  # the boolean sliding-window mask becomes a float bias the kernel keeps, in every layer
            sq_saved = sq_transient = b * s * s * att_b
        own, shared = _inputs(heads * dv, ["attn_output"], att_b, p)  # o_proj reads the kernel's output
        o_in = own
        # the flash kernel allocates its output in q's memory layout: q made by torch.cat (rotary on part of
        # the head) is (b, heads, s, d)-contiguous, so transformers' transpose(1, 2).contiguous() copies the
        # output, and that copy is what o_proj keeps (the efficient kernel always writes (b, s, heads, d))
        if q_cat and not windowed and att_b == 2 and max(d, dv) <= 256:
            o_in += shared
        core += heads * dv * att_b if shared == 0 or o_in > own else 0
        saved += 4 * heads + o_in
    if p.dropout > 0:
        saved += h  # residual dropout mask (bool)
    cache = 0
    if p.kv_cache:
        k_b = 4 if (p.amp and rotary) else pb  # rotary runs in fp32 under autocast (fp32 cos/sin)
        reused = k_b == att_b and (not (p.attn == "eager" or math_path or windowed) or kv == heads)
        cache = 0 if reused else kv * (d + dv) * k_b
    return saved, core, sq_saved, sq_transient, cache


def _mlp(m: MLPSpec, h: int, in_bytes: int, p: Precision) -> tuple[int, int]:
    """(saved per token, transient per token) of a dense MLP."""
    pb = p.mlp_bytes
    inter = m.intermediate_size
    kinds = ["ffn_up"] if m.fused_gate_up or m.kind != "gated" else ["ffn_gate", "ffn_up"]
    saved = _linear_inputs(h, kinds, in_bytes, p)
    if m.kind == "gated":
        saved += 3 * pb * inter  # gate (kept by the activation), act(gate) and up (kept by the product)
        saved += _linear_inputs(inter, ["ffn_down"], pb, p)
        transient = 2 * pb * inter
    elif m.activation == "gelu_new":  # 0.5·x·(1 + tanh(√(2/π)(x + 0.044715·x³))), elementwise ops
        if p.amp:  # pow runs in fp32 under autocast: x³'s input, tanh, 1 + tanh in fp32; 0.5·x in bf16
            saved += (4 + 4 + 4 + 2) * inter + _linear_inputs(inter, ["ffn_down"], 4, p)
        else:
            saved += 4 * pb * inter + _linear_inputs(inter, ["ffn_down"], pb, p)
        transient = 3 * 4 * inter
    else:  # relu's derivative reads its output (threshold_backward(grad, result, 0)), which fc2 keeps: fc1's is not
        own, shared = _inputs(inter, ["ffn_down"], pb, p)  # relu's output is down's input unless dropped
        saved += pb * inter + own + (0 if m.activation == "relu" and not p.activation_dropout else shared)
        transient = 2 * pb * inter
    saved += (h if p.dropout > 0 else 0) + (inter if p.activation_dropout > 0 and m.kind != "gated" else 0)
    return saved, transient


def _mul_grads(layer: LayerSpec, p: Precision) -> int:
    """Intermediate-sized gradients beside a gated MLP's saved tensors when its product's backward runs
    (``MulBackward0``, torch ``derivatives.yaml`` ``mul.Tensor``: one new tensor per operand): the product's gradient
    stays alive until the node returns (``torch/csrc/autograd/engine.cpp``: the node's input buffer is its ``apply``'s
    argument), so three tensors at once. A down projection whose weight trains keeps the product and frees it as its
    own backward ends, so net two; a frozen down keeps no input (LoRA on attention only, QLoRA: bitsandbytes >= 0.43.2
    ``MatMul4Bit`` keeps ``(None, B)``), so net three. The simulator (real autograd on fake tensors) agrees on a
    checkpointed two-layer Mistral-shaped bf16 LoRA step (``tests/test_mlp_backward.py``)."""
    mlp = layer.mlp
    if mlp is None or layer.moe is not None or mlp.kind != "gated":  # a MoE block's experts: their own rule below
        return 2
    return 2 if p.full or "ffn_down" in p.lora_kinds else 3


def _cross(layer: LayerSpec) -> bool:
    return layer.attention is not None and layer.attention.cross_attention


def _low_softmax(spec: ModelSpec, layer: LayerSpec) -> bool:
    """Eager attention's softmax runs in the model dtype (no fp32 probabilities)."""
    return spec.family in fam.MODEL_DTYPE_SOFTMAX_EAGER or (layer.attention is not None and layer.attention.sinks)


def _moe(m: MoESpec, h: int, in_bytes: int, p: Precision, family: str = "") -> tuple[int, int, int, int, int]:
    """(saved per token, transient per token, saved per layer, backward transient per layer, intermediate-sized
    tensors kept per routed row) of a routed MoE block: router, top-k experts (``grouped_mm``), shared experts.

    With LoRA on the experts (PEFT ``ParamWrapper``, rank 2r on the fused gate_up, r on down) every
    forward materialises ``W + B·A`` for all experts in the compute dtype, which the grouped matmul keeps
    for backward, and the backward makes the full-size gradient of that merged weight.
    """
    pb = p.proj_bytes
    saved = _linear_inputs(h, ["ffn_gate_inp"], in_bytes, p) + 4 * m.num_experts + 16 * m.top_k
    inter = m.expert_intermediate_size
    # transformers >= 5 runs fused 3-D expert weights outside autocast's cast list: fp32 under autocast
    eb = 4 if p.amp else pb
    adapted = [k for k in EXPERT_KINDS if k in p.lora_kinds]
    # torch._grouped_mm has one derivative formula per operand (derivatives.yaml, like mm): its node saves the input
    # only when the expert weight trains (full training, or LoRA on that expert projection), never more than the
    # weight itself otherwise. So frozen experts (LoRA on attention only) keep neither the gathered tokens nor down's
    # input; the activation keeps gate_up's output (2·I, gate and up are views of it) and act(gate), the routing-weight
    # product the expert outputs. 4.x's loop (_expert_rows) also keeps each row its ``index_add_`` adds, in the block
    # input's dtype (``in_bytes``): index_add's derivative reads source (torch derivatives.yaml: expand_as(source))
    up_trains = p.full or "ffn_up_exps" in adapted or "ffn_gate_exps" in adapted
    down_trains = p.full or "ffn_down_exps" in adapted
    mlp_kept = (MOE_ACT_SAVED.get(family, 3) if m.kind == "gated" else 1) + (1 if down_trains else 0)
    per_route = (eb * h if up_trains else 0) + mlp_kept * eb * inter + (eb + (in_bytes if p.expert_loop else 0)) * h
    saved += m.routed_rows * per_route
    if m.num_shared_experts:
        shared = MLPSpec(m.num_shared_experts * (m.shared_intermediate_size or inter), m.kind)
        saved += _mlp(shared, h, in_bytes, p)[0]
    merged = largest = 0
    # the backward runs down first: its grouped_mm node frees the merged down weight it saved, so while the
    # merged gate_up weight's gradient is made the merged down weight is already gone
    for kind in reversed([k for k in adapted if k != "ffn_gate_exps"]):  # (gate is fused with up in gate_up)
        rows = 2 * inter if (kind == "ffn_up_exps" and m.kind == "gated") else inter
        size = m.num_experts * rows * h * pb
        rank = (2 if rows != inter else 1) * p.lora_rank * m.num_experts  # A: (rank, in), B: (out, rank)
        largest = max(largest, size - merged)  # this weight's gradient, less the merged weights already freed
        merged += size + pb * rank * (rows + h)  # W + B·A, and the per-expert A and B cast for baddbmm
    transient = 2 * pb * inter * m.top_k  # per token; the 4.x loop makes one expert's share at a time
    return saved, -(-transient // m.num_experts) if p.expert_loop else transient, merged, largest, mlp_kept


def _expert_rows(m: MoESpec, tokens: int, loop: bool) -> int:
    """Routed rows whose expert MLP runs (and runs backward) at once. transformers 5 runs every routed row in one
    ``grouped_mm``; transformers 4.x (the releases ``moe_release.expert_linears`` lists) loops over the experts, each an
    ``nn.Linear`` module run on its own tokens (4.48.1 ``MixtralSparseMoeBlock.forward``: ``for expert_idx in
    range(self.num_experts)``, ``current_state = hidden_states[None, top_x]``, ``expert_layer(current_state) *
    routing_weights[...]``, ``final_hidden_states.index_add_``), so the backward walks the experts one by one: the
    product's gradient and the two its ``MulBackward`` makes hold one expert's rows, ``tokens · top_k / num_experts``
    under uniform routing (the expected share; a batch's busiest expert takes more)."""
    return -(-tokens * m.top_k // m.num_experts) if loop else tokens * m.routed_rows


def _softmax_backward(spec: ModelSpec, layer: LayerSpec, p: Precision, b: int, s: int) -> int:
    """Bytes a materialised score matrix's backward holds (eager attention, SDPA's math path), else 0."""
    a = layer.attention
    if a is None:
        return 0
    math_path = p.attn != "eager" and (2 if p.amp else p.proj_bytes) == 4 and a.num_kv_heads < a.num_heads
    if p.attn != "eager" and not math_path:
        return 0
    # beside the saved probabilities: the gradient of the probabilities in fp32 and the softmax backward's output
    # (fp32 on the math path and under autocast, the input dtype otherwise), while the bf16 probabilities kept for
    # the matmul are already released
    per = 8 if math_path else (6 if p.amp else 4)
    if _low_softmax(spec, layer) and not p.amp and not math_path:
        per = 2 * p.proj_bytes  # the probabilities' gradient and the softmax backward's, model dtype
    return b * a.num_heads * s * s * per


def _layer(spec: ModelSpec, layer: LayerSpec, p: Precision, b: int, s: int) -> LayerActivations:
    if layer.attention is not None and layer.attention.single_kv:  # DeepSeek-V4: memory.dsv4_attention
        return LayerActivations(*dsv4_training(spec, layer, p.proj_bytes, b, s), weight_casts=0)
    h = spec.hidden_size
    T = b * s
    r = p.resid_bytes
    gemma = fam.gemma_norm(spec.family)
    layernorm, ln32 = spec.norm != "rms", spec.norm == "layernorm_fp32"  # ln32: OLMo's weightless fp32 LayerNorm
    softcap = spec.family in fam.SOFTCAPPED_ATTENTION
    rotary = spec.position_embedding == "rope"
    per_token = extra_token = 0
    sq_saved = sq_transient = core_token = cache_token = 0
    layout = layer.norm_layout
    n_norm, out_b = _norm(h, r, p, gemma or spec.family in fam.FP32_WEIGHT_NORM, layernorm, ln32)
    # input feeding attention / MLP: a norm's output (pre, sandwich, parallel) or the residual (post)
    feed = r if layout == "post" else out_b
    norms_saved = n_norm * layer.norms - shared_norm_input(layer, r * h, layernorm)
    per_token += norms_saved + fam.block_extras_saved(spec, layer, p.amp, r, p.proj_bytes, p.full)  # AltUp, PLE
    if layer.attention is not None:  # (falcon_h1 runs attention and a Mamba-2 mixer side by side)
        a_saved, core_token, sq_saved, sq_transient, cache_token = attention_saved(  # DSA MLA: axk2_attention
            layer.attention, spec, feed, p, b, s, _linear_inputs, _norm) if spec.family in OWN_MLA else _attention(
            layer.attention, h, feed, p, b, s, softcap, rotary, q_cat=rotary and spec.family in fam.Q_CAT_FAMILIES,
            low_softmax=_low_softmax(spec, layer), fp32_qk=spec.family in fam.FP32_WEIGHT_NORM)
        per_token += a_saved
    ssm_saved = ssm_back = 0
    extra_mixer = bool(layer.ssm or layer.linear or layer.conv)
    if extra_mixer:  # the recurrent mixers' torch paths (ssm_activations)
        extra, ssm_saved, ssm_back, w_in, w_out = recurrent_training(layer, h, b, s, p.proj_bytes, p.amp, spec.family)
        per_token += extra + _linear_inputs(w_in, ["ssm_in"], feed, p) + _linear_inputs(w_out, ["ssm_out"], 2, p)
    m_saved = 0
    if layer.mlp is not None:
        m_saved, m_tr = _mlp(layer.mlp, h, feed, p)
        per_token += m_saved
        extra_token = max(extra_token, m_tr)
    moe_layer, moe_back, moe_kept, relief = 0, 0, 0, mamba_backward_relief(layer, h, p.weight_bytes, p.full)
    if layer.moe is not None:
        m_saved, m_tr, moe_layer, moe_back, moe_kept = _moe(layer.moe, h, feed, p, spec.family)
        per_token += m_saved
        extra_token = max(extra_token, m_tr)
    weights = layer_linear_params(spec, layer)
    casts = 2 * weights if (p.amp and p.full) else 0
    rows = _expert_rows(layer.moe, T, p.expert_loop) if layer.moe else 0
    inter = max(T * (layer.mlp.intermediate_size if layer.mlp else 0),
                (layer.moe.expert_intermediate_size * rows if layer.moe else 0))
    # backward: the residual's gradient (and its sum) stay alive; then either the MLP's gradient buffers
    # (``_mul_grads``) or, for a materialised score matrix, the softmax backward's buffers, whichever is larger
    mlp_back = _mul_grads(layer, p) * (p.mlp_bytes if layer.moe is None else p.proj_bytes) * inter
    if layer.moe is not None and layer.moe.kind == "gated":
        # routed experts: the product's gradient (the down grouped_mm's input gradient) and the two gradients
        # MulBackward makes from it (of act(gate) and of up) are alive together, k·I per token each
        m = layer.moe
        # 4.x's quantized experts are bitsandbytes Linear4bit modules, whose forward returns ``out.to(inp_dtype)``
        # (bitsandbytes 0.43 ``nn/modules.py``): their gradients take the expert input's dtype (fp32 after kbit
        # preparation's fp32 norms, bf16 on trl's sharded path), not autocast's bf16
        eb = feed if p.expert_loop and p.quantized else p.proj_bytes
        mlp_back = max(mlp_back, 3 * eb * m.expert_intermediate_size * rows)
        if p.full:
            relief = expert_backward_relief(m, h, T, 4 if p.amp else p.proj_bytes, p.weight_bytes, moe_kept, mlp_back)
    # under autocast a weight's gradient is made in bf16, then cast to the fp32 parameter's dtype
    grad_cast = 2 * largest_matrix(spec, layer) if (p.amp and p.full) else 0
    # bitsandbytes dequantizes each 4-bit weight to bf16 for its matmul, forward and backward
    dequant = 2 * largest_matrix(spec, layer) if p.quantized else 0
    a, sq_back = layer.attention, _softmax_backward(spec, layer, p, b, s)
    sq_saved += fam.rel_bias_saved_bytes(spec, a, p.attn, b, s, p.proj_bytes)  # Inkling's bias mask
    if a is not None and p.attn == "eager" and not p.amp and spec.family in OWN_EAGER_SCORES:  # XGLMAttention's
        sq_saved += b * a.num_heads * s * s * p.proj_bytes  # torch.max(scores + mask, min): its backward reads them
    constant = layer.norms * 4 * h if gemma else 0  # Gemma norms keep 1 + weight.float() (fp32, per layer)
    saved = T * per_token + sq_saved + constant + moe_layer + ssm_saved
    back = T * 2 * r * h + max(mlp_back, sq_back, ssm_back) + grad_cast + dequant + moe_back
    if p.full and not p.amp and a is not None and layer.mlp is not None and layer.moe is None and not extra_mixer:
        relief = dense_backward_relief(a, layer.mlp, h, T, p.weight_bytes, p.proj_bytes, weights, m_saved, n_norm,
                                       saved, back, T * 2 * r * h, mlp_back, sq_back)
    return LayerActivations(saved=saved, attention_core=T * core_token + sq_saved,
        checkpoint=T * r * h * max(1, fam.altup_copies(spec)),  # gemma3n: the block's input is n AltUp copies
        forward_extra=max(T * extra_token, sq_transient) + dequant, backward_extra=back,
        weight_casts=casts, replicated=T * (norms_saved + (2 * h if p.dropout > 0 else 0)), cache=T * cache_token,
        op_saved=op_level_saved(spec, layer, T, p.proj_bytes, p.resid_bytes, p.amp, p.attn != "eager"),
        backward_relief=relief if layer.moe is None or mlp_back >= max(sq_back, ssm_back) else 0,
    )
