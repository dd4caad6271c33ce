"""Reference estimators of DeepSpeed and Megatron-LM, reproduced on the same inputs (a port: formulas of
reference/formulas.md §5.3-5.5, checked against tests/vectors/deepspeed_zero.json and megatron_memory.json).

``deepspeed_zero2_model_states`` / ``deepspeed_zero3_model_states`` reproduce DeepSpeed's own estimators
(``estimate_zero2_model_states_mem_needs``, ``estimate_zero3_model_states_mem_needs``, DeepSpeed ``edaa722``);
``megatron_weight_and_optimizer_bytes`` / ``megatron_activation_bytes`` reproduce Megatron-LM's
``theoretical_memory_usage.py``. memfit's own per-rank model is ``parallel``.
"""

from __future__ import annotations

__all__ = ["deepspeed_zero2_model_states", "deepspeed_zero3_model_states", "megatron_activation_bytes",
           "megatron_weight_and_optimizer_bytes"]


def deepspeed_zero2_model_states(total_params: int, num_gpus_per_node: int = 1, num_nodes: int = 1,
                                 cpu_offload: bool = True, additional_buffer_factor: float = 1.5) -> tuple[int, int]:
    """DeepSpeed's ZeRO-2 model-states estimate (``estimate_zero2_model_states_mem_needs`` after PR #5099,
    reference/formulas.md §5.3) on the same inputs: (host, device) bytes.

    Device: the 16-bit weights on every GPU (2 B/param); without offload also 18 B/param sharded over all
    GPUs (16-bit and fp32 gradients 2 + 4, fp32 master weights 4, Adam's two fp32 moments 8). Host: with
    offload max(4 · GPUs, 16) B/param, without it 4 B/param per GPU of a node, times the buffer factor.
    """
    n, gpus = total_params, num_nodes * num_gpus_per_node
    device = 2 * n + (0 if cpu_offload else int(18 * n / gpus))
    host_bytes_per_param = max(4 * gpus, 16) if cpu_offload else 4 * num_gpus_per_node
    return int(n * host_bytes_per_param * additional_buffer_factor), int(device)


def deepspeed_zero3_model_states(total_params: int, largest_layer_params: int, num_gpus_per_node: int = 1,
                                 num_nodes: int = 1, cpu_offload: bool = True, cpu_offload_params: bool = True,
                                 zero_init: bool = True, additional_buffer_factor: float = 1.5
                                 ) -> tuple[int, int, int]:
    """DeepSpeed's ZeRO-3 model-states estimate (``estimate_zero3_model_states_mem_needs``,
    reference/formulas.md §5.3) on the same inputs: (host, device, gathered largest layer) bytes.

    Every GPU gathers the largest layer's 16-bit weights and gradients (4 B/param of it). Without offload
    the 18 B/param of model states are sharded over all GPUs; offloading the optimizer leaves the 16-bit
    weights' shard (2 B/param ÷ GPUs) unless the weights are offloaded too. The host holds 18 (weights
    offloaded) or 16 B/param per node — at least 4 B/param per GPU of a node without ``zero_init`` — and,
    without offload, a 4 B/param staging copy per GPU of a node (of the largest layer under ``zero_init``).
    """
    n, gpus = total_params, num_nodes * num_gpus_per_node
    per_node = 1 / num_nodes
    gathered = 4 * largest_layer_params
    if cpu_offload:
        host_states = 18 if cpu_offload_params else 16
        device = gathered + (0 if cpu_offload_params else int(2 * n / gpus))
        if zero_init:
            host = n * host_states * per_node * additional_buffer_factor
        else:
            host = n * max(4 * num_gpus_per_node, host_states * per_node) * additional_buffer_factor
    else:
        device = gathered + int(18 * n / gpus)
        host = (largest_layer_params if zero_init else n) * 4 * num_gpus_per_node * additional_buffer_factor
    return int(host), int(device), gathered


def megatron_weight_and_optimizer_bytes(*, tp_sharded_params: int, embedding_params: int, replicated_params: int,
                                        expert_params: int = 0, tp: int = 1, pp: int = 1, ep: int = 1, etp: int = 1,
                                        untied_output: bool = True, bytes_per_param: float = 18.0,
                                        expert_bytes_per_param: float | None = None) -> float:
    """Megatron-LM ``compute_weight_and_optimizer_memory`` on the most-loaded shard (formulas.md §5.5).

    ``bytes_per_param``: 18 for bf16 parameters with fp32 gradients and Adam, ``6 + 12/d`` with the
    distributed optimizer over ``d`` data-parallel ranks.
    """
    params = (tp_sharded_params / pp + embedding_params) / tp + replicated_params / pp
    if untied_output and pp == 1:
        params += embedding_params / tp
    expert = expert_params / (pp * etp * ep)
    eb = bytes_per_param if expert_bytes_per_param is None else expert_bytes_per_param
    return params * bytes_per_param + expert * eb


def megatron_activation_bytes(*, seq: int, micro_batch: int, hidden: int, ffn_hidden: int, num_layers: int,
                              vocab: int, tp: int = 1, pp: int = 1, virtual_pp: int | None = None,
                              num_microbatches: int | None = None) -> float:
    """Megatron-LM ``compute_activation_memory`` (first pipeline stage, sequence parallelism and selective
    recomputation assumed; Korthikanti et al. 2022 Table 2), formulas.md §5.4."""
    sbh = seq * micro_batch * hidden
    act = sbh * (18 + 4 * ffn_hidden / hidden) * num_layers
    act += 8 * seq * micro_batch * pp  # token ids, pp micro-batches in flight
    act += sbh * pp  # embedding dropout
    if virtual_pp is not None:
        act *= 1 + (pp - 1) / (pp * virtual_pp)
    elif num_microbatches is not None:
        act *= min(1, num_microbatches / pp)
    if pp == 1:
        act += sbh * 4 * (1 + vocab / hidden)  # output layer and cross entropy
    return act / tp
