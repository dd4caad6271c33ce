"""Rank 0's caching-allocator pool for PEFT LoRA under FSDP2 (``fsdp_lora.py``), replayed per CUDA stream as
``fsdp_pool`` replays full fine-tuning: one emulated allocator per stream (``fsdp_streams``), the layers' saved
tensors at the coarse grain (``_saved_coarse``). What differs from full fine-tuning:

* each group's all-gather (copy-in stream) and copy-out (default stream) carry the frozen base and the adapters
  together, in the compute dtype (``MixedPrecisionPolicy(param_dtype=bfloat16)``);
* only the adapters have gradients: autograd makes them in the compute dtype, ``foreach_reduce``'s reduce-scatter
  input (the reduce dtype, default stream) and output (reduce-scatter stream, the new sharded gradient, kept to
  ``zero_grad``) are the adapters' alone; the frozen lm_head and embedding make no weight gradient;
* the optimizer's states (AdamW: two per adapter shard, fp32) are made at the first step on the default stream.

Measured against ``tools/simulate_parallel.py`` (``lora=r``): the LoRA development cases of
tests/data/parallel/dev.jsonl (``*-lora16-*``), whose ``reserved_by_stream`` shows the all-gather stream's cache.
"""

from __future__ import annotations

from functools import lru_cache

from ..allocator_trace import CUBLAS_WORKSPACE, PoolFigures
from .fsdp_params import Param
from .fsdp_pool import ReplayInput, _all_gather, _forward_backward_ops, _gather, _loss, _saved_coarse, forward_layers
from .fsdp_streams import REDUCE, StreamTrace

__all__ = ["lora_pool_reserve"]


def _reduce(tr: StreamTrace, r: ReplayInput, adapters: tuple[Param, ...], grads: list[int], held: int,
            sharded: list[int] | None) -> int:
    """The adapters' post-backward: the previous reduce-scatter input dropped, this one made (reduce dtype), the
    gradients dropped but the last, the sharded output on the reduce-scatter stream, the last gradient dropped."""
    if not adapters:
        return held
    tr.free(held)
    rs_in = tr.alloc(sum(p.gathered for p in adapters) * r.reduce_bytes)
    tr.free(*grads[:-1])
    out = tr.on(REDUCE, sum(p.sharded for p in adapters) * r.reduce_bytes)
    if sharded is None:
        tr.free(out)
    else:
        sharded.append(out)
    tr.free(grads[-1])
    return rs_in


def _micro_batch(tr: StreamTrace, r: ReplayInput, adapters: tuple[tuple[Param, ...], ...],
                 sharded: list[int] | None) -> None:
    """One forward and backward: ``r.groups`` the gathered groups (base + adapters), ``adapters`` the trainable."""
    cb, n = r.compute_bytes, len(r.groups) - 1
    layers = r.groups[:n]
    hid = r.tokens * r.hidden * cb
    prev, root_params = _gather(tr, r, r.groups[n])
    prev, params, kept = forward_layers(tr, r, layers, prev)
    low, nxt = _loss(tr, r, prev, prefetch=layers[-1] if r.reshard and n else ())
    tr.free(low)  # the frozen lm_head: only its input's gradient (the layers' backward extra)
    held = 0
    for i in range(n - 1, -1, -1):
        la = r.acts.layers[i]
        if r.reshard:
            params[i] = [tr.alloc(p.gathered * cb) for p in layers[i]]
            tr.free(nxt)
            nxt = _all_gather(tr, r, layers[i - 1] if i else ())
        if r.full_ckpt:
            kept[i] += _saved_coarse(tr, la, r.tokens * r.inner * cb, hid)
        extra = tr.alloc(la.backward_extra)
        g = [tr.alloc(p.local * cb) for p in adapters[i]]
        tr.free(extra, *kept[i])
        tr.free(*params[i])
        held = _reduce(tr, r, adapters[i], g, held, sharded)
    tr.free(*root_params)
    g = [tr.alloc(p.local * cb) for p in adapters[n]]
    held = _reduce(tr, r, adapters[n], g, held, sharded)
    tr.free(held)  # the final callback clears reduce_scatter_states


@lru_cache(maxsize=64)
def lora_pool(r: ReplayInput, base: tuple[tuple[Param, ...], ...], adapters: tuple[tuple[Param, ...], ...],
              base_bytes: int, adapter_bytes: int) -> PoolFigures:
    """Two training steps of rank 0 (peaks from the end of the build, as the simulator's second step)."""
    tr = StreamTrace(r.expandable)
    tr.alloc(CUBLAS_WORKSPACE)
    tr.alloc(CUBLAS_WORKSPACE)
    for bg, ag in zip(base, adapters, strict=True):
        for p in bg:
            tr.alloc(p.sharded * base_bytes)
        for p in ag:
            tr.alloc(p.sharded * adapter_bytes)
    tr.built()
    order = [p for g in adapters for p in g]
    states: list[int] = []
    for step in range(2):
        grads: list[int] = []
        for k in range(r.grad_accum):
            if r.spec is not None:  # op by op (fsdp_pool): the sharded gradients made once, added into after
                grads = _forward_backward_ops(tr, r, grads)
            else:
                _micro_batch(tr, r, adapters, grads if k == 0 else None)
        if step == 0 and r.state_bytes_per_param:  # AdamW: exp_avg, exp_avg_sq per adapter shard
            states = [tr.alloc(int(p.sharded * r.state_bytes_per_param / 2)) for p in order for _ in range(2)]
        if r.step_bytes_per_param:  # foreach AdamW's exp_avg_sq_sqrt list, freed after the update
            tr.free(*[tr.alloc(int(p.sharded * r.step_bytes_per_param)) for p in order])
        tr.free(*grads)
    del states
    return tr.figures()


def lora_pool_reserve(r: ReplayInput, base: tuple[tuple[Param, ...], ...], adapters: tuple[tuple[Param, ...], ...],
                      base_bytes: int, adapter_bytes: int, allocated: int) -> int:
    """What the rank's device total adds to the allocated peak: the replay's reserve beyond its own allocated peak,
    or beyond memfit's allocated peak when the replay's reserved peak is higher (``fsdp_pool.pool_reserve``)."""
    pool = lora_pool(r, base, adapters, base_bytes, adapter_bytes)
    return max(0 if r.spec is not None else pool.reserve, pool.peak_reserved - allocated)
