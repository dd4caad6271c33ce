"""One rank of PyTorch FSDP2 (``fully_shard``) and DTensor tensor parallelism, moment by moment of a training step.

Layout: ``gpus = replicas × shard × tp``. ``--zero 3`` is FSDP2 with ``reshard_after_forward=True`` (FULL_SHARD),
``--zero 2`` with ``reshard_after_forward=False`` (SHARD_GRAD_OP: a layer's parameters stay gathered from its
forward to its backward); ``--shard-size`` shards inside groups of that many data-parallel ranks and replicates
across them (HSDP); ``--offload params`` is ``CPUOffloadPolicy``; ``--mixed-precision`` is
``MixedPrecisionPolicy(param_dtype=bfloat16, reduce_dtype=float32)`` on fp32 parameters, without it the model
is ``--dtype`` throughout. Each decoder layer is one FSDP group, the root (embeddings, final norm, lm_head) another,
the root not resharded after forward (``fully_shard``'s default for the root). ``--tp`` alone (no FSDP) is DTensor
TP on fp32 parameters under bf16 autocast. Tensor parallelism follows torchtitan's plan: q/k/v/gate/up and the
lm_head column-wise, o/down row-wise, the embedding split over the vocabulary, norms replicated, logits gathered
on every rank; with ``--sequence-parallel`` norms and the residual stream are split over the sequence.

What one rank holds (PyTorch 2.13 ``torch/distributed/fsdp/_fully_shard``), ``U`` a group's gathered parameters:

* sharded parameters, gradients and optimizer states: each tensor's dim 0 padded to a multiple of the shard group
  and split (``_fsdp_param.py`` ``FSDPParam._init_sharded_param``: ``chunk`` after padding), in the parameter's
  dtype (fp32 under mixed precision; no separate master copy); AdamW's two states likewise;
* forward of a layer: its gathered parameters in the compute dtype and the flat all-gather output they were copied
  from, which is freed only at the next group's copy-out (``_fsdp_param_group.py`` ``wait_for_unshard``:
  ``AllGatherState`` kept "to overlap this copy-out with next all-gather"): 2 ``U``; the root's stay gathered;
* backward of a layer: its gathered parameters, the next layer's all-gather output issued ahead
  (``_backward_prefetch``), its unsharded gradients in the compute dtype, then the reduce-scatter input in the
  reduce dtype (``_fsdp_collectives.py`` ``foreach_reduce``: ``reduce_scatter_input`` held in
  ``reduce_scatter_states`` until the next group's reduce); the root's gradients (lm_head, tied embedding) wait
  for the root's post-backward at the very end;
* the sharded gradients appear group by group during backward (``foreach_reduce`` ``to_sharded_dtensor``);
  ``zero_grad(set_to_none=True)`` frees them after the step.

Measured against ``tools/simulate_parallel.py`` (rank 0 of N on PyTorch's fake process group, real FSDP2/DTensor
code on fake tensors): docs/simulator.md, section "Multi-GPU training".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import accumulate
from typing import Any

from ...errors import ConfigError, UnsupportedError
from ...inventory import count_parameters, inventory
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..activations import ModelActivations, Precision, _linear_inputs
from ..model_activations import model_activations
from ..op_sac import op_level_saved
from ..overhead import cublas_workspace_bytes, cuda_context_component
from .fsdp_masks import eager_masks
from .fsdp_params import local_shape, param_groups, reduce_peak, tp_spec
from .fsdp_pool import ReplayInput, pool_reserve
from .fsdp_step import step_temporary, step_temporary_component
from .states import TRAINING_HANDLES, dtype_bytes, model_states

__all__ = ["FsdpLayout", "RankSizes", "estimate_fsdp", "fsdp_layout", "rank_sizes", "uses_fsdp_model"]

ROOT_KINDS = ("token_embd", "pos_embd", "token_embd_norm")


def uses_fsdp_model(wl: Workload) -> bool:
    """Full training on one pipeline stage with FSDP2 (zero 2/3 without optimizer-only offload) or TP alone."""
    if wl.mode != "train" or wl.pp > 1 or wl.ep > 1 or wl.offload == "optimizer":
        return False
    return wl.zero >= 2 or (wl.zero == 0 and wl.tp > 1)


@dataclass(frozen=True)
class FsdpLayout:
    """How the GPUs are used: data-parallel ranks, the FSDP shard group among them, tensor parallelism."""

    dp: int
    shard: int  # FSDP shard group (1: no FSDP)
    tp: int
    sp: bool
    reshard: bool
    mixed: bool  # MixedPrecisionPolicy bf16 params / fp32 reduce on fp32 parameters (FSDP) or autocast (TP alone)
    offload: bool
    param_bytes: int  # sharded parameters' (and their gradients') dtype
    compute_bytes: int  # gathered parameters' and unsharded gradients' dtype
    reduce_bytes: int  # reduce-scatter dtype


def fsdp_layout(wl: Workload) -> FsdpLayout:
    tp = wl.tp
    gpus = max(wl.gpus, tp)
    if gpus % tp:
        raise ConfigError(f"gpus = {gpus} is not a multiple of tp = {tp}; pick gpus = dp × tp")
    dp = gpus // tp
    fsdp = wl.zero >= 2
    shard = dp
    if fsdp and wl.shard_size is not None:
        if dp % min(wl.shard_size, dp):
            raise ConfigError(f"shard_size = {wl.shard_size} must divide the data-parallel size {dp}")
        shard = min(wl.shard_size, dp)
    if not fsdp:
        shard = 1
    if wl.offload == "params" and wl.zero < 3:
        raise ConfigError("offload = params needs ZeRO stage 3 (FSDP2 CPUOffloadPolicy shards the parameters); "
                          "use --zero 3 or --offload optimizer")
    base = dtype_bytes(wl.dtype or "bfloat16")
    mixed = wl.mixed_precision
    param_b = 4 if mixed else base
    compute_b = 2 if (mixed and fsdp) else param_b
    return FsdpLayout(dp=dp, shard=shard, tp=tp, sp=wl.sequence_parallel and tp > 1, reshard=wl.zero != 2,
                      mixed=mixed, offload=wl.offload == "params", param_bytes=param_b, compute_bytes=compute_b,
                      reduce_bytes=4 if mixed else param_b)


@dataclass(frozen=True)
class RankSizes:
    """Elements on one rank: gathered (padded, what the all-gather outputs) per layer and for the root; sharded."""

    layers: tuple[int, ...]
    layers_unpadded: tuple[int, ...]  # the layer's own elements on this TP rank: its unsharded gradients
    root: int
    head: int  # the root's part whose gradient appears at the start of backward (lm_head; a tied embedding)
    sharded: int
    sharded_layers: tuple[int, ...]
    sharded_root: int
    tied: bool = False  # the embedding is the lm_head: its two gradients are summed at the end of backward
    last_layers: tuple[int, ...] = ()  # each group's last parameter: its gradient outlives ``foreach_reduce``'s copy-in
    last_root: int = 0
    embed_full: int = 0  # TP: the vocabulary-parallel embedding's gradient is whole on every rank (Replicate)
    embed_local: int = 0  # ... and its local shard, copied out of it in the root's post-backward


def rank_sizes(spec: ModelSpec, lay: FsdpLayout) -> RankSizes:
    """Per-layer gathered and sharded element counts after TP and FSDP's dim-0 padding (``FSDPParam``: the
    local tensor is padded so dim 0 divides the shard group, rank 0 keeps the first chunk). The gathered
    parameter is a view into its padded all-gather output (``init_all_gather_outputs``), so the padding is
    gathered too: 8 experts over 64 ranks gather 64 rows. The reduce-scatter input is padded the same way."""
    layers = [0] * spec.num_layers
    own = [0] * spec.num_layers
    sh_layers = [0] * spec.num_layers
    last = [0] * spec.num_layers
    root = head = sh_root = last_root = embed_full = embed_local = 0
    for t in inventory(spec):
        shape = local_shape(t, lay.tp)
        rest = math.prod(shape[1:]) if len(shape) > 1 else 1
        chunk = -(-shape[0] // lay.shard) if shape else 1
        gathered, sharded = chunk * lay.shard * rest, chunk * rest
        if t.layer is not None:
            layers[t.layer] += gathered
            own[t.layer] += math.prod(shape)
            sh_layers[t.layer] += sharded
            if "norm" in t.kind:  # transformers' decoder layers register their hidden-size norms last
                last[t.layer] = max(last[t.layer], math.prod(shape))
        else:
            root += gathered
            sh_root += sharded
            last_root = math.prod(shape)  # the ForCausalLM registers the embedding, the final norm, the lm_head
            if t.kind not in ROOT_KINDS or spec.tie_word_embeddings:
                head += gathered if "norm" not in t.kind else 0
            if t.kind == "token_embd" and lay.tp > 1 and not spec.tie_word_embeddings:
                embed_full, embed_local = math.prod(t.shape), math.prod(shape)
    return RankSizes(tuple(layers), tuple(own), root, head, sum(sh_layers) + sh_root, tuple(sh_layers), sh_root,
                     spec.tie_word_embeddings, tuple(last), last_root, embed_full, embed_local)


def rank_activations(spec: ModelSpec, acts: ModelActivations, p: Precision, lay: FsdpLayout,
                     batch: int, seq: int) -> ModelActivations:
    """Activations on one TP rank under DTensor's plan: between a column-wise and a row-wise Linear (attention
    core, MLP intermediate) split ``tp`` ways; the column-wise Linears' inputs are the gathered full sequence
    (autograd saves what the matmul read, ``torch/distributed/tensor/parallel/style.py`` ``PrepareModuleInput``
    gathers before saving), full on every rank with or without sequence parallelism; the norms and the residual
    stream split only with sequence parallelism. The gathered logits (``ColwiseParallel(output_layouts=
    Replicate())``) are whole on every rank; what op-level SAC keeps, one rank's share (``op_level_saved``)."""
    if lay.tp == 1:
        return acts
    tp, T, h = lay.tp, batch * seq, spec.hidden_size
    layers = []
    for la, ls in zip(acts.layers, spec.layers, strict=True):
        feed = max(p.resid_bytes, p.weight_bytes)
        lin = _linear_inputs(h, ["attn_q", "attn_k", "attn_v"], feed, p) if ls.attention is not None else 0
        lin += _linear_inputs(h, ["ffn_gate", "ffn_up"], feed, p) if ls.mlp is not None else 0
        sac = op_level_saved(spec, ls, T, p.proj_bytes, p.resid_bytes, p.amp, p.attn != "eager", tp, lay.sp)
        full = T * lin
        norms = la.replicated // tp if lay.sp else la.replicated
        inner = max(0, la.saved - la.replicated - full)
        layers.append(replace(la, saved=norms + full + inner // tp, attention_core=la.attention_core // tp,
                              checkpoint=la.checkpoint // tp if lay.sp else la.checkpoint,
                              forward_extra=la.forward_extra // tp, backward_extra=la.backward_extra // tp,
                              weight_casts=la.weight_casts // tp, cache=la.cache // tp, op_saved=sac))
    return replace(acts, layers=tuple(layers), head_weight_casts=acts.head_weight_casts // tp,
                   embedding_backward_extra=acts.embedding_backward_extra // tp)


@dataclass(frozen=True)
class Moment:
    """What is alive at one moment of the step beyond the persistent sharded parameters and optimizer states."""

    activations: int
    logits: int = 0
    gradients: int = 0  # sharded gradients reduced so far
    gathered: int = 0  # gathered parameters and all-gather outputs
    grad_buffers: int = 0  # unsharded gradients and reduce-scatter inputs
    temporary: int = 0

    @property
    def total(self) -> int:
        return self.activations + self.logits + self.gradients + self.gathered + self.grad_buffers + self.temporary


def fsdp_moments(acts: ModelActivations, sizes: RankSizes, lay: FsdpLayout, ckpt: str,
                 grad_accum: int = 1) -> dict[str, Moment]:
    """Forward, loss, backward layer by layer (compute, then the reduce-scatter) and the optimizer step. With
    gradient accumulation the later micro-batches run with every sharded gradient already there (FSDP2
    reduce-scatters each micro-batch and adds the shard in place: ``foreach_reduce`` ``to_accumulate_grad``)."""
    out = _moments(acts, sizes, lay, ckpt)
    if grad_accum > 1:
        every = 0 if lay.offload else sizes.sharded * lay.param_bytes
        out = {k: replace(m, gradients=every) for k, m in out.items()}
    return out


def forward_moments(acts: ModelActivations, U: list[int], R: int, reshard: bool,
                    prefix: list[int]) -> dict[str, Moment]:
    """Each layer's all-gather copy-out and forward, then the loss (U/R: gathered bytes, prefix: kept before)."""
    n = len(U)
    out: dict[str, Moment] = {}
    cache = 0
    for i, la in enumerate(acts.layers):
        gathered = R + 2 * U[i] + (0 if reshard else sum(U[:i]))  # its parameters + its all-gather output
        # copy-out: the previous group's all-gather output is dropped from AllGatherState before, but the local
        # ``prev_all_gather_state`` of wait_for_unshard keeps it until the copy-out is done
        out[f"all-gather copy-out (forward, layer {i})"] = Moment(
            acts.outside + prefix[i] + cache, gathered=gathered + (U[i - 1] if i else R))
        cache += la.cache
        out[f"forward (layer {i})"] = Moment(acts.outside + prefix[i] + la.saved + la.forward_extra + cache,
                                             gathered=gathered)
    last = (U[-1] if n else 0) if reshard else sum(U) + (U[-1] if n else 0)
    base = acts.outside + prefix[n] + cache
    out["forward (loss)"] = Moment(base, acts.loss_saved + acts.loss_forward_extra, gathered=R + last)
    # the cross-entropy's backward runs before the lm_head's: its gradient is not there yet
    out["backward (loss)"] = Moment(base - cache, acts.loss_saved + acts.loss_backward_extra,
                                    gathered=R + (U[-1] if reshard and n else sum(U)))
    return out


def _moments(acts: ModelActivations, sizes: RankSizes, lay: FsdpLayout, ckpt: str) -> dict[str, Moment]:
    cb, rb = lay.compute_bytes, lay.reduce_bytes
    pb = 0 if lay.offload else lay.param_bytes  # CPUOffloadPolicy copies each reduced shard to the host
    U = [n * cb for n in sizes.layers]
    n = len(U)
    R, head_g = sizes.root * cb, sizes.head * cb
    full = ckpt == "full"
    recomputed = full or ckpt == "selective-op"  # the layer's input stays beside its recomputed activations
    kept = [la.checkpoint if full else la.op_saved if ckpt == "selective-op" else
            la.saved - (la.attention_core if ckpt == "selective" else 0) for la in acts.layers]
    prefix = [0, *accumulate(kept)]  # the activations kept before each layer

    def gathered_bwd(i: int) -> int:  # layer i's parameters + the next one's prefetched all-gather output
        return R + (U[i] + (U[i - 1] if i else 0) if lay.reshard else sum(U[: i + 1]))

    out = forward_moments(acts, U, R, lay.reshard, prefix)
    for i in range(n - 1, -1, -1):
        la = acts.layers[i]
        reduced = sum(sizes.sharded_layers[i + 1:]) * pb
        ug = sizes.layers_unpadded[i] * cb  # autograd's gradients have the parameters' own shapes
        # the layer's saved activations are freed as its weight gradients appear: the larger of the two
        act = acts.outside + prefix[i] + la.backward_extra + (la.checkpoint if recomputed else 0)
        ug_alive = max(0, ug - la.saved)
        held = sizes.layers[i + 1] * rb if i + 1 < n else 0  # the previous group's reduce-scatter input
        if lay.reshard:  # copy-out of the prefetched all-gather: its output and the parameters it fills coexist
            out[f"all-gather copy-out (layer {i})"] = Moment(acts.outside + prefix[i] + la.saved, gradients=reduced,
                                                             gathered=R + 2 * U[i], grad_buffers=head_g + held)
        out[f"backward (layer {i})"] = Moment(act + la.saved, gradients=reduced, gathered=gathered_bwd(i),
                                              grad_buffers=head_g + held + ug_alive)
        out[f"reduce-scatter (layer {i})"] = Moment(
            acts.outside + prefix[i], gradients=reduced,
            gathered=R + ((U[i - 1] if i else 0) if lay.reshard else sum(U[:i])),
            grad_buffers=head_g + reduce_peak(ug, sizes.layers[i] * rb, sizes.sharded_layers[i] * pb,
                                          sizes.last_layers[i] * cb if lay.shard > 1 else 0))
    layers_g = sum(sizes.sharded_layers) * pb
    # a tied embedding's gradient is added to the lm_head's out of place: the earlier gradient, the embedding's and
    # their sum coexist (development cases llama-3.2-1b-l4/fsdp4-ckpt-b1-s1024, qwen2.5-3b-l4/fsdp3-ckpt-b1-s2048)
    # under TP the embedding's weight gradient is whole (DTensor's embedding_dense_backward strategies give it
    # Replicate or Partial, never Shard(0): torch/distributed/tensor/_ops/_embedding_ops.py); the root's
    # post-backward copies the local shard out of it (``FSDPParam._get_grad_inner_tensor``: ``redistribute``) and
    # drops it when it clears ``param.grad``, before the reduce-scatter input is made
    embed_extra = (sizes.embed_full - sizes.embed_local) * cb
    held0 = sizes.layers[0] * rb if n else 0
    out["backward (embedding)"] = Moment(acts.embedding_backward_extra, gradients=layers_g, gathered=R,
                                         grad_buffers=sizes.root * cb + held0 + embed_extra
                                         + (head_g if sizes.tied else 0))
    if embed_extra:
        out["root post-backward (embedding gradient to its TP shard)"] = Moment(
            0, gradients=layers_g, gathered=R, grad_buffers=sizes.root * cb + held0 + embed_extra
            + sizes.embed_local * cb)
    out["reduce-scatter (root)"] = Moment(0, gradients=layers_g, grad_buffers=reduce_peak(
        sizes.root * cb, sizes.root * rb, sizes.sharded_root * pb, sizes.last_root * cb if lay.shard > 1 else 0))
    out["optimizer step"] = Moment(0, gradients=sizes.sharded * pb)
    return out


def _tp_only_states(spec: ModelSpec, wl: Workload, sizes: RankSizes) -> Any:
    """TP alone: this rank's slice of the single-GPU model states (fp32 parameters and gradients under autocast,
    the optimizer's states), its gradients appearing layer by layer as on one GPU."""
    states = model_states(spec, wl)
    wb = states.precision.weight_bytes
    per_param_opt = states.optimizer.state_bytes / states.trainable if states.trainable else 0.0
    # the vocabulary-parallel embedding's gradient is whole on every rank (see ``_moments``) until zero_grad (the
    # optimizer's DTensor step reads its Shard(0) part as a view: development case qwen2.5-7b-l2/tp4-ckpt-b1-s512)
    embed_extra = (sizes.embed_full - sizes.embed_local) * wb
    opt = replace(states.optimizer, state_bytes=int(per_param_opt * sizes.sharded),
                  step_temporary=int(states.optimizer.step_temporary * sizes.sharded / max(1, states.trainable)))
    return replace(states, weights=sizes.sharded * wb, gradients=sizes.sharded * wb + embed_extra,
                   trainable=sizes.sharded,
                   optimizer=opt, layer_grads=tuple(n * wb for n in sizes.sharded_layers),
                   head_grads=sizes.sharded_root * wb, embedding_grads=0,
                   weights_formula=f"{sizes.sharded:,} parameters on this rank (tp {wl.tp}) × {wb} B")


def estimate_fsdp(spec: ModelSpec, wl: Workload) -> Estimate:
    """Rank 0's training memory under FSDP2 and/or DTensor TP (``uses_fsdp_model``); ranks differ only by padding,
    and rank 0 holds the largest chunks."""
    if wl.tp > 1 and spec.is_moe:
        raise UnsupportedError(f"tensor parallelism of {spec.name}'s experts is not modelled; use FSDP "
                               "(--zero 3) without --tp for mixture-of-experts models")
    lay = fsdp_layout(wl)
    sizes = rank_sizes(spec, lay)
    states = model_states(spec, wl)
    precision = states.precision
    if lay.shard > 1 or wl.zero >= 2:  # FSDP runs the layers in the compute dtype: no autocast casts
        precision = replace(precision, amp=False, weight_bytes=lay.compute_bytes, resid_bytes=lay.compute_bytes)
    precision = replace(precision, kv_cache=wl.checkpointing != "full")
    acts = rank_activations(spec, model_activations(spec, precision, wl.batch, wl.context), precision, lay,
                            wl.batch, wl.context)
    masks = eager_masks(spec, wl.attn, wl.checkpointing, wl.batch, wl.context, precision.resid_bytes)
    acts = replace(acts, outside=acts.outside + sum(m for m, _ in masks))
    workspace = TRAINING_HANDLES * cublas_workspace_bytes()
    if wl.zero < 2:
        from .step import step_peak, training_components

        rank_states = _tp_only_states(spec, wl, sizes)
        peak = step_peak(rank_states, acts, wl, ckpt=wl.checkpointing)
        wb = rank_states.precision.weight_bytes
        replay = _replay(spec, wl, lay, sizes, acts, 2 if precision.amp else wb, wb,
                         rank_states.optimizer.state_bytes / max(1, sizes.sharded),
                         wl.checkpointing in ("full", "selective-op"), precision, masks)
        allocated = rank_states.weights + peak.activations + peak.logits + peak.gradients + \
            peak.optimizer_states + peak.optimizer_temporary + workspace
        comps = training_components(spec, wl, rank_states, peak, workspace, reserve=pool_reserve(replay, allocated))
        return _estimate(spec, wl, lay, comps, peak.phase, {k: v + rank_states.weights for k, v in peak.phases.items()})
    opt_bpp = states.optimizer.state_bytes / states.trainable if states.trainable else 0.0
    opt_bytes = int(opt_bpp * sizes.sharded)
    weights = sizes.sharded * lay.param_bytes
    moments = fsdp_moments(acts, sizes, lay, wl.checkpointing, wl.grad_accum)
    persistent = 0 if lay.offload else weights + opt_bytes
    replay = _replay(spec, wl, lay, sizes, acts, lay.compute_bytes, 0 if lay.offload else lay.param_bytes,
                     0.0 if lay.offload else opt_bpp, lay.reshard, precision, masks)
    tmp, per = step_temporary(states, sizes.sharded, lay.offload)  # foreach AdamW's list (fsdp_step.py)
    moments["optimizer step"] = replace(moments["optimizer step"], temporary=tmp)
    replay = replace(replay, step_bytes_per_param=per)
    phase = max(moments, key=lambda k: moments[k].total)
    m = moments[phase]
    allocated = persistent + m.total + workspace
    comps = _fsdp_components(spec, wl, lay, sizes, m, phase, weights, opt_bytes, opt_bpp, workspace,
                             pool_reserve(replay, allocated))
    return _estimate(spec, wl, lay, comps, phase, {k: v.total + persistent for k, v in moments.items()})


def _replay(spec: ModelSpec, wl: Workload, lay: FsdpLayout, sizes: RankSizes, acts: ModelActivations, cb: int,
            pb: int, opt_bpp: float, reshard: bool, precision: Precision | None = None,
            masks: tuple[tuple[int, int], ...] = ()) -> ReplayInput:
    """The step as ``fsdp_pool`` replays it: FSDP (``reshard``: FULL_SHARD), or TP alone (``reshard``: the layers
    recomputed, so autocast's weight copies are made again in backward). ``precision`` given, each layer is replayed
    op by op (under TP: ``tp_spec``, with SP ``layer_sp``'s redistributions); op-level SAC's kept tensors coarse."""
    inner = max((la.mlp.intermediate_size for la in spec.layers if la.mlp is not None and la.moe is None), default=0)
    fsdp = wl.zero >= 2
    ops = precision is not None and wl.checkpointing != "selective-op" and all(
        la.mixer == "attention" and la.attention is not None for la in spec.layers)
    return ReplayInput(param_groups(spec, lay.tp, lay.shard), acts, cb, lay.reduce_bytes, pb, opt_bpp, reshard,
                       wl.checkpointing in ("full", "selective-op"), wl.batch * wl.context, spec.hidden_size,
                       spec.vocab_size, -(-inner // lay.tp), sizes.embed_full - sizes.embed_local, sizes.tied,
                       wl.grad_accum, fsdp, casts=not fsdp and cb < pb, tp=lay.tp,
                       kept=tuple(la.op_saved for la in acts.layers) if wl.checkpointing == "selective-op" else (),
                       expandable=wl.expandable_segments, spec=tp_spec(spec, lay.tp) if ops else None,
                       precision=precision if ops else None, batch=wl.batch, seq=wl.context, masks=masks,
                       sp=lay.sp, selective=wl.checkpointing == "selective")


def _fsdp_components(spec: ModelSpec, wl: Workload, lay: FsdpLayout, sizes: RankSizes, m: Moment, phase: str,
                     weights: int, opt_bytes: int, opt_bpp: float, workspace: int, reserve: int) -> list[Component]:
    """The components at the peak moment, each with its arithmetic on this rank."""
    pb, cb = lay.param_bytes, lay.compute_bytes
    group = f"÷ {lay.shard} (shard group, dim 0 padded)"
    tp = f", tp {lay.tp}" if lay.tp > 1 else ""
    where = "host RAM (CPUOffloadPolicy)" if lay.offload else "this GPU"
    comps = [
        Component("weights", 0 if lay.offload else weights,
                  f"sharded parameters on {where}: {sizes.sharded:,} elements ({count_parameters(spec).total:,}"
                  f"{tp} {group}) × {pb} B = {fmt_bytes(weights)}"),
        Component("gradients", m.gradients,
                  f"sharded gradients reduced by the peak ({phase}) × {pb} B = {fmt_bytes(m.gradients)}; all "
                  f"{sizes.sharded:,} × {pb} B = {fmt_bytes(sizes.sharded * pb)}"
                  + (", copied to host RAM as reduced" if lay.offload else "")),
        Component("optimizer_states", 0 if lay.offload else opt_bytes,
                  f"{wl.optimizer} states on {where}: {sizes.sharded:,} sharded elements × {opt_bpp:g} B = "
                  f"{fmt_bytes(opt_bytes)}"),
        Component("fsdp_gathered", m.gathered,
                  f"gathered parameters and all-gather outputs at the peak ({phase}), {cb} B each: root "
                  f"{sizes.root:,} + layer {max(sizes.layers, default=0):,} elements per group "
                  f"({'current + next' if lay.reshard else 'every layer kept from forward to backward'}) = "
                  f"{fmt_bytes(m.gathered)}"),
        Component("fsdp_grad_buffers", m.grad_buffers,
                  f"unsharded gradients ({cb} B) and reduce-scatter input ({lay.reduce_bytes} B) of the groups in "
                  f"flight = {fmt_bytes(m.grad_buffers)}"),
        Component("activations", m.activations,
                  f"saved for backward at the peak ({phase}, batch {wl.batch} × {wl.context} tokens per rank, "
                  f"checkpointing {wl.checkpointing}{', sequence parallel' if lay.sp else ''}{tp}) = "
                  f"{fmt_bytes(m.activations)}"),
    ]
    if m.logits:
        comps.append(Component("logits", m.logits, f"logits and cross-entropy over {wl.batch} × {wl.context} × "
                               f"{spec.vocab_size:,}{' (gathered on every TP rank)' if lay.tp > 1 else ''} = "
                               f"{fmt_bytes(m.logits)}"))
    comps += step_temporary_component(wl.optimizer, sizes.sharded, m.temporary)
    comps.append(Component("overhead", workspace, f"{TRAINING_HANDLES} cuBLAS workspaces × "
                           f"{fmt_bytes(cublas_workspace_bytes())}"))
    comps.append(Component("allocator_reserve", reserve, "caching allocator emulated over two steps of this rank, "
                           "one pool per CUDA stream (default, all-gather copy-in, reduce-scatter: "
                           f"memory/training/fsdp_pool.py): its reserved peak beyond this allocated peak (a coarse "
                           f"replay: at least its own reserved − allocated) = {fmt_bytes(reserve)}"))
    comps.append(cuda_context_component(None, training=True))
    if lay.offload:
        for name, b in (("weights", weights), ("gradients", sizes.sharded * pb), ("optimizer_states", opt_bytes)):
            comps.append(Component(name, b, f"{name} offloaded to host RAM = {fmt_bytes(b)}", on_device=False))
    return comps


def _estimate(spec: ModelSpec, wl: Workload, lay: FsdpLayout, comps: list[Component], phase: str,
              phases: dict[str, int]) -> Estimate:
    allocated = sum(c.bytes for c in comps if c.on_device and c.name not in ("cuda_context", "allocator_reserve"))
    kind = ("FSDP2 " + ("FULL_SHARD" if lay.reshard else "SHARD_GRAD_OP (reshard_after_forward=False)")
            + (f" over {lay.shard} ranks" + (f", replicated {lay.dp // lay.shard}×" if lay.dp > lay.shard else ""))
            if lay.shard > 1 or wl.zero >= 2 else "DTensor tensor parallelism")
    notes = [f"{max(wl.gpus, lay.tp)} GPUs = dp {lay.dp} × tp {lay.tp}: {kind}"
             + (", sequence parallel" if lay.sp else "") + (", CPUOffloadPolicy" if lay.offload else "")
             + (", MixedPrecisionPolicy bf16/fp32" if lay.mixed and wl.zero >= 2 else ""),
             f"rank 0 (the largest shard), peak during {phase} of the second step"]
    per_rank = {c.name if c.on_device else f"host_{c.name}": c.bytes for c in comps}
    details: dict[str, Any] = {"per_gpu": [{"rank": 0, "peak_phase": phase, "components": per_rank,
                                            "total_bytes": sum(c.bytes for c in comps if c.on_device)}],
                               "dp": lay.dp, "tp": lay.tp, "pp": 1, "shard_group": lay.shard,
                               "zero": wl.zero, "peak_phase": phase, "phases": phases}
    return Estimate(spec.name, wl.mode, wl.dtype or "bfloat16", count_parameters(spec), tuple(comps),
                    allocated_bytes=allocated, notes=tuple(notes), details=details)
