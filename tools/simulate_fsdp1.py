"""Simulate rank 0 of a LoRA training step under FSDP1 (``FullyShardedDataParallel``), without GPUs.

Developer tool, not part of the memfit package; a sibling of tools/simulate_parallel.py (FSDP2 / DTensor), whose
rank tracker, per-stream allocator emulation and storage-resize hook it reuses. One process plays rank 0 of N on
PyTorch's fake process group and wraps the model as accelerate and the transformers Trainer do for PEFT LoRA
(``Trainer._fsdp_qlora_plugin_updates``: peft's ``fsdp_auto_wrap_policy``, i.e. every leaf module with a trainable
weight its own unit, each decoder layer another, the root last), FULL_SHARD (SHARD_GRAD_OP stops on fake tensors
in ``_writeback_orig_params``), ``BackwardPrefetch.BACKWARD_PRE``, ``limit_all_gathers=True``,
``use_orig_params=True`` (what ``accelerate launch`` sets when the config file leaves it out), no MixedPrecision
(accelerate's ``mixed_precision: 'no'``), transformers' reentrant gradient checkpointing with
``enable_input_require_grads``, foreach AdamW on the adapters. The CUDA caching allocator's ``record_stream``
semantics, which FSDP1 relies on and the CPU device skips, are emulated (``RecordStreamPools``). See
docs/simulator.md, "FSDP1".

Usage:
  python tools/simulate_fsdp1.py generate --set development   # -> tests/data/parallel/fsdp1-dev.jsonl
  python tools/simulate_fsdp1.py generate --set heldout       # the list tests/data/parallel/fsdp1-heldout-list.jsonl
  python tools/simulate_fsdp1.py trace DEV_CASE FILE          # a development case's allocation stream, appended to FILE
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import json
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
import simulate_memory as sm
import simulate_parallel as spp

from memfit.options import DEFAULT_LORA_TARGETS  # simulate_memory puts src on the path

DATA = spp.DATA
# 3: record_stream emulated (RecordStreamPools: deferred frees released when the CPU knows the stream passed them)
FSDP1_SIMULATOR_VERSION = "3"
HELDOUT_LIST = DATA / "fsdp1-heldout-list.jsonl"
ATTN = ["q_proj", "k_proj", "v_proj", "o_proj"]

# Development cases: (name, catalog model, layers kept, layout + workload); batch is per rank.
DEV_CASES: list[tuple[str, str, int, dict[str, Any]]] = [
    spp._c("mistral-7b-v0.3-l4/fsdp1-2-lora16attn-ckpt-b2-s4096", "mistral-7b-v0.3", 4, shard=2, lora=16,
           targets=ATTN, dropout=0.1, ckpt=True, batch=2, seq=4096),
    spp._c("mistral-7b-v0.3-l8/fsdp1-2-lora16attn-ckpt-b1-s4096", "mistral-7b-v0.3", 8, shard=2, lora=16,
           targets=ATTN, dropout=0.1, ckpt=True, batch=1, seq=4096),
    spp._c("llama-3.2-1b-l4/fsdp1-4-lora16-b2-s2048", "llama-3.2-1b", 4, shard=4, lora=16, batch=2, seq=2048),
    spp._c("mixtral-8x7b-v0.1-l2/fsdp1-2-lora16attn-ckpt-b2-s1024", "mixtral-8x7b-v0.1", 2, shard=2, lora=16,
           targets=ATTN, dropout=0.1, ckpt=True, batch=2, seq=1024),
    spp._c("qwen2.5-7b-l4/fsdp1-8-lora16-ckpt-b2-s2048", "qwen2.5-7b", 4, shard=8, lora=16, ckpt=True, batch=2,
           seq=2048),
    # transformers 4.48's layout (the published fms rows): its loss, and the checkpoint around each layer's unit
    spp._c("mistral-7b-v0.3-l8/fsdp1-2-lora16attn-ckpt-b2-s4096-tf4.48.1", "mistral-7b-v0.3", 8, shard=2, lora=16,
           targets=ATTN, dropout=0.1, ckpt=True, batch=2, seq=4096, transformers="4.48.1"),
    spp._c("qwen2.5-7b-l6/fsdp1-8-lora16-ckpt-b2-s2048-tf4.48.1", "qwen2.5-7b", 6, shard=8, lora=16, ckpt=True,
           batch=2, seq=2048, transformers="4.48.1"),
    spp._c("mistral-7b-v0.3-l32/fsdp1-2-lora16attn-ckpt-b2-s4096-tf4.48.1", "mistral-7b-v0.3", 32, shard=2, lora=16,
           targets=ATTN, dropout=0.1, ckpt=True, batch=2, seq=4096, transformers="4.48.1"),
    # moved from the held-out list after scoring once (+9.71 %, +25.49 %)
    spp._c("llama-3.1-8b-l6/fsdp1-2-lora16-ckpt-b1-s4096-tf4.48.1", "llama-3.1-8b", 6, shard=2, lora=16, ckpt=True,
           batch=1, seq=4096, transformers="4.48.1"),
    spp._c("phi-3.5-moe-instruct-l3/fsdp1-2-lora16attn-ckpt-b1-s2048-tf4.48.1", "phi-3.5-moe-instruct", 3, shard=2,
           lora=16, targets=ATTN, dropout=0.1, ckpt=True, batch=1, seq=2048, transformers="4.48.1"),
    # Phi-3.5-MoE (LayerNorm, 16 experts) in transformers 5's layout, which no development case ran (l16fsdp1moe)
    spp._c("phi-3.5-moe-instruct-l2/fsdp1-2-lora16attn-ckpt-b1-s4096", "phi-3.5-moe-instruct", 2, shard=2, lora=16,
           targets=ATTN, dropout=0.1, ckpt=True, batch=1, seq=4096),
    # moved from the held-out list (l16phimv): its held-out figure (-2.60 %) prompted l16fsdp1moe's look, so it is seen
    spp._c("phi-3.5-moe-instruct-l2/fsdp1-2-lora16attn-ckpt-b2-s2048", "phi-3.5-moe-instruct", 2, shard=2, lora=16,
           targets=ATTN, ckpt=True, batch=2, seq=2048),
]
# development cases that were held out (their records say ``moved_from_heldout``; the list names their replacements)
MOVED_FROM_HELDOUT = {"phi-3.5-moe-instruct-l2/fsdp1-2-lora16attn-ckpt-b2-s2048"}


# Operators whose CUDA kernels copy a device result to the host and wait for the current stream
# (``cudaStreamSynchronize``): nonzero's output size, ``.item()``, masked_select and unique through nonzero.
HOST_SYNC_OPS = {torch.ops.aten.nonzero.default, torch.ops.aten._local_scalar_dense.default,
                 torch.ops.aten.masked_select.default, torch.ops.aten._unique2.default,
                 torch.ops.aten.unique_consecutive.default, torch.ops.aten.unique_dim.default}


def _sid(stream: Any) -> int:
    """The stream's id in ``spp.StreamPools`` (0: the default stream)."""
    return 0 if stream is None or stream is torch.cpu._default_cpu_stream else id(stream)


class RecordStreamPools(spp.StreamPools):
    """``spp.StreamPools`` with the CUDA caching allocator's ``record_stream`` semantics, which the fake CPU device
    skips (``_common_utils._no_dispatch_record_stream`` returns early for a cpu tensor).

    c10/cuda/CUDACachingAllocator.cpp: ``recordStream`` adds a stream other than the block's own to
    ``block->stream_uses``; ``free`` of such a block drops it from the allocated bytes but calls ``insert_events``
    (one cudaEvent recorded on each used stream) instead of ``free_block``; the block returns to its stream's free
    list only in ``process_events`` (run at the start of every ``malloc``) once all its events have completed. On a
    GPU the CPU runs ahead of the streams, so it learns that an event completed only when it waits for it. Each CPU
    action gets a tick; a deferred free is released once the CPU knows its recorded stream has run past the free's
    tick: ``Event.synchronize`` on an event recorded on that stream later (FSDP1's ``limit_all_gathers``:
    ``_runtime_utils._unshard`` synchronizes the oldest of the ``_FreeEventQueue``'s events, each recorded on the
    default stream right after a ``_reshard``), ``torch.cpu.synchronize``, or an operator that waits for the current
    stream (``HOST_SYNC_OPS``); ``a.wait_stream(b)`` makes ``b``'s work up to then a prerequisite of ``a``'s. The
    emulation assumes the GPU never finishes earlier than the CPU can know: the upper bound a busy GPU reaches."""

    def __init__(self, expandable: bool = False) -> None:
        super().__init__(expandable)
        self.tick = 0
        self.uses: dict[object, set[int]] = {}  # storage key -> streams recorded (record_stream)
        self.deferred: dict[object, tuple[int, list[tuple[int, int]]]] = {}  # -> (own stream, [(stream, tick)])
        self.done: dict[int, int] = {}  # stream -> the tick up to which the CPU knows it completed
        self.deps: dict[int, list[tuple[int, int]]] = {}  # stream a -> [(tick, stream b)]: a.wait_stream(b)
        self.n_deferred = 0

    def record_stream(self, key: object, stream: Any) -> None:
        sid = _sid(stream)
        if key in self.owner and self.owner[key] != sid:  # uses on the allocation stream are ignored
            self.uses.setdefault(key, set()).add(sid)

    def free(self, key: object) -> None:
        streams = self.uses.pop(key, None)
        sid = self.owner.get(key)
        if not streams or sid is None:
            return super().free(key)
        self.tick += 1
        self.owner.pop(key)
        inner = self.pools[sid]
        block = inner.live.pop(key)
        self.n_deferred += 1
        alias = ("deferred", self.n_deferred)
        inner.live[alias] = block  # still holding its bytes in the segment, not reusable
        inner.allocated -= block.size
        block_bytes = block.size
        self.deferred[alias] = (sid, [(s, self.tick) for s in streams])
        self._settle()
        self._record("free", key, sid, block_bytes, deferred=1)

    def _process_events(self) -> None:
        for alias, (sid, waits) in list(self.deferred.items()):
            if all(self.done.get(s, 0) >= t for s, t in waits):
                del self.deferred[alias]
                inner = self.pools[sid]
                inner.allocated += inner.live[alias].size
                inner.free(alias)
        self._settle()

    def malloc(self, key: object, nbytes: int) -> int:
        if self.deferred:
            self._process_events()
        return super().malloc(key, nbytes)

    def now(self) -> int:
        self.tick += 1
        return self.tick

    def completed(self, sid: int, tick: int) -> None:
        """The CPU knows stream ``sid`` ran past ``tick``, and every stream it waited for up to then."""
        if self.done.get(sid, 0) >= tick:
            return
        self.done[sid] = tick
        for t, other in self.deps.get(sid, []):
            if t <= tick:
                self.completed(other, t)

    def wait_stream(self, a: Any, b: Any) -> None:
        self.deps.setdefault(_sid(a), []).append((self.now(), _sid(b)))


@contextlib.contextmanager
def record_streams(tracker: Any) -> Iterator[None]:
    """FSDP1's record_stream calls, the CPU streams' events and waits, reported to ``RecordStreamPools``."""
    from torch.distributed.fsdp import _flat_param, _runtime_utils

    pool: RecordStreamPools = tracker.pool

    def record(tensor: torch.Tensor, stream: Any) -> None:
        pool.record_stream(tensor.untyped_storage()._cdata, stream)

    def ev_record(self: Any, stream: Any = None) -> None:
        self._memfit_at = (_sid(stream if stream is not None else torch.cpu.current_stream()), pool.now())

    def ev_sync(self: Any) -> None:
        if hasattr(self, "_memfit_at"):
            pool.completed(*self._memfit_at)

    def wait_stream(self: Any, stream: Any) -> None:
        pool.wait_stream(self, stream)

    def synchronize(device: Any = None) -> None:
        t = pool.now()
        for sid in list(pool.pools):
            pool.completed(sid, t)

    saved = [(_flat_param, "_no_dispatch_record_stream", record),
             (_runtime_utils, "_no_dispatch_record_stream", record),
             (torch.cpu.Event, "record", ev_record), (torch.cpu.Event, "synchronize", ev_sync),
             (torch.cpu.Stream, "wait_stream", wait_stream), (torch.cpu, "synchronize", synchronize)]
    old = [(obj, name, getattr(obj, name)) for obj, name, _ in saved]
    for obj, name, fn in saved:
        setattr(obj, name, fn)
    try:
        yield
    finally:
        for obj, name, fn in old:
            setattr(obj, name, fn)


class Fsdp1Tracker(spp.RankTracker):
    """``spp.RankTracker`` whose pool honours ``record_stream`` and whose host-synchronizing operators complete the
    current stream."""

    def __init__(self, fake: Any) -> None:
        super().__init__(fake)
        self.pool = RecordStreamPools()  # type: ignore[assignment]

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple[Any, ...] = (), kwargs: Any = None) -> Any:
        if func in HOST_SYNC_OPS:
            self.pool.completed(_sid(torch.cpu.current_stream()), self.pool.now())
        return super().__torch_dispatch__(func, types, args, kwargs)


def case_list(which: str) -> list[tuple[str, str, int, dict[str, Any]]]:
    if which == "development":
        return DEV_CASES
    rows = [json.loads(line) for line in HELDOUT_LIST.read_text().splitlines() if line.strip()]
    return [(r["case"], r["model"], r["layers"], r["params"]) for r in rows]


def loss_4_48(logits: torch.Tensor, labels: torch.Tensor, vocab_size: int, num_items_in_batch: Any = None,
              ignore_index: int = -100, **kwargs: Any) -> torch.Tensor:
    """transformers 4.46 - 4.48's ``loss/loss_utils.py`` ``ForCausalLMLoss``: fp32 upcast, then the shifted logits
    copied (``logits[..., :-1, :].contiguous()``), cross-entropy (``fixed_cross_entropy``); memfit's loss_release.py."""
    logits = logits.float()
    shift_logits = logits[..., :-1, :].contiguous().view(-1, vocab_size)
    shift_labels = labels[..., 1:].contiguous().view(-1).to(shift_logits.device)
    reduction = "sum" if num_items_in_batch is not None else "mean"
    loss = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=ignore_index,
                                             reduction=reduction)
    return loss / num_items_in_batch if reduction == "sum" else loss


def _checkpoint_around_units(layers: Any) -> None:
    """transformers before ``GradientCheckpointingLayer`` (PR #37223, 4.52; PR #38913 the other families, 4.53): the
    model's layer loop calls ``self._gradient_checkpointing_func(decoder_layer.__call__, hidden_states, ...)`` on the
    module in ``self.layers``, which under FSDP1's auto-wrap is the layer's FSDP unit, so torch's reentrant checkpoint
    runs around the unit (its hooks run again in the recompute, on the checkpoint's detached input); transformers 5
    checkpoints inside the unit (``GradientCheckpointingLayer.__call__``)."""
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.utils.checkpoint import checkpoint

    class CheckpointedUnit(FSDP):  # type: ignore[misc]
        def __call__(self, hidden_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
            return checkpoint(lambda h: FSDP.__call__(self, h, *args, **kwargs), hidden_states, use_reentrant=True)

    for unit in layers:
        assert isinstance(unit, FSDP)
        unit.__class__ = CheckpointedUnit


def _wrap(model: Any, p: dict[str, Any]) -> Any:
    """PEFT LoRA, then FullyShardedDataParallel with PEFT's auto-wrap policy (accelerate's FSDP1 settings).
    ``transformers: "4.48.1"``: that release's loss and its checkpoint around each layer's unit."""
    from peft import LoraConfig, get_peft_model
    from torch.distributed.fsdp import BackwardPrefetch, ShardingStrategy
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp.wrap import _or_policy, lambda_auto_wrap_policy, transformer_auto_wrap_policy

    old = p.get("transformers") == "4.48.1"
    if old:
        model.loss_function = loss_4_48
        model.config.use_cache = False
    if p.get("ckpt") and not old:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": True})
    layer_cls = type(model.model.layers[0])
    targets = list(p.get("targets", DEFAULT_LORA_TARGETS))
    r = int(p["lora"])
    model = get_peft_model(model, LoraConfig(r=r, lora_alpha=2 * r, target_modules=targets,
                                             lora_dropout=float(p.get("dropout", 0.0))))
    if p.get("ckpt"):
        model.enable_input_require_grads()

    def trainable_leaf(m: Any) -> bool:  # peft.utils.other.fsdp_auto_wrap_policy's lambda_policy_fn
        return (len(list(m.named_children())) == 0 and getattr(m, "weight", None) is not None
                and bool(m.weight.requires_grad))

    policy = functools.partial(_or_policy, policies=[
        functools.partial(lambda_auto_wrap_policy, lambda_fn=trainable_leaf),
        functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={layer_cls})])
    strategy = ShardingStrategy.FULL_SHARD if p.get("reshard", True) else ShardingStrategy.SHARD_GRAD_OP
    wrapped = FSDP(model, auto_wrap_policy=policy, sharding_strategy=strategy,
                   backward_prefetch=BackwardPrefetch.BACKWARD_PRE, limit_all_gathers=True, use_orig_params=True,
                   device_id=torch.device("cpu"))
    if old and p.get("ckpt"):
        _checkpoint_around_units(model.base_model.model.model.layers)
    return wrapped


def simulate_rank0(cfg_dict: dict[str, Any], p: dict[str, Any], trace: bool = False) -> dict[str, Any]:
    """Two training steps on rank 0; tracked bytes (workspaces excluded) per phase of each step. ``trace``: the
    record's ``trace`` holds the emulated allocator's stream (every malloc and free per CUDA stream, with its
    operator; deferred frees marked), as ``simulate_parallel.py run --trace`` writes it."""
    from torch.testing._internal.distributed.fake_pg import FakeStore
    from transformers import AutoModelForCausalLM

    if dist.is_initialized():
        dist.destroy_process_group()
    dist.init_process_group("fake", rank=0, world_size=int(p["shard"]), store=FakeStore())
    try:
        fake = sm.FakeTensorMode(allow_non_fake_inputs=True)
        tracker = Fsdp1Tracker(fake)
        if trace:
            tracker.pool.events = []
        sm._hold_before_build(tracker, "train", sm.default_alloc_before_build("train"))
        h100 = sm.H100Mode()
        gc.collect()
        with fake, h100, tracker, h100.patch_torch_autocast(), sm._swappable(fake, tracker), sm._not_tracing(), \
                sm._reports_cuda(), \
                spp.tracked_resize(tracker), record_streams(tracker):
            tracker.pool.paused = True
            model = AutoModelForCausalLM.from_config(sm.config_from_dict(cfg_dict), dtype=torch.bfloat16,
                                                     attn_implementation=p.get("attn", "sdpa"))
            model.train()
            model = _wrap(model, p)
            gc.collect()
            tracker.pool.materialise(tracker.blocks)
            rec: dict[str, Any] = {"tracked_after_shard": tracker.live}
            opt = torch.optim.AdamW([q for q in model.parameters() if q.requires_grad], lr=1e-5, foreach=True)
            ids = torch.randint(100, 1000, (int(p["batch"]), int(p["seq"])))
            phases, peak = [], 0
            for step in range(2):
                tracker.reset_peak()
                tracker.pool.mark(f"forward {step}")
                loss = model(input_ids=ids, labels=ids).loss
                after_fwd, peak_fwd = tracker.live, tracker.peak
                tracker.pool.mark(f"backward {step}")
                loss.backward()
                tracker.flush()
                del loss
                after_bwd, peak_bwd = tracker.live, tracker.peak
                tracker.pool.mark(f"optimizer {step}")
                opt.step()
                opt.zero_grad(set_to_none=True)
                phases.append(dict(step=step, after_fwd=after_fwd, peak_fwd=peak_fwd, after_bwd=after_bwd,
                                   peak_bwd=peak_bwd, after_step=tracker.live, peak_step=tracker.peak))
                peak = max(peak, tracker.peak)
            tracker.flush()
            if trace:
                rec["trace"] = tracker.pool.events
            rec.update(tracked_peak=peak, phases=phases, peak_reserved=tracker.pool.peak_reserved,
                       reserved_by_stream=tracker.pool.by_stream(),
                       n_params=sum(q.numel() for q in model.parameters()))
            del model, opt, ids
            gc.collect()
        return rec
    finally:
        dist.destroy_process_group()


def memfit_params(p: dict[str, Any]) -> dict[str, Any]:
    """The case's ``params`` for ``memfit validate`` (tests/data/parallel/README.md): FSDP1 LoRA of the bf16 model."""
    out: dict[str, Any] = dict(batch=int(p["batch"]), seq=int(p["seq"]), r=int(p["lora"]), opt="adamw-foreach",
                               amp=False, dtype="bfloat16", ckpt=bool(p.get("ckpt", False)), gpus=int(p["shard"]),
                               zero=3 if p.get("reshard", True) else 2, fsdp=1)
    if p.get("targets"):
        out["targets"] = list(p["targets"])
    if p.get("transformers"):
        out["transformers"] = str(p["transformers"])
        out["experts"] = "grouped"  # the installed transformers 5 runs the experts (4.x: the loss, the checkpoint)
    if p.get("dropout"):
        out["lora_dropout"] = float(p["dropout"])
    return out


def simulated_record(name: str, model: str, layers: int, p: dict[str, Any], which: str) -> dict[str, Any]:
    t0 = time.time()
    cfg = sm.catalog_config(model, layers)
    sim = simulate_rank0(cfg, p)
    base = sm.default_alloc_before_build("train")  # the forward and autograd threads' cuBLAS workspaces
    rec: dict[str, Any] = dict(case=name, model=f"{model}-l{layers}", kind="lora", params=memfit_params(p),
                               layout=dict(p, fsdp=1), alloc_before_build=base, config=cfg, n_params=sim["n_params"],
                               alloc_after_shard=base + sim["tracked_after_shard"],
                               phases=[{k: (v + base if k != "step" else v) for k, v in ph.items()}
                                       for ph in sim["phases"]],
                               peak_alloc=base + int(sim["tracked_peak"]))
    rec.update(peak_reserved=int(sim["peak_reserved"]), reserved_source="emulated",
               reserved_by_stream=sim["reserved_by_stream"], reserved_end=None, device_used_after_build=None,
               device_used_end=None)
    rec.update(rank=0, world_size=int(p["shard"]), seconds=round(time.time() - t0, 2), simulated=True,
               simulator="tools/simulate_fsdp1.py", simulator_version=FSDP1_SIMULATOR_VERSION, set=which)
    if name in MOVED_FROM_HELDOUT and which == "development":
        rec["moved_from_heldout"] = True
    return rec


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="simulate the cases of a set and write them")
    g.add_argument("--set", choices=("development", "heldout"), default="development")
    g.add_argument("--only", default="")
    t = sub.add_parser("trace", help="simulate one development case and append its allocation stream to FILE")
    t.add_argument("case", choices=[c[0] for c in DEV_CASES])
    t.add_argument("file")
    a = ap.parse_args(argv)
    if a.cmd == "trace":  # development cases only: a held-out case's trace is not looked at (the held-out rule)
        name, model, layers, p = next(c for c in DEV_CASES if c[0] == a.case)
        sim = simulate_rank0(sm.catalog_config(model, layers), p, trace=True)
        with Path(a.file).open("a") as f:
            f.write(json.dumps(dict(case=name, events=sim.pop("trace"))) + "\n")
        print(json.dumps({k: v for k, v in sim.items() if k != "phases"}))
        return 0
    out = DATA / ("fsdp1-dev.jsonl" if a.set == "development" else "fsdp1-heldout.jsonl")
    only = set(filter(None, a.only.split(",")))
    env = dict(env=dict(simulated=True, simulator_version=FSDP1_SIMULATOR_VERSION, torch=torch.__version__,
                        transformers=sm._version("transformers"), rank=0,
                        note="rank 0 of N on PyTorch's fake process group, FSDP1 (FullyShardedDataParallel) LoRA on "
                             "fake tensors, by tools/simulate_fsdp1.py; see docs/simulator.md"))
    with out.open("w") as f:
        f.write(json.dumps(env) + "\n")
        for name, model, layers, p in case_list(a.set):
            if only and name not in only:
                continue
            rec = simulated_record(name, model, layers, p, a.set)
            f.write(json.dumps(rec) + "\n")
            f.flush()
            print(f"{name:60s} {rec['peak_alloc']:15,d} {rec['seconds']:6.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
