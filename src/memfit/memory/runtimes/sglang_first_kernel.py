"""Where an SGLang process takes the fixed memory of its first CUDA kernel: before the free memory at start or inside
the weight load.

SGLang reads the free memory at start ("Load weight begin. avail mem=") and prints the load as the fall in free memory
("Load weight end ... mem usage="). A process takes a fixed amount of device memory, beside its context, when it
launches its first kernel; which window that falls in depends on the build (read in the sglang wheels, 2026-12-07):

- with ``tp × pp`` > 1 the distributed init launches kernels: ``PyNcclCommunicator.__init__`` runs a warm-up
  all-reduce on ``torch.zeros(1, device=device)`` (``distributed/device_communicators/pynccl.py``);
- 0.4.6.post5 to 0.4.9.post6: ``ModelRunner.initialize`` builds the expert-location maps for every model before the
  load (``compute_initial_expert_location_metadata`` -> ``ExpertLocationMetadata.init_trivial``: a one-expert dummy
  for dense models, moved to the GPU with ``.to(server_args.device)`` and indexed there); 0.4.10
  (``ModelConfigForExpertLocation.from_model_config`` returns None for a class without
  ``get_model_config_for_expert_location``) builds them for MoE models only;
- from 0.5.8 ``GroupCoordinator.__init__`` (``distributed/parallel_state.py``) makes
  ``torch.ones(len(ranks), dtype=torch.int32, device=self.device)`` for every group, a fill kernel in the distributed
  init ("Init torch distributed ends. mem usage=" 0.00 -> 0.09 GB in SGLang's docs CI the day it landed);
- otherwise the first kernel is one of the load's, and the amount is printed as part of "mem usage".

SGLang's docs CI (one 80 GB H100, sglang main of each day, 2025-03 to 2026-04) switches between the two windows on
2025-05-20, 2025-07-29 and 2026-01-20, the dates those changes reached main (wheels of 0.4.6.post5 2025-05-24, 0.4.10
2025-07-31, 0.5.8 2026-01-23). The amount is a fact of the card and driver, measured where a log shows both windows
(``first_kernel_gib`` in ``runtime_overheads.toml`` [sglang]); on other cards the window is known but not the amount.
"""

from __future__ import annotations

import re

from ...hardware import Device
from ...units import GIB
from ..overhead import overhead_data

__all__ = ["first_kernel_bytes", "first_kernel_in_load", "release_key"]


def release_key(version: str) -> tuple[int, int, int, int]:
    """``"0.4.6.post5"`` -> ``(0, 4, 6, 5)``, ``"0.5.8"`` -> ``(0, 5, 8, 0)``: releases in order, post-releases after
    their base; anything after the numbers other than ``.postN`` is ignored."""
    m = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?(?:\.?post(\d+))?", version)
    if m is None:
        raise ValueError(f"{version!r} is not a release such as 0.4.6.post5")
    return int(m[1]), int(m[2]), int(m[3] or 0), int(m[4] or 0)


def first_kernel_in_load(version: str | None, world: int, moe: bool) -> bool:
    """Whether the process launches its first kernel inside SGLang's load window (its fixed amount then counts in
    "mem usage" and not in the free memory at start). Without ``version``: the current release (before the load)."""
    if version is None or world > 1:
        return False
    data = overhead_data()["sglang"]
    key = release_key(version)
    if moe and key >= release_key(str(data["first_kernel_moe_before_load_from"])):
        return False
    return not any(
        release_key(str(lo)) <= key and (not hi or key < release_key(str(hi)))
        for lo, hi in data["first_kernel_before_load"]
    )


def first_kernel_bytes(dev: Device) -> int:
    """The process's fixed first-kernel amount on ``dev`` where measured (0 where not)."""
    return round(float(overhead_data()["sglang"]["first_kernel_gib"].get(dev.id, 0.0)) * GIB)
