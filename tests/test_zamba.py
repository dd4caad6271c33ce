"""Zamba's Mamba mixer: Mamba-1's selective scan run head by head (transformers 5.25
models/zamba/modeling_zamba.py ZambaMambaMixer.forward, mamba_selective_scan), not a Mamba-2 chunked scan."""

from __future__ import annotations

from pathlib import Path

from _simulated import case_line, validate_line
from memfit.memory.ssm_activations import headwise_scan_prefill_bytes
from memfit.spec import SSMSpec

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"


def test_headwise_scan_by_hand() -> None:
    # 2 heads of 4 channels, state 4, 3 tokens, bf16: per head x = 3 × 4 = 12 elements;
    # 3 × 12 × 4 × 4 = 576 (exp(A·dt), dt·B, dt·B·u) + 2 × 12 × 4 = 96 (u.float(), softplus(dt)) + 1 × 12 × 4 = 48
    # (the first head's fp32 output) + 4 × 3 × 8 × 2 = 192 (in_proj's two halves, conv output, time steps) = 912
    ssm = SSMSpec(8, 4, 4, num_heads=2, head_dim=4, n_groups=1)
    assert headwise_scan_prefill_bytes(ssm, 3, 2)[0] == 912


def test_one_head_has_no_earlier_outputs() -> None:
    ssm = SSMSpec(8, 4, 4, num_heads=1, head_dim=8, n_groups=1)
    # x = 24: 3 × 24 × 16 = 1,152 + 2 × 24 × 4 = 192 + 0 + 192 = 1,536
    assert headwise_scan_prefill_bytes(ssm, 3, 2)[0] == 1536


def test_development_case() -> None:
    # moved from blind round 6 (l12zamba): -31.14 % on the Mamba-2 pricing
    row = validate_line(case_line(DEV, "zamba-default-l8/gen-b2-s1200-new8"))
    assert abs(row.relative_error) < 0.04
