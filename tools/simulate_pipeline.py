"""Simulate rank 0's memory under torchtitan's training recipe and under PyTorch's pipeline schedules, without GPUs.

Developer tool, not part of the memfit package; a sibling of tools/simulate_parallel.py (FSDP2 / DTensor TP), whose
rank tracker and layouts it imports. One process plays rank 0 (or any stage's rank) of N on PyTorch's fake process
group, real PyTorch code on fake tensors. Two kinds of case:

* ``titan``: torchtitan's recipe (commit 9dec370, the one behind its published Llama 3.1 benchmark) on the
  transformers model of the same shapes: fp32 parameters under FSDP2 ``MixedPrecisionPolicy(bf16, fp32)``, every
  decoder layer but the last resharded after forward, the root resharded too; op-level selective activation
  checkpointing (``create_selective_checkpoint_contexts`` with torchtitan's policy: keep the outputs of
  ``aten.mm`` except every second one, and of the flash / efficient attention kernels); the model returns bf16
  logits, the loss is ``cross_entropy(logits.flatten(0, 1).float(), labels)``, the logits are deleted before
  backward; gradient clipping (foreach) and foreach AdamW.
* ``pp``: ``torch.distributed.pipelining`` (``PipelineStage`` and ``ScheduleGPipe`` / ``Schedule1F1B`` /
  ``ScheduleInterleaved1F1B``) over a transformers model split into stages as torchtitan splits it (the first
  stage keeps the embedding, the last the final norm and lm_head), the stage's rank simulated; the point-to-point
  sends and receives of the fake group move no data.

Both record the allocated peak (``torch.cuda.max_memory_allocated()`` as the tracker counts it, cuBLAS workspaces
included) and the reserved peak of the caching-allocator emulation, one pool per stream (``StreamPools`` of
simulate_parallel). See docs/simulator.md, "Pipeline
parallelism" and "Published runs".

Usage:
  python tools/simulate_pipeline.py generate --set development   # -> tests/data/parallel/pipeline-dev.jsonl
  python tools/simulate_pipeline.py generate --set heldout       # -> tests/data/parallel/pipeline-heldout.jsonl
  python tools/simulate_pipeline.py run CASE_NAME
  python tools/simulate_pipeline.py trace DEV_CASE_NAME FILE     # its allocation stream (placement_sensitivity.py)
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import subprocess
import sys
import time
import warnings
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.tensor import DTensor

sys.path.insert(0, str(Path(__file__).resolve().parent))
import simulate_memory as sm
import simulate_parallel as spar

# 2: under TP (no FSDP) too, the build is left out of the pool and only the rank's local shards are materialised
# (torchtitan builds its stages on the meta device); version 1 counted the whole fp32 model's build under PP x TP
# 3: a later stage's received activation requires grad, as torchtitan's stages have it: versions 1 and 2 gave the
# static stages example inputs without requires_grad, so a later stage never backpropagated into its input (its first
# layer's input norm saved nothing for the input, the input's gradient and the residual's were never made)
PIPELINE_SIMULATOR_VERSION = "3"
REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests/data/parallel"
aten = torch.ops.aten


# torchtitan 9dec370 torchtitan/parallelisms/parallelize_llama.py ``_save_list`` (abs / max matter for float8 only);
# the CPU flash op stands for the CUDA one where the fake run takes it
TITAN_SAVE = {aten.mm.default, aten._scaled_dot_product_efficient_attention.default,
              aten._scaled_dot_product_flash_attention.default,
              aten._scaled_dot_product_flash_attention_for_cpu.default, aten.abs.default, aten.max.default}


def titan_sac_context() -> Any:
    """torchtitan's op-level SAC context: save every compute op of the list, except every second ``mm``."""
    from torch.utils.checkpoint import CheckpointPolicy, create_selective_checkpoint_contexts

    meta: dict[str, int] = defaultdict(int)

    def policy(ctx: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        key = f"{'recompute' if ctx.is_recompute else 'forward'}_mm_count"
        if func == aten.mm.default:
            meta[key] += 1
        save = func in TITAN_SAVE and not (func == aten.mm.default and meta[key] % 2 == 0)
        return CheckpointPolicy.MUST_SAVE if save else CheckpointPolicy.PREFER_RECOMPUTE

    return create_selective_checkpoint_contexts(policy)


def apply_ac(layers: Any, mode: str) -> None:
    """Wrap each decoder layer as torchtitan's ``apply_ac`` does (``ptd_checkpoint_wrapper``, non-reentrant)."""
    from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import checkpoint_wrapper

    for i in range(len(layers)):
        if mode == "full":
            layers[i] = checkpoint_wrapper(layers[i], preserve_rng_state=False)
        elif mode == "op":
            layers[i] = checkpoint_wrapper(layers[i], context_fn=titan_sac_context, preserve_rng_state=False)


def _titan_shard(model: Any, mesh: Any, pp: bool) -> None:
    """torchtitan 9dec370 ``apply_fsdp``: every layer but the last resharded after forward (none under PP); bf16
    parameters, fp32 reduce. torchtitan passes ``reshard_after_forward=True`` for the root too, but the torch of its
    benchmark (December 2024) did not reshard the root whatever was passed (``FSDPState._lazy_init`` set the root
    group's ``post_forward_mesh_info = None`` unconditionally); torch 2.13 honours an explicit True, so the root gets
    ``None`` (auto: not resharded) here to reproduce that run."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    kw = {"mesh": mesh, "mp_policy": MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)}
    layers = model.model.layers
    for i, layer in enumerate(layers):
        fully_shard(layer, reshard_after_forward=False if pp else i < len(layers) - 1, **kw)
    fully_shard(model, reshard_after_forward=None if not pp else False, **kw)


def _titan_shard_stage(mod: Any, mesh: Any, amp: bool) -> None:
    """torchtitan ``apply_fsdp`` under pipeline parallelism: every decoder layer of the stage and the stage itself
    (its embedding, final norm and lm_head) sharded with ``reshard_after_forward=False`` (the stage's parameters stay
    gathered while its micro-batches run); bf16 parameters and fp32 reduce under ``amp``."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    kw: dict[str, Any] = {"mesh": mesh, "reshard_after_forward": False}
    if amp:
        kw["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for layer in mod.layers:
        fully_shard(layer, **kw)
    fully_shard(mod, **kw)


def _start(n: int, rank: int = 0) -> None:
    from torch.testing._internal.distributed.fake_pg import FakeStore

    if dist.is_initialized():
        dist.destroy_process_group()
    dist.init_process_group("fake", rank=rank, world_size=n, store=FakeStore())


@contextlib.contextmanager
def _fake_world(expandable: bool = False) -> Iterator[Any]:
    fake = sm.FakeTensorMode(allow_non_fake_inputs=True)
    tracker = spar.RankTracker(fake)
    tracker.pool = spar.StreamPools(expandable)
    h100 = sm.H100Mode()
    gc.collect()
    with fake, h100, tracker, h100.patch_torch_autocast(), sm._swappable(fake, tracker), sm._not_tracing(), \
            sm._reports_cuda(), \
            spar.tracked_resize(tracker):
        yield tracker


def _clip(params: list[Any]) -> None:
    """torchtitan ``utils.clip_grad_norm_``: foreach total norm (a DTensor's is made full), then scale in place."""
    grads = [q.grad for q in params if q.grad is not None]
    total = torch.nn.utils.get_total_norm(grads, 2.0, False, True)
    if isinstance(total, DTensor):
        total = total.full_tensor()
    torch.nn.utils.clip_grads_with_norm_(params, 1.0, total, True)


def simulate_titan(cfg_dict: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    """torchtitan's FSDP2 recipe, rank 0 of ``p['shard']``: two steps of forward, loss, backward, clip, AdamW."""
    from transformers import AutoModelForCausalLM

    _start(int(p["shard"]))
    try:
        from torch.distributed.device_mesh import init_device_mesh

        mesh = init_device_mesh("cpu", (int(p["shard"]),), mesh_dim_names=("shard",))
        with _fake_world(bool(p.get("expandable"))) as tracker:
            tracker.pool.paused = True  # torchtitan builds on the meta device and materialises only the shards
            model = AutoModelForCausalLM.from_config(sm.config_from_dict(cfg_dict), dtype=torch.float32,
                                                     attn_implementation="sdpa")
            model.train()
            model.config.use_cache = False
            apply_ac(model.model.layers, p.get("ac", "op"))
            _titan_shard(model, mesh["shard"], pp=False)
            gc.collect()
            tracker.pool.materialise(tracker.blocks)
            rec: dict[str, Any] = {"tracked_after_shard": tracker.live}
            params = list(model.parameters())
            opt = torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1, foreach=True)
            b, s = int(p["batch"]), int(p["seq"])
            ids = torch.randint(100, 1000, (b, s))
            phases, peak, peak_res = [], 0, 0
            for step in range(int(p.get("steps", 2))):
                tracker.reset_peak()
                pred = model(input_ids=ids, use_cache=False).logits
                loss = F.cross_entropy(pred.flatten(0, 1).float(), ids.flatten(0, 1))
                del pred  # torchtitan: "need to free to before bwd to avoid peaking memory"
                after_fwd, peak_fwd = tracker.live, tracker.peak
                loss.backward()
                tracker.flush()
                del loss
                after_bwd, peak_bwd = tracker.live, tracker.peak
                _clip(params)
                opt.step()
                opt.zero_grad(set_to_none=True)
                tracker.flush()
                phases.append(dict(step=step, after_fwd=after_fwd, peak_fwd=peak_fwd, after_bwd=after_bwd,
                                   peak_bwd=peak_bwd, after_step=tracker.live, peak_step=tracker.peak,
                                   reserved=tracker.pool.peak_reserved))
                peak, peak_res = max(peak, tracker.peak), max(peak_res, tracker.pool.peak_reserved)
            rec.update(tracked_peak=peak, tracked_peak_reserved=peak_res, phases=phases,
                       n_params=sum(q.numel() for q in model.parameters()), reserved_by_stream=tracker.pool.by_stream())
            del model, opt, ids, params
            gc.collect()
        return rec
    finally:
        dist.destroy_process_group()


class StageModule(torch.nn.Module):
    """One pipeline stage of a transformers decoder-only model, as torchtitan's ``pipeline_llama`` cuts its own: the
    first stage keeps the token embedding, the last the final norm and the lm_head; every stage its decoder layers
    and the (parameter-free) rotary embedding. ``amp``: the stage's forward runs under bf16 autocast."""

    def __init__(self, model: Any, layers: range, first: bool, last: bool, amp: bool) -> None:
        super().__init__()
        inner = model.model
        self.embed = inner.embed_tokens if first else None
        self.layers = torch.nn.ModuleList([inner.layers[i] for i in layers])
        self.norm = inner.norm if last else None
        self.head = model.lm_head if last else None
        self.rotary = inner.rotary_emb
        self.amp = amp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.amp):
            h = self.embed(x) if self.embed is not None else x
            pos = torch.arange(h.shape[1]).unsqueeze(0)
            pe = self.rotary(h, pos)
            for layer in self.layers:
                h = layer(h, attention_mask=None, position_ids=pos, position_embeddings=pe, use_cache=False)
            if self.head is not None:
                h = self.head(self.norm(h))
        return h


def stage_examples(k: int, n_stages: int, shape: tuple[int, int, int, int], hid_dtype: torch.dtype,
                   out_dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Stage ``k``'s example input and output (``PipelineStage(input_args=, output_args=)``); ``shape`` = (batch,
    tokens, hidden, vocabulary). A later stage's input requires grad: a static stage takes each received activation's
    ``requires_grad`` from its example (torch/distributed/pipelining/_utils.py ``_TensorMeta.from_tensor``; stage.py
    ``_retrieve_recv_activations``), and without it the stage neither backpropagates into its first layer's input nor
    sends a gradient back, which a training pipeline does (simulator versions 1 and 2 left it out)."""
    b, s, h, v = shape
    inp = torch.empty(b, s, dtype=torch.long) if k == 0 else torch.empty(b, s, h, dtype=hid_dtype, requires_grad=True)
    out = torch.empty(b, s, v, dtype=out_dtype) if k == n_stages - 1 else torch.empty(b, s, h, dtype=hid_dtype)
    return inp, out


def stage_ranges(num_layers: int, stages: int) -> list[range]:
    """Decoder layers per stage, as even as possible, the first stages taking the remainder (memfit's split)."""
    base, extra = divmod(num_layers, stages)
    out, start = [], 0
    for k in range(stages):
        n = base + (1 if k < extra else 0)
        out.append(range(start, start + n))
        start += n
    return out


@contextlib.contextmanager
def static_metadata() -> Iterator[None]:
    """Every stage is built with its input and output shapes (``PipelineStage(input_args=, output_args=,
    output_grads=)``), so every rank votes STATIC in the schedule's warm-up; on the fake group the vote's ``recv``
    leaves its buffer at 0, so the outcome every rank would learn is set here instead."""
    from torch.distributed.pipelining import schedules
    from torch.distributed.pipelining._utils import InferenceMode

    cls = schedules._PipelineSchedule
    orig = cls._warmup_p2p

    def warmup(self: Any, stages: list[Any], has_backward: bool, p2p_done: bool) -> None:
        for st in stages:
            st._inference_mode = InferenceMode.STATIC

    cls._warmup_p2p = warmup  # type: ignore[method-assign]
    try:
        yield
    finally:
        cls._warmup_p2p = orig  # type: ignore[method-assign]


@contextlib.contextmanager
def backward_keeps_modes() -> Iterator[None]:
    """``PipelineStage`` runs its backward by ``torch.autograd.backward``, which is a torch function: the emulating
    ``TorchFunctionMode`` (simulate_memory.H100Mode) pops itself while it handles the call, so a checkpointed
    layer's recomputation ran without the emulated autocast (fp32 matmuls: 38 tensors saved against the forward's
    40, torch's CheckpointError). Here ``torch.autograd.backward`` runs the engine as torch does
    (``_make_grads``, ``_engine_run_backward``) without going through the mode, which then stays on the stack."""
    from torch.autograd import _make_grads, _tensor_or_tensors_to_tuple
    from torch.autograd.graph import _engine_run_backward

    orig = torch.autograd.backward

    def backward(tensors: Any, grad_tensors: Any = None, retain_graph: bool | None = None,
                 create_graph: bool = False, grad_variables: Any = None, inputs: Any = None) -> None:
        outs = (tensors,) if isinstance(tensors, torch.Tensor) else tuple(tensors)
        grads = _make_grads(outs, _tensor_or_tensors_to_tuple(grad_tensors, len(outs)), is_grads_batched=False)
        _engine_run_backward(outs, grads, bool(retain_graph) or create_graph, create_graph, tuple(inputs or ()),
                             allow_unreachable=True, accumulate_grad=True)

    torch.autograd.backward = backward  # type: ignore[assignment]
    try:
        yield
    finally:
        torch.autograd.backward = orig


SCHEDULES = {"gpipe": "ScheduleGPipe", "1f1b": "Schedule1F1B", "interleaved-1f1b": "ScheduleInterleaved1F1B"}


def simulate_pp(cfg_dict: dict[str, Any], p: dict[str, Any], trace: bool = False) -> dict[str, Any]:
    """Rank ``p['rank']`` of a ``p['pp']``-stage pipeline (``p['v']`` stages per rank for interleaved schedules) running
    ``p['microbatches']`` micro-batches of ``p['batch']`` sequences per step under ``p['schedule']``; AdamW (fused) on
    the rank's parameters; two steps, the peak of the second. ``trace``: the record's ``trace`` holds the emulated
    allocator's stream (every malloc and free with its stream and aten operator, ``StreamPools.events``)."""
    from torch.distributed.pipelining import PipelineStage, schedules
    from transformers import AutoModelForCausalLM

    pp, rank, m = int(p["pp"]), int(p.get("rank", 0)), int(p["microbatches"])
    v = int(p.get("v", 1)) if p["schedule"] == "interleaved-1f1b" else 1
    amp = bool(p.get("amp", True))
    dp = int(p.get("dp", 1))  # FSDP2 over dp ranks inside each stage (torchtitan's PP x FSDP mesh)
    tp = int(p.get("tp", 1))  # DTensor TP inside each stage (torchtitan's plan, no sequence parallelism): one case
    # per process (a second (pp, dp, tp) mesh in the same process failed on the fake group)
    _start(pp * dp * tp, rank * dp * tp)  # mesh (pp, dp, tp), row-major: rank 0 of the stage's groups
    try:
        mesh = None
        if dp * tp > 1:
            from torch.distributed.device_mesh import init_device_mesh

            mesh = init_device_mesh("cpu", (pp, dp, tp), mesh_dim_names=("pp", "dp", "tp"))
        with _fake_world() as tracker, static_metadata(), backward_keeps_modes():
            if trace:
                tracker.pool.events = []
            # torchtitan materialises only the local (FSDP or TP) shards of its meta-built stages
            tracker.pool.paused = dp * tp > 1
            cfg = sm.config_from_dict(cfg_dict)
            model = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32 if amp else torch.bfloat16,
                                                     attn_implementation="sdpa")
            model.train()
            if mesh is not None and tp > 1:
                spar._tp_plan(model, mesh["tp"], False)
            if p.get("ckpt"):
                apply_ac(model.model.layers, "full" if p["ckpt"] is True else str(p["ckpt"]))
            n_stages = pp * v
            ranges = stage_ranges(cfg.num_hidden_layers, n_stages)
            ids_here = [rank + j * pp for j in range(v)]
            # under FSDP the MixedPrecisionPolicy casts the parameters to bf16: no autocast
            mods = [StageModule(model, ranges[k], k == 0, k == n_stages - 1, amp and dp == 1) for k in ids_here]
            del model
            if dp > 1:
                for mod in mods:
                    _titan_shard_stage(mod, mesh["dp"], amp)
            gc.collect()
            if dp * tp > 1:
                tracker.pool.materialise(tracker.blocks)
            b, s, h = int(p["batch"]), int(p["seq"]), cfg.hidden_size
            # fp32 residual stream under autocast; bf16 under FSDP's policy or in a bf16 model
            hid_dtype = torch.float32 if amp and dp == 1 else torch.bfloat16
            out_dtype = torch.bfloat16  # logits: autocast's bf16 Linear, or the bf16 model's
            stages = []
            for k, mod in zip(ids_here, mods, strict=True):
                inp, out = stage_examples(k, n_stages, (b, s, h, cfg.vocab_size), hid_dtype, out_dtype)
                last = k == n_stages - 1
                stages.append(PipelineStage(mod, k, n_stages, torch.device("cpu"), input_args=(inp,),
                                            output_args=(out,), output_grads=None if last else (out,),
                                            group=None if mesh is None else mesh["pp"].get_group()))
                del inp, out
            gc.collect()

            def loss_fn(pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
                return F.cross_entropy(pred.flatten(0, 1).float(), labels.flatten(0, 1))

            cls = getattr(schedules, SCHEDULES[p["schedule"]])
            sched = cls(stages if v > 1 else stages[0], n_microbatches=m, loss_fn=loss_fn)
            params = [q for mod in mods for q in mod.parameters()]
            groups = [{"params": g} for g in ([q for q in params if isinstance(q, DTensor)],
                                               [q for q in params if not isinstance(q, DTensor)]) if g]
            opt = torch.optim.AdamW(groups, lr=1e-5, fused=True)  # TP: DTensor and plain (replicated) groups
            rec: dict[str, Any] = {"tracked_after_build": tracker.live}
            ids = torch.randint(100, 1000, (b * m, s))
            first, last = 0 in ids_here, n_stages - 1 in ids_here
            phases, peak, peak_res = [], 0, 0
            for step in range(2):
                tracker.reset_peak()
                args = (ids,) if first else ()
                kw = {"target": ids, "losses": []} if last else {}
                sched.step(*args, **kw)
                tracker.flush()
                after_bwd, peak_bwd = tracker.live, tracker.peak
                opt.step()
                opt.zero_grad(set_to_none=True)
                tracker.flush()
                phases.append(dict(step=step, after_bwd=after_bwd, peak_bwd=peak_bwd, after_step=tracker.live,
                                   peak_step=tracker.peak))
                peak, peak_res = max(peak, tracker.peak), max(peak_res, tracker.pool.peak_reserved)
            rec.update(tracked_peak=peak, tracked_peak_reserved=peak_res, phases=phases,
                       n_params=sum(q.numel() for q in params), stage_ids=ids_here,
                       reserved_by_stream=tracker.pool.by_stream())
            if trace:
                rec["trace"] = tracker.pool.events
            del sched, stages, mods, opt, params, ids
            gc.collect()
        return rec
    finally:
        dist.destroy_process_group()


def _c(name: str, model: str, layers: int, **p: Any) -> tuple[str, str, int, dict[str, Any]]:
    return name, model, layers, p


# Pipeline cases: (name, catalog model, layers kept, layout). ``batch``: sequences per micro-batch; ``microbatches``
# per step; ``rank``: the pipeline rank simulated (its stage, or stages rank, rank + pp, … when interleaved).
PP_DEV: list[tuple[str, str, int, dict[str, Any]]] = [
    _c("llama-3.2-1b-l4/pp2-r0-1f1b-m4-b1-s1024", "llama-3.2-1b", 4, pp=2, rank=0, schedule="1f1b", microbatches=4,
       batch=1, seq=1024),
    _c("llama-3.2-1b-l4/pp2-r1-1f1b-m4-b1-s1024", "llama-3.2-1b", 4, pp=2, rank=1, schedule="1f1b", microbatches=4,
       batch=1, seq=1024),
    _c("llama-3.2-1b-l4/pp2-r0-gpipe-m4-b2-s1024", "llama-3.2-1b", 4, pp=2, rank=0, schedule="gpipe",
       microbatches=4, batch=2, seq=1024),
    _c("llama-3.2-1b-l4/pp2-r1-gpipe-m4-b2-s1024", "llama-3.2-1b", 4, pp=2, rank=1, schedule="gpipe",
       microbatches=4, batch=2, seq=1024),
    _c("qwen2.5-7b-l4/pp4-r0-1f1b-m8-b1-s2048", "qwen2.5-7b", 4, pp=4, rank=0, schedule="1f1b", microbatches=8,
       batch=1, seq=2048),
    _c("qwen2.5-7b-l4/pp4-r3-1f1b-m8-b1-s2048", "qwen2.5-7b", 4, pp=4, rank=3, schedule="1f1b", microbatches=8,
       batch=1, seq=2048),
    _c("qwen2.5-7b-l8/pp4-r1-1f1b-m4-b1-s2048", "qwen2.5-7b", 8, pp=4, rank=1, schedule="1f1b", microbatches=4,
       batch=1, seq=2048),
    _c("qwen3-1.7b-l8/pp2-r0-interleaved-v2-m4-b1-s2048", "qwen3-1.7b", 8, pp=2, rank=0,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=2048),
    _c("qwen3-1.7b-l8/pp2-r1-interleaved-v2-m4-b1-s2048", "qwen3-1.7b", 8, pp=2, rank=1,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=2048),
    _c("mistral-7b-v0.3-l4/pp2-r0-1f1b-bf16-m2-b1-s2048", "mistral-7b-v0.3", 4, pp=2, rank=0, schedule="1f1b",
       microbatches=2, batch=1, seq=2048, amp=False),
    # checkpointed stages (full: torch's non-reentrant checkpoint per decoder layer; "op": torchtitan's op-level
    # SAC), simulated since the stage's backward keeps the emulation's modes (``backward_keeps_modes``)
    _c("llama-3.2-1b-l4/pp2-r0-1f1b-ckpt-m4-b1-s1024", "llama-3.2-1b", 4, pp=2, rank=0, schedule="1f1b",
       microbatches=4, batch=1, seq=1024, ckpt=True),
    _c("qwen2.5-7b-l4/pp2-r1-1f1b-ckpt-m4-b1-s2048", "qwen2.5-7b", 4, pp=2, rank=1, schedule="1f1b",
       microbatches=4, batch=1, seq=2048, ckpt=True),
    _c("llama-3.2-1b-l4/pp2-r0-gpipe-sacop-m4-b2-s1024", "llama-3.2-1b", 4, pp=2, rank=0, schedule="gpipe",
       microbatches=4, batch=2, seq=1024, ckpt="op"),
    _c("qwen2.5-7b-l4/pp2-r0-1f1b-m4-b2-s2048", "qwen2.5-7b", 4, pp=2, rank=0, schedule="1f1b",
       microbatches=4, batch=2, seq=2048),
    # moved from the held-out list (−5.91 % there: it showed an expert tensor's new gradient beside the accumulated
    # one); bf16, as the fake grouped_mm refuses fp32 experts
    _c("qwen3-30b-a3b-l2/pp2-r0-1f1b-bf16-m2-b1-s2048", "qwen3-30b-a3b", 2, pp=2, rank=0, schedule="1f1b",
       microbatches=2, batch=1, seq=2048, amp=False),
    # a GPipe middle stage (added after the held-out qwen3-1.7b-l6 GPipe middle stage scored +5.39 %, to look for the
    # mechanism on development cases)
    _c("llama-3.2-1b-l6/pp3-r1-gpipe-m3-b2-s1024", "llama-3.2-1b", 6, pp=3, rank=1, schedule="gpipe",
       microbatches=3, batch=2, seq=1024),
    _c("qwen2.5-7b-l6/pp3-r1-gpipe-m4-b1-s2048", "qwen2.5-7b", 6, pp=3, rank=1, schedule="gpipe",
       microbatches=4, batch=1, seq=2048),
    # PP x FSDP (torchtitan's 2D mesh): FSDP2 over ``dp`` ranks inside each stage, reshard_after_forward=False,
    # bf16 parameters and fp32 reduce; rank 0 of the stage's FSDP group
    _c("qwen2.5-7b-l4/pp2-dp4-r0-1f1b-m4-b1-s2048", "qwen2.5-7b", 4, pp=2, dp=4, rank=0, schedule="1f1b",
       microbatches=4, batch=1, seq=2048),
    _c("qwen2.5-7b-l4/pp2-dp4-r1-1f1b-m4-b1-s2048", "qwen2.5-7b", 4, pp=2, dp=4, rank=1, schedule="1f1b",
       microbatches=4, batch=1, seq=2048),
    _c("mistral-7b-v0.3-l4/pp2-dp2-r0-gpipe-m2-b1-s2048", "mistral-7b-v0.3", 4, pp=2, dp=2, rank=0,
       schedule="gpipe", microbatches=2, batch=1, seq=2048),
    _c("llama-3.1-8b-l4/pp2-dp8-r1-1f1b-ckpt-m4-b1-s4096", "llama-3.1-8b", 4, pp=2, dp=8, rank=1, schedule="1f1b",
       microbatches=4, batch=1, seq=4096, ckpt=True),
    # moved from the held-out list (2026-12-07): +6.19 % device total there after the PP x FSDP stream replay, the
    # only interleaved PP x FSDP ranks being held-out; its mechanism is looked for here
    _c("qwen3-1.7b-l8/pp2-dp2-r1-interleaved-v2-m4-b1-s2048", "qwen3-1.7b", 8, pp=2, dp=2, rank=1,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=2048),
    # moved from the held-out list (2026-12-07): a blind replacement that scored -8.33 % device total
    _c("llama-3.2-1b-l8/pp2-dp4-r0-interleaved-v2-m4-b1-s2048", "llama-3.2-1b", 8, pp=2, dp=4, rank=0,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=2048),
    # moved from the held-out list (2026-12-07, l16place): a blind replacement that scored -5.33 % (-5.47 % after the
    # stage's copy-outs moved to its first forward); its mechanism is looked for here
    _c("llama-3.2-3b-l8/pp2-dp4-r0-interleaved-v2-m4-b1-s1024", "llama-3.2-3b", 8, pp=2, dp=4, rank=0,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=1024),
    # moved from the held-out list (2026-12-07, l16pp2): -4.92 % device total there after pipeline simulator 3 (under
    # by more than 3 %); its mechanism is looked for here, a blind replacement listed in its place before it ran
    _c("qwen2.5-7b-l8/pp2-r1-interleaved-v2-m4-b1-s2048", "qwen2.5-7b", 8, pp=2, rank=1,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=2048),
]
# Pipeline x tensor parallelism (DTensor TP inside each stage, torchtitan's plan without sequence parallelism, one
# rank per process): development cases; memfit walks one TP rank of each stage (parallel_pp.py, issue 16)
PP_TP_DEV: list[tuple[str, str, int, dict[str, Any]]] = [
    _c("llama-3.2-1b-l4/pp2-tp2-r0-1f1b-m2-b1-s1024", "llama-3.2-1b", 4, pp=2, tp=2, rank=0, schedule="1f1b",
       microbatches=2, batch=1, seq=1024),
    _c("llama-3.2-1b-l4/pp2-tp2-r1-1f1b-m2-b1-s1024", "llama-3.2-1b", 4, pp=2, tp=2, rank=1, schedule="1f1b",
       microbatches=2, batch=1, seq=1024),
    _c("qwen2.5-1.5b-l4/pp2-tp2-r0-gpipe-m2-b2-s1024", "qwen2.5-1.5b", 4, pp=2, tp=2, rank=0, schedule="gpipe",
       microbatches=2, batch=2, seq=1024),
    _c("qwen2.5-1.5b-l4/pp2-tp2-r1-gpipe-m2-b2-s1024", "qwen2.5-1.5b", 4, pp=2, tp=2, rank=1, schedule="gpipe",
       microbatches=2, batch=2, seq=1024),
    # added on development (not held-out) after plan's llama-3.1-8b on L40S --pp 4 answer (tp 2 x pp 4, full
    # checkpointing) simulated its middle ranks 3.6-3.8 % under memfit's allocated peak (plan-checks-pp.jsonl)
    _c("llama-3.1-8b-l8/pp4-tp2-r1-1f1b-ckpt-m4-b1-s4096", "llama-3.1-8b", 8, pp=4, tp=2, rank=1, schedule="1f1b",
       microbatches=4, batch=1, seq=4096, ckpt=True),
    # moved from the PP x TP held-out list (2026-12-07, l16place): -3.27 % device total there (under by more than
    # 3 %); its mechanism is looked for here, a blind replacement listed in its place before it ran
    _c("llama-3.1-8b-l4/pp2-tp4-r1-gpipe-sacop-m2-b1-s2048", "llama-3.1-8b", 4, pp=2, tp=4, rank=1,
       schedule="gpipe", microbatches=2, batch=1, seq=2048, ckpt="op"),
]
# PP x TP held-out: listed (and committed) before any of them was simulated or scored
PP_TP_HELDOUT: list[tuple[str, str, int, dict[str, Any]]] = [
    _c("mistral-7b-v0.3-l4/pp2-tp2-r0-1f1b-m4-b1-s1024", "mistral-7b-v0.3", 4, pp=2, tp=2, rank=0, schedule="1f1b",
       microbatches=4, batch=1, seq=1024),
    _c("mistral-7b-v0.3-l4/pp2-tp2-r1-1f1b-m4-b1-s1024", "mistral-7b-v0.3", 4, pp=2, tp=2, rank=1, schedule="1f1b",
       microbatches=4, batch=1, seq=1024),
    _c("llama-3.2-3b-l6/pp3-tp2-r1-gpipe-m3-b1-s2048", "llama-3.2-3b", 6, pp=3, tp=2, rank=1, schedule="gpipe",
       microbatches=3, batch=1, seq=2048),
    _c("llama-3.2-3b-l6/pp3-tp2-r2-gpipe-m3-b1-s2048", "llama-3.2-3b", 6, pp=3, tp=2, rank=2, schedule="gpipe",
       microbatches=3, batch=1, seq=2048),
    # a fresh blind batch (2026-12-07, listed and committed before any ran or was scored, after memfit's PP x TP
    # model was built on the four development ranks): tp 4 with one K/V head per rank and biases, full
    # checkpointing, op-level SAC, a bf16 model, interleaved stages with q/k norms, an untied first stage
    _c("qwen2.5-7b-l4/pp2-tp4-r1-1f1b-m4-b1-s2048", "qwen2.5-7b", 4, pp=2, tp=4, rank=1, schedule="1f1b",
       microbatches=4, batch=1, seq=2048),
    _c("qwen2.5-7b-l4/pp2-tp4-r0-1f1b-m4-b1-s2048", "qwen2.5-7b", 4, pp=2, tp=4, rank=0, schedule="1f1b",
       microbatches=4, batch=1, seq=2048),
    _c("llama-3.2-1b-l4/pp2-tp2-r0-1f1b-ckpt-m4-b1-s2048", "llama-3.2-1b", 4, pp=2, tp=2, rank=0, schedule="1f1b",
       microbatches=4, batch=1, seq=2048, ckpt=True),
    _c("mistral-7b-v0.3-l4/pp2-tp2-r1-gpipe-bf16-m2-b1-s2048", "mistral-7b-v0.3", 4, pp=2, tp=2, rank=1,
       schedule="gpipe", microbatches=2, batch=1, seq=2048, amp=False),
    _c("qwen3-1.7b-l8/pp2-tp2-r0-interleaved-v2-m4-b1-s1024", "qwen3-1.7b", 8, pp=2, tp=2, rank=0,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=1024),
    _c("qwen3-1.7b-l8/pp2-tp2-r1-interleaved-v2-m4-b1-s1024", "qwen3-1.7b", 8, pp=2, tp=2, rank=1,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=1024),
    _c("qwen2.5-3b-l6/pp3-tp2-r0-1f1b-m3-b2-s1024", "qwen2.5-3b", 6, pp=3, tp=2, rank=0, schedule="1f1b",
       microbatches=3, batch=2, seq=1024),
    # listed blind (2026-12-07, l16place) in place of llama-3.1-8b-l4 pp2 tp4 rank 1 GPipe op-level SAC (moved to
    # development), committed before it ran: op-level SAC on a TP last stage
    _c("qwen3-8b-l4/pp2-tp2-r1-1f1b-sacop-m4-b1-s2048", "qwen3-8b", 4, pp=2, tp=2, rank=1, schedule="1f1b",
       microbatches=4, batch=1, seq=2048, ckpt="op"),
]
# written before memfit's PP model was run on any of them
PP_HELDOUT: list[tuple[str, str, int, dict[str, Any]]] = [
    _c("mistral-7b-v0.3-l4/pp4-r0-1f1b-m8-b1-s4096", "mistral-7b-v0.3", 4, pp=4, rank=0, schedule="1f1b",
       microbatches=8, batch=1, seq=4096),
    _c("mistral-7b-v0.3-l4/pp4-r3-1f1b-m8-b1-s4096", "mistral-7b-v0.3", 4, pp=4, rank=3, schedule="1f1b",
       microbatches=8, batch=1, seq=4096),
    _c("qwen3-1.7b-l6/pp3-r1-gpipe-m3-b2-s2048", "qwen3-1.7b", 6, pp=3, rank=1, schedule="gpipe", microbatches=3,
       batch=2, seq=2048),
    _c("llama-3.2-1b-l8/pp4-r0-interleaved-v2-m8-b1-s1024", "llama-3.2-1b", 8, pp=4, rank=0,
       schedule="interleaved-1f1b", v=2, microbatches=8, batch=1, seq=1024),
    _c("llama-3.2-1b-l8/pp4-r3-interleaved-v2-m8-b1-s1024", "llama-3.2-1b", 8, pp=4, rank=3,
       schedule="interleaved-1f1b", v=2, microbatches=8, batch=1, seq=1024),
    _c("qwen2.5-3b-l4/pp2-r1-gpipe-bf16-m6-b1-s2048", "qwen2.5-3b", 4, pp=2, rank=1, schedule="gpipe",
       microbatches=6, batch=1, seq=2048, amp=False),
    # listed blind after qwen3-30b-a3b-l2/pp2-r0-1f1b-bf16-m2-b1-s2048 moved to development
    _c("mixtral-8x7b-v0.1-l2/pp2-r0-1f1b-bf16-m2-b1-s2048", "mixtral-8x7b-v0.1", 2, pp=2, rank=0, schedule="1f1b",
       microbatches=2, batch=1, seq=2048, amp=False),
    _c("qwen3-8b-l6/pp3-r0-1f1b-m6-b2-s4096", "qwen3-8b", 6, pp=3, rank=0, schedule="1f1b",
       microbatches=6, batch=2, seq=4096),
    # listed blind after the first-backward model (parallel_pp._first_backward) was fixed on development cases:
    # the full Llama-3.1-8B cut in 4, and more GPipe / interleaved ranks
    _c("llama-3.1-8b-l32/pp4-r0-1f1b-m8-b1-s4096", "llama-3.1-8b", 32, pp=4, rank=0, schedule="1f1b",
       microbatches=8, batch=1, seq=4096),
    _c("llama-3.1-8b-l32/pp4-r3-1f1b-m8-b1-s4096", "llama-3.1-8b", 32, pp=4, rank=3, schedule="1f1b",
       microbatches=8, batch=1, seq=4096),
    _c("qwen3-8b-l8/pp4-r2-gpipe-m4-b1-s2048", "qwen3-8b", 8, pp=4, rank=2, schedule="gpipe", microbatches=4,
       batch=1, seq=2048),
    # listed blind (2026-12-07, before they were simulated) when checkpointed stages became simulable: full
    # checkpointing on a first stage at 4,096 tokens, on interleaved stages, and op-level SAC on a GPipe middle stage
    _c("mistral-7b-v0.3-l4/pp2-r0-1f1b-ckpt-m4-b1-s4096", "mistral-7b-v0.3", 4, pp=2, rank=0, schedule="1f1b",
       microbatches=4, batch=1, seq=4096, ckpt=True),
    _c("qwen3-1.7b-l8/pp2-r1-interleaved-v2-ckpt-m4-b1-s2048", "qwen3-1.7b", 8, pp=2, rank=1,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=2048, ckpt=True),
    _c("llama-3.2-1b-l6/pp3-r1-gpipe-sacop-m3-b2-s1024", "llama-3.2-1b", 6, pp=3, rank=1, schedule="gpipe",
       microbatches=3, batch=2, seq=1024, ckpt="op"),
    _c("qwen3-8b-l6/pp3-r2-1f1b-sacop-m6-b1-s2048", "qwen3-8b", 6, pp=3, rank=2, schedule="1f1b",
       microbatches=6, batch=1, seq=2048, ckpt="op"),
    # listed blind (2026-12-07) when PP x FSDP was modelled on four development cases, before these ran: a middle
    # stage, an interleaved first rank, a checkpointed GPipe last stage, op-level SAC on a first stage at 16 ranks
    _c("qwen3-8b-l6/pp3-dp4-r1-1f1b-m6-b1-s2048", "qwen3-8b", 6, pp=3, dp=4, rank=1, schedule="1f1b",
       microbatches=6, batch=1, seq=2048),
    _c("mistral-7b-v0.3-l8/pp2-dp8-r0-interleaved-v2-m4-b1-s2048", "mistral-7b-v0.3", 8, pp=2, dp=8, rank=0,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=2048),
    _c("llama-3.1-8b-l4/pp2-dp2-r1-gpipe-ckpt-m4-b2-s1024", "llama-3.1-8b", 4, pp=2, dp=2, rank=1,
       schedule="gpipe", microbatches=4, batch=2, seq=1024, ckpt=True),
    _c("qwen2.5-7b-l4/pp2-dp16-r0-1f1b-sacop-m4-b1-s4096", "qwen2.5-7b", 4, pp=2, dp=16, rank=0,
       schedule="1f1b", microbatches=4, batch=1, seq=4096, ckpt="op"),
    # a fresh blind batch (2026-12-07, listed before any ran): tied embeddings at both ends, a bf16 model under FSDP
    # (no upcast: the bf16 gradients are the accumulators), fused projections, 8 micro-batches
    _c("phi-3.5-mini-instruct-l4/pp2-dp4-r0-1f1b-m4-b1-s2048", "phi-3.5-mini-instruct", 4, pp=2, dp=4, rank=0,
       schedule="1f1b", microbatches=4, batch=1, seq=2048),
    # listed blind (2026-12-07) in place of qwen3-1.7b-l8 pp2 dp2 interleaved rank 1, which moved to development:
    # committed before either ran
    # listed blind (2026-12-07) in place of llama-3.2-1b-l8 pp2 dp4 interleaved rank 0 (-8.33 %, moved to development),
    # committed before it ran
    _c("qwen2.5-3b-l8/pp2-dp2-r1-interleaved-v2-m6-b1-s1024", "qwen2.5-3b", 8, pp=2, dp=2, rank=1,
       schedule="interleaved-1f1b", v=2, microbatches=6, batch=1, seq=1024),
    _c("llama-3.2-3b-l6/pp3-dp2-r2-gpipe-ckpt-m3-b2-s2048", "llama-3.2-3b", 6, pp=3, dp=2, rank=2,
       schedule="gpipe", microbatches=3, batch=2, seq=2048, ckpt=True),
    _c("mistral-7b-v0.3-l4/pp2-dp4-r1-1f1b-sacop-m8-b1-s2048", "mistral-7b-v0.3", 4, pp=2, dp=4, rank=1,
       schedule="1f1b", microbatches=8, batch=1, seq=2048, ckpt="op"),
    _c("qwen2.5-3b-l4/pp2-dp2-r0-1f1b-bf16-m4-b1-s2048", "qwen2.5-3b", 4, pp=2, dp=2, rank=0, schedule="1f1b",
       microbatches=4, batch=1, seq=2048, amp=False),
    # listed blind (2026-12-07, l16place) in place of llama-3.2-3b-l8 pp2 dp4 interleaved rank 0 (-5.47 %, moved to
    # development by the rule), committed before it ran: a tied-embedding first rank of an interleaved PP x FSDP mesh
    _c("qwen2.5-3b-l8/pp2-dp4-r0-interleaved-v2-m4-b1-s2048", "qwen2.5-3b", 8, pp=2, dp=4, rank=0,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=2048),
    # listed blind (2026-12-07, l16pp2) in place of qwen2.5-7b-l8 pp2 interleaved rank 1 (-4.92 %, moved to
    # development by the rule), committed before it ran: the last rank of a plain interleaved pipeline on an MHA model
    _c("llama-2-7b-hf-l8/pp2-r1-interleaved-v2-m4-b1-s3072", "llama-2-7b-hf", 8, pp=2, rank=1,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=3072),
    # fresh blind (2026-12-07, l16place), listed before they ran, after the stage copy-out order and the checkpointed
    # last stage's autocast exit were fixed on development: a checkpointed last stage, an interleaved PP x FSDP rank
    _c("qwen2.5-3b-l4/pp2-r1-1f1b-ckpt-m4-b1-s2048", "qwen2.5-3b", 4, pp=2, rank=1, schedule="1f1b",
       microbatches=4, batch=1, seq=2048, ckpt=True),
    _c("qwen3-1.7b-l8/pp2-dp4-r0-interleaved-v2-m4-b1-s2048", "qwen3-1.7b", 8, pp=2, dp=4, rank=0,
       schedule="interleaved-1f1b", v=2, microbatches=4, batch=1, seq=2048),
]


def pp_params(p: dict[str, Any]) -> dict[str, Any]:
    """The case's ``params`` in the ground-truth format (``memfit validate``; tests/data/parallel/README.md)."""
    out: dict[str, Any] = dict(batch=int(p["batch"]), seq=int(p["seq"]), opt="adamw-fused",
                               amp=bool(p.get("amp", True)), dtype="bfloat16",
                               ckpt={"op": "selective-op"}.get(str(p.get("ckpt")), bool(p.get("ckpt", False))),
                               gpus=int(p["pp"]) * int(p.get("dp", 1)) * int(p.get("tp", 1)), pp=int(p["pp"]),
                               pp_schedule=p["schedule"], grad_accum=int(p["microbatches"]), pp_rank=int(p["rank"]))
    if p["schedule"] == "interleaved-1f1b":
        out["pp_virtual"] = int(p.get("v", 2))
    if int(p.get("dp", 1)) > 1:  # FSDP2 inside each stage, reshard_after_forward=False (torchtitan under PP)
        out["zero"] = 2
    if int(p.get("tp", 1)) > 1:  # DTensor TP inside each stage (torchtitan's plan, no sequence parallelism)
        out["tp"] = int(p["tp"])
    return out


def pp_record(name: str, model: str, layers: int, p: dict[str, Any], which: str) -> dict[str, Any]:
    t0 = time.time()
    cfg = sm.catalog_config(model, layers)
    sim = simulate_pp(cfg, p)
    base = sm.default_alloc_before_build("train")
    rec: dict[str, Any] = dict(case=name, model=f"{model}-l{layers}", kind="train", params=pp_params(p), layout=p,
                               alloc_before_build=base, config=cfg, n_params=sim["n_params"],
                               stage_ids=sim["stage_ids"],
                               phases=[{k: (v + base if k != "step" else v) for k, v in ph.items()}
                                       for ph in sim["phases"]],
                               peak_alloc=base + int(sim["tracked_peak"]),
                               peak_reserved=base + int(sim["tracked_peak_reserved"]), reserved_source="emulated")
    rec.update(reserved_end=None, device_used_after_build=None, device_used_end=None, rank=int(p["rank"]),
               world_size=int(p["pp"]), seconds=round(time.time() - t0, 2), simulated=True,
               simulator="tools/simulate_pipeline.py", simulator_version=PIPELINE_SIMULATOR_VERSION, set=which)
    return rec


# Published runs reproduced (tests/data/parallel/published.jsonl): torchtitan's recipe on the transformers model of the
# same shapes; the published figure (a reserved peak) and its source are in each record.
TITAN_SOURCE = ("pytorch/torchtitan benchmarks/llama3_h100_202412_torchtitan.md (torch 1963fc8 2024-12-23, "
                "torchtitan 9dec370): Llama 3.1 8B, FSDP2, eager (no torch.compile, no Float8), local batch 2, "
                "selective activation checkpointing (train_configs/llama3_8b.toml of 9dec370: mode 'selective', "
                "selective_ac_option 'op', seq_len 8192), launched by run_llama_train.sh with "
                "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True, H100 96 GB. 'Memory(GiB)' is the "
                "max_reserved_gib of torchtitan's metrics log (torch.cuda.memory_stats 'reserved_bytes.all.peak', "
                "reset every log_freq = 10 steps), read at step 90")
TITAN_CASES: list[tuple[str, str, int | None, dict[str, Any], dict[str, Any]]] = [
    ("torchtitan/llama-3.1-8b-fsdp8-b2-s8192-sac-op", "llama-3.1-8b", None,
     dict(shard=8, batch=2, seq=8192, ac="op", expandable=True),
     dict(memory_gib=82.4, metric="max_reserved", table="Table 1, row FSDP", source=TITAN_SOURCE)),
    ("torchtitan/llama-3.1-8b-fsdp128-b2-s8192-sac-op", "llama-3.1-8b", None,
     dict(shard=128, batch=2, seq=8192, ac="op", expandable=True),
     dict(memory_gib=67.0, metric="max_reserved", table="Table 3, row FSDP", source=TITAN_SOURCE)),
]


# torchtitan's recipe (op-level SAC, FSDP2) on cut catalog models: what --checkpointing selective-op keeps, across
# attention shapes, biased projections (addmm, which the policy does not save) and tied embeddings
SAC_DEV: list[tuple[str, str, int | None, dict[str, Any], dict[str, Any]]] = [
    ("sac-op/qwen2.5-7b-l4-fsdp8-b2-s4096", "qwen2.5-7b", 4, dict(shard=8, batch=2, seq=4096, ac="op"), {}),
    ("sac-op/llama-3.2-1b-l4-fsdp2-b4-s2048", "llama-3.2-1b", 4, dict(shard=2, batch=4, seq=2048, ac="op"), {}),
]
SAC_HELDOUT: list[tuple[str, str, int | None, dict[str, Any], dict[str, Any]]] = [
    ("sac-op/mistral-7b-v0.3-l4-fsdp16-b1-s8192", "mistral-7b-v0.3", 4, dict(shard=16, batch=1, seq=8192, ac="op"),
     {}),
    ("sac-op/qwen3-1.7b-l6-fsdp4-b4-s2048", "qwen3-1.7b", 6, dict(shard=4, batch=4, seq=2048, ac="op"), {}),
    ("sac-op/phi-3.5-mini-instruct-l4-fsdp8-b2-s4096", "phi-3.5-mini-instruct", 4,
     dict(shard=8, batch=2, seq=4096, ac="op"), {}),
]


def titan_record(name: str, model: str, layers: int | None, p: dict[str, Any], published: dict[str, Any]) -> Any:
    t0 = time.time()
    cfg = sm.catalog_config(model, layers)
    sim = simulate_titan(cfg, p)
    base = sm.default_alloc_before_build("train")
    params = dict(batch=int(p["batch"]), seq=int(p["seq"]), opt="adamw-foreach", amp=True, dtype="bfloat16",
                  ckpt={"op": "selective-op", "full": True}.get(p["ac"], False), gpus=int(p["shard"]), zero=3)
    rec = dict(case=name, model=model if layers is None else f"{model}-l{layers}", kind="train", params=params,
               layout=p, alloc_before_build=base, config=cfg, n_params=sim["n_params"],
               phases=[{k: (v + base if k != "step" else v) for k, v in ph.items()} for ph in sim["phases"]],
               peak_alloc=base + int(sim["tracked_peak"]), peak_reserved=None, emulated_peak_reserved=base + int(
                   sim["tracked_peak_reserved"]), published=published, reserved_end=None,
               device_used_after_build=None, device_used_end=None, rank=0, world_size=int(p["shard"]),
               seconds=round(time.time() - t0, 2), simulated=True, simulator="tools/simulate_pipeline.py titan",
               simulator_version=PIPELINE_SIMULATOR_VERSION, set="published (development)")
    if not published:
        rec.pop("published")
        rec["set"] = "op-level SAC"
    return rec


def cmd_generate(args: argparse.Namespace) -> int:
    if args.set in ("sac-dev", "sac-heldout"):
        out = Path(args.out or DATA / f"{args.set.replace('sac', 'sac-op')}.jsonl")
        env = dict(env=dict(simulated=True, simulator_version=PIPELINE_SIMULATOR_VERSION, torch=torch.__version__,
                            transformers=sm._version("transformers"),
                            note="torchtitan's FSDP2 recipe with op-level SAC on cut catalog models, rank 0 on the "
                                 "fake process group (tools/simulate_pipeline.py); see docs/simulator.md"))
        rows = []
        for name, model, layers, p, pub in SAC_DEV if args.set == "sac-dev" else SAC_HELDOUT:
            rec = titan_record(name, model, layers, p, pub)
            print(f"{name:55s} {rec['peak_alloc']:15,d} {rec['seconds']:6.1f}s", flush=True)
            rows.append(rec)
        out.write_text("".join(json.dumps(r) + "\n" for r in [env, *rows]))
        return 0
    if args.set == "published":
        out = Path(args.out or DATA / "published.jsonl")
        env = dict(env=dict(simulated=True, simulator_version=PIPELINE_SIMULATOR_VERSION, torch=torch.__version__,
                            transformers=sm._version("transformers"),
                            note="published multi-GPU runs reproduced: peak_alloc is the simulated allocated peak "
                                 "of the published recipe (tools/simulate_pipeline.py titan); 'published' holds the "
                                 "published figure and its source; see docs/simulator.md"))
        rows = []
        for name, model, layers, p, pub in TITAN_CASES:
            rec = titan_record(name, model, layers, p, pub)
            print(f"{name:55s} {rec['peak_alloc']:15,d} {rec['seconds']:6.1f}s", flush=True)
            rows.append(rec)
        out.write_text("".join(json.dumps(r) + "\n" for r in [env, *rows]))
        return 0
    cases = {"development": PP_DEV, "tp-dev": PP_TP_DEV, "tp-heldout": PP_TP_HELDOUT}.get(args.set, PP_HELDOUT)
    out = Path(args.out or DATA / {"development": "pipeline-dev.jsonl", "tp-dev": "pipeline-tp-dev.jsonl",
                                   "tp-heldout": "pipeline-tp-heldout.jsonl"}.get(args.set, "pipeline-heldout.jsonl"))
    only = set(filter(None, args.only.split(",")))
    old = {}
    if out.exists():
        old = {r["case"]: r for r in map(json.loads, out.read_text().splitlines()[1:]) if "case" in r}
    env = dict(env=dict(simulated=True, simulator_version=PIPELINE_SIMULATOR_VERSION, torch=torch.__version__,
                        transformers=sm._version("transformers"),
                        note="one pipeline rank on PyTorch's fake process group: torch.distributed.pipelining "
                             "schedules on fake tensors, by tools/simulate_pipeline.py; see docs/simulator.md"))
    rows = []
    for name, model, layers, p in cases:
        if only and name not in only:
            if name in old:
                rows.append(old[name])
            continue
        try:
            rec = pp_record(name, model, layers, p, args.set)
        except Exception as e:  # report and go on
            print(f"{name:55s} failed: {e!r}"[:400], flush=True)
            continue
        if old.get(name, {}).get("moved_from_heldout"):  # set by hand when a case moved to development
            rec["moved_from_heldout"] = True
        print(f"{name:55s} {rec['peak_alloc']:15,d} {rec['seconds']:6.1f}s", flush=True)
        rows.append(rec)
    out.write_text("".join(json.dumps(r) + "\n" for r in [env, *rows]))
    print(f"{len(rows)} cases in {out}")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    """One development case (``PP_DEV`` or ``PP_TP_DEV``: held-out streams are not looked at) simulated again with its
    allocation stream, appended to ``args.out`` as ``{"case", "reserved_peak", "events"}`` (placement_sensitivity's
    input; a PP x TP case needs a process of its own, as ``generate`` runs them)."""
    case = next((c for c in PP_DEV + PP_TP_DEV if c[0] == args.case), None)
    if case is None:
        print(f"{args.case}: not a development case of this tool (PP_DEV, PP_TP_DEV)", file=sys.stderr)
        return 2
    name, model, layers, p = case
    sim = simulate_pp(sm.catalog_config(model, layers), p, trace=True)
    with Path(args.out).open("a") as f:
        f.write(json.dumps(dict(case=name, reserved_peak=int(sim["tracked_peak_reserved"]), events=sim["trace"]))
                + "\n")
    return 0


def cmd_plan(args: argparse.Namespace) -> int:
    """``memfit plan -q gpus`` with ``--pp``, then every pipeline rank of its answer simulated on the full model: the
    answer fits when each rank's emulated reserved peak + the CUDA context is within the GPU's usable memory. torch's
    Schedule1F1B refuses fewer micro-batches than stages; with one micro-batch it runs what GPipe runs (one forward,
    then its backward), so GPipe is simulated there."""
    import memfit

    kw = {"zero": args.zero} if args.zero is not None else {}
    ans = memfit.plan_gpus(args.model, args.gpu, mode="train", batch=args.batch, context=args.seq, pp=args.pp, **kw)
    lay, at = ans.extra["layout"], ans.at_value
    assert at is not None and lay["ep"] == 1 and lay["zero"] in (0, 2, 3) and not lay["sequence_parallel"], lay
    m, pp, tp = int(lay["grad_accum"]), int(lay["pp"]), int(lay["tp"])
    dp = int(lay["gpus"]) // (pp * tp) if lay["zero"] else 1
    schedule = "gpipe" if m < pp else "1f1b"
    base = sm.default_alloc_before_build("train")
    ranks = []
    for r in range(pp):
        p = dict(pp=pp, dp=dp, tp=tp, rank=r, schedule=schedule, microbatches=m, batch=int(lay["batch"]), seq=args.seq,
                 ckpt={"full": True, "selective-op": "op"}.get(lay["checkpointing"], False))
        t0 = time.time()
        # each rank in its own process: a second (pp, dp, tp) mesh in one process fails on the fake group
        run = subprocess.run([sys.executable, __file__, "one", args.model, json.dumps(p)], capture_output=True,
                             text=True, check=True)
        sim = json.loads(run.stdout.strip().splitlines()[-1])
        est = memfit.estimate(args.model, mode="train", gpus=int(lay["gpus"]), pp=pp, tp=tp, zero=int(lay["zero"]),
                              batch=int(lay["batch"]), context=args.seq, grad_accum=m, pp_rank=r,
                              checkpointing=lay["checkpointing"])
        ranks.append(dict(rank=r, simulated_peak_alloc=base + int(sim["tracked_peak"]),
                          simulated_peak_reserved=base + int(sim["tracked_peak_reserved"]),
                          memfit_allocated=int(est.allocated_bytes or 0), memfit_total=int(at.per_gpu_bytes[r]),
                          seconds=round(time.time() - t0, 1)))
        print(json.dumps(ranks[-1]), flush=True)
    context = at.estimate.component("cuda_context")  # the GPU's, as plan priced it
    rec = dict(model=args.model, gpu=args.gpu, batch=args.batch, seq=args.seq, pp=args.pp, zero=args.zero,
               answer=ans.explanation,
               workload={k: lay[k] for k in ("gpus", "tp", "pp", "zero", "checkpointing", "sequence_parallel", "batch",
                                             "grad_accum")},
               simulated_schedule=schedule, ranks=ranks, usable=int(at.capacity_bytes), cuda_context=int(context),
               fits=all(x["simulated_peak_reserved"] + context <= at.capacity_bytes for x in ranks),
               simulator="tools/simulate_pipeline.py plan", simulator_version=PIPELINE_SIMULATOR_VERSION)
    print(json.dumps(rec))
    if args.record:
        with open(args.record, "a") as f:
            f.write(json.dumps(rec) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("titan", help="torchtitan's FSDP2 recipe on a catalog model")
    t.add_argument("model")
    t.add_argument("--layers", type=int, default=None)
    t.add_argument("--shard", type=int, default=8)
    t.add_argument("--batch", type=int, default=2)
    t.add_argument("--seq", type=int, default=8192)
    t.add_argument("--ac", default="op", choices=("op", "full", "none"))
    q = sub.add_parser("pp", help="one rank of a pipeline (torch.distributed.pipelining) on a catalog model")
    q.add_argument("model")
    q.add_argument("--layers", type=int, default=None)
    q.add_argument("--pp", type=int, default=2)
    q.add_argument("--rank", type=int, default=0)
    q.add_argument("--schedule", default="1f1b", choices=tuple(SCHEDULES))
    q.add_argument("--v", type=int, default=2)
    q.add_argument("--microbatches", type=int, default=4)
    q.add_argument("--batch", type=int, default=1)
    q.add_argument("--seq", type=int, default=2048)
    q.add_argument("--bf16", action="store_true")
    g = sub.add_parser("generate", help="simulate the pipeline cases of a set and write them")
    g.add_argument("--set", choices=("development", "heldout", "published", "sac-dev", "sac-heldout", "tp-dev",
                                          "tp-heldout"),
                   default="development")
    g.add_argument("--out", default="")
    g.add_argument("--only", default="", help="comma-separated case names (the others are kept as recorded)")
    pl = sub.add_parser("plan", help="memfit plan -q gpus with --pp, every rank of its answer simulated")
    pl.add_argument("model")
    pl.add_argument("--gpu", required=True)
    pl.add_argument("--pp", type=int, required=True)
    pl.add_argument("--zero", type=int, default=None, help="fix the ZeRO stage (2/3: FSDP2 inside the stages)")
    pl.add_argument("--batch", type=int, default=1)
    pl.add_argument("--seq", type=int, default=4096)
    pl.add_argument("--record", default="", help="append the check to this JSON-lines file")
    tr = sub.add_parser("trace", help="append a development case's allocation stream to a JSON-lines file "
                        "(tools/placement_sensitivity.py reads it)")
    tr.add_argument("case")
    tr.add_argument("out")
    one = sub.add_parser("one", help="one pipeline rank of a full catalog model (JSON layout), printed as JSON")
    one.add_argument("model")
    one.add_argument("layout")
    a = ap.parse_args(argv)
    if a.cmd == "one":
        sim = simulate_pp(sm.catalog_config(a.model, None), json.loads(a.layout))
        print(json.dumps({k: sim[k] for k in ("tracked_peak", "tracked_peak_reserved", "reserved_by_stream")}))
        return 0
    if a.cmd == "plan":
        return cmd_plan(a)
    if a.cmd == "trace":
        return cmd_trace(a)
    if a.cmd == "generate":
        return cmd_generate(a)
    if a.cmd == "pp":
        t0 = time.time()
        p = dict(pp=a.pp, rank=a.rank, schedule=a.schedule, v=a.v, microbatches=a.microbatches, batch=a.batch,
                 seq=a.seq, amp=not a.bf16)
        rec = simulate_pp(sm.catalog_config(a.model, a.layers), p)
        base = sm.default_alloc_before_build("train")
        print(json.dumps(dict(p, model=a.model, layers=a.layers, peak_alloc=base + rec["tracked_peak"],
                              peak_reserved_emulated=base + rec["tracked_peak_reserved"],
                              n_params=rec["n_params"], phases=rec["phases"], seconds=round(time.time() - t0, 1))))
    if a.cmd == "titan":
        t0 = time.time()
        p = dict(shard=a.shard, batch=a.batch, seq=a.seq, ac=a.ac)
        rec = simulate_titan(sm.catalog_config(a.model, a.layers), p)
        base = sm.default_alloc_before_build("train")
        print(json.dumps(dict(p, model=a.model, layers=a.layers, peak_alloc=base + rec["tracked_peak"],
                              peak_reserved_emulated=base + rec["tracked_peak_reserved"],
                              n_params=rec["n_params"], phases=rec["phases"], seconds=round(time.time() - t0, 1))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
