"""A pipeline rank's caching-allocator pools with FSDP2 inside its stages (torchtitan's PP × FSDP), per CUDA stream:
the reserve ``nvidia-smi`` shows beyond the allocated peak, replayed in place of a fitted fraction.

The rank's schedule actions are replayed as in ``pp_pool.py`` (each layer op by op in the gathered parameters'
dtype), with what FSDP2 adds (torch 2.13 ``torch/distributed/fsdp/_fully_shard``, ``pipelining/stage.py``):

* the build: torchtitan materialises only the local shards, each decoder layer's group, then the stage's root
  (``fully_shard`` order), in the parameters' dtype;
* each group is all-gathered once per step, at its first forward (the stage root first, then each layer before it
  runs): on the all-gather copy-in stream, the mixed-precision cast of the shards into one flat buffer (freed once
  copied) and the flat all-gather output; on the default stream, the unsharded parameters copied out of it; the
  previous group's flat output is freed at this copy-out, the last one when the forward returns. With
  ``reshard_after_forward=False`` and ``set_reshard_after_backward(False)`` the parameters stay gathered to the
  step's end;
* a backward's new gradients are the gathered dtype's; the group's post-backward (no gradient sync until the last
  micro-batch) upcasts each to an unsharded accumulator in the reduce dtype (``to_accumulated_grad_if_needed``,
  the new one made before the old one goes) at the first micro-batch, and adds a later one's in place;
* at the step's end ``perform_reduce_grad`` walks the groups (root first): each is resharded (its unsharded
  parameters freed), the previous reduce-scatter input dropped, its own made (default stream), the accumulators
  freed but the last (``foreach_reduce`` keeps it until it returns), the sharded gradient made on the reduce-scatter
  stream (``_fsdp_collectives.py``);
* AdamW's states on the shards at the first step; ``zero_grad`` frees the sharded gradients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ..allocator_trace import CUBLAS_WORKSPACE, PoolFigures, parameter_blocks
from .fsdp_params import Param, param_groups
from .fsdp_streams import COPY_IN, REDUCE, StreamTrace
from .layer_stream import StepContext
from .pp_pool import EMBED_KINDS, PipeRank, run_actions, stage_owns

__all__ = ["pipeline_fsdp_pool"]


@dataclass
class _SizedTrace(StreamTrace):
    """A :class:`StreamTrace` that remembers each tensor's own bytes (a gradient's upcast is made at its size, not
    its block's)."""

    sizes: dict[int, int] = field(default_factory=dict)

    def alloc(self, nbytes: int) -> int:
        key = super().alloc(nbytes)
        self.sizes[key] = nbytes
        return key


@dataclass
class _Fsdp:
    """The rank's FSDP state through a step: ``groups[j]`` = (root parameters, layer index → parameters)."""

    tr: _SizedTrace
    groups: list[tuple[tuple[Param, ...], dict[int, tuple[Param, ...]]]]
    cb: int  # gathered parameters' and autograd's gradients' bytes
    rb: int  # reduce (accumulator) bytes
    pb: int  # sharded parameters' bytes
    multi: int = 0  # a multi-stage schedule's micro-batches per step (0: a one-stage schedule)
    gathered: dict[tuple[int, int | None], list[int]] = field(default_factory=dict)
    acc: dict[tuple[int, int | None], list[int]] = field(default_factory=dict)
    flats: dict[tuple[int, int | None], int] = field(default_factory=dict)
    backwards: dict[int, int] = field(default_factory=dict)
    shards: list[int] = field(default_factory=list)
    flat: int = 0

    def unshard_all(self) -> None:
        """A multi-stage schedule (``_PipelineScheduleRuntime``'s UNSHARD actions) unshards each local stage at
        the step's start, ``FSDPModule.unshard(async_op=True)`` on every FSDP module of the stage (its root, then
        its layers): the all-gathers run on the current (default) stream, each flat output kept to its group's
        copy-out."""
        tr = self.tr
        for j, (_root, layers) in enumerate(self.groups):
            for g in (None, *sorted(layers)):
                ps = self.params(j, g)
                if not ps:
                    continue
                cast = tr.alloc(sum(p.sharded for p in ps) * self.cb) if self.pb != self.cb else 0
                self.flats[(j, g)] = tr.alloc(sum(p.gathered for p in ps) * self.cb)
                tr.free(cast)

    def params(self, stage: int, layer: int | None) -> tuple[Param, ...]:
        root, layers = self.groups[stage]
        return root if layer is None else layers[layer]

    def gather(self, stage: int, layer: int | None) -> None:
        if (stage, layer) in self.gathered:
            return
        ps, tr = self.params(stage, layer), self.tr
        if self.multi:  # the stage's first FORWARD waits on every UNSHARD handle of the stage (``_assert_unsharded``:
            # root, then layers, in ``modules()`` order), each copy-out freeing its all-gather output at once
            for g in (None, *sorted(self.groups[stage][1])):
                self.gathered[(stage, g)] = [tr.alloc(p.gathered * self.cb) for p in self.params(stage, g)]
                tr.free(self.flats.pop((stage, g), 0))
            return
        cast = tr.on(COPY_IN, sum(p.sharded for p in ps) * self.cb) if self.pb != self.cb else 0
        flat = tr.on(COPY_IN, sum(p.gathered for p in ps) * self.cb)
        tr.free(cast)
        self.gathered[(stage, layer)] = [tr.alloc(p.gathered * self.cb) for p in ps]
        tr.free(self.flat)
        self.flat = flat

    def forward_done(self) -> None:
        self.tr.free(self.flat)
        self.flat = 0

    def grads(self, stage: int, layer: int | None, made: list[int], fresh: bool) -> None:
        self._grads(stage, layer, made, fresh)
        if layer is None and self.multi:  # the stage's backward ended: after its last, its REDUCE_GRAD action
            self.backwards[stage] = self.backwards.get(stage, 0) + 1
            if self.backwards[stage] == self.multi:
                self.shards += self.reduce_stage(stage)

    def _grads(self, stage: int, layer: int | None, made: list[int], fresh: bool) -> None:
        tr = self.tr
        if not fresh:  # added in place into the accumulators
            tr.free(*made)
            return
        if self.rb == self.cb:  # the new gradients are the accumulators
            self.acc[(stage, layer)] = self.acc.get((stage, layer), []) + made
            return
        ups = []
        for k in made:
            ups.append(tr.alloc(tr.sizes.get(k, 0) * self.rb // self.cb))
            tr.free(k)
        self.acc[(stage, layer)] = self.acc.get((stage, layer), []) + ups

    def reduce(self) -> list[int]:
        """``perform_reduce_grad`` of every stage not reduced yet: returns all the sharded gradients."""
        for j in range(len(self.groups)):
            if not self.multi:
                self.shards += self.reduce_stage(j)
        return self.shards

    def reduce_stage(self, j: int) -> list[int]:
        """One stage's groups, root first, resharded and reduce-scattered (each stage's FSDP root has its own
        reduce-scatter stream)."""
        tr, out, held = self.tr, [], 0
        stream = f"{REDUCE} {j}" if self.multi else REDUCE
        for g in (None, *sorted(self.groups[j][1])):
            ps = self.params(j, g)
            tr.free(*self.gathered.pop((j, g), []))
            tr.free(held)
            held = tr.alloc(sum(p.gathered for p in ps) * self.rb)
            acc = self.acc.pop((j, g), [])
            tr.free(*acc[:-1])
            shard = tr.on(stream, sum(p.sharded for p in ps) * self.rb)
            if self.pb != self.rb:
                cast = tr.on(stream, sum(p.sharded for p in ps) * self.pb)
                tr.free(shard)
                shard = cast
            out.append(shard)
            tr.free(*acc[-1:])
        tr.free(held)
        return out


def _stage_groups(r: PipeRank, dp: int) -> list[tuple[tuple[Param, ...], dict[int, tuple[Param, ...]]]]:
    """Each stage's FSDP groups on this rank: its root (embedding; final norm and lm_head; a tied embedding's copy
    on the last stage) and its layers, dim 0 of each tensor padded to the shard group (``fsdp_params``)."""
    spec = r.spec
    every = param_groups(spec, 1, dp)
    root_blocks = [b for b in parameter_blocks(spec) if b.layer is None]
    tied = spec.tie_word_embeddings
    out = []
    for st in r.stages:
        root = tuple(p for p, b in zip(every[-1], root_blocks, strict=True) if stage_owns(b, st, tied))
        if tied and st.last and not st.first:  # the lm_head's own copy, last in the stage module
            root = tuple(p for p, b in zip(every[-1], root_blocks, strict=True)
                         if stage_owns(b, st, tied) and b.kind not in EMBED_KINDS) + tuple(
                p for p, b in zip(every[-1], root_blocks, strict=True) if b.kind in EMBED_KINDS)
        out.append((root, {i: every[i] for i in st.layers}))
    return out


@lru_cache(maxsize=64)
def pipeline_fsdp_pool(r: PipeRank, dp: int, param_bytes: int, reduce_bytes: int) -> PoolFigures:
    """Two steps of a PP × FSDP rank (peaks from the end of the build); ``r.precision`` is the gathered dtype's."""
    tr = _SizedTrace(r.expandable)
    tr.alloc(CUBLAS_WORKSPACE)
    tr.alloc(CUBLAS_WORKSPACE)
    groups = _stage_groups(r, dp)
    for root, layers in groups:  # torchtitan's to_empty of the local shards: the layers' groups, then the root's
        for i in sorted(layers):
            for p in layers[i]:
                tr.alloc(p.sharded * param_bytes)
        for p in root:
            tr.alloc(p.sharded * param_bytes)
    tr.built()
    cb = r.precision.weight_bytes
    c = StepContext(tr, r.spec, r.precision, r.batch, r.seq)
    hid = c.t * r.spec.hidden_size * c.r
    for st in r.stages:  # ``PipelineStage(input_args=, output_args=)``: an example input and output
        tr.free(tr.alloc(c.t * 8 if st.first else hid), tr.alloc(c.t * r.spec.vocab_size * c.pb if st.last else hid))
    recv = [([tr.alloc(hid) for _ in range(r.microbatches)] if not st.first else [],
             [tr.alloc(hid) for _ in range(r.microbatches)] if not st.last else []) for st in r.stages]
    states: list[int] = []
    pieces = max(1, round(r.state_bytes_per_param / param_bytes)) if r.state_bytes_per_param else 0
    for step in range(2):
        hooks = _Fsdp(tr, groups, cb, reduce_bytes, param_bytes, r.microbatches if len(r.stages) > 1 else 0)
        if hooks.multi:
            hooks.unshard_all()
        outputs = run_actions(c, r, recv, [[] for _ in r.stages], hooks)
        shards = hooks.reduce()  # inside the schedule's step, before it merges the output chunks (torch.cat)
        if outputs:
            tr.free(tr.alloc(len(outputs) * c.t * r.spec.vocab_size * c.pb))
        if step == 0 and pieces:  # AdamW's states on the shards, in the stage modules' parameter order
            each = r.state_bytes_per_param / pieces
            states = [tr.alloc(int(p.sharded * each)) for st, (root, layers) in zip(r.stages, groups, strict=True)
                      for p in (*root[:1 if st.first else 0], *(q for i in sorted(layers) for q in layers[i]),
                                *root[1 if st.first else 0:])
                      for _ in range(pieces)]
        tr.free(*shards, *outputs)
    del states
    return tr.figures()
