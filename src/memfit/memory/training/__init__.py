"""Training memory: full fine-tuning, mixed precision, optimizers, checkpointing, LoRA and QLoRA.

``estimate_training(spec, wl)`` predicts ``torch.cuda.max_memory_allocated()`` over training steps
(``Estimate.allocated_bytes``) by walking one step the way PyTorch runs it, and reports the
components at the peak plus what ``nvidia-smi`` adds (CUDA context, allocator reserve):

1. model states: weights (fp32 under mixed precision, the model dtype otherwise; QLoRA: NF4 base
   and the fp32 copies ``prepare_model_for_kbit_training`` makes of every other parameter), LoRA
   adapters (fp32), gradients (the trainable parameters' dtype), optimizer states (made lazily at
   the first ``step()``, so the second step runs forward and backward with them);
2. forward: each layer's saved activations (``memory.activations``) accumulate; at the end the
   logits, their fp32 copy and log_softmax's fp32 output coexist (bf16 weight casts of autocast
   stay cached until autocast exits);
3. backward: the cross-entropy backward first makes two fp32 ``b·s·V`` tensors; then layer by
   layer activations are freed while gradients appear (with checkpointing each layer is
   recomputed first); a tied embedding's backward makes a dense ``V·h`` gradient at the end;
4. optimizer step: gradients + states + the step's temporaries (foreach AdamW: one
   parameter-sized ``sqrt`` buffer); ``zero_grad(set_to_none=True)`` then frees the gradients.

The peak is the largest of these moments. Across several GPUs ``parallel`` divides the
model states and activations per rank (ZeRO, FSDP, tensor/pipeline/sequence/expert parallelism)
and the estimate reports the most-loaded GPU.

Modules: ``states`` (model states of one replica), ``step`` (the single-GPU step and its peak),
``parallel`` (what each rank holds), ``reference`` (DeepSpeed's and Megatron-LM's own estimators,
reproduced to check ``parallel`` against). This module dispatches, like ``memory.inference`` over runtimes.
"""

from __future__ import annotations

from dataclasses import replace

from ...errors import ConfigError
from ...result import Estimate
from ...spec import ModelSpec
from ...workload import Workload
from .fsdp1_lora import estimate_fsdp1_lora, uses_fsdp1_lora
from .fsdp_lora import estimate_fsdp_lora, uses_fsdp_lora
from .parallel import estimate_parallel
from .parallel_fsdp import estimate_fsdp, uses_fsdp_model
from .parallel_pp import estimate_pipeline, uses_pipeline_model
from .states import model_states
from .step import estimate_single_gpu

__all__ = ["estimate_training"]


def estimate_training(spec: ModelSpec, wl: Workload) -> Estimate:
    """Training memory for ``wl.mode`` in (train, lora, qlora) on ``wl.gpus`` GPUs (the most-loaded one)."""
    if wl.mode not in ("train", "lora", "qlora"):
        raise ConfigError(f"estimate_training needs mode train, lora or qlora, not {wl.mode!r}")
    if wl.mode == "qlora" and wl.quant is None:
        wl = wl.replace(quant="nf4-dq")
    if uses_pipeline_model(wl, spec.is_moe):
        return estimate_pipeline(spec, wl)
    if (wl.gpus > 1 or wl.tp > 1 or wl.offload == "params") and uses_fsdp_model(wl):
        est = estimate_fsdp(spec, wl)
        if wl.fsdp_version == 1 and wl.zero >= 2:  # FSDP1 full fine-tuning: the shards and the step are FSDP2's
            est = replace(est, notes=(*est.notes, "FSDP1 (--fsdp-version 1) full fine-tuning is priced as FSDP2: "
                                      "the same shards, gradients and optimizer step; the layers in flight are not "
                                      "modelled per flat parameter (fsdp1_lora.py does that for LoRA)"))
        return est
    if wl.gpus > 1 and uses_fsdp1_lora(wl, spec.is_moe):
        return estimate_fsdp1_lora(spec, wl)
    if wl.gpus > 1 and uses_fsdp_lora(wl, spec.is_moe):
        return estimate_fsdp_lora(spec, wl)
    if wl.gpus > 1 or wl.tp > 1 or wl.pp > 1 or wl.ep > 1 or wl.zero > 0:
        return estimate_parallel(spec, wl, shard_size=wl.shard_size)
    return estimate_single_gpu(spec, wl, model_states(spec, wl))
