"""Training across GPUs: what each rank holds under ZeRO / FSDP, tensor, pipeline, sequence and expert parallelism.

Layout: ``gpus = dp × tp × pp`` (expert parallelism ``ep`` splits the experts inside the data-parallel
group). Per rank:

* **Pipeline** (``pp``): decoder layers split into ``pp`` stages as evenly as possible (the first
  stages take the remainder); the first stage also holds the token (and position) embeddings, the
  last the final norm, the lm_head and the loss. With tied embeddings both ends keep a copy
  (Megatron unties them across stages). With 1F1B scheduling stage ``k`` keeps the activations of
  ``pp − k`` micro-batches in flight (Korthikanti et al. 2022, §4.2.3).
* **Tensor** (``tp``): attention, MLP, embedding and lm_head matrices are split ``tp`` ways; norms
  and biases of row-parallel layers are replicated. Activations inside attention and MLP split;
  the norm inputs and dropout masks split only with sequence parallelism (Korthikanti Table 2).
* **Experts** (``ep``): routed expert weights are split ``ep`` ways (and ``tp`` ways inside).
* **ZeRO / FSDP** over the ``dp`` replicas (or over ``shard_size`` of them: FSDP ``HYBRID_SHARD``
  shards inside a node and replicates across nodes; ``SHARD_GRAD_OP`` = stage 2, ``FULL_SHARD`` = 3),
  mixed-precision accounting of the ZeRO paper (2 B
  16-bit parameters, 2 B gradients, K = fp32 master + optimizer states): stage 1 shards the K
  bytes, stage 2 also the gradients, stage 3 (FSDP FULL_SHARD) also the parameters, plus the
  gathered largest layer (``4 × largest_layer_params``, DeepSpeed's estimator). CPU offload moves
  the K bytes (``optimizer``) and, for stage 3, the parameters (``params``) to host RAM.

DeepSpeed's and Megatron-LM's own estimators, reproduced to compare with, are in ``reference``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...errors import ConfigError, UnsupportedError
from ...inventory import Tensor, count_parameters, inventory
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..activations import ModelActivations
from ..model_activations import model_activations
from ..overhead import cublas_workspace_bytes
from .states import TRAINING_HANDLES, ModelStates, model_states
from .step import StepPeak, step_peak, training_components

__all__ = ["RankShare", "estimate_parallel", "largest_layer_parameters", "stage_layers"]


def largest_layer_parameters(spec: ModelSpec) -> int:
    """DeepSpeed's ``largest_layer_params``: the largest parameter count held directly by one module.

    Modules are the embedding, each Linear (weight + bias), each norm and the lm_head; fused experts
    count as one module.
    """
    sizes: dict[str, int] = {}
    for t in inventory(spec):
        module = t.name.rsplit(".", 1)[0] if "." in t.name else t.name
        sizes[module] = sizes.get(module, 0) + t.numel
    return max(sizes.values(), default=0)


def stage_layers(num_layers: int, pp: int) -> list[range]:
    """Decoder layers of each pipeline stage: as even as possible, the first stages take the remainder."""
    if pp > num_layers:
        raise ConfigError(f"pp = {pp} exceeds the {num_layers} layers; use at most one stage per layer")
    base, extra = divmod(num_layers, pp)
    out, start = [], 0
    for k in range(pp):
        n = base + (1 if k < extra else 0)
        out.append(range(start, start + n))
        start += n
    return out


def _tp_divisor(t: Tensor, tp: int, ep: int) -> int:
    if t.kind.endswith("_exps") and len(t.shape) >= 2:
        return ep * tp
    if t.is_bias or len(t.shape) < 2 or "norm" in t.kind:
        return 1  # replicated (Megatron keeps norms and row-parallel biases on every rank)
    return tp


@dataclass(frozen=True)
class RankShare:
    """Parameters one rank of a pipeline stage holds (after tensor/expert parallel division)."""

    stage: int
    layers: range
    parameters: float
    largest_layer: int
    layer_parameters: tuple[float, ...] = ()  # per decoder layer of the stage, after tp/ep division


def _stage_shares(spec: ModelSpec, tp: int, pp: int, ep: int) -> list[RankShare]:
    """Per pipeline stage, the parameters one rank holds: the inventory is walked once (per layer, plus what
    the first stage — embeddings — and the last stage — final norm, head, a tied embedding's copy — hold)."""
    stages = stage_layers(spec.num_layers, pp)
    largest = largest_layer_parameters(spec)
    per_layer = [0.0] * spec.num_layers
    first = last = tied = 0.0
    for t in inventory(spec):
        share = t.numel / _tp_divisor(t, tp, ep)
        if t.layer is not None:
            per_layer[t.layer] += share
        elif t.kind in ("token_embd", "pos_embd", "token_embd_norm"):
            first += share
            if spec.tie_word_embeddings and t.kind == "token_embd":
                tied += share  # the last stage keeps its own copy for the head
        else:
            last += share
    shares = []
    for k, rng in enumerate(stages):
        layers = tuple(per_layer[i] for i in rng)
        n = (first if k == 0 else 0.0) + sum(layers) + (last if k == pp - 1 else 0.0) + \
            (tied if k == pp - 1 and k != 0 else 0.0)
        shares.append(RankShare(k, rng, n, largest, layers))
    return shares


def _stage_activations(acts: ModelActivations, rng: range, k: int, pp: int, tp: int, sp: bool, ckpt: str,
                       last: bool) -> ModelActivations:
    """Activations of stage ``k``: its layers, ``pp − k`` micro-batches in flight (1F1B), split by TP."""
    in_flight = pp - k

    def split(x: int, replicated: int) -> int:
        if tp == 1:
            return x
        if sp:
            return x // tp
        return replicated + (x - replicated) // tp

    layers = []
    for i in rng:
        la = acts.layers[i]
        layers.append(replace(la, saved=split(la.saved, la.replicated) * in_flight,
                              attention_core=split(la.attention_core, 0) * in_flight,
                              checkpoint=(la.checkpoint // tp if sp else la.checkpoint) * in_flight,
                              forward_extra=split(la.forward_extra, 0),
                              backward_extra=split(la.backward_extra, 0),
                              backward_relief=split(la.backward_relief, 0),
                              weight_casts=la.weight_casts // tp, replicated=la.replicated))
    return ModelActivations(
        layers=tuple(layers),
        outside=acts.outside * (in_flight if k == 0 else 0) // (tp if sp else 1),
        loss_saved=acts.loss_saved // tp if last else 0,
        loss_forward_extra=acts.loss_forward_extra // tp if last else 0,
        loss_backward_extra=acts.loss_backward_extra // tp if last else 0,
        head_weight_casts=acts.head_weight_casts // tp if (last or k == 0) else 0,
        embedding_backward_extra=acts.embedding_backward_extra // tp if k == 0 else 0,
    )


def _zero_states(states: ModelStates, wl: Workload, share: float, dp: int, largest: int,
                 shard_size: int | None = None) -> tuple[dict[str, float], dict[str, float], list[str]]:
    """(device bytes, host bytes, notes) of this rank's model states; ``share`` = its fraction of the model.

    Plain data parallelism (DDP, ZeRO 0, no tp/pp) keeps the single-GPU layout (fp32 weights and
    gradients under autocast). ZeRO/FSDP use the ZeRO paper's mixed-precision layout (16-bit params and
    gradients, K = fp32 master + states); Megatron (tp or pp > 1) keeps fp32 main gradients (18 B/param,
    ``6 + 12/d`` with the distributed optimizer, i.e. ZeRO-1).
    """
    if shard_size is not None and wl.zero:  # FSDP HYBRID_SHARD: shard inside a group, replicate across
        if shard_size < 1 or dp % min(shard_size, dp):
            raise ConfigError(f"shard_size = {shard_size} must divide the data-parallel size {dp}")
        dp = min(shard_size, dp)
    n = states.trainable * share
    opt_bpp = states.optimizer.state_bytes / states.trainable if states.trainable else 0.0
    dev: dict[str, float] = {}
    host: dict[str, float] = {}
    notes: list[str] = []
    megatron = wl.tp > 1 or wl.pp > 1
    if wl.mode != "train":  # LoRA: frozen base (partitioned only by ZeRO-3), adapters as usual
        dev["weights"] = states.weights * share / (dp if wl.zero >= 3 else 1)
        dev["gradients"] = n * states.grad_bytes / (dp if wl.zero >= 2 else 1)
        dev["optimizer_states"] = n * opt_bpp / (dp if wl.zero >= 1 else 1)
        return dev, host, notes
    if not wl.zero and not megatron:
        dev["weights"] = states.weights * share
        dev["gradients"] = n * states.grad_bytes
        dev["optimizer_states"] = n * opt_bpp
        return dev, host, notes
    amp = wl.mixed_precision
    wb = 2.0 if amp else float(states.precision.weight_bytes)
    param = wb * n
    grad = (4.0 if megatron else 2.0) * n if amp else wb * n
    k_bpp = (4.0 + opt_bpp) if amp else opt_bpp
    k_bytes = k_bpp * n  # fp32 master + optimizer states: K in the ZeRO paper
    stage = wl.zero
    shard_k = k_bytes / dp if stage >= 1 else k_bytes
    shard_g = grad / dp if stage >= 2 else grad
    shard_p = param / dp if stage >= 3 else param
    notes.append(f"{'ZeRO-' + str(stage) if stage else 'Megatron'} over {dp} data-parallel ranks: params "
                 f"{wb:g} B{' / dp' if stage >= 3 else ''}, grads {grad / n if n else 0:g} B"
                 f"{' / dp' if stage >= 2 else ''}, K = {k_bpp:g} B{' / dp' if stage >= 1 else ''}")
    if wl.offload in ("optimizer", "params"):
        if not stage:
            raise ConfigError("offload needs ZeRO (--zero 1, 2 or 3)")
        host["optimizer_states"] = shard_k
        if stage >= 2:  # ZeRO-Offload keeps the fp32 gradient partitions on the host too
            host["gradients"] = 4.0 * n / dp
        shard_k = 0.0
    if wl.offload == "params":
        if stage < 3:
            raise ConfigError("offload = params needs ZeRO stage 3 (parameters are partitioned only there); "
                              "use --zero 3 or --offload optimizer")
        host["weights"] = shard_p
        shard_p = 0.0
    gathered = 4.0 * largest if stage >= 3 else 0.0  # DeepSpeed: fp16 params + grads of the largest layer
    dev["weights"] = shard_p + gathered
    dev["gradients"] = shard_g
    dev["optimizer_states"] = shard_k
    return dev, host, notes


def estimate_parallel(spec: ModelSpec, wl: Workload, *, shard_size: int | None = None) -> Estimate:
    """Per-GPU training memory on ``wl.gpus`` GPUs; the estimate is the most-loaded rank.

    ``shard_size``: GPUs one ZeRO/FSDP shard group spans (FSDP ``HYBRID_SHARD``: the GPUs of a node);
    None shards over all data-parallel ranks.
    """
    tp, pp, ep = wl.tp, wl.pp, wl.ep
    gpus = max(wl.gpus, tp * pp)
    if gpus % (tp * pp):
        raise ConfigError(f"gpus = {gpus} is not a multiple of tp × pp = {tp * pp}; pick gpus = dp × tp × pp")
    dp = gpus // (tp * pp)
    if ep > 1 and not spec.is_moe:
        raise ConfigError(f"ep = {ep} needs a mixture-of-experts model; {spec.name} has no experts")
    if ep > 1 and dp % ep:
        raise ConfigError(f"ep = {ep} must divide the data-parallel size {dp} (gpus / (tp × pp))")
    if wl.zero and pp > 1 and wl.zero >= 2:
        raise UnsupportedError("ZeRO stage 2/3 with pipeline parallelism is not supported by DeepSpeed; "
                               "use --zero 1 with --pp, or drop --pp")
    states = model_states(spec, wl)
    precision = states.precision
    if wl.mode == "train" and wl.mixed_precision and (wl.zero or tp > 1 or pp > 1):
        # DeepSpeed / FSDP / Megatron run the model in bf16 (no autocast weight casts)
        precision = replace(precision, amp=False, weight_bytes=2, resid_bytes=2)
    if tp == 1 and pp == 1:  # a Hugging Face model under DDP / DeepSpeed / FSDP builds its DynamicCache
        precision = replace(precision, kv_cache=wl.checkpointing != "full")
    acts = model_activations(spec, precision, wl.batch, wl.context)
    total_params = count_parameters(spec).total
    shares = _stage_shares(spec, tp, pp, ep)
    workspace = TRAINING_HANDLES * cublas_workspace_bytes()
    per_gpu: list[dict[str, Any]] = []
    best: tuple[int, list[Component], StepPeak, int] | None = None
    for share in shares:
        k = share.stage
        last = k == pp - 1
        frac = share.parameters / total_params
        dev, host, znotes = _zero_states(states, wl, frac, dp, share.largest_layer, shard_size)
        stage_acts = _stage_activations(acts, share.layers, k, pp, tp, wl.sequence_parallel, wl.checkpointing, last)
        rank_states = _scaled_states(states, frac, dev, spec, share)
        peak = step_peak(rank_states, stage_acts, wl, ckpt=wl.checkpointing)
        host_comps = [Component(name, int(b), f"{name} offloaded to host RAM = {fmt_bytes(int(b))}", on_device=False)
                      for name, b in host.items() if b]
        grad_f, opt_f = _rank_state_formulas(states, wl, frac, dev, dp, shard_size)
        comps = training_components(spec, wl, rank_states, peak, workspace, weights=int(dev["weights"]),
                                    gradients_formula=grad_f, optimizer_formula=opt_f,
                                    weights_formula=(f"{share.parameters:,.0f} parameters in this GPU's slice (stage "
                                                     f"{k} of {pp}, layers {share.layers.start}-"
                                                     f"{share.layers.stop - 1}, tp {tp}, ep {ep})"
                                                     + _zero3_words(wl, dp, shard_size, share.parameters)
                                                     + (f"; {znotes[0]}" if znotes else "")),
                                    host=host_comps)
        device_total = sum(c.bytes for c in comps if c.on_device)
        per_gpu.append({"stage": k, "layers": [share.layers.start, share.layers.stop - 1],
                        "parameters": int(share.parameters), "peak_phase": peak.phase,
                        "components": {c.name if c.on_device else f"host_{c.name}": c.bytes for c in comps},
                        "total_bytes": device_total})
        if best is None or device_total > best[0]:
            best = (device_total, comps, peak, k)
    assert best is not None
    _, comps, peak, k = best
    allocated = sum(c.bytes for c in comps if c.on_device and c.name not in ("cuda_context", "allocator_reserve"))
    notes = [f"{gpus} GPUs = dp {dp} × tp {tp} × pp {pp}" + (f", ep {ep}" if ep > 1 else "")
             + (f", ZeRO-{wl.zero}" if wl.zero else "") + (f", offload {wl.offload}" if wl.offload != "none" else ""),
             f"most-loaded GPU: pipeline stage {k}, peak during {peak.phase}"]
    notes = _unvalidated(wl, gpus, tp, pp) + notes + (
        ["UNVALIDATED for expert parallelism: Megatron's sums (experts divided by ep), never simulated or measured"]
        if ep > 1 else [])
    if wl.sequence_parallel and tp > 1:
        notes.append("sequence parallelism: norm and dropout activations split across the tensor-parallel ranks")
    details: dict[str, Any] = {"per_gpu": per_gpu, "dp": dp, "tp": tp, "pp": pp, "ep": ep, "zero": wl.zero,
                               "trainable_parameters": states.trainable, "peak_phase": peak.phase}
    return Estimate(spec.name, wl.mode, wl.dtype or "bfloat16", count_parameters(spec), tuple(comps),
                    allocated_bytes=allocated, notes=tuple(notes), details=details)


def _unvalidated(wl: Workload, gpus: int, tp: int, pp: int) -> list[str]:
    """The layouts this module prices with Megatron-style sums that no simulated or measured rank has checked."""
    notes = []
    if tp > 1 and pp > 1:  # full dense training without ZeRO or SP is parallel_pp's (simulated); the rest is not
        notes.append("UNVALIDATED for pipeline x tensor parallelism with LoRA, experts, ZeRO or sequence "
                     "parallelism: Megatron's sums, not torch's run of it (on plain PP x TP such sums were up to "
                     "47 % under torch's pipelining + DTensor TP simulated, tests/data/parallel/pipeline-tp-dev."
                     "jsonl; memory/training/parallel_pp.py models that layout)")
    if wl.mode in ("lora", "qlora") and gpus > 1:  # plain LoRA of a dense model under ZeRO-2/3 is fsdp_lora.py's
        notes.append("UNVALIDATED for LoRA / QLoRA on several GPUs outside FSDP of a dense model (tensor, pipeline "
                     "or expert parallelism, ZeRO-0/1, offload, QLoRA, experts): Megatron-style sums, never "
                     "simulated or measured rank by rank (plan refuses these layouts; memory/training/fsdp_lora.py "
                     "models plain LoRA under --zero 2/3)")
    return notes


def _zero3_words(wl: Workload, dp: int, shard_size: int | None, params: float) -> str:
    """ZeRO-3 partitions the parameters: this GPU holds its part of them, not the slice's count."""
    if wl.zero < 3:
        return ""
    group = min(shard_size, dp) if shard_size else dp
    return (f", partitioned ÷ {group} ZeRO-3 ranks: this GPU holds {params / group:,.0f} of them"
            + (" + the largest layer's fp16 parameters and gradients gathered" if wl.mode == "train" else ""))


def _rank_state_formulas(states: ModelStates, wl: Workload, frac: float, dev: dict[str, float], dp: int,
                         shard_size: int | None) -> tuple[str, str]:
    """The arithmetic of this rank's gradients and optimizer states: its trainable parameters × bytes per
    parameter, ÷ the ZeRO shard group where that stage partitions them (the single-GPU text would not add up)."""
    n = states.trainable * frac
    group = min(shard_size, dp) if shard_size and wl.zero else dp
    opt = states.optimizer

    def per_rank(name: str, sharded: bool) -> str:
        b = dev[name]
        if not n:
            return fmt_bytes(b)
        per = b * (group if sharded else 1) / n
        return (f"{n:,.0f} trainable (this GPU's tp/pp slice) × {per:.4g} B"
                + (f" ÷ {group} ZeRO-{wl.zero} ranks" if sharded and group > 1 else "") + f" = {fmt_bytes(b)}")

    grads = per_rank("gradients", wl.zero >= 2)
    master = wl.mode == "train" and wl.mixed_precision and bool(wl.zero or wl.tp > 1 or wl.pp > 1)
    what = f"{opt.name} states" + (" + fp32 master weights (K)" if master else "")
    if wl.offload in ("optimizer", "params") and not dev["optimizer_states"]:
        return grads, f"{what}: 0 bytes on the GPU, offloaded to host RAM (host_optimizer_states)"
    return grads, f"{what}: " + per_rank("optimizer_states", wl.zero >= 1)


def _scaled_states(states: ModelStates, frac: float, dev: dict[str, float], spec: ModelSpec,
                   share: RankShare) -> ModelStates:
    """This rank's ModelStates: gradients and optimizer states as ``dev`` gives them, spread over its layers
    in proportion to their parameters (the rest belongs to embeddings, final norm and lm_head)."""
    grads = int(dev["gradients"])
    layer_grads = [0] * spec.num_layers
    in_layers = 0
    for i, n in zip(share.layers, share.layer_parameters, strict=True):
        g = int(grads * n / share.parameters) if share.parameters else 0
        layer_grads[i] = g
        in_layers += g
    opt = replace(states.optimizer, state_bytes=int(dev["optimizer_states"]),
                  step_temporary=int(states.optimizer.step_temporary * frac))
    return replace(states, weights=int(dev["weights"]), gradients=grads, optimizer=opt,
                   layer_grads=tuple(layer_grads), head_grads=max(0, grads - in_layers), embedding_grads=0)
