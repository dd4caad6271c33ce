"""One rank of a PyTorch pipeline (``torch.distributed.pipelining``), action by action of its schedule.

Layout: ``gpus = dp × pp`` with no tensor parallelism and no ZeRO (plain data parallelism across pipelines). The
decoder layers are cut into ``pp × v`` stages as evenly as possible (the first stages take the remainder); rank
``r`` holds stage ``r`` (GPipe, 1F1B) or stages ``r, r + pp, …`` (interleaved 1F1B, ``v`` stages per rank). The
first stage keeps the token embedding, the last the final norm, the lm_head and the loss; a tied embedding is held
by both ends. Each stage is the single-GPU model on its share: the parameters in ``--dtype`` (fp32 under
``--mixed-precision``, the forward under bf16 autocast), gradients of the same dtype, the optimizer's states.
``--grad-accum`` is the number of micro-batches per step, ``--batch`` the sequences of one micro-batch.

What the rank holds, from PyTorch 2.13 ``torch/distributed/pipelining``:

* the schedule's order of forwards and backwards per micro-batch (``schedules.py``): GPipe runs all forwards, then
  all backwards; ``Schedule1F1B`` runs ``min(m, pp − r)`` forwards, then alternates one backward and one forward;
  ``ScheduleInterleaved1F1B`` runs ``(v − 1)·mpr + 2·(pp − 1 − r)`` forwards first (``_get_warmup_ops``, ``mpr`` the
  micro-batches per round), cycling through its local stages every ``mpr`` operations, then pairs, then the
  remaining backwards. A micro-batch's activations (and, on the last stage, its loss's fp32 ``log_softmax``) live
  from its forward to its backward;
* the stage's output of each micro-batch in flight (``stage.fwd_cache``, kept for backward) and, on the last stage,
  every micro-batch's output until the step ends (``output_chunks``, with ``return_outputs=True``, the default);
* receive buffers made once for every micro-batch (``_setup_forward_recv_info``: the activations a non-first stage
  receives; ``_create_grad_recv_info``: the gradients a non-last stage receives), each the size of one
  micro-batch's hidden states;
* gradients appear at a stage's first backward and stay (accumulated over the micro-batches); the optimizer
  step follows the last backward.

With ``--zero 2`` or ``3`` each stage is sharded by FSDP2 over the ``dp = gpus / pp`` ranks of its data-parallel
group as torchtitan does under PP (``apply_fsdp``: ``reshard_after_forward=False`` for every layer and the stage;
bf16 parameters and fp32 reduce under ``--mixed-precision``). From PyTorch 2.13 ``pipelining/stage.py`` and
``fsdp/_fully_shard``: every micro-batch's backward runs with ``set_requires_gradient_sync(False)`` and
``set_reshard_after_backward(False)``, so the stage's parameters stay gathered in bf16 from its first forward to the
end of the step, and each group's post-backward upcasts its bf16 gradients to an fp32 unsharded accumulator
(``to_accumulated_grad_if_needed``: both alive for a moment) that later micro-batches add into; the schedule's
``perform_reduce_grad`` then reshards and reduce-scatters group by group (root first), leaving fp32 gradient shards
beside the fp32 parameter shards and the optimizer's sharded states.

Measured against ``tools/simulate_pipeline.py`` (one rank on PyTorch's fake process group, the real schedules on
fake tensors): docs/simulator.md, section "Pipeline parallelism".
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...errors import ConfigError
from ...inventory import count_parameters
from ...result import Component, Estimate
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..activations import ModelActivations
from ..model_activations import model_activations
from ..overhead import cublas_workspace_bytes
from .parallel import RankShare, _stage_shares
from .parallel_fsdp import fsdp_layout, rank_activations
from .pp_fsdp_pool import pipeline_fsdp_pool
from .pp_pool import PipeStage, pipe_rank, with_replayed_reserve
from .states import TRAINING_HANDLES, ModelStates, model_states
from .step import StepPeak, step_peak, training_components

__all__ = ["SCHEDULES", "estimate_pipeline", "rank_actions", "uses_pipeline_model"]

SCHEDULES = ("1f1b", "gpipe", "interleaved-1f1b")


def uses_pipeline_model(wl: Workload, moe: bool = False) -> bool:
    """Full training over pipeline stages (no ZeRO-1, EP or offload; FSDP2 inside the stages with ``--zero`` 2 or
    3, or DTensor TP inside them without FSDP, sequence parallelism or experts): torch.distributed.pipelining."""
    tp_ok = wl.tp == 1 or (wl.zero == 0 and not wl.sequence_parallel and not moe)
    return wl.mode == "train" and wl.pp > 1 and tp_ok and wl.zero in (0, 2, 3) and wl.ep == 1 \
        and wl.offload == "none"


def rank_actions(schedule: str, pp: int, rank: int, m: int, v: int = 1) -> list[tuple[str, int, int]]:
    """The rank's actions in order: ("F" or "B", local stage index, micro-batch)."""
    if schedule == "gpipe":
        return [("F", 0, i) for i in range(m)] + [("B", 0, i) for i in range(m)]
    if schedule == "1f1b":
        warm = min(m, pp - rank)
        order = [("F", 0, i) for i in range(warm)]
        f = warm
        for b in range(m):
            order.append(("B", 0, b))
            if f < m:
                order.append(("F", 0, f))
                f += 1
        return order
    if schedule != "interleaved-1f1b":
        raise ConfigError(f"pp_schedule = {schedule!r} is not one of {', '.join(SCHEDULES)}")
    rounds = max(1, m // pp)
    if m % rounds:
        raise ConfigError(f"interleaved 1F1B needs the micro-batches ({m}) to be a multiple of the rounds "
                          f"({rounds} = micro-batches // pp); pick --grad-accum as a multiple of {rounds}")
    mpr = m // rounds
    total = m * v
    warm = min((v - 1) * mpr + 2 * (pp - 1 - rank), total)
    fwd_next = [0] * v
    bwd_next = [0] * v
    acts: list[tuple[str, int, int]] = []

    def fwd(op: int) -> None:
        j = (op // mpr) % v
        acts.append(("F", j, fwd_next[j]))
        fwd_next[j] += 1

    def bwd(op: int) -> None:
        j = v - 1 - ((op - warm) // mpr) % v
        acts.append(("B", j, bwd_next[j]))
        bwd_next[j] += 1

    for op in range(total):
        if op < warm:
            fwd(op)
        else:
            fwd(op)
            bwd(op)
    for op in range(total, total + warm):
        bwd(op)
    return acts


@dataclass(frozen=True)
class _Stage:
    share: RankShare
    first: bool
    last: bool
    states: ModelStates
    acts: ModelActivations
    kept: int  # one micro-batch's activations from its forward to its backward
    output: int  # the stage's output of one micro-batch (hidden states, or the logits)
    forward_peak: int  # above what was there before, during one micro-batch's forward
    backward_peak: tuple[int, int]  # during one backward (its own ``kept`` included): gradients absent / present
    shard_grads: int  # FSDP: the stage's fp32 gradient shards after the reduce-scatter (else ``gradients``)
    reduce_peak: int  # FSDP: the largest moment of the step-end reduce-scatter, beyond weights and states


def _stage(spec: ModelSpec, wl: Workload, states: ModelStates, acts: ModelActivations, share: RankShare,
           n_stages: int, dp: int = 1, tp: int = 1) -> _Stage:
    """One stage's terms; ``dp`` > 1: sharded by FSDP2 over ``dp`` ranks (``states.precision`` is then the gathered
    parameters' (bf16 under mixed precision), ``grad_bytes`` the gradient accumulator's, fp32 there); ``tp`` > 1:
    DTensor TP inside the stage (``share`` and ``acts`` are one TP rank's)."""
    k, rng = share.stage, share.layers
    first, last = k == 0, k == n_stages - 1
    total = count_parameters(spec).total
    frac = share.parameters / total if total else 0.0
    fsdp = dp > 1
    gb = states.grad_bytes
    layer_grads = tuple(int(n * gb) for n in share.layer_parameters)
    grads = int(share.parameters * gb) + (_whole_embedding_extra(spec, tp) * gb if first else 0)
    outside = grads - sum(layer_grads)
    # the first stage's embedding gradient is made at the very end of its backward (tied or not: the head and its
    # copy of the tied matrix are on the last stage)
    emb = outside if first and not last else 0
    opt = replace(states.optimizer, state_bytes=int(states.optimizer.state_bytes * frac / dp),
                  step_temporary=int(states.optimizer.step_temporary * frac / dp))
    st = replace(states, weights=int(share.parameters * states.precision.weight_bytes), gradients=grads,
                 trainable=int(share.parameters), optimizer=opt, layer_grads=layer_grads,
                 head_grads=outside - emb, embedding_grads=emb)
    T, h = wl.batch * wl.context, spec.hidden_size
    r = states.precision.resid_bytes
    # ``outside`` is the token ids and labels (int64) and the final norm's and lm_head's saved inputs: the ids go
    # with the first stage, the rest with the last; the embedding's backward makes its input gradient's copy and,
    # on one GPU, a tied matrix's dense gradient added to the head's — here that gradient is the first stage's own
    ids = 16 * T
    emb_back = 2 * r * T * h
    sa = replace(acts, layers=tuple(acts.layers[i] for i in rng),
                 outside=(ids if first else 0) + (acts.outside - ids if last else 0),
                 loss_saved=acts.loss_saved if last else 0, loss_forward_extra=acts.loss_forward_extra if last else 0,
                 loss_backward_extra=acts.loss_backward_extra if last else 0,
                 head_weight_casts=acts.head_weight_casts if last else 0,
                 embedding_backward_extra=(acts.embedding_backward_extra if last else emb_back) if first else 0)
    ckpt = wl.checkpointing
    full, op = ckpt == "full", ckpt == "selective-op"
    # autocast's bf16 weight copies are saved by their matmuls, each micro-batch its own: a checkpointed layer's
    # none, the lm_head's outside the checkpoints still (dev llama-3.1-8b-l4/pp2-tp4-r1-gpipe-sacop holds two)
    amp_casts = (0 if full or op else sum(la.weight_casts for la in sa.layers)) + sa.head_weight_casts
    kept_layers = sum(la.checkpoint if full else la.op_saved if op else
                      la.saved - (la.attention_core if ckpt == "selective" else 0) for la in sa.layers)
    kept = kept_layers + sa.outside + sa.loss_saved + amp_casts
    if not first and (r == 4 or full):  # the first layer's norm (fp32 stream) or checkpoint keeps its input as is:
        kept -= T * h * r  # the receive buffer
    output = T * spec.vocab_size * 2 if last else T * h * states.precision.resid_bytes
    one = replace(wl, grad_accum=1)
    S = opt.state_bytes
    fresh = step_peak(st, sa, one, ckpt=ckpt).phases
    accum = step_peak(st, sa, replace(wl, grad_accum=2), ckpt=ckpt).phases
    fwd = max(v for p, v in fresh.items() if p.startswith("forward")) - S
    bwd = [max(v for p, v in ph.items() if p.startswith("backward")) - S for ph in (fresh, accum)]
    bwd[0] = _first_backward(sa, st, ckpt)
    if fsdp:  # FSDP2 without gradient sync: bf16 gradients upcast by each group's post-backward
        lp = tuple(int(n) for n in share.layer_parameters)
        total_p = int(share.parameters)
        root = total_p - sum(lp)
        head, emb_p = (root, 0) if last else (0, root) if first else (0, 0)
        bwd = [_fsdp_backward(sa, ckpt, (lp, head, emb_p, gb), later) for later in (False, True)]
        shard = total_p * gb // dp
        # the step-end ``perform_reduce_grad``, the root group first, then the layers: each group is resharded
        # (its gathered copy freed), then its fp32 accumulator is copied into the reduce-scatter input (both alive)
        # and freed, the shard made beside the earlier groups' shards
        reduce, left, done, freed = 0, total_p, 0, 0
        for n in (root, *lp):
            freed += n * states.precision.weight_bytes
            done += n
            reduce = max(reduce, (left + n) * gb + done * gb // dp - freed)
            left -= n
        return _Stage(share, first, last, st, sa, kept, output, fwd, (bwd[0], bwd[1]), shard, reduce)
    if first and emb:  # a later micro-batch: the embedding's new dense gradient beside .grad, before it is added
        bwd[1] = max(bwd[1], grads + sa.embedding_backward_extra + emb)
    before = sa.outside
    for i, la in zip(rng, sa.layers, strict=True):  # a later micro-batch: an expert tensor's whole new gradient
        moe = spec.layers[i].moe  # (grouped_mm's weight gradient) beside .grad, the layer's activations still kept
        if moe is not None:
            rows = (2 if moe.kind == "gated" else 1) * moe.expert_intermediate_size
            bwd[1] = max(bwd[1], grads + before + la.saved + moe.num_experts * rows * h * gb)
        before += la.saved
    return _Stage(share, first, last, st, sa, kept, output, fwd, (bwd[0], bwd[1]), grads, 0)


def _whole_embedding_extra(spec: ModelSpec, tp: int) -> int:
    """TP: the vocabulary-parallel embedding's weight gradient is whole on every rank (DTensor's
    ``embedding_dense_backward`` strategies give it ``Replicate`` or ``Partial``, never ``Shard(0)``:
    ``torch/distributed/tensor/_ops/_embedding_ops.py``) and stays ``.grad`` until ``zero_grad``; tied or not, the
    first stage holds only the embedding. Elements beyond the local shard."""
    if tp == 1:
        return 0
    return (spec.vocab_size - -(-spec.vocab_size // tp)) * spec.hidden_size


def _fsdp_backward(sa: ModelActivations, ckpt: str, shapes: tuple[tuple[int, ...], int, int, int],
                   later: bool) -> int:
    """A stage's backward under FSDP2 without gradient sync (``FSDPParamGroup.post_backward`` with
    ``reduce_grads=False``): autograd makes the new gradients in the gathered parameters' bf16 (2 B); each
    group's post-backward then upcasts them to an fp32 unsharded accumulator (``to_accumulated_grad_if_needed``,
    both alive for a moment) or, on a later micro-batch, adds them into it
    (``accumulate_unsharded_grad_if_needed``). A decoder layer's post-backward runs at the end of its own backward;
    the stage root's (lm_head and final norm, or the embedding) at the end of the whole backward, so the lm_head's
    bf16 gradient is alive through the layers'. ``shapes`` = (layer parameters, lm_head + norm parameters,
    embedding parameters, accumulator bytes: 4 under mixed precision, else 2 and nothing is upcast)."""
    layers, head, emb, acc = shapes
    full, op = ckpt == "full", ckpt == "selective-op"
    kept = [la.checkpoint if full else la.op_saved if op else la.saved - (la.attention_core if ckpt == "selective"
            else 0) for la in sa.layers]
    up = acc if acc != 2 else 0  # bytes the upcast adds per parameter (0: the bf16 gradients are the accumulators)
    base = acc * (sum(layers) + head + emb) if later else 0
    best = sum(kept) + sa.outside + sa.loss_saved + sa.loss_backward_extra + base
    done = 2 * head
    for i in range(len(sa.layers) - 1, -1, -1):
        la, new = sa.layers[i], 2 * layers[i]
        recompute = la.checkpoint if full or op else 0
        during = sum(kept[:i]) + sa.outside + recompute + max(la.saved, new) + la.backward_extra
        end = sum(kept[:i]) + sa.outside + new + (0 if later else up * layers[i])
        best = max(best, base + done + during, base + done + end)
        done += 0 if later else (up or 2) * layers[i]
    best = max(best, base + done + sa.embedding_backward_extra + 2 * emb)
    return max(best, base + done + 2 * emb + (0 if later else up * (head + emb)))


def _first_backward(sa: ModelActivations, st: ModelStates, ckpt: str) -> int:
    """The peak of a stage's backward with no gradient yet (the step's first micro-batch): the loss (last stage),
    then layer by layer the larger of what the layer's backward frees (its saved activations and, under autocast,
    the bf16 weight copies its matmuls saved) and its new weight gradients (as in ``parallel_fsdp``), the layer's
    backward buffers and the gradients already made, then the embedding's."""
    full, op = ckpt == "full", ckpt == "selective-op"
    kept = [la.checkpoint if full else la.op_saved if op else la.saved - (la.attention_core if ckpt == "selective"
            else 0) for la in sa.layers]
    casts = [0 if full or op else la.weight_casts for la in sa.layers]
    best = sum(kept) + sum(casts) + sa.outside + sa.head_weight_casts + sa.loss_saved + sa.loss_backward_extra
    done = st.head_grads
    for i in range(len(sa.layers) - 1, -1, -1):
        la = sa.layers[i]
        recompute = la.checkpoint if full or op else 0
        frees = la.saved + (la.weight_casts if full or op else casts[i])
        best = max(best, sum(kept[:i]) + sum(casts[:i]) + sa.outside + sa.head_weight_casts + recompute
                   + max(frees, st.layer_grads[i]) + la.backward_extra + done)
        done += st.layer_grads[i]
    return max(best, sa.embedding_backward_extra + done + st.embedding_grads)


def _walk(stages: list[_Stage], actions: list[tuple[str, int, int]]) -> tuple[int, str, int, int]:
    """The rank's largest moment (bytes beyond weights, optimizer states and receive buffers), its name, the
    gradients complete then (a stage's gradients made in the running backward are counted in the moment only) and
    the other micro-batches in flight then."""
    in_flight = [0] * len(stages)
    has_grads = [False] * len(stages)
    chunks = 0  # last stage: outputs kept for the step's return value
    best, where, best_grads, flight = 0, "", 0, 0
    for kind, j, mb in actions:
        st = stages[j]
        grads_other = sum(s.states.gradients for i, s in enumerate(stages) if has_grads[i] and i != j)
        logits = chunks * sum(s.output for s in stages if s.last)
        if kind == "B":
            in_flight[j] -= 1
        # a micro-batch in flight: its activations and (but on the last stage) its output, kept in fwd_cache
        other = sum(n * (s.kept + (0 if s.last else s.output)) for n, s in zip(in_flight, stages, strict=True))
        if kind == "F":
            now = other + grads_other + (st.states.gradients if has_grads[j] else 0) + st.forward_peak + logits
            in_flight[j] += 1
            chunks += 1 if st.last else 0
        else:
            now = other + grads_other + st.backward_peak[1 if has_grads[j] else 0] + logits \
                + (0 if st.last else st.output)
            has_grads[j] = True
        name = f"{'forward' if kind == 'F' else 'backward'} (stage {st.share.stage}, micro-batch {mb})"
        if now > best:
            best, where, flight = now, name, sum(in_flight) - (1 if kind == "F" else 0)
            best_grads = grads_other + (st.states.gradients if has_grads[j] and (kind == "F" or mb) else 0)
    logits = chunks * sum(s.output for s in stages if s.last)
    reduce = max((s.reduce_peak + sum(o.states.gradients for o in stages if o is not s) for s in stages
                  if s.reduce_peak), default=0) + logits
    if reduce > best:
        best, where, best_grads, flight = reduce, "reduce-scatter (step end)", 0, 0
    step = sum(s.shard_grads + s.states.optimizer.step_temporary for s in stages) + logits
    if step > best:
        best, where, best_grads, flight = step, "optimizer step", sum(s.shard_grads for s in stages), 0
    return best, where, best_grads, flight


def estimate_pipeline(spec: ModelSpec, wl: Workload) -> Estimate:
    """Per-GPU memory of the most-loaded pipeline rank (``wl.pp_schedule``, ``wl.grad_accum`` micro-batches)."""
    pp, m = wl.pp, max(1, wl.grad_accum)
    schedule = wl.pp_schedule
    v = wl.pp_virtual if schedule == "interleaved-1f1b" else 1
    tp = wl.tp
    gpus = max(wl.gpus, pp * tp)
    if gpus % (pp * tp):
        raise ConfigError(f"gpus = {gpus} is not a multiple of pp × tp = {pp * tp}; pick gpus = dp × pp × tp")
    n_stages = pp * v
    if wl.pp_rank is not None and wl.pp_rank >= pp:
        raise ConfigError(f"pp_rank = {wl.pp_rank} is not a rank of a {pp}-stage pipeline; pick 0 to {pp - 1}")
    if n_stages > spec.num_layers:
        raise ConfigError(f"pp × stages per rank = {n_stages} exceeds the {spec.num_layers} layers; lower --pp "
                          "or --pp-virtual-stages")
    dp = gpus // (pp * tp)
    fsdp = wl.zero >= 2 and dp > 1
    states = model_states(spec, wl)
    master = states.precision.weight_bytes  # FSDP: the sharded parameters' bytes
    if fsdp and wl.mixed_precision:  # MixedPrecisionPolicy(bf16, fp32): gathered and computed in bf16
        states = replace(states, precision=replace(states.precision, amp=False, weight_bytes=2, resid_bytes=2))
    acts = model_activations(spec, states.precision, wl.batch, wl.context)
    if tp > 1:  # one TP rank's activations (sharded heads and features, whole column-wise inputs and logits)
        acts = rank_activations(spec, acts, states.precision, fsdp_layout(wl), wl.batch, wl.context)
    shares = _stage_shares(spec, tp, n_stages, 1)
    stages = [_stage(spec, wl, states, acts, s, n_stages, dp if fsdp else 1, tp) for s in shares]
    T, h = wl.batch * wl.context, spec.hidden_size
    hidden = T * h * states.precision.resid_bytes
    workspace = TRAINING_HANDLES * cublas_workspace_bytes()
    per_gpu: list[dict[str, Any]] = []
    best: tuple[int, list[Component], int, str] | None = None
    for rank in range(pp):
        mine = [stages[rank + j * pp] for j in range(v)]
        peak, phase, grads, flight = _walk(mine, rank_actions(schedule, pp, rank, m, v))
        buffers = sum((0 if s.first else m * hidden) + (0 if s.last else m * hidden) for s in mine)
        weights = sum(s.states.weights + (int(s.share.parameters) * master // dp if fsdp else 0) for s in mine)
        opt = sum(s.states.optimizer.state_bytes for s in mine)
        comps = _components(spec, wl, states, mine, (weights, opt, buffers, workspace), (peak, grads, phase, flight),
                            m, schedule, (dp if fsdp else 1, master))
        # the reserve replayed from the rank's allocation stream (pp_pool.py; FSDP's streams: pp_fsdp_pool.py)
        pr = pipe_rank(spec, wl, states, acts, tuple(PipeStage(s.share.layers, s.first, s.last) for s in mine),
                       rank_actions(schedule, pp, rank, m, v))
        comps = with_replayed_reserve(comps, pr, pipeline_fsdp_pool(pr, dp, master, 4 if wl.mixed_precision else
                                                                    master) if fsdp else None)
        total = sum(c.bytes for c in comps if c.on_device)
        ranges = [[s.share.layers.start, s.share.layers.stop - 1] for s in mine]
        per_gpu.append({"rank": rank, "stage": mine[0].share.stage, "stages": [s.share.stage for s in mine],
                        "layers": ranges[0] if v == 1 else ranges,
                        "parameters": int(sum(s.share.parameters for s in mine)),
                        "peak_phase": phase, "components": {c.name: c.bytes for c in comps}, "total_bytes": total})
        if (wl.pp_rank is None and (best is None or total > best[0])) or wl.pp_rank == rank:
            best = (total, comps, rank, phase)
    assert best is not None
    _, comps, rank, phase = best
    allocated = sum(c.bytes for c in comps if c.on_device and c.name not in ("cuda_context", "allocator_reserve"))
    notes = [f"{gpus} GPUs = dp {dp} × pp {pp}" + (f" × tp {tp}" if tp > 1 else "")
             + f"; torch.distributed.pipelining {schedule}"
             + (f" with {v} stages per rank" if v > 1 else "") + f", {m} micro-batches of {wl.batch} per step"
             + (f"; FSDP2 over the {dp} ranks of each stage (torchtitan: reshard_after_forward=False, no gradient "
                "sync until the step's last backward)" if fsdp else ""),
             f"{'most-loaded GPU' if wl.pp_rank is None else 'reported GPU'}: pipeline rank {rank}, peak during "
             f"{phase}"]
    if tp > 1:
        notes.append(f"DTensor TP over {tp} ranks inside each stage (torchtitan's plan): heads and MLP features split, "
                     "the embedding and lm_head split over the vocabulary, the logits gathered whole and the "
                     "embedding's gradient whole on every TP rank")
    if schedule == "1f1b" and m < pp:
        notes.append(f"torch's Schedule1F1B refuses fewer micro-batches ({m}) than stages ({pp}): raise --grad-accum")
    details: dict[str, Any] = {"per_gpu": per_gpu, "dp": dp, "tp": tp, "pp": pp, "ep": 1,
                               "zero": wl.zero if fsdp else 0, "pp_schedule": schedule, "microbatches": m,
                               "peak_phase": phase,
                               "trainable_parameters": states.trainable}
    return Estimate(spec.name, wl.mode, wl.dtype or "bfloat16", count_parameters(spec), tuple(comps),
                    allocated_bytes=allocated, notes=tuple(notes), details=details)


def _components(spec: ModelSpec, wl: Workload, states: ModelStates, mine: list[_Stage],
                fixed: tuple[int, int, int, int], at: tuple[int, int, str, int], m: int,
                schedule: str, shard: tuple[int, int] = (1, 4)) -> list[Component]:
    """The rank's components: ``fixed`` = (weights, optimizer states, receive buffers, cuBLAS workspaces), ``at`` =
    (the walk's peak beyond those, the complete gradients then, the moment's name, other micro-batches in flight),
    ``shard`` = (FSDP ranks per stage, the sharded parameters' bytes)."""
    weights, opt, buffers, workspace = fixed
    peak, grads, phase, flight = at
    dp, master = shard
    stage_states = replace(states, weights=weights, optimizer=replace(states.optimizer, state_bytes=opt))
    sp = StepPeak(phase, peak - grads, 0, grads, opt, 0, {})
    params = sum(s.share.parameters for s in mine)
    layers = ", ".join(f"stage {s.share.stage} (layers {s.share.layers.start}-{s.share.layers.stop - 1})"
                       for s in mine)
    comps = training_components(
        spec, wl, stage_states, sp, workspace, weights=weights,
        weights_formula=f"{params:,.0f} parameters on this rank: {layers} × {states.precision.weight_bytes} B"
        + (f" gathered by FSDP for the whole step + their 1/{dp} shard × {master} B" if dp > 1 else ""),
        gradients_formula=f"{params:,.0f} × {states.grad_bytes} B = "
                          f"{fmt_bytes(sum(s.states.gradients for s in mine))}"
                          + (" (FSDP's unsharded accumulators)" if dp > 1 else "") + " (those of a backward still "
                          "running are in 'activations')",
        optimizer_formula=f"{states.optimizer.name} states of this rank's {params:,.0f} parameters"
                          + (f" / {dp} (FSDP shards)" if dp > 1 else "") + f" = {fmt_bytes(opt)}")
    out = []
    for c in comps:
        if c.name == "activations":
            per = " + ".join(fmt_bytes(s.kept + (0 if s.last else s.output)) for s in mine)
            c = Component("activations", peak - grads, f"at the rank's peak ({phase}): {flight} other micro-batches "
                          f"in flight under {schedule} ({m} per step), each keeping {per} (activations and the "
                          f"stage's output), and the running micro-batch's own forward/backward buffers = "
                          f"{fmt_bytes(peak - grads)}")
        out.append(c)
        if c.name == "optimizer_states" and buffers:
            out.append(Component("pipeline_buffers", buffers, f"receive buffers for {m} micro-batches (activations "
                                 f"from the previous stage, gradients from the next) = {fmt_bytes(buffers)}"))
    return out
