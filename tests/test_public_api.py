"""The public API is the names in memfit.__all__: sorted, complete, importable, documented."""

from __future__ import annotations

import inspect

import memfit


def test_all_is_sorted_and_complete() -> None:
    public = {n for n in vars(memfit) if not n.startswith("_") and not inspect.ismodule(getattr(memfit, n))}
    assert set(memfit.__all__) == public | {"__version__"}
    assert list(memfit.__all__) == sorted(memfit.__all__)
    assert len(memfit.__all__) == len(set(memfit.__all__))


def test_every_public_name_is_documented() -> None:
    for name in memfit.__all__:
        obj = getattr(memfit, name)
        if callable(obj):
            assert obj.__doc__, f"memfit.{name} has no docstring"


def test_api_round_trip() -> None:
    spec = memfit.load_model("llama-3.2-1b")
    assert memfit.count_parameters(spec).total == 1_235_814_400
    est = memfit.estimate(spec, dtype="fp32")
    assert est.total_bytes == 1_235_814_400 * 4
    doc = est.to_json()
    assert doc["parameters"] == 1_235_814_400 and doc["components"]["weights"] == est.total_bytes
    assert memfit.estimate("7B", memfit.Workload(dtype="fp16")).total_bytes == 14_000_000_000


def test_unknown_option_is_a_clear_error() -> None:
    try:
        memfit.estimate("7B", batchsize=3)
    except memfit.ConfigError as e:
        assert "batchsize" in str(e)
    else:
        raise AssertionError("expected ConfigError")


def test_zero_vllm_limits_are_refused_not_taken_for_the_default() -> None:
    # max_num_seqs = 0 used to fall back silently to vLLM's default of 1,024 sequences
    import pytest

    for field in ("max_num_seqs", "max_num_batched_tokens"):
        with pytest.raises(memfit.ConfigError, match=f"{field} = 0 must be an integer from 1"):
            memfit.estimate("llama-3.1-8b", mode="inference", runtime="vllm", **{field: 0})


def test_a_sequence_longer_than_the_model_gets_a_note() -> None:
    # Llama-3.1-8B: max_position_embeddings 131,072; 131,072 + 100,000 new tokens = 231,072
    long = memfit.estimate("llama-3.1-8b", mode="inference", context=131_072, new_tokens=100_000)
    assert any("231,072 tokens per sequence exceed llama-3.1-8b's max_position_embeddings of 131,072" in n
               for n in long.notes)
    assert not any("max_position_embeddings" in n
                   for n in memfit.estimate("llama-3.1-8b", mode="inference", context=131_072).notes)
    # GPT-2's 1,024 learned positions: 2,048 tokens cannot run at all
    gpt2 = memfit.estimate("gpt2", mode="train", context=2048)
    assert any("2,048 tokens per sequence exceed gpt2's 1,024 learned positions" in n for n in gpt2.notes)
