"""One rank of PEFT LoRA under FSDP1 (``torch.distributed.fsdp.FullyShardedDataParallel``, ``--fsdp-version 1``),
moment by moment: the layout accelerate and the transformers Trainer build (fms-acceleration's published two-GPU
runs, tests/data/groundtruth/published-frameworks.md).

How the rank is wrapped (the sources of each term):

* the Trainer swaps accelerate's auto-wrap policy for PEFT's (transformers ``Trainer._fsdp_qlora_plugin_updates``,
  4.39 on: ``fsdp_plugin.auto_wrap_policy = fsdp_auto_wrap_policy(model)``; peft ``utils/other.py``): every leaf
  module with a trainable weight (each adapter's ``lora_A`` and ``lora_B`` Linear) is its own FSDP unit, each
  decoder layer (``_no_split_modules``) another, the root (embedding, final norm, lm_head) the last. A decoder
  layer's flat parameter is all frozen (``requires_grad=False``): it makes no gradient and reshards through
  ``_register_post_backward_reshard_only_hook``; the adapters' units reduce-scatter only their own gradients;
* each unit is one ``FlatParameter`` (``_flat_param.py``) padded to a multiple of the shard group; ``unshard``
  all-gathers it into one padded buffer (``_full_param_padded``) and the parameters are views into it
  (``_use_unsharded_views``): one copy per gathered unit, where FSDP2 also keeps the all-gather output until the
  next group's copy-out (``fsdp_lora``);
* FULL_SHARD (``--zero 3``) frees a layer's buffer at its post-forward (``_post_forward_reshard``) but never the
  root's; in backward the unit's pre-backward hook gathers it and, with ``BackwardPrefetch.BACKWARD_PRE`` (accelerate's
  and fms-acceleration's setting), prefetches the unit before it in post-forward order (``_runtime_utils.py``
  ``_pre_backward_hook`` → ``_prefetch_handle``): the root's hook on the loss gathers the last layer before the
  loss's backward runs; a layer's own hook prefetches its last adapter unit (the adapters' units finish their
  forward inside the layer's), and the layer below is prefetched only by the layer's first adapter unit (q_proj's
  lora_A), whose backward comes last: the MLP's (or the experts') backward runs with one layer gathered, the
  attention's input projections with two; no forward prefetch (``forward_prefetch=False``);
* no ``MixedPrecision`` (accelerate's ``mixed_precision: 'no'``): the base computes in its own dtype and PEFT's
  adapters stay fp32 (``autocast_adapter_dtype``), their inputs cast to fp32 as on one GPU; with ``--mixed-precision``
  (accelerate's bf16: ``MixedPrecision(param_dtype=bfloat16)``) every unit, the adapters' too, is gathered in bf16.

Measured against ``tools/simulate_parallel.py`` with ``fsdp1`` (rank 0 of the fake process group running
``FullyShardedDataParallel`` with PEFT's policy and reentrant checkpointing): tests/data/parallel/fsdp1-dev.jsonl.
"""

from __future__ import annotations

import math
from dataclasses import replace
from itertools import accumulate

from ...inventory import count_parameters, inventory
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..activations import ModelActivations, Precision
from ..caching_allocator import CachingAllocator
from ..lora import DEFAULT_TARGETS, adapted_tensors
from ..lora_dropout import AMP_BYTES, adapter_input_saved
from ..loss_release import checkpoint_wraps_call
from ..model_activations import model_activations
from ..overhead import cublas_workspace_bytes, cuda_context_component
from ..runtimes import transformers_families as fam
from .fsdp1_qlora import QUANT_STORAGE_BYTES, SHARDED_ADAPTER_BYTES, quant_layout, sharded_precision, uses_fsdp1_qlora
from .fsdp_lora import ADAPTER_PARAM_BYTES
from .fsdp_step import step_temporary, step_temporary_component
from .parallel_fsdp import Moment, fsdp_layout
from .states import TRAINING_HANDLES, dtype_bytes, model_states

__all__ = ["estimate_fsdp1_lora", "first_adapter_backward", "input_norm_backward", "lazy_init_segments",
           "unshard_pool", "uses_fsdp1_lora"]

SEGMENT_ROUND = 2 << 20  # CUDACachingAllocator rounds large blocks to 2 MiB


def uses_fsdp1_lora(wl: Workload, moe: bool = False) -> bool:
    """Plain LoRA (dense or mixture-of-experts), or QLoRA of a dense model (``fsdp1_qlora``), under FSDP1 on one
    pipeline stage, without TP, EP or offload."""
    adapters = (wl.mode == "lora" and wl.quant is None) or uses_fsdp1_qlora(wl, moe)
    return (wl.fsdp_version == 1 and adapters and wl.zero >= 2 and wl.tp == 1 and wl.pp == 1 and wl.ep == 1
            and wl.offload == "none")


def flat_units(spec: ModelSpec, shard: int,
               elements: tuple[list[int], int] | None = None) -> tuple[list[int], int, int]:
    """Elements of each decoder layer's flat parameter gathered (padded to the shard group), the root's gathered,
    and the rank's shard of all of them (``FlatParamHandle._get_shard``: the flat parameter padded, then chunked).
    ``elements``: each layer's and the root's own elements where they are not the parameters' (QLoRA's packed
    storage, ``fsdp1_qlora.quant_layout``)."""
    own = [0] * spec.num_layers
    root = 0
    for t in inventory(spec) if elements is None else ():
        if t.layer is None:
            root += math.prod(t.shape)
        else:
            own[t.layer] += math.prod(t.shape)
    if elements is not None:
        own, root = list(elements[0]), elements[1]
    per = [-(-n // shard) for n in own]
    root_s = -(-root // shard)
    return [p * shard for p in per], root_s * shard, sum(per) + root_s


def adapter_units(spec: ModelSpec, wl: Workload, shard: int) -> tuple[list[int], int, int]:
    """The adapters: per layer their own elements (each lora_A / lora_B its own unit), the root's, and the
    rank's shard of all of them."""
    own = [0] * spec.num_layers
    root = sharded = 0
    r = wl.lora_rank
    for t in adapted_tensors(spec, wl.lora_targets or DEFAULT_TARGETS, wl.peft_version):
        out, inp = t.shape
        sharded += -(-r * inp // shard) + -(-out * r // shard)
        if t.layer is None:
            root += r * (inp + out)
        else:
            own[t.layer] += r * (inp + out)
    return own, root, sharded


def _precision(spec: ModelSpec, wl: Workload) -> Precision:
    """Without a MixedPrecision policy the rank computes as one GPU does (fp32 adapters); under accelerate's bf16
    policy every gathered unit is bf16, the adapters too."""
    p = replace(model_states(spec, wl).precision, kv_cache=wl.checkpointing != "full")
    if uses_fsdp1_qlora(wl, spec.is_moe):
        return sharded_precision(p)
    if wl.mixed_precision:
        return replace(p, amp=False, weight_bytes=2, resid_bytes=2, adapter_bytes=2)
    return p


def _acts(spec: ModelSpec, wl: Workload) -> ModelActivations:
    return model_activations(spec, _precision(spec, wl), wl.batch, wl.context)


def held_inputs(acts: ModelActivations, i: int) -> int:
    """Bytes the backward of layer ``i`` still holds from the layers above it when the reentrant checkpoint runs around
    each layer's FSDP1 unit (``loss_release.checkpoint_wraps_call``). The recompute calls the unit on the checkpoint's
    detached input; the unit's flat parameter is frozen (LoRA), so ``_pre_forward`` registers
    ``_register_post_backward_reshard_only_hook`` (``_runtime_utils.py``) on that input: ``register_multi_grad_hook``
    keeps ``_get_grad_fn_or_grad_acc(input)``, the leaf's AccumulateGrad node, which holds the input (the
    checkpoint's storage) and the ``.grad`` that ``CheckpointFunction.backward`` reads back from it; the hook handle
    lives on the flat parameter until ``_finalize_params`` at the end of the backward. Every layer above ``i`` keeps
    its input and its input's gradient; layer i+1's input gradient is layer i's output gradient, already in layer i's
    moment."""
    above = acts.layers[i + 1:]
    return sum(la.checkpoint for la in above) + sum(la.checkpoint for la in above[1:])


def input_norm_backward(spec: ModelSpec, tokens: int, stream_bytes: int) -> int:
    """Bytes a layer's input norm's backward holds at its peak beyond what its attention's input projections' backward
    holds, the norm's weight frozen (LoRA): transformers' Llama-style RMSNorm (``LlamaRMSNorm.forward`` and its copies,
    MixtralRMSNorm among them: ``x = hidden_states.to(float32)``, ``variance = x.pow(2).mean(-1, keepdim=True)``,
    ``x * torch.rsqrt(variance + eps)``, ``weight * x.to(input_dtype)``), autograd's nodes per torch's
    ``tools/autograd/derivatives.yaml``: ``mul``'s gradient for the input only (grad x weight, the weight needs none),
    ``_to_copy``'s back to fp32, the second ``mul``'s two products (x's direct gradient, kept to the final add; rsqrt's,
    summed and freed), ``mean``'s backward (``expand`` / n), ``pow``'s (``pow(x, 1)``, x 2, x the gradient): at the
    last, x's fp32 copy (the recompute's, saved by ``pow`` and ``mul``; the stream itself when it is fp32) and five
    ``tokens`` x hidden fp32 tensors alive. The simulator's trace of fsdp1-dev's Mixtral-l2 (b2 s1024) makes them in
    this order in layer 1's input norm, after q_proj's lora_A unit prefetched layer 0. Not a Gemma-style norm
    (``(1 + w)`` in fp32), a LayerNorm, or a post-norm layer: 0."""
    if (spec.norm != "rms" or fam.gemma_norm(spec.family) or spec.family in fam.FP32_WEIGHT_NORM
            or any(la.norm_layout != "pre" for la in spec.layers)):
        return 0
    n4 = tokens * spec.hidden_size * 4
    return 5 * n4 + (n4 if stream_bytes != 4 else 0)


def first_adapter_backward(spec: ModelSpec, p: Precision, tokens: int) -> int:
    """Bytes alive at q_proj's lora_A backward (the adapter unit whose BACKWARD_PRE hook prefetches the layer below)
    beyond what the tail moment already holds, from peft's ``tuners/lora/layer.py`` ``Linear.forward``
    (``result = self.base_layer(x)``; ``x = self._cast_input_dtype(x, lora_A.weight.dtype)``;
    ``result = result + lora_B(lora_A(dropout(x))) * scaling``; ``result.to(torch_result_dtype)``), the branch made
    last running first in backward: lora_A's saved input (the fp32 dropped copy and its mask, ``adapter_input_saved``),
    the input gradient lora_A's ``mm`` makes (tokens x hidden in the adapter's dtype), the base q_proj's output gradient
    (its ``mm`` still to run) and the k / v projections' input gradients, already added into one (they ran before q:
    autograd takes the later sequence numbers first). The simulator's trace of fsdp1-dev's Phi-3.5-MoE-l2 (b1 s4096)
    peaks there (LayerNorm's backward is one kernel). 0 when q_proj carries no adapter or q / k / v are fused."""
    layer = next((la for la in spec.layers if la.attention is not None), None)
    if layer is None or layer.attention is None or layer.attention.fused_qkv or "attn_q" not in p.lora_kinds:
        return 0
    a, h = layer.attention, spec.hidden_size
    own, _keeps = adapter_input_saved(h, p.proj_bytes, p.lora_dropout, p.amp, p.adapter_bytes)
    grad = h * (AMP_BYTES if p.amp else p.adapter_bytes)
    return tokens * (own + grad + a.num_heads * a.head_dim * p.proj_bytes + h * p.proj_bytes)


def _tail_extras(spec: ModelSpec, wl: Workload) -> tuple[int, int]:
    """``input_norm_backward`` and ``first_adapter_backward`` of the rank's micro-batch."""
    prec, tokens = _precision(spec, wl), wl.batch * wl.context
    return input_norm_backward(spec, tokens, prec.resid_bytes), first_adapter_backward(spec, prec, tokens)


def fsdp1_moments(acts: ModelActivations, U: list[int], R: int, reshard: bool, full: bool,
                  ad_own: list[int], ad_shard: list[int], ab: int, around: bool = False,
                  norm: int = 0, first_adapter: int = 0) -> dict[str, Moment]:
    """Forward, loss, backward layer by layer and the step (``U``/``R``: gathered bytes of each layer and the root;
    ``ad_own``/``ad_shard``: the adapters' unsharded and sharded gradient bytes per layer; ``around``: the checkpoint
    runs around each layer's unit, ``held_inputs``; ``norm``: ``input_norm_backward``, the input norm's backward, which
    runs after the attention's input projections' with the layer below already prefetched; ``first_adapter``:
    ``first_adapter_backward``, what q_proj's lora_A backward holds as the layer below is gathered)."""
    n = len(U)
    kept = [la.checkpoint if full else la.saved for la in acts.layers]
    prefix = [0, *accumulate(kept)]
    out: dict[str, Moment] = {}
    cache = 0
    for i, la in enumerate(acts.layers):
        cache += la.cache
        out[f"forward (layer {i})"] = Moment(acts.outside + prefix[i] + la.saved + la.forward_extra + cache,
                                             gathered=R + (U[i] if reshard else sum(U[: i + 1])))
    base = acts.outside + prefix[n] + cache
    out["forward (loss)"] = Moment(base, acts.loss_saved + acts.loss_forward_extra,
                                   gathered=R + (0 if reshard else sum(U)))
    # the root's pre-backward hook (on the loss) prefetches the last layer before the cross-entropy's backward; with
    # the checkpoint around the units no layer is prefetched: ``_get_handle_to_prefetch`` takes a handle only if
    # ``_needs_pre_backward_unshard``, which ``_register_pre_backward_hooks`` sets only under grad mode, and the
    # checkpoint's forward runs the unit without it: a layer's hooks exist only from its own recompute on
    prefetch = reshard and not (around and full)
    out["backward (loss)"] = Moment(base - cache, acts.loss_saved + acts.loss_backward_extra,
                                    gathered=R + ((U[-1] if n and prefetch else 0) if reshard else sum(U)))
    for i in range(n - 1, -1, -1):
        la = acts.layers[i]
        act = (acts.outside + prefix[i] + la.backward_extra + (la.checkpoint if full else 0) + la.saved
               + (held_inputs(acts, i) if around and full else 0))
        gathered = R + (U[i] if reshard else sum(U[: i + 1]))
        grads = sum(ad_shard[i + 1:])
        out[f"backward (layer {i})"] = Moment(act, gradients=grads, gathered=gathered, grad_buffers=ad_own[i] * ab)
        if prefetch and i:  # the layer below, prefetched once the first adapter unit's backward starts
            tail = (acts.outside + prefix[i] + (la.checkpoint if full else 0) + la.attention_core
                    + (held_inputs(acts, i) if around and full else 0))
            out[f"backward (layer {i}, attention inputs)"] = Moment(tail + first_adapter, gradients=grads,
                                                                    gathered=gathered + U[i - 1],
                                                                    grad_buffers=ad_own[i] * ab)
            out[f"backward (layer {i}, input norm)"] = Moment(tail + norm, gradients=grads,
                                                              gathered=gathered + U[i - 1], grad_buffers=ad_own[i] * ab)
    out["optimizer step"] = Moment(0, gradients=sum(ad_shard))
    return out


def unshard_pool(U: list[int], R: int, reshard: bool) -> int:
    """Bytes FSDP1's unshard stream keeps reserved (``_reserve``): the root and, under FULL_SHARD, the two largest
    layers, each block rounded to 2 MiB; without resharding every layer."""
    def rounded(n: int) -> int:
        return -(-n // SEGMENT_ROUND) * SEGMENT_ROUND

    big = sorted((rounded(u) for u in U), reverse=True)
    return rounded(R) + (sum(big[:2]) if reshard else sum(big))


def lazy_init_segments(U: list[int], R: int, shard: int, cb: int, pb: int) -> int:
    """Bytes of the default stream's segments that FSDP1's lazy initialisation leaves cached (``U``/``R``: unsharded
    elements of each layer and of the root, padded to the ``shard`` group; ``cb``/``pb``: the gathered and the
    parameters' bytes per element). The root's first forward runs ``_lazy_init`` →
    ``_share_state_and_init_handle_attrs`` (``_runtime_utils.py``), which calls
    ``FlatParamHandle.init_flat_param_attributes`` (``_flat_param.py``) for the root's handle, then for every other
    unit in pre-order (the layers in order, each before its adapters), on the current (default) stream: it allocates
    ``_full_param_padded`` (the unsharded flat parameter, ``cb`` bytes) and frees it at once (``_free_storage``);
    under a MixedPrecision ``param_dtype`` other than the parameters' it first does the same with ``_mp_shard`` (the
    shard in ``cb``) and after it with ``_full_prec_full_param_padded`` (unsharded, ``pb``). Each block goes back to
    the default stream's cache, where the unshard stream never reuses it (c10 ``CUDACachingAllocator``: a cached
    block serves only its own stream); a unit that no freed block holds makes a new segment (the running largest).
    The adapters' units are smaller than the root that precedes them and reuse its freed block: they add nothing."""
    pool = CachingAllocator()
    for n in [R, *U]:
        sizes = ([n // shard * cb, n * cb, n * pb] if cb != pb else [n * cb])
        for k, size in enumerate(sizes):
            pool.malloc(k, size)
            pool.free(k)
    return pool.reserved


def _reserve(spec: ModelSpec, wl: Workload, U: list[int], R: int, reshard: bool, gathered: int, allocated: int,
             at_init: int) -> tuple[int, int, int]:
    """The reserve beyond the allocated peak, per CUDA stream (c10 ``CUDACachingAllocator``: a cached block serves
    only the stream it was made on). FSDP1 allocates each unit's unsharded flat parameter on its unshard stream
    (``_all_gather_flat_param`` under ``state._unshard_stream``). FULL_SHARD frees it after use with
    ``_no_dispatch_record_stream(..., current_stream)`` then ``_free_storage`` (``_flat_param.py``
    ``_free_unsharded_flat_param``): the block returns to the pool only once the CPU knows the default stream ran past
    that point, which ``limit_all_gathers`` makes it learn: ``_unshard`` synchronizes the oldest of the free events
    queued at each reshard (``_limiter_utils._FreeEventQueue``, two) before allocating. Under peft's wrap every adapter
    unit reshards and unshards too, so the next layer's first adapter unshard syncs past the freed layer before the
    layer after it is gathered: the pool holds the root and two layers, the one computed and the one prefetched
    (BACKWARD_PRE); with the checkpoint around the units (transformers < 4.52, no prefetch) the recompute's copy freed
    behind record_stream and the same layer gathered again at once, no adapter event between: two as well. Both read
    in tools/simulate_fsdp1.py's record_stream emulation (docs/simulator.md, "FSDP1 LoRA ranks"). Its slack at the peak
    is what is not gathered then. Everything else (sharded parameters, activations, logits, the adapters' units) lives
    on the default stream, whose reserve is the one-GPU replay's; but that stream already holds, from the lazy init,
    ``at_init`` (what was allocated then and ``lazy_init_segments``), and a stream's reserve never shrinks: where that
    is more than the replay's figure (the peak's allocated bytes off the unshard stream plus the replay's reserve), the
    difference is added (returned third: MoE layers of gigabytes against small activations, simulated Mixtral-l2)."""
    from .step import estimate_single_gpu

    slack = max(0, unshard_pool(U, R, reshard) - gathered)
    one = wl.replace(gpus=1, zero=0, fsdp_version=2, shard_size=None)
    states = model_states(spec, one)
    if uses_fsdp1_qlora(wl, spec.is_moe):  # the same step with trl's sharded QLoRA's bf16 stream and adapters
        states = replace(states, precision=sharded_precision(states.precision))
    est = estimate_single_gpu(spec, one, states)
    one_gpu = sum(c.bytes for c in est.components if c.name == "allocator_reserve")
    cached = max(0, at_init - (allocated - gathered + one_gpu))
    return one_gpu + slack + cached, slack, cached


def _stats_note(qlora: bool, stats: int) -> str:
    if not qlora:
        return ""
    return (f" (the 4-bit weights packed in bf16 storage, fsdp1_qlora) + every QuantState whole on each rank "
            f"({fmt_bytes(stats)})")


QLORA_NOTES = (
    "QLoRA under FSDP1 (trl's sharded path): no kbit preparation, the stream, norms and adapters bf16, the 4-bit "
    "weights flattened as bf16 storage and sharded, each QuantState whole on every rank",
    "UNVALIDATED device total for QLoRA under FSDP1: the allocated peak holds against published two-GPU runs "
    "(-3.1 .. +0.1 %), but memfit's total is up to 25 % below their nvidia-smi peaks (memory outside the "
    "modelled allocator reserve, not identified: tests/data/groundtruth/published-frameworks.md); leave that margin",
)


def estimate_fsdp1_lora(spec: ModelSpec, wl: Workload) -> Estimate:
    """Rank 0's LoRA training memory under FSDP1 (``uses_fsdp1_lora``)."""
    qlora = uses_fsdp1_qlora(wl, spec.is_moe)
    pb = QUANT_STORAGE_BYTES if qlora else dtype_bytes(wl.dtype or "bfloat16")
    cb = 2 if wl.mixed_precision else pb  # the gathered dtype (MixedPrecision param_dtype) of every unit
    lay = replace(fsdp_layout(wl), param_bytes=pb, compute_bytes=cb, reduce_bytes=cb)
    own, root_own, stats = quant_layout(spec, wl.quant or "nf4-dq", wl.transformers_version) if qlora else ([], 0, 0)
    layers, root, base = flat_units(spec, lay.shard, (own, root_own) if qlora else None)
    ad_own, ad_root, adapters = adapter_units(spec, wl, lay.shard)
    apb = SHARDED_ADAPTER_BYTES if qlora else ADAPTER_PARAM_BYTES  # the adapters' parameter dtype
    ad_shard = [-(-n // lay.shard) * apb for n in ad_own]
    acts = _acts(spec, wl)
    around = checkpoint_wraps_call(wl.transformers_version)
    ab = 2 if wl.mixed_precision else apb
    norm, first = _tail_extras(spec, wl)
    moments = fsdp1_moments(acts, [n * cb for n in layers], root * cb, lay.reshard, wl.checkpointing == "full",
                            ad_own, ad_shard, ab, around, norm, first)
    states = model_states(spec, wl)
    # torch's optimizers keep their states (and foreach AdamW's sqrt temporary) in the parameter's dtype:
    # model_states prices fp32 adapters, so bf16 ones (sharded QLoRA) take apb / 4 of it
    opt_bpp = states.optimizer.state_bytes / max(1, states.trainable) * apb / ADAPTER_PARAM_BYTES
    tmp = step_temporary(states, adapters, False)[0] * apb // ADAPTER_PARAM_BYTES
    moments["optimizer step"] = replace(moments["optimizer step"], gradients=adapters * apb, temporary=tmp)
    phase = max(moments, key=lambda k: moments[k].total)
    m = moments[phase]
    weights, lora_w, opt = base * pb + stats, adapters * apb, int(opt_bpp * adapters)
    workspace = TRAINING_HANDLES * cublas_workspace_bytes()
    group = f"÷ {lay.shard} (each unit's flat parameter padded to the shard group)"
    comps = [
        Component("weights", weights, f"frozen base, sharded: {base:,} elements ({count_parameters(spec).total:,} "
                  f"{group}) × {pb} B{_stats_note(qlora, stats)} = {fmt_bytes(weights)}"),
        Component("lora_weights", lora_w, f"adapters, sharded (each lora_A / lora_B its own unit): {adapters:,} "
                  f"elements × {apb} B ({'bf16' if apb == 2 else 'fp32'}) = {fmt_bytes(lora_w)}"),
        Component("gradients", m.gradients, f"the adapters' sharded gradients reduced by the peak ({phase}) = "
                  f"{fmt_bytes(m.gradients)}"),
        Component("optimizer_states", opt, f"{wl.optimizer} states: {adapters:,} sharded adapter elements × "
                  f"{opt_bpp:g} B = {fmt_bytes(opt)}"),
        Component("fsdp_gathered", m.gathered, f"unsharded flat parameters ({cb} B) at the peak ({phase}): the root "
                  f"({root:,} elements, gathered from its forward to the end of backward) and the layers in flight "
                  f"({max(layers, default=0):,} elements each; in backward the current one and the one "
                  f"BACKWARD_PRE prefetched) = {fmt_bytes(m.gathered)}"),
        Component("fsdp_grad_buffers", m.grad_buffers, f"the adapters' unsharded gradients in flight = "
                  f"{fmt_bytes(m.grad_buffers)}"),
        Component("activations", m.activations, f"saved for backward at the peak ({phase}, batch {wl.batch} × "
                  f"{wl.context} tokens per rank, checkpointing {wl.checkpointing}) = {fmt_bytes(m.activations)}"),
    ]
    if m.logits:
        comps.append(Component("logits", m.logits, f"logits and cross-entropy over {wl.batch} × {wl.context} × "
                               f"{spec.vocab_size:,} = {fmt_bytes(m.logits)}"))
    comps += step_temporary_component(wl.optimizer, adapters, m.temporary)
    comps.append(Component("overhead", workspace, f"{TRAINING_HANDLES} cuBLAS workspaces × "
                           f"{fmt_bytes(cublas_workspace_bytes())}"))
    allocated = sum(c.bytes for c in comps)
    at_init = weights + lora_w + workspace + lazy_init_segments(layers, root, lay.shard, cb, pb)
    reserve, slack, cached = _reserve(spec, wl, [n * cb for n in layers], root * cb, lay.reshard, m.gathered,
                                      allocated, at_init)
    comps.append(Component("allocator_reserve", reserve, f"caching-allocator reserve: the default stream's, as the "
                           f"same step on one GPU replays it (training.pool), and the unshard stream's cached flat "
                           f"buffers (root + 2 layers) not in use at the peak ({fmt_bytes(slack)})"
                           + (f", and the default stream's blocks of FSDP1's lazy init (each unit's unsharded buffer "
                              f"allocated and freed there) beyond that replay ({fmt_bytes(cached)})" if cached else "")
                           + f" = {fmt_bytes(reserve)}"))
    comps.append(cuda_context_component(None, training=True))
    kind = "FULL_SHARD" if lay.reshard else "SHARD_GRAD_OP"
    persistent = weights + lora_w + opt
    notes: tuple[str, ...] = (
        f"{wl.gpus} GPUs: FSDP1 {kind} over {lay.shard} ranks (a flat parameter per decoder layer, per adapter Linear "
        f"and for the root; BACKWARD_PRE prefetch), LoRA on the frozen base",
        f"rank 0 (the largest shard), peak during {phase} of the second step")
    if qlora:
        notes += QLORA_NOTES
    if around and wl.checkpointing == "full":
        notes += (f"transformers {wl.transformers_version}: the checkpoint wraps each layer's FSDP unit, whose "
                  "reshard-only hook keeps every finished layer's input and its gradient until the backward ends",)
    details = {"per_gpu": [{"rank": 0, "peak_phase": phase, "total_bytes": sum(c.bytes for c in comps)}],
               "dp": lay.dp, "tp": 1, "pp": 1, "shard_group": lay.shard, "zero": wl.zero, "peak_phase": phase,
               "fsdp_version": 1, "phases": {k: v.total + persistent + workspace for k, v in moments.items()},
               "trainable_parameters": sum(ad_own) + ad_root}
    return Estimate(spec.name, wl.mode, wl.dtype or "bfloat16", count_parameters(spec), tuple(comps),
                    allocated_bytes=allocated, notes=notes, details=details)
