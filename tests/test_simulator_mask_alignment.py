"""The simulator's memory-efficient SDPA mask as torch's ``preprocess_mask`` makes it (issue 12, l12inkling;
tools/simulate_memory.py ``_preprocess_mask``): aten/src/ATen/native/transformers/attention.cpp pads a mask only when
``aligned_tensor<8>`` fails (a stride but the last not a multiple of ``mem_eff_alignment = 8``, or a last stride other
than 1), by ``8 - last % 8`` columns, and then expands it (torch/_inductor/lowering.py of the installed torch names 8
as that alignment). The simulator padded every mask whose last dim was not a multiple of 16 (torch 2.0's
``pad_bias``): Inkling's 4-D relative-position mask over 3,000 keys (3,000 = 8 · 375) was copied, 2 × 64 × 3,000 ×
3,008 × 2 B = 2,310,144,000 B beside the kernel, on the development case inkling-text-default-l2/gen-b2-s3000-new8
(sweep-dev.jsonl)."""

from __future__ import annotations

from types import ModuleType

import torch

from _tools import load_tool


def _tool() -> ModuleType:
    return load_tool("simulate_memory")


def test_aligned_masks_pass_as_they_are() -> None:
    sm = _tool()
    # 3,000 keys: every stride a multiple of 8, the last 1: no copy (torch 2.0's rule padded it to 3,008)
    mask = torch.zeros(2, 4, 6, 3000, dtype=torch.bfloat16)
    assert sm._preprocess_mask(mask) is mask
    # a broadcast head dim (stride 0) is aligned as well
    wide = torch.zeros(2, 1, 6, 3000, dtype=torch.bfloat16).expand(2, 4, 6, 3000)
    assert sm._preprocess_mask(wide) is wide


def test_unaligned_masks_are_padded_by_8_minus_the_rest() -> None:
    sm = _tool()
    # 3,001 keys: strides 18,006·4 ... not multiples of 8: copied into 3,001 + 7 = 3,008 columns, sliced back
    mask = torch.zeros(2, 1, 6, 3001, dtype=torch.bfloat16)
    out = sm._preprocess_mask(mask)
    assert out.shape == (2, 1, 6, 3001)
    assert out.untyped_storage().nbytes() == 2 * 6 * 3008 * 2  # 72,192 B
    # 3,004 keys (a multiple of 4, not of 8): 3,004 + 4 = 3,008 columns
    out = sm._preprocess_mask(torch.zeros(1, 1, 2, 3004, dtype=torch.bfloat16))
    assert out.untyped_storage().nbytes() == 2 * 3008 * 2
    # a last stride other than 1 (a transposed view) is unaligned whatever its sizes: 8 - 0 = 8 more columns
    t = torch.zeros(1, 1, 16, 8, dtype=torch.bfloat16).transpose(-1, -2)
    assert sm._preprocess_mask(t).untyped_storage().nbytes() == 8 * 24 * 2
