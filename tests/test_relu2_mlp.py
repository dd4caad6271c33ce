"""A plain relu² MLP (transformers 5.25 activations.ReLUSquaredActivation: ``relu(x)`` then ``torch.square`` of it,
while the caller still holds fc1's output): three intermediate-sized tensors alive, worked by hand on the development
case nanochat-default-l4 fp32 eager generate."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"


def test_relu2_mlp_keeps_three_intermediates() -> None:
    for line in DEV.read_text().splitlines():
        r = json.loads(line)
        if r.get("case") == "nanochat-default-l4/gen-fp32-eager-b2-s1024-new8":
            break
    spec = spec_from_config(r["config"], "nanochat")
    mlp = spec.layers[0].mlp
    assert mlp is not None and (mlp.kind, mlp.activation, mlp.intermediate_size) == ("plain", "relu2", 8192)
    wl = workload_for_case("generate", dict(r["params"])).validate()
    ffn = next(m for m in peak_moments(spec, wl) if m.name.startswith("prefill MLP"))
    # fp32, b 2 × s 1024 = 2,048 tokens, hidden 768 (NanoChatConfig's default): fc1's output, relu's and the square,
    # 3 × 2,048 × 8,192 × 4 B = 192 MiB
    assert "3 × 2,048 tokens × 8192 × 4 B" in ffn.formula
    # + four stream tensors 4 × 2,048 × 768 × 4 B, the held eager probabilities 2 × 6 × 1,024² × 4 B and the
    # masks/rotary/ids of the attention moment
    att = next(m for m in peak_moments(spec, wl) if m.name.startswith("prefill attention"))
    fixed = int(att.formula.split(" + ")[-1].split(" ")[0].replace(",", ""))
    assert spec.hidden_size == 768
    assert ffn.activations == 3 * 2048 * 8192 * 4 + 4 * 2048 * 768 * 4 + 2 * 6 * 1024 * 1024 * 4 + fixed
