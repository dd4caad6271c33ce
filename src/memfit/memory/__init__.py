"""The formulas, one component per module, each a pure function of (ModelSpec, Workload).

- ``weights``: parameters × bytes in any precision or quantization format, per tensor.
- ``kv_cache``, ``inference``: KV cache and runtime buffers per runtime (transformers, vLLM, llama.cpp).
- ``training``: gradients, optimizer states, activations, LoRA/QLoRA, sharding across GPUs.
"""
