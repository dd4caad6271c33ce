"""One rank of PEFT LoRA under FSDP2 (``fully_shard`` of each decoder layer, then the root), moment by moment.

The frozen base and the adapters are sharded alike (dim 0 padded to the shard group, ``FSDPParam``); under FSDP's
mixed precision (``MixedPrecisionPolicy(param_dtype=bfloat16)``, FSDP1's ``MixedPrecision`` likewise) every
parameter, the fp32 adapters included, is all-gathered in bf16, so the adapters compute in bf16: PEFT's cast of the
input to the adapter's dtype is then a no-op and lora_A keeps the layer's own bf16 input (``Precision.adapter_bytes``).
What one rank holds beyond its shards (``parallel_fsdp`` for the PyTorch sources of each term):

* forward of layer ``i``: its gathered parameters (base + adapters, bf16) and the flat all-gather output they were
  copied from, kept to the next group's copy-out; the root (embedding, final norm, lm_head) gathered from its
  forward to the end of backward (``fully_shard`` does not reshard the root after forward);
* backward of layer ``i``: its gathered parameters and the next group's prefetched all-gather output; only the
  adapters have gradients, so the unsharded gradients and the reduce-scatter input are the adapters' (small); the
  root has none;
* the step: the adapters' sharded gradients and optimizer states (``fsdp_step`` for foreach AdamW's temporary).

Measured against ``tools/simulate_parallel.py`` (PEFT LoRA on the bf16 model, FSDP2 with bf16 all-gathers):
development cases in tests/data/parallel/dev.jsonl (``*-lora16-*``).
"""

from __future__ import annotations

from dataclasses import replace
from itertools import accumulate

from ...inventory import count_parameters
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..activations import ModelActivations, Precision
from ..lora import DEFAULT_TARGETS, adapted_tensors
from ..model_activations import model_activations
from ..overhead import cublas_workspace_bytes, cuda_context_component
from .fsdp_lora_pool import lora_pool_reserve
from .fsdp_masks import eager_masks
from .fsdp_params import Param, param_groups
from .fsdp_pool import ReplayInput
from .fsdp_step import step_temporary, step_temporary_component
from .parallel_fsdp import FsdpLayout, Moment, forward_moments, fsdp_layout, rank_sizes
from .states import TRAINING_HANDLES, dtype_bytes, model_states

__all__ = ["estimate_fsdp_lora", "uses_fsdp_lora"]

ADAPTER_PARAM_BYTES = 4  # PEFT's autocast_adapter_dtype keeps the adapters' parameters (and their shards) fp32


def uses_fsdp_lora(wl: Workload, is_moe: bool) -> bool:
    """Plain LoRA of a dense model under FSDP (``--zero 2/3``) on one pipeline stage, without TP or offload."""
    return (wl.mode == "lora" and wl.quant is None and wl.zero >= 2 and not is_moe and wl.tp == 1 and wl.pp == 1
            and wl.ep == 1 and wl.offload == "none")


def adapter_groups(spec: ModelSpec, wl: Workload, shard: int) -> tuple[tuple[Param, ...], ...]:
    """The adapters as FSDP parameters (lora_A (r, in), lora_B (out, r), dim 0 padded), per layer, then the root's."""
    groups: list[list[Param]] = [[] for _ in range(spec.num_layers + 1)]
    r = wl.lora_rank
    for t in adapted_tensors(spec, wl.lora_targets or DEFAULT_TARGETS, wl.peft_version):
        out, inp = t.shape
        a, b = -(-r // shard), -(-out // shard)
        groups[spec.num_layers if t.layer is None else t.layer] += [Param(a * shard * inp, r * inp, a * inp),
                                                                    Param(b * shard * r, out * r, b * r)]
    return tuple(tuple(g) for g in groups)


def _precision(spec: ModelSpec, wl: Workload, cb: int) -> Precision:
    """The dtypes as the rank computes: FSDP's mixed precision runs the layers in the gathered dtype (no autocast),
    the adapters in it too."""
    return replace(model_states(spec, wl).precision, amp=False, weight_bytes=cb, resid_bytes=cb, adapter_bytes=cb,
                   kv_cache=wl.checkpointing != "full")


def _acts(spec: ModelSpec, wl: Workload, cb: int) -> ModelActivations:
    """The activations as the rank computes them (``_precision``)."""
    return model_activations(spec, _precision(spec, wl, cb), wl.batch, wl.context)


def _adapters(spec: ModelSpec, wl: Workload, shard: int) -> tuple[list[int], list[int], list[int], int, int]:
    """Per layer: the adapters' gathered (padded), own and sharded elements; the root's gathered and sharded."""
    n = spec.num_layers
    gathered, own, sharded = [0] * n, [0] * n, [0] * n
    root_g = root_s = 0
    r = wl.lora_rank
    for t in adapted_tensors(spec, wl.lora_targets or DEFAULT_TARGETS, wl.peft_version):
        out, inp = t.shape
        g = (-(-r // shard) * inp + -(-out // shard) * r) * shard  # lora_A (r, in), lora_B (out, r)
        s = -(-r // shard) * inp + -(-out // shard) * r
        if t.layer is None:
            root_g, root_s = root_g + g, root_s + s
            continue
        gathered[t.layer] += g
        own[t.layer] += r * (inp + out)
        sharded[t.layer] += s
    return gathered, own, sharded, root_g, root_s


def lora_moments(spec: ModelSpec, wl: Workload, lay: FsdpLayout) -> tuple[dict[str, Moment], int, int, int]:
    """The moments of the step, and the rank's base shard, adapter shard and adapter gradients' elements."""
    sizes = rank_sizes(spec, lay)
    ad_g, ad_own, ad_s, root_ag, root_as = _adapters(spec, wl, lay.shard)
    cb, rb = lay.compute_bytes, max(lay.reduce_bytes, 4)
    acts = _acts(spec, wl, cb)
    U = [(b + a) * cb for b, a in zip(sizes.layers, ad_g, strict=True)]
    R, n = (sizes.root + root_ag) * cb, len(U)
    full = wl.checkpointing == "full"
    kept = [la.checkpoint if full else la.saved for la in acts.layers]
    prefix = [0, *accumulate(kept)]  # the activations kept before each layer
    out = forward_moments(acts, U, R, lay.reshard, prefix)
    for i in range(n - 1, -1, -1):
        la = acts.layers[i]
        reduced = sum(ad_s[i + 1:]) * ADAPTER_PARAM_BYTES
        held = ad_g[i + 1] * rb if i + 1 < n else 0  # the previous group's reduce-scatter input (adapters only)
        act = acts.outside + prefix[i] + la.backward_extra + (la.checkpoint if full else 0) + la.saved
        gathered = R + (U[i] + (U[i - 1] if i else 0) if lay.reshard else sum(U[: i + 1]))
        if lay.reshard:
            out[f"all-gather copy-out (layer {i})"] = Moment(acts.outside + prefix[i] + la.saved, gradients=reduced,
                                                             gathered=R + 2 * U[i], grad_buffers=held)
        out[f"backward (layer {i})"] = Moment(act, gradients=reduced, gathered=gathered,
                                              grad_buffers=held + ad_own[i] * cb)
        out[f"reduce-scatter (layer {i})"] = Moment(acts.outside + prefix[i], gradients=reduced,
                                                    gathered=gathered - U[i],
                                                    grad_buffers=ad_own[i] * cb + ad_g[i] * rb)
    adapters = sum(ad_s) + root_as
    out["optimizer step"] = Moment(0, gradients=adapters * ADAPTER_PARAM_BYTES)
    return out, sizes.sharded, adapters, sum(ad_own)


def _reserve(spec: ModelSpec, wl: Workload, lay: FsdpLayout, opt_bpp: float, step_bpp: float, allocated: int) -> int:
    """The replayed reserve beyond ``allocated`` (``fsdp_lora_pool``)."""
    cb = lay.compute_bytes
    base = param_groups(spec, 1, lay.shard)
    adapters = adapter_groups(spec, wl, lay.shard)
    groups = tuple(b + a for b, a in zip(base, adapters, strict=True))
    inner = max((la.mlp.intermediate_size for la in spec.layers if la.mlp is not None and la.moe is None), default=0)
    acts = _acts(spec, wl, cb)
    # every layer an attention layer: replayed op by op with the adapters in the compute dtype (``_acts``), as full
    # fine-tuning's ranks are (``fsdp_pool._forward_backward_ops``); otherwise at the coarse grain
    ops = wl.checkpointing != "selective-op" and all(
        la.mixer == "attention" and la.attention is not None for la in spec.layers)
    masks = eager_masks(spec, wl.attn, wl.checkpointing, wl.batch, wl.context, cb)
    replay = ReplayInput(groups, acts, cb, max(lay.reduce_bytes, 4), cb, opt_bpp, lay.reshard,
                         wl.checkpointing == "full", wl.batch * wl.context, spec.hidden_size, spec.vocab_size, inner,
                         0, spec.tie_word_embeddings, wl.grad_accum, expandable=wl.expandable_segments,
                         step_bytes_per_param=step_bpp, spec=spec if ops else None,
                         precision=_precision(spec, wl, cb) if ops else None, batch=wl.batch, seq=wl.context,
                         masks=masks if ops else (), adapters=adapters)
    return lora_pool_reserve(replay, base, adapters, lay.param_bytes, ADAPTER_PARAM_BYTES, allocated)


def estimate_fsdp_lora(spec: ModelSpec, wl: Workload) -> Estimate:
    """Rank 0's LoRA training memory under FSDP (``uses_fsdp_lora``)."""
    # the base in --dtype; bf16 all-gathers of base and fp32 adapters (FSDP2 gathers one dtype per group: a bf16
    # MixedPrecisionPolicy), fp32 only for an fp32 base without --mixed-precision
    base_b = dtype_bytes(wl.dtype or "bfloat16")
    cb = 4 if base_b == 4 and not wl.mixed_precision else 2
    lay = replace(fsdp_layout(wl), param_bytes=base_b, compute_bytes=cb, reduce_bytes=4)
    moments, base, adapters, trainable = lora_moments(spec, wl, lay)
    states = model_states(spec, wl)
    opt_bpp = states.optimizer.state_bytes / max(1, states.trainable)
    tmp, per = step_temporary(states, adapters, False)
    moments["optimizer step"] = replace(moments["optimizer step"], temporary=tmp)
    phase = max(moments, key=lambda k: moments[k].total)
    m = moments[phase]
    weights, lora_w, opt = base * lay.param_bytes, adapters * ADAPTER_PARAM_BYTES, int(opt_bpp * adapters)
    workspace = TRAINING_HANDLES * cublas_workspace_bytes()
    group = f"÷ {lay.shard} (shard group, dim 0 padded)"
    comps = [
        Component("weights", weights, f"frozen base, sharded: {base:,} elements ({count_parameters(spec).total:,} "
                  f"{group}) × {lay.param_bytes} B = {fmt_bytes(weights)}"),
        Component("lora_weights", lora_w, f"adapters, sharded: {adapters:,} elements ({trainable:,} LoRA parameters, "
                  f"r = {wl.lora_rank}, {group}) × {ADAPTER_PARAM_BYTES} B (fp32) = {fmt_bytes(lora_w)}"),
        Component("gradients", m.gradients, f"the adapters' sharded gradients reduced by the peak ({phase}) = "
                  f"{fmt_bytes(m.gradients)}"),
        Component("optimizer_states", opt, f"{wl.optimizer} states: {adapters:,} sharded adapter elements × "
                  f"{opt_bpp:g} B = {fmt_bytes(opt)}"),
        Component("fsdp_gathered", m.gathered, f"gathered parameters (base + adapters, {lay.compute_bytes} B) and "
                  f"all-gather outputs at the peak ({phase}): the root, kept gathered through the step, and the "
                  f"layers in flight = {fmt_bytes(m.gathered)}"),
        Component("fsdp_grad_buffers", m.grad_buffers, f"the adapters' unsharded gradients and reduce-scatter "
                  f"inputs in flight = {fmt_bytes(m.grad_buffers)}"),
        Component("activations", m.activations, f"saved for backward at the peak ({phase}, batch {wl.batch} × "
                  f"{wl.context} tokens per rank, checkpointing {wl.checkpointing}, adapters in "
                  f"{lay.compute_bytes} B) = {fmt_bytes(m.activations)}"),
    ]
    if m.logits:
        comps.append(Component("logits", m.logits, f"logits and cross-entropy over {wl.batch} × {wl.context} × "
                               f"{spec.vocab_size:,} = {fmt_bytes(m.logits)}"))
    comps += step_temporary_component(wl.optimizer, adapters, m.temporary)
    comps.append(Component("overhead", workspace, f"{TRAINING_HANDLES} cuBLAS workspaces × "
                           f"{fmt_bytes(cublas_workspace_bytes())}"))
    persistent = weights + lora_w + opt
    allocated = sum(c.bytes for c in comps)
    reserve = _reserve(spec, wl, lay, opt_bpp, per, allocated)
    comps.append(Component("allocator_reserve", reserve, f"caching-allocator reserve: rank 0's step replayed per "
                           f"CUDA stream (fsdp_lora_pool: the all-gather stream's cached flat outputs, the default "
                           f"stream's fragmentation) beyond the allocated peak = {fmt_bytes(reserve)}"))
    comps.append(cuda_context_component(None, training=True))
    kind = "FULL_SHARD" if lay.reshard else "SHARD_GRAD_OP (reshard_after_forward=False)"
    notes = (f"{wl.gpus} GPUs: FSDP2 {kind} over {lay.shard} ranks, LoRA on the frozen base, bf16 all-gathers",
             f"rank 0 (the largest shard), peak during {phase} of the second step")
    details = {"per_gpu": [{"rank": 0, "peak_phase": phase, "total_bytes": sum(c.bytes for c in comps)}],
               "dp": lay.dp, "tp": 1, "pp": 1, "shard_group": lay.shard, "zero": wl.zero, "peak_phase": phase,
               "phases": {k: v.total + persistent + workspace for k, v in moments.items()},
               "trainable_parameters": trainable}
    return Estimate(spec.name, wl.mode, wl.dtype or "bfloat16", count_parameters(spec), tuple(comps),
                    allocated_bytes=allocated, notes=notes, details=details)
