"""One training step on one GPU: walk forward, backward and the optimizer step, find the peak moment.

``step_peak`` is shared with the per-rank model of ``parallel`` (a rank runs the same step on its share);
``training_components`` names the components at the peak in the JSON contract's terms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...inventory import count_parameters
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..activations import ModelActivations
from ..images import tower_runs_first
from ..loss_release import loss_note, loss_release
from ..model_activations import model_activations
from ..overhead import cublas_workspace_bytes, cuda_context_component
from .fsdp_masks import checkpoint_masks
from .states import TRAINING_HANDLES, ModelStates, reserve_fraction

__all__ = ["StepPeak", "estimate_single_gpu", "step_peak", "training_components"]


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
              states_on_device: bool = True, tower_first: bool = False,
              masks: tuple[tuple[int, int], ...] = ()) -> StepPeak:
    """Walk forward, backward and the optimizer step; return the peak moment (beyond weights). ``tower_first``: a
    training vision tower runs before the tokens are embedded (``images.tower_runs_first``). ``masks``: (bytes, the
    first layer reading it) per attention mask a checkpointed step keeps (``fsdp_masks.eager_masks``), alive at the
    loss and until that layer's backward has run (the forward's moments count one per layer already, as a
    transient of the scores)."""
    S = states.optimizer.state_bytes if (states_on_device and states.optimizer.on_device) else 0
    G = states.gradients
    accum = G if wl.grad_accum > 1 else 0  # later micro-batches run with the accumulated gradients
    layers = acts.layers
    n = len(layers)
    full = ckpt == "full"
    op = ckpt == "selective-op"  # recomputes like full checkpointing, keeps op_saved

    def kept(la_index: int) -> int:
        la = layers[la_index]
        if full:
            return la.checkpoint
        if op:
            return la.op_saved
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
    moments["forward"] = (acts.outside + acts.tower + fwd, 0, accum, 0)
    # end of forward: the loss (autocast's weight-cast cache is still alive)
    saved_layers = prefix[n] + sum(m for m, _ in masks)
    base_act = saved_layers + acts.outside + acts.tower + casts_all + acts.head_weight_casts + cache
    moments["forward (loss)"] = (base_act, acts.loss_saved + acts.loss_forward_extra, accum, 0)
    # backward: cross-entropy first; with checkpointing the layer casts left with the autocast cache
    bwd_casts = acts.head_weight_casts + (0 if full or op else casts_all)
    moments["backward (loss)"] = (saved_layers + acts.outside + acts.tower + bwd_casts,
                                  acts.loss_saved + acts.loss_backward_extra, accum, 0)
    grads = states.head_grads
    for i in range(n - 1, -1, -1):
        la = layers[i]
        grads += states.layer_grads[i]
        # an expert block's or dense layer's saved tensors are partly freed before its largest weight gradient is
        # made (backward_moments); with accumulated gradients every .grad is already alive, so nothing is relieved
        relief = la.backward_relief if wl.grad_accum == 1 else 0
        layer_act = (la.saved + la.backward_extra - relief + (la.weight_casts if full or op else 0)
                     + (la.checkpoint if op else 0))
        act = prefix[i] + layer_act + acts.tower + (0 if full or op else sum(x.weight_casts for x in layers[: i + 1]))
        act += sum(m for m, first in masks if first <= i)
        moments[f"backward (layer {i})"] = (act, 0, max(grads, accum), 0)
    if acts.tower:  # a vision tower training on the images: its backward and the embedding's, in graph order
        tg = states.tower_grads
        if tower_first:  # the tokens are embedded after the tower ran: the embedding's backward comes first
            moments["backward (embedding)"] = (acts.embedding_backward_extra + acts.tower, 0, max(accum, G - tg), 0)
            moments["backward (vision tower)"] = (0, 0, G, 0)
        else:  # the tower's backward (its saved tensors alive, none of its gradients yet), then the embedding's
            moments["backward (vision tower)"] = (acts.tower, 0, max(accum, G - states.embedding_grads), 0)
            moments["backward (embedding)"] = (acts.embedding_backward_extra, 0, G, 0)
    else:
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


def estimate_single_gpu(spec: ModelSpec, wl: Workload, states: ModelStates) -> Estimate:
    p = replace(states.precision, kv_cache=wl.checkpointing != "full")
    acts = model_activations(spec, p, wl.batch, wl.context, images=wl.images > 0)
    if wl.images:  # the vision tower trains on the images: its saved tensors (memory.images)
        from ..images import tower_training_saved

        acts = replace(acts, tower=tower_training_saved(spec, wl, p.proj_bytes))
    masks = checkpoint_masks(spec, wl, p.resid_bytes)  # kept by the checkpoints' partials (fsdp_masks)
    peak = step_peak(states, acts, wl, ckpt=wl.checkpointing, tower_first=tower_runs_first(spec), masks=masks)
    workspace = TRAINING_HANDLES * cublas_workspace_bytes()
    from ..runtimes.transformers_pool import reserve_at
    from .pool import training_reserve

    def replayed(c: int) -> int:  # the step replayed at a context (see transformers_pool.reserve_at)
        return training_reserve(spec, replace(wl, context=c), states)

    components = training_components(spec, wl, states, peak, workspace, reserve=reserve_at(wl.context, replayed))
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
    if wl.mode == "train" and wl.trainer != "transformers":
        notes.append(f"--trainer {wl.trainer}: torchtune's own Llama (memory/torchtune.py: K/V copied to every head, "
                     "its fp32 RoPE table); the allocator reserve is still replayed on transformers' layer")
    elif wl.transformers_version is not None:
        notes.append(loss_note(loss_release(wl.transformers_version)))
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
                        optimizer_formula: str | None = None, reserve: int | None = None) -> list[Component]:
    """The components at the peak, in the JSON contract's names. ``*_formula`` replace the single-GPU
    arithmetic of a component (a sharded rank writes its own)."""
    w = states.weights if weights is None else weights
    comps = [Component("weights", w, f"{weights_formula or states.weights_formula} = {fmt_bytes(w)}")]
    if states.lora:
        layout = f", PEFT {wl.peft_version}'s layout on MoE layers (--peft-version)" if spec.is_moe else ""
        comps.append(Component("lora_weights", states.lora,
                               f"{states.lora // 4:,} LoRA parameters (r = {wl.lora_rank}{layout}) × 4 B (fp32) = "
                               f"{fmt_bytes(states.lora)}"))
    comps.append(Component("gradients", peak.gradients,
                           f"gradients alive at the peak ({peak.phase}): {fmt_bytes(peak.gradients)}; all "
                           + (gradients_formula or f"{states.trainable:,} trainable × {states.grad_bytes} B"
                              + (" (the family's kept-float32 parameters' at 4 B)"
                                 if states.gradients != states.trainable * states.grad_bytes else "")
                              + f" = {fmt_bytes(states.gradients)}")))
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
    comps.append(Component("overhead", workspace, f"{TRAINING_HANDLES} cuBLAS workspaces (forward and autograd "
                           f"threads) × {fmt_bytes(cublas_workspace_bytes())}"))
    if reserve is None:  # a sharded rank (parallel.py): the fraction fitted to the H100 training cases
        transient = peak.activations + peak.logits + peak.gradients + peak.optimizer_temporary
        fraction = reserve_fraction(wl.checkpointing)
        reserve = int(fraction * transient)
        comps.append(Component("allocator_reserve", reserve,
                               f"caching-allocator reserve ≈ {fraction} × transient {fmt_bytes(transient)} "
                               f"(fraction fitted to the H100 training cases, data/training.toml) = "
                               f"{fmt_bytes(reserve)}"))
    else:
        comps.append(Component("allocator_reserve", reserve, "caching allocator emulated over two steps' large "
                               f"tensors: reserved − allocated peak = {fmt_bytes(reserve)}"))
    comps.append(cuda_context_component(None, training=True))
    for c in host or []:
        comps.append(c)
    return comps
