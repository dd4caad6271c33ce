"""What llama.cpp loads beside the model into the same device budget: a draft model for speculative
decoding (``-md``) and the multimodal projector (``--mmproj``).

* **Draft model** (common/speculative.cpp ``common_base_params_to_speculative``, build b10605): the draft
  context copies the main one (``n_ctx``, ``n_batch``, ``n_ubatch``, sequences, flash attention), with its
  own K/V cache types (``-ctkd``/``-ctvd``, default f16), all its layers on the GPU by default, and
  ``n_outputs_max`` = the number of sequences: its reserved graph computes the logits of one row per
  sequence, not of the whole micro-batch. Its model, KV and compute buffers are priced as the main model's
  are (memory/runtimes/llamacpp.py) and join the device; its output buffer joins host memory.
* **Projector** (tools/mtmd, clip.cpp): a separate GGUF holding the vision tower and projector, loaded to
  the GPU; priced as the vision tower's parameters in the projector file's type. The vision encoder's
  compute buffer (its own graph, reserved at load for the largest image) is not counted.
"""

from __future__ import annotations

from ...errors import ConfigError
from ...result import Component
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload

__all__ = ["draft_workload", "mmproj_component"]

BYTES = {"f16": 2, "bf16": 2, "f32": 4}


def draft_workload(wl: Workload) -> tuple[ModelSpec, Workload]:
    """The draft model and the workload its context runs: the main one with f16 K/V (-ctkd/-ctvd default),
    all layers on the GPU and the draft's weight format."""
    from ...sources.loader import load_model

    assert wl.draft_model is not None
    dwl = wl.replace(draft_model=None, mmproj=None, dtype=wl.draft_dtype or wl.dtype, kv_dtype="f16",
                     n_gpu_layers=None, n_cpu_moe=None, tensor_split=None)
    return load_model(wl.draft_model), dwl


def mmproj_component(spec: ModelSpec, wl: Workload) -> Component:
    """The projector GGUF's weights: the vision tower's parameters in ``--mmproj``'s type."""
    assert wl.mmproj is not None
    if spec.vision is None or not spec.vision.parameters:
        raise ConfigError(f"--mmproj {wl.mmproj}: {spec.name} has no vision tower in its config; drop --mmproj "
                          "or pick a multimodal model (e.g. gemma-3-27b-it)")
    n = spec.vision.parameters
    size = BYTES[wl.mmproj]
    return Component("mmproj", n * size, f"projector GGUF: {n:,} vision parameters × {size} B ({wl.mmproj}) "
                                         f"= {fmt_bytes(n * size)}; the vision encoder's compute buffer not counted")
