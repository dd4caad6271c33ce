"""Training memory: full fine-tuning, mixed precision, optimizers, checkpointing, LoRA and QLoRA.

``estimate_training(spec, wl)`` predicts ``torch.cuda.max_memory_allocated()`` over training steps
(``Estimate.allocated_bytes``) by walking one step the way PyTorch runs it, and reports the
components at the peak plus what ``nvidia-smi`` adds (CUDA context, allocator reserve):

1. model states: weights (fp32 under mixed precision, the model dtype otherwise; QLoRA: NF4 base
   and the fp32 copies ``prepare_model_for_kbit_training`` makes of every other parameter), LoRA
   adapters (fp32), gradients (the trainable parameters' dtype), optimizer states (made lazily at
   the first ``step()``, so the second step runs forward and backward with them);
2. forward: each layer's saved activations (``memory.activations``) accumulate; at the end the
   logits, their fp32 copy and log_softmax's fp32 output coexist (bf16 weight casts of autocast
   stay cached until autocast exits);
3. backward: the cross-entropy backward first makes two fp32 ``b·s·V`` tensors; then layer by
   layer activations are freed while gradients appear (with checkpointing each layer is
   recomputed first); a tied embedding's backward makes a dense ``V·h`` gradient at the end;
4. optimizer step: gradients + states + the step's temporaries (foreach AdamW: one
   parameter-sized ``sqrt`` buffer); ``zero_grad(set_to_none=True)`` then frees the gradients.

The peak is the largest of these moments. Across several GPUs ``memory.parallel`` divides the
model states and activations per rank (ZeRO, FSDP, tensor/pipeline/sequence/expert parallelism)
and the estimate reports the most-loaded GPU.
"""

from __future__ import annotations

import importlib.resources
import math
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

from ..errors import ConfigError, UnsupportedError
from ..formats import COMPUTE_DTYPE_BYTES, compute_dtype, get_format, quantized_tensor_bytes, quantizes, tensor_role
from ..inventory import count_parameters, inventory
from ..result import Component, Estimate
from ..spec import ModelSpec
from ..units import fmt_bytes
from ..workload import Workload
from .activations import ModelActivations, Precision, model_activations
from .lora import DEFAULT_TARGETS, adapted_kinds, adapted_tensors, expert_adapters
from .optimizers import OptimizerMemory, optimizer_memory
from .overhead import cublas_workspace_bytes, cuda_context_component

__all__ = ["ModelStates", "StepPeak", "estimate_training", "model_states", "step_peak"]

@cache
def _training_facts() -> dict[str, Any]:
    """``data/training.toml``: allocator reserve fractions and cuBLAS handles, each with its source."""
    return tomllib.loads(importlib.resources.files("memfit.data").joinpath("training.toml").read_text())


def reserve_fraction(checkpointing: str) -> float:
    """Caching-allocator reserve as a fraction of the transient bytes at the peak (measured, see the data file)."""
    row = _training_facts()["allocator"]
    return float(row["reserve_fraction_checkpointing" if checkpointing == "full" else "reserve_fraction"])


_TRAINING_HANDLES = int(_training_facts()["cublas"]["handles"])  # forward thread and autograd thread


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
    embedding_grads: int  # an untied trainable embedding, made at the very end of backward
    precision: Precision


def _is_quant(wl: Workload) -> bool:
    return wl.mode == "qlora" or (wl.mode == "lora" and wl.quant is not None)


def _precision(spec: ModelSpec, wl: Workload) -> Precision:
    base = dtype_bytes(wl.dtype or "bfloat16")
    # the dropout ops the family's modelling code runs in training (GPT-2, StarCoder2, Phi configs set them)
    drop = spec.residual_dropout, spec.attention_dropout, spec.embedding_dropout
    if wl.mode == "train":
        wb = 4 if wl.mixed_precision else base
        return Precision(amp=wl.mixed_precision, weight_bytes=wb, resid_bytes=wb, full=True, attn=wl.attn,
                         dropout=drop[0], attention_dropout=drop[1], embedding_dropout=drop[2])
    targets = wl.lora_targets or DEFAULT_TARGETS
    kinds = adapted_kinds(spec, targets)
    if _is_quant(wl):  # prepare_model_for_kbit_training: every 16-bit parameter becomes fp32
        return Precision(amp=wl.mixed_precision, weight_bytes=4, resid_bytes=4, full=False, lora_kinds=kinds,
                         lora_rank=wl.lora_rank, attn=wl.attn, quantized=True,
                         dropout=drop[0], attention_dropout=drop[1], embedding_dropout=drop[2])
    return Precision(amp=wl.mixed_precision, weight_bytes=base, resid_bytes=base, full=False, lora_kinds=kinds,
                     lora_rank=wl.lora_rank, attn=wl.attn,
                     dropout=drop[0], attention_dropout=drop[1], embedding_dropout=drop[2])


def _quant_weights(spec: ModelSpec, quant: str) -> tuple[int, str]:
    """QLoRA base: bitsandbytes-quantized block Linears + fp32 for everything else (kbit preparation)."""
    fmt = get_format(quant)
    qbytes = kept = qparams = 0
    moe = spec.is_moe
    for t in inventory(spec):
        if quantizes(fmt, tensor_role(t), moe):
            qbytes += quantized_tensor_bytes(fmt, t.shape)
            qparams += t.numel
        else:
            kept += t.numel
    total = qbytes + 4 * kept
    return total, (f"{qparams:,} quantized parameters in {fmt.name} = {fmt_bytes(qbytes)} + {kept:,} other "
                   f"parameters × 4 B (fp32 after prepare_model_for_kbit_training) = {fmt_bytes(total)}")


def model_states(spec: ModelSpec, wl: Workload) -> ModelStates:
    """Weights, adapters, gradients and optimizer states on one unsharded replica."""
    p = _precision(spec, wl)
    tensors = inventory(spec)
    n_total = count_parameters(spec).total
    layer_grads = [0] * spec.num_layers
    if wl.mode == "train":
        wb = p.weight_bytes
        weights = n_total * wb
        wformula = f"{n_total:,} parameters × {wb} B{' (fp32 master weights)' if wl.mixed_precision else ''}"
        shapes = [t.shape for t in tensors]
        grad_b = wb
        head = emb = 0
        for t in tensors:
            b = t.numel * grad_b
            if t.layer is not None:
                layer_grads[t.layer] += b
            elif t.kind in ("token_embd", "pos_embd") and not spec.tie_word_embeddings:
                emb += b
            else:
                head += b
        lora = 0
        trainable = n_total
        opt = optimizer_memory(_opt_name(wl.optimizer), shapes, wb)
    else:
        if _is_quant(wl):
            if wl.quant is None:
                wl = wl.replace(quant="nf4-dq")
            weights, wformula = _quant_weights(spec, wl.quant or "nf4-dq")
        else:
            weights = n_total * p.weight_bytes
            wformula = f"{n_total:,} frozen parameters × {p.weight_bytes} B"
        adapted = adapted_tensors(spec, wl.lora_targets or DEFAULT_TARGETS)
        experts = expert_adapters(spec, wl.lora_rank, wl.lora_targets or DEFAULT_TARGETS)
        if not adapted and not experts:
            have = sorted({t.name.rsplit(".", 2)[-2] for t in inventory(spec)
                           if t.layer is not None and len(t.shape) == 2 and t.name.endswith(".weight")})
            raise UnsupportedError(f"none of the LoRA targets {', '.join(wl.lora_targets)} exists in {spec.name}; "
                                   f"pick --lora-targets from its linear modules: {', '.join(have)}")
        r = wl.lora_rank
        shapes = []
        head = emb = 0
        for t in adapted:
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
        lora = 4 * trainable
        grad_b = 4
        opt = optimizer_memory(_opt_name(wl.optimizer), shapes, 4)
    return ModelStates(weights=weights, weights_formula=wformula, lora=lora, trainable=trainable, grad_bytes=grad_b,
                       gradients=trainable * grad_b, optimizer=opt, layer_grads=tuple(layer_grads), head_grads=head,
                       embedding_grads=emb, precision=p)


def _opt_name(name: str) -> str:
    return "adamw-fused" if name.lower() in ("adamw", "adam") else name


@dataclass(frozen=True)
class StepPeak:
    """The largest moment of a training step, with what is alive then (bytes, one replica)."""

    phase: str
    activations: int
    logits: int
    gradients: int
    optimizer_states: int
    optimizer_temporary: int
    phases: dict[str, int]


def step_peak(states: ModelStates, acts: ModelActivations, wl: Workload, *, ckpt: str = "none",
              states_on_device: bool = True) -> StepPeak:
    """Walk forward, backward and the optimizer step; return the peak moment (beyond weights)."""
    S = states.optimizer.state_bytes if (states_on_device and states.optimizer.on_device) else 0
    G = states.gradients
    accum = G if wl.grad_accum > 1 else 0  # later micro-batches run with the accumulated gradients
    layers = acts.layers
    n = len(layers)
    full = ckpt == "full"

    def kept(la_index: int) -> int:
        la = layers[la_index]
        if full:
            return la.checkpoint
        if ckpt == "selective":
            return la.saved - la.attention_core
        return la.saved

    prefix = [0] * (n + 1)
    for i in range(n):
        prefix[i + 1] = prefix[i] + kept(i)
    casts_all = sum(la.weight_casts for la in layers)
    moments: dict[str, tuple[int, int, int, int]] = {}  # phase -> (activations, logits, grads, temp)
    # forward, inside each layer (recomputation of the attention core does not change the forward)
    fwd = 0
    casts = acts.head_weight_casts
    cache = 0
    for i, la in enumerate(layers):
        casts += la.weight_casts
        cache += la.cache
        fwd = max(fwd, prefix[i] + la.saved + la.forward_extra + casts + cache)
    moments["forward"] = (acts.outside + fwd, 0, accum, 0)
    # end of forward: the loss (autocast's weight-cast cache is still alive)
    saved_layers = prefix[n]
    base_act = saved_layers + acts.outside + casts_all + acts.head_weight_casts + cache
    moments["forward (loss)"] = (base_act, acts.loss_saved + acts.loss_forward_extra, accum, 0)
    # backward: cross-entropy first; with checkpointing the layer casts left with the autocast cache
    bwd_casts = acts.head_weight_casts + (0 if full else casts_all)
    moments["backward (loss)"] = (saved_layers + acts.outside + bwd_casts,
                                  acts.loss_saved + acts.loss_backward_extra, accum, 0)
    grads = states.head_grads
    for i in range(n - 1, -1, -1):
        la = layers[i]
        grads += states.layer_grads[i]
        layer_act = la.saved + la.backward_extra + (la.weight_casts if full else 0)
        act = prefix[i] + layer_act + (0 if full else sum(x.weight_casts for x in layers[: i + 1]))
        moments[f"backward (layer {i})"] = (act, 0, max(grads, accum), 0)
    moments["backward (embedding)"] = (acts.embedding_backward_extra, 0, G, 0)
    moments["optimizer step"] = (0, 0, G, states.optimizer.step_temporary)
    best_phase, best = "", -1
    totals: dict[str, int] = {}
    for phase, (a, lg, g, tmp) in moments.items():
        total = a + lg + g + tmp + S
        totals[phase] = total
        if total > best:
            best_phase, best = phase, total
    a, lg, g, tmp = moments[best_phase]
    return StepPeak(best_phase, a, lg, g, S, tmp, totals)


def estimate_training(spec: ModelSpec, wl: Workload) -> Estimate:
    """Training memory for ``wl.mode`` in (train, lora, qlora) on ``wl.gpus`` GPUs (the most-loaded one)."""
    if wl.mode not in ("train", "lora", "qlora"):
        raise ConfigError(f"estimate_training needs mode train, lora or qlora, not {wl.mode!r}")
    if wl.mode == "qlora" and wl.quant is None:
        wl = wl.replace(quant="nf4-dq")
    if wl.gpus > 1 or wl.tp > 1 or wl.pp > 1 or wl.ep > 1 or wl.zero > 0:
        from .parallel import estimate_parallel
        return estimate_parallel(spec, wl, shard_size=wl.shard_size)
    states = model_states(spec, wl)
    return _single_gpu(spec, wl, states)


def _single_gpu(spec: ModelSpec, wl: Workload, states: ModelStates) -> Estimate:
    p = replace(states.precision, kv_cache=wl.checkpointing != "full")
    acts = model_activations(spec, p, wl.batch, wl.context)
    peak = step_peak(states, acts, wl, ckpt=wl.checkpointing)
    workspace = _TRAINING_HANDLES * cublas_workspace_bytes()
    components = training_components(spec, wl, states, peak, workspace)
    allocated = sum(c.bytes for c in components if c.name not in ("cuda_context", "allocator_reserve") and c.on_device)
    if not states.optimizer.on_device:  # unified memory: not counted by torch.cuda.memory_allocated
        allocated -= states.optimizer.state_bytes
    notes = [f"peak during {peak.phase} of the second step (optimizer states exist from the first step)"]
    if not states.optimizer.on_device:
        notes.append("paged optimizer: states live in CUDA unified memory (not in PyTorch's allocator); "
                     "they move to host RAM only under memory pressure")
    if wl.grad_accum > 1:
        notes.append(f"gradient accumulation over {wl.grad_accum} micro-batches: activations of one micro-batch "
                     "of batch × context, gradients kept between them")
    details: dict[str, Any] = {
        "trainable_parameters": states.trainable,
        "peak_phase": peak.phase,
        "phases": peak.phases,
        "optimizer": states.optimizer.name,
        "per_gpu": [{"rank": 0, "components": {c.name: c.bytes for c in components}}],
    }
    return Estimate(spec.name, wl.mode, wl.dtype or "bfloat16", count_parameters(spec), tuple(components),
                    allocated_bytes=allocated, notes=tuple(notes), details=details)


def training_components(spec: ModelSpec, wl: Workload, states: ModelStates, peak: StepPeak, workspace: int,
                        weights: int | None = None, weights_formula: str | None = None,
                        host: list[Component] | None = None, gradients_formula: str | None = None,
                        optimizer_formula: str | None = None) -> list[Component]:
    """The components at the peak, in the JSON contract's names. ``*_formula`` replace the single-GPU
    arithmetic of a component (a sharded rank writes its own)."""
    w = states.weights if weights is None else weights
    comps = [Component("weights", w, f"{weights_formula or states.weights_formula} = {fmt_bytes(w)}")]
    if states.lora:
        comps.append(Component("lora_weights", states.lora,
                               f"{states.trainable:,} LoRA parameters (r = {wl.lora_rank}) × 4 B (fp32) = "
                               f"{fmt_bytes(states.lora)}"))
    comps.append(Component("gradients", peak.gradients,
                           f"gradients alive at the peak ({peak.phase}): {fmt_bytes(peak.gradients)}; all "
                           + (gradients_formula or f"{states.trainable:,} trainable × {states.grad_bytes} B = "
                              f"{fmt_bytes(states.gradients)}")))
    opt = states.optimizer
    comps.append(Component("optimizer_states", peak.optimizer_states if opt.on_device else opt.state_bytes,
                           optimizer_formula or f"{opt.name}: {opt.formula} = {fmt_bytes(opt.state_bytes)}",
                           on_device=True))
    if peak.optimizer_temporary:
        comps.append(Component("optimizer_temporary", peak.optimizer_temporary,
                               f"{opt.name} step temporaries = {fmt_bytes(peak.optimizer_temporary)}"))
    comps.append(Component("activations", peak.activations,
                           f"saved for backward at the peak ({peak.phase}, batch {wl.batch} × {wl.context} tokens, "
                           f"checkpointing {wl.checkpointing}, attention {wl.attn}) = {fmt_bytes(peak.activations)}"))
    if peak.logits:
        comps.append(Component("logits", peak.logits,
                               f"logits and cross-entropy over {wl.batch} × {wl.context} × {spec.vocab_size:,} "
                               f"(fp32 log_softmax, its gradient) = {fmt_bytes(peak.logits)}"))
    comps.append(Component("overhead", workspace, f"{_TRAINING_HANDLES} cuBLAS workspaces (forward and autograd "
                           f"threads) × {fmt_bytes(cublas_workspace_bytes())}"))
    transient = peak.activations + peak.logits + peak.gradients + peak.optimizer_temporary
    fraction = reserve_fraction(wl.checkpointing)
    reserve = int(fraction * transient)
    comps.append(Component("allocator_reserve", reserve,
                           f"caching-allocator reserve ≈ {fraction} × transient {fmt_bytes(transient)} "
                           f"(measured fraction, data/training.toml) = {fmt_bytes(reserve)}"))
    comps.append(cuda_context_component())
    for c in host or []:
        comps.append(c)
    return comps
