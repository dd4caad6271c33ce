"""A pipeline rank's caching-allocator pool (``torch.distributed.pipelining``), replayed from the mechanism: the
reserve ``nvidia-smi`` shows beyond the allocated peak, in place of a fitted fraction.

Two steps of one rank are described as the allocations and frees PyTorch makes, in the order of the rank's
schedule actions (``parallel_pp.rank_actions``: each micro-batch's forward and backward of each of its stages), and
replayed through the caching-allocator emulation (``memory/caching_allocator.py``; the point-to-point sends and
receives run on the default stream). What goes where (torch 2.13 ``torch/distributed/pipelining``):

* the build: the cuBLAS workspaces, then every parameter of the whole model in model order, as
  ``from_config`` makes them; the parameters of other ranks' stages are freed when the stage modules are cut out
  (their blocks stay cached);
* at the first step, ``PipelineStage``'s receive buffers, one per micro-batch: the previous stage's activations
  (``_prepare_forward_infra``) and the next stage's gradients (``_prepare_backward_infra``), kept;
* a forward: the first stage's embedding output, or the received activations; each decoder layer op by op
  (``layer_stream.layer_forward``; full checkpointing keeps the layer's input only); the last stage's logits
  (kept for the step's output chunks) and the loss's fp32 log-softmax; other stages' outputs are kept in the
  stage's ``fwd_cache`` until that micro-batch's backward;
* a backward: the loss's gradients and the lm_head's (last stage), each layer op by op (``layer_grads.
  layer_backward``, a checkpointed layer run again first), the embedding's gradient (first stage); the first
  backward of a stage keeps its parameter gradients, a later one's are added in place and freed;
* the optimizer's states at the first step (AdamW: ``zeros_like`` of each parameter, twice); ``zero_grad`` frees
  the gradients, and the step's output chunks (the logits) go.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Protocol

from ...result import Component
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..activations import ModelActivations, Precision
from ..allocator_trace import CUBLAS_WORKSPACE, Block, PoolFigures, Trace, parameter_blocks
from .fsdp_params import tp_spec
from .layer_grads import layer_backward
from .layer_stream import LayerRun, StepContext, layer_forward
from .recompute import recompute_layer
from .states import ModelStates

__all__ = ["PipeRank", "PipeStage", "pipe_rank", "pipeline_pool", "with_replayed_reserve"]

EMBED_KINDS = ("token_embd", "pos_embd")


@dataclass(frozen=True)
class PipeStage:
    """One stage of the rank: its decoder layers and whether it holds the embedding or the loss."""

    layers: range
    first: bool
    last: bool


@dataclass(frozen=True)
class PipeRank:
    """What the replay needs: the model, the rank's stages and schedule actions, the step's shape."""

    spec: ModelSpec
    acts: ModelActivations
    precision: Precision
    stages: tuple[PipeStage, ...]
    actions: tuple[tuple[str, int, int], ...]  # ("F" | "B", stage index on this rank, micro-batch)
    batch: int
    seq: int
    microbatches: int
    full_ckpt: bool  # each layer run again in backward (full checkpointing, op-level SAC)
    op_saved: tuple[int, ...]  # op-level SAC: per layer (all of the model's), what its policy keeps beyond the input
    state_pieces: int  # optimizer states per parameter (AdamW: 2)
    state_bytes_per_param: float
    expandable: bool = False
    tp: int = 1  # DTensor TP inside each stage (torchtitan's plan without sequence parallelism)


def stage_owns(b: Block, st: PipeStage, tied: bool) -> bool:
    if b.layer is not None:
        return b.layer in st.layers
    return (st.first or (tied and st.last)) if b.kind in EMBED_KINDS else st.last


def _local(b: Block, spec: ModelSpec, tp: int) -> Block:
    """The parameter on one TP rank: the embedding and lm_head split over the vocabulary; the layers' from
    ``tp_spec`` (the caller's ``local`` block of the same position)."""
    if tp == 1 or b.layer is not None or "norm" in b.kind:
        return b
    return replace(b, numel=-(-spec.vocab_size // tp) * (b.numel // max(1, spec.vocab_size)))


def _build(tr: Trace, r: PipeRank) -> list[tuple[Block, int, int]]:
    """The rank's parameters. Without TP, ``from_config`` makes every parameter whole in model order (a tied lm_head
    made, then tied) and the other stages' are freed when the stage modules are cut out. Under TP the stages are
    built on the meta device and only this rank's tensors are materialised (torchtitan's route), in the order they
    were made: the parameters ``parallelize_module`` leaves alone (the norms) first, then each parallelized one's
    local shard (``distribute_tensor``), the embedding's, an untied lm_head's, then each layer's projections.
    Returns (block, key, its place in the model) for the rank's parameters."""
    wb, spec, tied = r.precision.weight_bytes, r.spec, r.spec.tie_word_embeddings
    whole = parameter_blocks(spec)
    if r.tp > 1:
        local = parameter_blocks(tp_spec(spec, r.tp))
        blocks = [_local(b, spec, r.tp) if b.layer is None else lb for b, lb in zip(whole, local, strict=True)]
        kept = [(b, i) for i, b in enumerate(blocks) if any(stage_owns(b, st, tied) for st in r.stages)]
        order = [p for p in kept if "norm" in p[0].kind] + sorted(
            (p for p in kept if "norm" not in p[0].kind),
            key=lambda p: (p[0].layer is not None, p[0].layer or 0, p[0].kind not in EMBED_KINDS),
        )
        return [(b, tr.alloc(b.numel * wb), i) for b, i in order]
    keys = [tr.alloc(b.numel * wb) for b in whole]
    if tied:  # transformers makes the lm_head, then ties it to the embedding
        tr.free(tr.alloc(spec.vocab_size * spec.hidden_size * wb))
    mine: list[tuple[Block, int, int]] = []
    for i, (b, key) in enumerate(zip(whole, keys, strict=True)):
        if any(stage_owns(b, st, tied) for st in r.stages):
            mine.append((b, key, i))
        else:
            tr.free(key)  # the stage modules are cut out of the built model
    return mine


@lru_cache(maxsize=128)
def pipeline_pool(r: PipeRank) -> PoolFigures:
    """Two steps of the rank (peaks from the end of the build)."""
    tr = Trace(r.expandable)
    tr.alloc(CUBLAS_WORKSPACE)
    tr.alloc(CUBLAS_WORKSPACE)
    tied = r.spec.tie_word_embeddings
    params: list[list[tuple[Block, int]]] = [[] for _ in r.stages]
    places: list[list[int]] = [[] for _ in r.stages]
    for b, key, i in _build(tr, r):
        j = next(j for j, st in enumerate(r.stages) if stage_owns(b, st, tied))
        params[j].append((b, key))
        places[j].append(i)
    if r.tp > 1:  # the optimizer's groups in the stage module's order (its embedding, layers, final norm, lm_head
        # or the tied embedding as the lm_head): DTensor parameters first, then the replicated plain ones (norms)
        def order(j: int, n: int) -> tuple[bool, int, int]:
            b = params[j][n][0]
            return (
                "norm" in b.kind,
                0
                if b.layer is None and b.kind in EMBED_KINDS and r.stages[j].first
                else 1
                if b.layer is not None
                else 2,
                places[j][n],
            )

        params = [[ps[n] for n in sorted(range(len(ps)), key=partial(order, j))] for j, ps in enumerate(params)]
    tr.built()
    c = StepContext(tr, tp_spec(r.spec, r.tp), r.precision, r.batch, r.seq)
    hid = c.t * r.spec.hidden_size * c.r
    for st in r.stages:  # ``PipelineStage(input_args=, output_args=)``: an example input and output, made and dropped
        tr.free(tr.alloc(c.t * 8 if st.first else hid), tr.alloc(c.t * r.spec.vocab_size * c.pb if st.last else hid))
    recv = [
        (
            [tr.alloc(hid) for _ in range(r.microbatches)] if not st.first else [],
            [tr.alloc(hid) for _ in range(r.microbatches)] if not st.last else [],
        )
        for st in r.stages
    ]
    states: list[int] = []
    for step in range(2):
        grads: list[list[int]] = [[] for _ in r.stages]
        outputs = run_actions(c, r, recv, grads)
        if outputs:  # the schedule merges the output chunks (torch.cat) for the step's return value
            tr.free(tr.alloc(len(outputs) * c.t * r.spec.vocab_size * c.pb))
        if step == 0 and r.state_bytes_per_param:
            each = r.state_bytes_per_param / max(1, r.state_pieces)
            states = [tr.alloc(int(b.numel * each)) for ps in params for b, _ in ps for _ in range(r.state_pieces)]
        tr.free(*outputs, *[k for g in grads for k in g])
    del states
    return tr.figures()


def _trainable(r: PipeRank, i: int) -> list[tuple[str, int, bool]]:
    """Layer ``i``'s parameters as ``layer_backward`` makes their gradients (the experts' down projection first)."""
    out: list[tuple[str, int, bool]] = []
    for b in parameter_blocks(tp_spec(r.spec, r.tp)):
        if b.layer != i:
            continue
        if b.kind == "ffn_up_exps" and out and out[-1][0] == "ffn_gate_exps":
            out[-1] = (b.kind, out[-1][1] + b.numel, True)
        else:
            out.append((b.kind, b.numel, b.matrix))
    return sorted(out, key=lambda p: p[0] != "ffn_down_exps")


Buffers = tuple[list[int], list[int]]  # a stage's receive buffers: (activations, gradients), one per micro-batch


class StageHooks(Protocol):
    """FSDP inside the stages (``pp_fsdp_pool.py``): a group gathered before it runs, each gradient kept."""

    def gather(self, stage: int, layer: int | None) -> None: ...  # None: the stage's root group

    def forward_done(self) -> None: ...

    def grads(self, stage: int, layer: int | None, made: list[int], fresh: bool) -> None: ...


def _keep(grads: list[int], made: list[int], fresh: bool, tr: Trace) -> None:
    """Without FSDP: the first backward's gradients are kept, a later one's added in place and freed."""
    if fresh:
        grads += made
    else:
        tr.free(*made)


def run_actions(
    c: StepContext, r: PipeRank, recv: list[Buffers], grads: list[list[int]], hooks: StageHooks | None = None
) -> list[int]:
    """The step's actions in the rank's order; returns the last stage's output chunks (kept to the step's end)."""
    tr, spec = c.tr, c.spec
    t, h, v = c.t, spec.hidden_size, spec.vocab_size
    vl = -(-v // r.tp)  # the lm_head's rows on this TP rank
    cached: dict[tuple[int, int], tuple[list[int], list[LayerRun], int, int, int]] = {}
    outputs: list[int] = []
    for kind, j, mb in r.actions:
        st = r.stages[j]
        if kind == "F":
            if hooks:
                hooks.gather(j, None)
            x = recv[j][0][mb] if not st.first else tr.alloc(t * h * c.r)
            inputs, runs, casts = [], [], []
            for i in st.layers:
                if hooks:
                    hooks.gather(j, i)
                inputs.append(x)
                run = layer_forward(c, spec.layers[i], r.acts.layers[i], x, keep=not r.full_ckpt)
                if not r.full_ckpt and not run.input_kept and x not in recv[j][0]:
                    tr.free(x)
                x = run.output or x
                if r.full_ckpt:  # op-level SAC also keeps the outputs its policy saves, until the layer's backward
                    casts += [lin.weight_cast for lin in run.linears]
                    run = LayerRun(saved=[(0, tr.alloc(r.op_saved[i]))] if r.op_saved else [])
                runs.append(run)
            # autocast exits with the stage's forward, after the lm_head on the last stage: its weight-cast cache goes
            ls, wcast = _loss_forward(c, r, outputs, casts) if st.last else (0, 0)
            if not st.last:
                tr.free(*casts)
            if hooks:
                hooks.forward_done()
            cached[(j, mb)] = (inputs, runs, x, ls, wcast)
            continue
        inputs, runs, out, ls, wcast = cached.pop((j, mb))
        fresh = not grads[j]
        mine: list[int] = []
        if st.last:
            low = _loss_backward(c, r, ls)
            grad = tr.alloc(t * h * c.pb)
            _param_grad(c, mine if hooks else grads[j], fresh or bool(hooks), vl * h, (low, wcast))
            if r.tp > 1:  # the lm_head's input gradient is Partial: all-reduced to Replicate (a new tensor)
                reduced = tr.alloc(t * h * c.pb)
                tr.free(grad)
                grad = reduced
            tr.free(out)
        else:
            grad = 0  # the received gradient: its buffer is kept
        for k in range(len(runs) - 1, -1, -1):
            i = st.layers[k]
            run = runs[k]
            if r.full_ckpt:  # run again, stopped at its last pack (``recompute.py``)
                tr.free(*[key for _, key in run.saved])
                run = recompute_layer(c, spec.layers[i], r.acts.layers[i], inputs[k], Trace(tr.expandable))
            start = len(c.grads)
            c.added = not fresh and not hooks  # FSDP's hooks take the gradients themselves (``pp_fsdp_pool``)
            grad = layer_backward(c, run, grad, _trainable(r, i))
            c.added = False
            made = c.grads[start:]
            del c.grads[start:]
            if hooks:
                hooks.grads(j, i, made, fresh)
            else:
                _keep(grads[j], made, fresh, tr)
            tr.free(run.output if r.full_ckpt else 0, *run.cache)
            if inputs[k] not in recv[j][0]:
                tr.free(inputs[k])
        if not st.last:
            tr.free(out)
        if st.first:  # the embedding's dense gradient (in the weight's dtype: no autocast there)
            _param_grad(c, mine if hooks else grads[j], fresh or bool(hooks), v * h, (grad, -1))
        else:
            tr.free(grad)  # the gradient sent to the previous stage
        if hooks:  # the root's post-backward, at the end of the stage's backward
            hooks.grads(j, None, mine, fresh)
            grads[j].append(0)  # the stage has had its first backward
    return outputs


def _loss_forward(c: StepContext, r: PipeRank, outputs: list[int], casts: list[int]) -> tuple[int, int]:
    """Final norm, lm_head (its autocast weight copy; the bf16 logits kept as the step's output chunk), then the
    stage's forward returns: autocast's cached weight copies of the layers (``casts``, kept under checkpointing)
    go before the loss; cross_entropy's fp32 copy and its kept log-softmax. Returns (log-softmax, weight copy)."""
    tr, t, h, v = c.tr, c.t, c.spec.hidden_size, c.spec.vocab_size
    vl = -(-v // r.tp)
    wcast = tr.alloc(vl * h * 2) if c.p.amp else 0
    outputs.append(_logits(tr, t * vl * c.pb, t * v * c.pb, r.tp))
    tr.free(*casts)  # the simulator's trace of dev qwen2.5-7b-l4/pp2-r1-1f1b-ckpt: freed after the lm_head's mm
    f32 = tr.alloc(t * v * 4)
    ls = tr.alloc(t * v * 4)
    tr.free(f32)
    return ls, wcast


def _loss_backward(c: StepContext, r: PipeRank, ls: int) -> int:
    """The loss's backward down to the logits' gradient in the compute dtype (under TP the local vocabulary slice
    the gather's backward takes); frees the log-softmax."""
    tr, t, v = c.tr, c.t, c.spec.vocab_size
    g1 = tr.alloc(t * v * 4)
    g2 = tr.alloc(t * v * 4)
    tr.free(g1, ls)
    low = tr.alloc(t * v * c.pb)
    tr.free(g2)
    if r.tp > 1:
        part = tr.alloc(t * -(-v // r.tp) * c.pb)
        tr.free(low)
        low = part
    return low


def _logits(tr: Trace, local: int, whole: int, tp: int) -> int:
    """The lm_head's output; under TP (``ColwiseParallel(output_layouts=Replicate())``) the local vocabulary slice
    is all-gathered along dim 0, then the chunks concatenated along the vocabulary (``torch/distributed/tensor/
    _redistribute.py``), both freed."""
    if tp == 1:
        return tr.alloc(whole)
    first = tr.alloc(local)
    gathered = tr.alloc(whole)
    logits = tr.alloc(whole)
    tr.free(gathered, first)
    return logits


def _param_grad(c: StepContext, grads: list[int], fresh: bool, numel: int, keys: tuple[int, int]) -> None:
    """A big parameter's gradient (lm_head, embedding) while its upstream gradient lives; ``keys`` = (upstream
    gradient, autocast weight copy or -1 for the embedding): under autocast the matmul makes the copy's bf16
    gradient, the node's tensors go, then the weight's fp32 ``.grad``; a later micro-batch's is added in place."""
    tr = c.tr
    upstream, cast = keys
    gb = 4 if c.p.amp else c.p.weight_bytes
    low_w = tr.alloc(numel * 2) if c.p.amp and cast >= 0 else 0
    tr.free(upstream, max(0, cast))
    g = tr.alloc(numel * gb)
    tr.free(low_w)
    if fresh:
        grads.append(g)
    else:
        tr.free(g)


def pipe_rank(
    spec: ModelSpec,
    wl: Workload,
    states: ModelStates,
    acts: ModelActivations,
    stages: tuple[PipeStage, ...],
    actions: list[tuple[str, int, int]],
) -> PipeRank:
    """The replay's input for one rank of ``parallel_pp.estimate_pipeline`` (no FSDP inside the stages)."""
    opt = states.optimizer
    per_param = opt.state_bytes / states.trainable if states.trainable and opt.on_device else 0.0
    pieces = max(1, round(per_param / states.precision.weight_bytes)) if per_param else 0
    op = wl.checkpointing == "selective-op"
    kept = tuple(max(0, la.op_saved - la.checkpoint) for la in acts.layers) if op else ()
    return PipeRank(
        spec,
        acts,
        states.precision,
        stages,
        tuple(actions),
        wl.batch,
        wl.context,
        max(1, wl.grad_accum),
        wl.checkpointing == "full" or op,
        kept,
        pieces,
        per_param,
        wl.expandable_segments,
        wl.tp,
    )


def with_replayed_reserve(comps: list[Component], r: PipeRank, pool: PoolFigures | None = None) -> list[Component]:
    """The rank's components with the replayed pool's reserve (``pool``, else ``pipeline_pool(r)``): its reserved
    peak beyond the rank's allocated peak, at least its own reserved − allocated."""
    pool = pool or pipeline_pool(r)
    allocated = sum(c.bytes for c in comps if c.on_device and c.name not in ("cuda_context", "allocator_reserve"))
    reserve = max(pool.reserve, pool.peak_reserved - allocated)
    formula = (
        "caching allocator emulated over two steps of this rank, its schedule's actions in order (the whole "
        "model built, other stages' parameters freed; receive buffers; each layer op by op: memory/training/"
        f"pp_pool.py): its reserved peak beyond this allocated peak (at least its own reserved − allocated) = "
        f"{fmt_bytes(reserve)}"
    )
    return [Component("allocator_reserve", reserve, formula) if c.name == "allocator_reserve" else c for c in comps]
