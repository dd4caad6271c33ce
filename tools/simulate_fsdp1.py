"""Simulate rank 0 of a LoRA training step under FSDP1 (``FullyShardedDataParallel``), without GPUs.

Developer tool, not part of the memfit package; a sibling of tools/simulate_parallel.py (FSDP2 / DTensor), whose
rank tracker, per-stream allocator emulation and storage-resize hook it reuses. One process plays rank 0 of N on
PyTorch's fake process group and wraps the model as accelerate and the transformers Trainer do for PEFT LoRA
(``Trainer._fsdp_qlora_plugin_updates``: peft's ``fsdp_auto_wrap_policy``, i.e. every leaf module with a trainable
weight its own unit, each decoder layer another, the root last), FULL_SHARD (SHARD_GRAD_OP stops on fake tensors
in ``_writeback_orig_params``), ``BackwardPrefetch.BACKWARD_PRE``, ``limit_all_gathers=True``,
``use_orig_params=True`` (what ``accelerate launch`` sets when the config file leaves it out), no MixedPrecision
(accelerate's ``mixed_precision: 'no'``), transformers' reentrant gradient checkpointing with
``enable_input_require_grads``, foreach AdamW on the adapters. See docs/simulator.md, "FSDP1".

Usage:
  python tools/simulate_fsdp1.py generate --set development   # -> tests/data/parallel/fsdp1-dev.jsonl
  python tools/simulate_fsdp1.py generate --set heldout       # the list tests/data/parallel/fsdp1-heldout-list.jsonl
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

sys.path.insert(0, str(Path(__file__).resolve().parent))
import simulate_memory as sm
import simulate_parallel as spp

from memfit.options import DEFAULT_LORA_TARGETS  # simulate_memory puts src on the path

DATA = spp.DATA
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
]


def case_list(which: str) -> list[tuple[str, str, int, dict[str, Any]]]:
    if which == "development":
        return DEV_CASES
    rows = [json.loads(line) for line in HELDOUT_LIST.read_text().splitlines() if line.strip()]
    return [(r["case"], r["model"], r["layers"], r["params"]) for r in rows]


def _wrap(model: Any, p: dict[str, Any]) -> Any:
    """PEFT LoRA, then FullyShardedDataParallel with PEFT's auto-wrap policy (accelerate's FSDP1 settings)."""
    from peft import LoraConfig, get_peft_model
    from torch.distributed.fsdp import BackwardPrefetch, ShardingStrategy
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp.wrap import _or_policy, lambda_auto_wrap_policy, transformer_auto_wrap_policy

    if p.get("ckpt"):
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
    return FSDP(model, auto_wrap_policy=policy, sharding_strategy=strategy,
                backward_prefetch=BackwardPrefetch.BACKWARD_PRE, limit_all_gathers=True, use_orig_params=True,
                device_id=torch.device("cpu"))


def simulate_rank0(cfg_dict: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    """Two training steps on rank 0; tracked bytes (workspaces excluded) per phase of each step."""
    from torch.testing._internal.distributed.fake_pg import FakeStore
    from transformers import AutoModelForCausalLM

    if dist.is_initialized():
        dist.destroy_process_group()
    dist.init_process_group("fake", rank=0, world_size=int(p["shard"]), store=FakeStore())
    try:
        fake = sm.FakeTensorMode(allow_non_fake_inputs=True)
        tracker = spp.RankTracker(fake)
        sm._hold_before_build(tracker, "train", sm.default_alloc_before_build("train"))
        h100 = sm.H100Mode()
        gc.collect()
        with fake, h100, tracker, h100.patch_torch_autocast(), sm._swappable(fake, tracker), sm._not_tracing(), \
                spp.tracked_resize(tracker):
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
               simulator="tools/simulate_fsdp1.py", simulator_version=spp.PARALLEL_SIMULATOR_VERSION, set=which)
    return rec


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate", help="simulate the cases of a set and write them")
    g.add_argument("--set", choices=("development", "heldout"), default="development")
    g.add_argument("--only", default="")
    a = ap.parse_args(argv)
    out = DATA / ("fsdp1-dev.jsonl" if a.set == "development" else "fsdp1-heldout.jsonl")
    only = set(filter(None, a.only.split(",")))
    env = dict(env=dict(simulated=True, simulator_version=spp.PARALLEL_SIMULATOR_VERSION, torch=torch.__version__,
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
