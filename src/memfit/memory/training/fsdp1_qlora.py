"""QLoRA under FSDP1 (``--fsdp-version 1``, a bitsandbytes 4-bit base): what differs from LoRA's rank
(``fsdp1_lora``), each term from the code of the releases fms-acceleration's published two-GPU rows ran
(transformers 4.44–4.48, trl 0.10–0.13, peft 0.12–0.14, bitsandbytes 0.43–0.45, accelerate 0.33–1.x):

* **no kbit preparation.** FSDP1 flattens each unit's parameters into one ``FlatParameter``, which needs one dtype
  (``_flat_param.py`` ``FlatParamHandle._validate_tensors_to_flatten``: "Must flatten tensors with uniform dtype"),
  and the 4-bit weights are stored in ``bnb_4bit_quant_storage = torch_dtype`` (bf16) so they can be flattened with
  the norms (fms-acceleration ``framework_plugin_bnb.py``; transformers' FSDP-QLoRA path). trl's SFTTrainer detects it
  (``is_sharded_qlora``: the Params4bit still on the CPU or meta device when it prepares the model, as transformers
  loads them under ``is_fsdp_enabled()``) and then calls neither peft's ``prepare_model_for_kbit_training`` (no fp32
  upcast of the norms, embeddings and lm_head) nor ``peft_module_casting_to_bf16``: the whole stream stays bf16;
* **bf16 adapters.** peft ``BaseTunerLayer._move_adapter_to_device_of_base_layer`` casts the new ``lora_A`` /
  ``lora_B`` to the base weight's dtype when it is a floating dtype: the bf16 quant storage, so bf16; trl then calls
  ``get_peft_model(..., autocast_adapter_dtype=False)`` for sharded QLoRA, which leaves them so. Their gradients and
  torch AdamW's states (``zeros_like(param)``) are bf16 too;
* **the packed weights as flat-parameter elements.** ``bitsandbytes.functional.quantize_4bit`` packs ``n`` weights into
  ``(n + 1) // (2 · itemsize(quant_storage))`` elements of the storage dtype: ``(n + 1) // 4`` bf16 elements, which
  FSDP1 shards, pads and all-gathers like any flat parameter. The ``QuantState`` (absmax, the nested statistics and the
  code tables) is a plain attribute, not a parameter: FSDP1 does not see it, and every rank keeps all of it;
* each 4-bit Linear dequantizes its whole weight to bf16 in forward and again in backward (``MatMul4Bit``), as on one
  GPU (``activations``' ``dequant``).
"""

from __future__ import annotations

import math
from dataclasses import replace

from ...formats import get_format, quantized_tensor_bytes, quantizes, tensor_role
from ...inventory import inventory
from ...spec import ModelSpec
from ...workload import Workload
from ..activations import Precision
from ..moe_release import expert_linears

__all__ = ["QUANT_STORAGE_BYTES", "SHARDED_ADAPTER_BYTES", "packed_elements", "quant_layout", "sharded_precision",
           "uses_fsdp1_qlora"]

QUANT_STORAGE_BYTES = 2  # bnb_4bit_quant_storage = torch_dtype (bf16) under FSDP (framework_plugin_bnb.py)
SHARDED_ADAPTER_BYTES = 2  # the adapters take the bf16 storage's dtype (peft _move_adapter_to_device_of_base_layer)


def uses_fsdp1_qlora(wl: Workload, moe: bool) -> bool:
    """A 4-bit (nf4 / fp4) QLoRA base under FSDP1: of a dense model, or of a mixture of experts whose release builds
    the experts as ``nn.Linear`` modules (transformers 4.x, ``moe_release.expert_linears``: bitsandbytes quantizes each
    one); transformers 5's fused experts stay with the sums."""
    return (wl.fsdp_version == 1 and wl.mode in ("lora", "qlora") and (wl.quant or "nf4-dq") != "int8"
            and (wl.mode == "qlora" or wl.quant is not None)
            and (not moe or wl.transformers_version is not None))


def packed_elements(n: int) -> int:
    """Storage elements of ``n`` weights packed in 4 bits (``quantize_4bit``: ``(n + 1) // mod``, ``mod`` = 2 ×
    the storage's itemsize)."""
    return (n + 1) // (2 * QUANT_STORAGE_BYTES)


def quant_layout(spec: ModelSpec, quant: str, version: str | None = None) -> tuple[list[int], int, int]:
    """Flat-parameter elements per decoder layer (the packed 4-bit weights and the 16-bit norms), the root's, and the
    bytes of every quantized weight's ``QuantState`` (kept whole on each rank). Transformers ``version``s that build
    the experts and router as ``nn.Linear`` modules (4.x, ``moe_release.expert_linears``) quantize each on its own
    (``states._quant_weights``)."""
    fmt = get_format(quant)
    linears = expert_linears(version, spec.family)
    own = [0] * spec.num_layers
    root = stats = 0
    for t in inventory(spec):
        n = math.prod(t.shape)
        role = tensor_role(t)
        if linears and role == "experts" and not t.is_bias:  # one Params4bit per expert
            one = packed_elements(math.prod(t.shape[1:]))
            stats += t.shape[0] * (quantized_tensor_bytes(fmt, t.shape[1:]) - one * QUANT_STORAGE_BYTES)
            n = t.shape[0] * one
        elif (linears and role == "router") or quantizes(fmt, role, spec.is_moe):
            packed = packed_elements(n)
            stats += quantized_tensor_bytes(fmt, t.shape) - packed * QUANT_STORAGE_BYTES
            n = packed
        if t.layer is None:
            root += n
        else:
            own[t.layer] += n
    return own, root, stats


def sharded_precision(p: Precision) -> Precision:
    """The activations of trl's sharded QLoRA: no preparation, so the norms, embedding and residual stream stay in the
    bf16 of ``torch_dtype`` and the adapters compute in bf16; autocast over bf16 parameters casts nothing
    (``cached_cast`` returns a tensor already in the target dtype)."""
    return replace(p, amp=False, weight_bytes=2, resid_bytes=2, adapter_bytes=SHARDED_ADAPTER_BYTES,
                   embed_out_bytes=0, quantized=True)
