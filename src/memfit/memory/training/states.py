"""Training model states on one unsharded replica: weights, LoRA adapters, gradients, optimizer states.

Also the facts a training step reads from ``data/training.toml`` (allocator reserve fractions, cuBLAS handles)
and the ``Precision`` a mode implies (mixed precision, LoRA, QLoRA's kbit preparation).
"""

from __future__ import annotations

import importlib.resources
import math
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from ...errors import ConfigError, UnsupportedError
from ...formats import COMPUTE_DTYPE_BYTES, compute_dtype, get_format, quantized_tensor_bytes, quantizes, tensor_role
from ...inventory import count_parameters, inventory
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..activations import Precision
from ..fp32_parameters import fp32_kept
from ..images import idle_tower_parameters
from ..lora import DEFAULT_TARGETS, adapted_kinds, adapted_tensors, expert_adapters
from ..loss_release import loss_release
from ..moe_release import expert_linears
from ..optimizers import OptimizerMemory, optimizer_memory
from ..torchtune import rope_cache_bytes, rope_cache_formula

__all__ = [
    "NO_GRAD_INDEXER",
    "TRAINING_HANDLES",
    "ModelStates",
    "dtype_bytes",
    "indexer_parameter",
    "model_states",
    "reserve_fraction",
    "training_precision",
]


@cache
def _training_facts() -> dict[str, Any]:
    """``data/training.toml``: allocator reserve fractions and cuBLAS handles, each with its source."""
    return tomllib.loads(importlib.resources.files("memfit.data").joinpath("training.toml").read_text())


def reserve_fraction(checkpointing: str) -> float:
    """Caching-allocator reserve as a fraction of the transient bytes at the peak (measured, see the data file)."""
    row = _training_facts()["allocator"]
    return float(row["reserve_fraction_checkpointing" if checkpointing == "full" else "reserve_fraction"])


TRAINING_HANDLES = int(_training_facts()["cublas"]["handles"])  # forward thread and autograd thread


def dtype_bytes(name: str) -> int:
    """Bytes per element of a dense training dtype."""
    dtype = compute_dtype(name)
    if dtype is None:
        raise ConfigError(f"training dtype {name!r} is not supported; use bfloat16, float16 or float32 "
                          "(quantized bases: mode qlora with --quant nf4-dq)")
    return COMPUTE_DTYPE_BYTES[dtype]


@dataclass(frozen=True)
class ModelStates:
    """Persistent per-GPU bytes (unsharded): weights, adapters, gradients, optimizer states."""

    weights: int
    weights_formula: str
    lora: int
    trainable: int
    grad_bytes: int  # bytes per gradient element
    gradients: int
    optimizer: OptimizerMemory
    layer_grads: tuple[int, ...]  # gradient bytes of each decoder layer
    head_grads: int  # lm_head / final norm (and a tied embedding) gradients, made at the start of backward
    embedding_grads: int  # an untied trainable embedding (and a training vision tower), made at the end of backward
    precision: Precision
    tower_grads: int = 0  # the vision tower's share of ``embedding_grads`` (with images)
    fp32_kept: bool = False  # ``weights`` counts the family's kept-float32 parameters at 4 B each


def _is_quant(wl: Workload) -> bool:
    return wl.mode == "qlora" or (wl.mode == "lora" and wl.quant is not None)


def training_precision(spec: ModelSpec, wl: Workload) -> Precision:
    base = dtype_bytes(wl.dtype or "bfloat16")
    # the dropout ops the family's modelling code runs in training (GPT-2, StarCoder2, Phi configs set them)
    drop = spec.residual_dropout, spec.attention_dropout, spec.embedding_dropout
    rel = loss_release(wl.transformers_version)  # the release's loss: its shifted fp32 copy (loss_release.py)
    p = _precision(spec, wl, base, drop)
    p = replace(p, activation_dropout=spec.activation_dropout)
    if wl.mode == "train" and wl.trainer != "transformers":  # torchtune's decoder returns self.output(h).float(),
        return replace(p, trainer=wl.trainer, model_float_logits=True)  # its labels are shifted (memory/torchtune.py)
    return replace(p, loss_shift_copy=rel.shift_copy, model_float_logits=rel.model_float)


def _precision(spec: ModelSpec, wl: Workload, base: int, drop: tuple[float, float, float]) -> Precision:
    if wl.mode == "train":
        wb = 4 if wl.mixed_precision else base
        return Precision(amp=wl.mixed_precision, weight_bytes=wb, resid_bytes=wb, full=True, attn=wl.attn,
                         dropout=drop[0], attention_dropout=drop[1], embedding_dropout=drop[2])
    targets = wl.lora_targets or DEFAULT_TARGETS
    kinds = adapted_kinds(spec, targets, wl.peft_version)
    if _is_quant(wl):  # prepare_model_for_kbit_training: every 16-bit parameter becomes fp32 (trl: see _trl_bf16)
        return Precision(amp=wl.mixed_precision, weight_bytes=4, resid_bytes=4, full=False, lora_kinds=kinds,
                         lora_rank=wl.lora_rank, lora_dropout=wl.lora_dropout, attn=wl.attn, quantized=True,
                         embed_out_bytes=2 if wl.qlora_prep == "trl" else 0,
                         expert_loop=_expert_loop(spec, wl),
                         dropout=drop[0], attention_dropout=drop[1], embedding_dropout=drop[2])
    return Precision(amp=wl.mixed_precision, weight_bytes=base, resid_bytes=base, full=False, lora_kinds=kinds,
                     lora_rank=wl.lora_rank, lora_dropout=wl.lora_dropout, attn=wl.attn,
                     expert_loop=_expert_loop(spec, wl),
                     dropout=drop[0], attention_dropout=drop[1], embedding_dropout=drop[2])


def _expert_loop(spec: ModelSpec, wl: Workload) -> bool:
    """The frozen experts of LoRA / QLoRA run one at a time (activations' ``_expert_rows``): the releases that build
    them as ``nn.Linear`` modules (transformers 4.x, ``moe_release.expert_linears``) loop over them, unless
    ``--moe-experts`` says how they ran (the simulator's "4.48.1" records ran transformers 5's grouped experts with
    4.48's loss and checkpoint layout: ``experts: grouped``)."""
    if not spec.is_moe:
        return False
    if wl.moe_experts is not None:
        return wl.moe_experts == "loop"
    return expert_linears(wl.transformers_version, spec.family)


# trl's SFTTrainer with bf16=True (``peft_module_casting_to_bf16``, trl 0.10.1 – 0.13.0 read): after PEFT's
# prepare_model_for_kbit_training made every unquantized parameter fp32, modules named lm_head, embed_tokens, wte or
# wpe go back to bf16 (norms stay fp32); the embedding's output, the first layer's input, is then bf16 too
_TRL_BF16 = frozenset({"token_embd", "pos_embd", "output"})


def _quant_weights(spec: ModelSpec, quant: str, trl: bool = False, linears: bool = False) -> tuple[int, str]:
    """QLoRA base: bitsandbytes-quantized block Linears + fp32 for everything else (kbit preparation); with
    ``trl`` the embeddings and the output projection in bf16 (``_TRL_BF16``); with ``linears`` (transformers 4.x's
    per-expert ``nn.Linear`` experts and router, ``moe_release.py``) each expert's projection quantized on its own
    (its own absmax, nested statistics and code tables) and the router too."""
    fmt = get_format(quant)
    qbytes = kept = qparams = half = 0
    moe = spec.is_moe
    for t in inventory(spec):
        role = tensor_role(t)
        if linears and role == "experts" and not t.is_bias:
            qbytes += t.shape[0] * quantized_tensor_bytes(fmt, t.shape[1:])
            qparams += t.numel
        elif (linears and role == "router") or quantizes(fmt, role, moe):
            qbytes += quantized_tensor_bytes(fmt, t.shape)
            qparams += t.numel
        elif trl and t.kind in _TRL_BF16:
            half += t.numel
        else:
            kept += t.numel
    total = qbytes + 4 * kept + 2 * half
    trl_part = f" + {half:,} embedding / lm_head parameters × 2 B (trl's bf16 cast)" if trl else ""
    own = " (each expert's nn.Linear and the router on their own: transformers 4.x)" if linears and moe else ""
    return total, (f"{qparams:,} quantized parameters{own} in {fmt.name} = {fmt_bytes(qbytes)} + {kept:,} other "
                   f"parameters × 4 B (fp32 after prepare_model_for_kbit_training){trl_part} = {fmt_bytes(total)}")


def model_states(spec: ModelSpec, wl: Workload) -> ModelStates:
    """Weights, adapters, gradients and optimizer states on one unsharded replica."""
    p = training_precision(spec, wl)
    n_total = count_parameters(spec).total
    layer_grads = [0] * spec.num_layers
    if wl.mode == "train":
        weights, wformula, trainable, opt, (head, emb, tower, gradients) = _full(spec, wl, p, layer_grads)
        lora, grad_b = 0, p.weight_bytes
        if wl.trainer != "transformers":  # torchtune's RoPE module builds its fp32 table on the GPU (torchtune.py)
            weights, wformula = weights + rope_cache_bytes(spec), wformula + rope_cache_formula(spec)
    else:
        if _is_quant(wl):
            if wl.quant is None:
                wl = wl.replace(quant="nf4-dq")
            weights, wformula = _quant_weights(spec, wl.quant or "nf4-dq", wl.qlora_prep == "trl",
                                               expert_linears(wl.transformers_version, spec.family))
        else:
            kept = _fp32_kept_parameters(spec, p.weight_bytes)
            weights = (n_total - kept) * p.weight_bytes + kept * 4
            wformula = f"{n_total - kept:,} frozen parameters × {p.weight_bytes} B" + (
                f" + {kept:,} kept in float32 by the family × 4 B" if kept else "")
        adapted = adapted_tensors(spec, wl.lora_targets or DEFAULT_TARGETS, wl.peft_version)
        experts = expert_adapters(spec, wl.lora_rank, wl.lora_targets or DEFAULT_TARGETS, wl.peft_version)
        if not adapted and not experts:
            have = sorted({t.name.rsplit(".", 2)[-2] for t in inventory(spec)
                           if t.layer is not None and len(t.shape) == 2 and t.name.endswith(".weight")})
            raise UnsupportedError(f"none of the LoRA targets {', '.join(wl.lora_targets)} exists in {spec.name}; "
                                   f"pick --lora-targets from its linear modules: {', '.join(have)}")
        r = wl.lora_rank
        shapes: list[tuple[int, ...]] = []
        head = emb = tower = idle = 0
        for t in adapted:
            if _idle_factor(spec, t.name):  # built, no gradient reaches it: no state (lora_factors)
                idle += r * (t.shape[0] + t.shape[1])
                continue
            shapes += [(r, t.shape[1]), (t.shape[0], r)]
            b = 4 * r * (t.shape[0] + t.shape[1])
            if t.layer is not None:
                layer_grads[t.layer] += b
            else:
                head += b
        for layer_i, _kind, a_shape, b_shape in experts:
            shapes += [a_shape, b_shape]
            layer_grads[layer_i] += 4 * (math.prod(a_shape) + math.prod(b_shape))
        trainable = sum(math.prod(s) for s in shapes)
        lora = 4 * (trainable + idle)
        grad_b = 4
        gradients = trainable * grad_b
        opt = optimizer_memory(_opt_name(wl.optimizer), shapes, 4)
    return ModelStates(weights=weights, weights_formula=wformula, lora=lora, trainable=trainable, grad_bytes=grad_b,
                       gradients=gradients, optimizer=opt, layer_grads=tuple(layer_grads), head_grads=head,
                       embedding_grads=emb, tower_grads=tower, precision=p,
                       fp32_kept=not _is_quant(wl) and p.weight_bytes == 2)


def _full(spec: ModelSpec, wl: Workload, p: Precision, layer_grads: list[int]
          ) -> tuple[int, str, int, OptimizerMemory, tuple[int, int, int, int]]:
    """Full training: weights, trainable parameters, optimizer states and the head / embedding / vision-tower /
    all gradients (``layer_grads`` filled per layer). Under 16-bit weights (no mixed precision)
    the family's kept-float32 parameters (``data/fp32_parameters.toml``) stay float32, so do their gradients (torch
    AccumulateGrad: ``.grad`` takes the parameter's dtype) and AdamW's states (torch 2.13 optim/adamw.py
    ``_init_group``: ``torch.zeros_like(p, memory_format=torch.preserve_format)``; the fused kernel groups the
    tensors by dtype, ``Optimizer._group_tensors_by_device_and_dtype``)."""
    tensors = inventory(spec)
    n_total = count_parameters(spec).total
    wb = p.weight_bytes
    kept = _fp32_kept_parameters(spec, wb)
    weights = (n_total - kept) * wb + kept * 4
    wformula = f"{n_total - kept:,} parameters × {wb} B{' (fp32 master weights)' if wl.mixed_precision else ''}" + (
        f" + {kept:,} kept in float32 by the family × 4 B" if kept else "")
    # a vision tower that sees no image (no --images) gets no gradient, so AdamW keeps no state for it; nor do
    # the cross-attention layers that attend to its output (mllama's: skipped on text alone)
    cross = {i for i, la in enumerate(spec.layers) if la.attention is not None and la.attention.cross_attention}
    idle = {t.name for t in tensors if t.group == "vision" or t.layer in cross} if not wl.images else set()
    idle |= {t.name for t in tensors if encoder_attention(t.name) or indexer_parameter(spec.family, t.name)}
    # with images, Qwen3-VL's deepstack mergers that no text layer reads get no gradient either (images.py)
    unused = idle_tower_parameters(spec) if wl.images else 0
    wide = {t.name for t in tensors if kept and fp32_kept(spec.family, t.name)}
    shapes: tuple[list[tuple[int, ...]], list[tuple[int, ...]]] = ([], [])
    head = emb = tower = 0
    for t in tensors:
        if t.name in idle:
            continue
        shapes[t.name in wide].append((t.numel - unused,) if t.name == "vision_tower" else t.shape)
        b = (t.numel - (unused if t.name == "vision_tower" else 0)) * (4 if t.name in wide else wb)
        tower += b if t.group == "vision" else 0
        if t.layer is not None:
            layer_grads[t.layer] += b
        elif (t.kind in ("token_embd", "pos_embd") and not spec.tie_word_embeddings) or t.group == "vision":
            # made at the end of backward: the input embedding's, and a vision tower's (it runs before the text
            # layers in the forward, so its backward comes after theirs)
            emb += b
        else:
            head += b
    trainable = n_total - sum(t.numel for t in tensors if t.name in idle) - unused
    opt = optimizer_memory(_opt_name(wl.optimizer), shapes[0], wb)
    if shapes[1]:  # the float32 group's states: the step's temporaries run one dtype group at a time
        wide_opt = optimizer_memory(_opt_name(wl.optimizer), shapes[1], 4)
        opt = replace(opt, state_bytes=opt.state_bytes + wide_opt.state_bytes, formula=f"{opt.formula} + "
                      f"{wide_opt.formula}", step_temporary=max(opt.step_temporary, wide_opt.step_temporary))
    gradients = trainable * wb + sum(math.prod(x) for x in shapes[1]) * (4 - wb)
    return weights, wformula, trainable, opt, (head, emb, tower, gradients)


def lora_factors(spec: ModelSpec, wl: Workload) -> list[tuple[int | None, int, bool]]:
    """Every LoRA factor PEFT builds, in model order (each adapted Linear's ``lora_A`` then ``lora_B``, then the
    experts'): (layer, elements, whether it trains). PEFT matches target names by suffix (peft 0.22
    tuners/tuners_utils.py ``check_target_module_exists``), so ``q_proj`` also adapts a decoder layer's
    ``encoder_attn.q_proj``; a causal LM on text never calls that module (``encoder_attention``), so its factors,
    built and ``requires_grad``, get no gradient and AdamW no state (torch/optim/adam.py ``_init_group``); nor do the
    factors on a lightning indexer's projections (``indexer_parameter``: e.g. ``q_proj`` / ``k_proj`` also adapt
    MiniMax-M3's ``indexer.q_proj`` / ``indexer.k_proj``), whose output reaches the loss only as integer indices."""
    targets, r = wl.lora_targets or DEFAULT_TARGETS, wl.lora_rank
    out: list[tuple[int | None, int, bool]] = []
    for t in adapted_tensors(spec, targets, wl.peft_version):
        trains = not _idle_factor(spec, t.name)
        out += [(t.layer, r * t.shape[1], trains), (t.layer, t.shape[0] * r, trains)]
    for layer, _kind, a, b in expert_adapters(spec, r, targets, wl.peft_version):
        out += [(layer, math.prod(a), True), (layer, math.prod(b), True)]
    return out


def _idle_factor(spec: ModelSpec, name: str) -> bool:
    """Whether LoRA's factors on the adapted Linear ``name`` get no gradient: an encoder attention a causal LM never
    calls, or a lightning indexer whose output is integer top-k indices (LoRA's ``lora_B(lora_A(x))`` is added to
    that Linear's output, which reaches the loss only through ``topk(...).indices``)."""
    return encoder_attention(name) or indexer_parameter(spec.family, name)


def encoder_attention(name: str) -> bool:
    """Whether the parameter belongs to a decoder layer's attention to an encoder's output, which a causal LM run on
    text alone never calls, so it gets no gradient and AdamW no state for it (torch/optim/adam.py ``_init_group``
    takes only parameters whose ``.grad`` is not None). transformers 5.25: every ``*DecoderLayer`` with an
    ``encoder_attn`` and its ``encoder_attn_layer_norm`` (models/bart/modeling_bart.py BartDecoderLayer.forward,
    ``if encoder_hidden_states is not None:``; the same block in mbart, plbart, blenderbot, blenderbot_small, marian,
    pegasus, bigbird_pegasus, whisper, mvp, trocr and xglm), whose ``*ForCausalLM.forward`` passes the
    ``encoder_hidden_states`` it is given, None for text."""
    return any(part in ("encoder_attn", "encoder_attn_layer_norm") for part in name.split("."))


# families whose lightning indexer returns only integer top-k indices (or a mask built from them), so no path from the
# loss reaches its parameters (transformers 5.25; each checked on the CPU with transformers' own tiny model, one
# forward + backward, tests/test_indexer_grads.py): DeepseekV4Indexer (deepseek_v4), DeepseekV32Indexer
# (deepseek_v32), GlmMoeDsaIndexer (glm_moe_dsa), AXK2Indexer (axk2), HYV4Indexer (hy_v4), Dots3NoteTextIndexer
# (dots3_note), HYV4VLIndexer (hy_v4_vl), MistralLarge4TextIndexer (mistral_large4: also its q_input_norm and
# softmax_scaling), each ``forward`` ending ``index_scores.topk(topk, dim=-1).indices.to(torch.int32)``, read by the
# attention only to scatter a boolean mask; MiniMaxM3VLIndexer (minimax_m3_vl) returns the top-k block indices and
# ``build_block_mask`` turns them into a boolean mask
NO_GRAD_INDEXER = frozenset(
    {
        "deepseek_v4",
        "deepseek_v32",
        "glm_moe_dsa",
        "axk2",
        "hy_v4",
        "hy_v4_vl",
        "mistral_large4",
        "dots3_note",
        "dots3_note_text",
        "minimax_m3_vl",
        "minimax_m3_vl_text",
    }
)


def indexer_parameter(family: str, name: str) -> bool:
    """Whether the parameter belongs to a lightning indexer that gets no gradient, so AdamW keeps no state for it
    (torch 2.13 optim/adam.py ``_init_group``: only parameters whose ``.grad`` is not None). The indexer's output is
    integers: torch's topk differentiates its values alone (tools/autograd/derivatives.yaml ``topk``:
    ``output_differentiability: [True, False]``), so AccumulateGrad never runs for the indexer's projections and norms
    (``NO_GRAD_INDEXER``). transformers 5.25 models/deepseek_v4/modeling_deepseek_v4.py:
    ``DeepseekV4Indexer.forward`` returns ``index_scores.topk(top_k, dim=-1).indices``, and
    ``DeepseekV4CSACompressor.forward`` reads them only to scatter a constant 0 into a fresh ``block_bias``; the
    DeepSeek-V3.2-style indexers (``wq_b``, ``wk``, ``k_norm``, ``weights_proj``) feed ``.scatter(-1, topk_indices,
    False)`` of a boolean mask (e.g. models/deepseek_v32/modeling_deepseek_v32.py ``DeepseekV32Attention.forward``)."""
    return family in NO_GRAD_INDEXER and ".indexer." in name


def _fp32_kept_parameters(spec: ModelSpec, weight_bytes: int) -> int:
    """Parameters the family's code keeps in float32 under 16-bit weights (``data/fp32_parameters.toml``: transformers'
    ``_keep_in_fp32_modules_strict``, e.g. HY-V4's float32 lm_head and hyper-connections); 0 for other weights."""
    if weight_bytes != 2:
        return 0
    return sum(t.numel for t in inventory(spec) if fp32_kept(spec.family, t.name))


def _opt_name(name: str) -> str:
    return "adamw-fused" if name.lower() in ("adamw", "adam") else name
