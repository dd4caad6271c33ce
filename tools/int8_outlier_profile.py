"""LLM.int8 outlier columns per layer of a randomly initialised Llama-style model (the measured H100 cases' models).

bitsandbytes' ``int8_vectorwise_quant`` (threshold 6.0) makes a column of a linear's input an outlier column when
any of its values, cast to fp16, is 6 or more in magnitude; ``int8_mixed_scaled_mm`` then sizes its buffers by the
count. This runs the model's prefill on the CPU in fp32, layer by layer with fresh weights drawn as transformers
initialises them (``normal(0, initializer_range)`` for linears and the embedding, RMSNorm weights 1), on a prompt
drawn as ``groundtruth/measure.py`` draws it (token ids uniform in [100, 1000)), and prints, per layer, the outlier
columns of the inputs of q/k/v, o_proj, gate/up and down_proj. The bf16 compute and the int8 matmuls of the
measured run are not reproduced: the counts are statistics of the random model and move by a few columns with the
seed (``--seed``). The figures go to ``src/memfit/data/int8_outliers_random.toml``.

Usage: python tools/int8_outlier_profile.py [--seed N] [--layers N] [--tokens N]   (Mistral-7B's shape; ~20 s a
layer on two CPU cores)
"""

from __future__ import annotations

import argparse
import math

import torch

MISTRAL_7B = {"hidden": 4096, "inner": 14336, "heads": 32, "kv_heads": 8, "head_dim": 128, "vocab": 32000,
              "theta": 10000.0, "std": 0.02, "eps": 1e-6}


def outlier_columns(x: torch.Tensor) -> int:
    """Columns of ``x`` holding a value of magnitude ≥ 6 after the fp16 cast (``A.abs() >= threshold``)."""
    return int((x.half().abs() >= 6).any(0).sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--layers", type=int, default=32)
    ap.add_argument("--tokens", type=int, default=2048)
    a = ap.parse_args()
    c, t = MISTRAL_7B, a.tokens
    g = torch.Generator().manual_seed(a.seed)
    h, inner, nh, nkv, hd = c["hidden"], c["inner"], c["heads"], c["kv_heads"], c["head_dim"]

    def weight(rows: int, cols: int) -> torch.Tensor:
        return torch.randn(rows, cols, generator=g) * c["std"]

    def rms(x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + c["eps"])

    ids = torch.randint(100, 1000, (t,), generator=g)
    x = (torch.randn(c["vocab"], h, generator=g) * c["std"])[ids]
    inv = 1.0 / (c["theta"] ** (torch.arange(0, hd, 2).float() / hd))
    angles = torch.outer(torch.arange(t).float(), inv)
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()

    def rope(v: torch.Tensor) -> torch.Tensor:
        return v * cos + torch.cat([-v[..., hd // 2:], v[..., :hd // 2]], -1) * sin

    causal = torch.full((t, t), float("-inf")).triu(1)
    print("layer q/k/v o_proj gate/up down_proj")
    for layer in range(a.layers):
        n = rms(x)
        k_qkv = outlier_columns(n)
        q = rope((n @ weight(nh * hd, h).t()).view(t, nh, hd).transpose(0, 1))
        k = rope((n @ weight(nkv * hd, h).t()).view(t, nkv, hd).transpose(0, 1)).repeat_interleave(nh // nkv, 0)
        v = (n @ weight(nkv * hd, h).t()).view(t, nkv, hd).transpose(0, 1).repeat_interleave(nh // nkv, 0)
        att = (torch.softmax(q @ k.transpose(1, 2) / math.sqrt(hd) + causal, -1) @ v).transpose(0, 1).reshape(t, -1)
        k_o = outlier_columns(att)
        x = x + att @ weight(h, nh * hd).t()
        n = rms(x)
        k_gate = outlier_columns(n)
        prod = torch.nn.functional.silu(n @ weight(inner, h).t()) * (n @ weight(inner, h).t())
        k_down = outlier_columns(prod)
        x = x + prod @ weight(h, inner).t()
        print(layer, k_qkv, k_o, k_gate, k_down, flush=True)


if __name__ == "__main__":
    main()
