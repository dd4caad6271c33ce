"""The forward's mask in the inference pool replay (transformers 5.25 masking_utils), found on the simulator's
trace of the development case exaone-4.0-32b-l4/gen-b1-s8192-new8 (sliding layers of 4,096 and a full one):
``sdpa_mask`` broadcasts the mask function over the query and key indices and ``and_masks`` ANDs each function's
``q × kv`` bool output into a new tensor (``sliding_window_overlay``, then the causal one), the batch an expanded
view; a full-attention layer keeps ``is_causal`` (flash) while the sliding ones take the mask."""

from __future__ import annotations

from dataclasses import replace

from _trace_recorder import Recorder
from memfit.memory.runtimes.transformers_pool import _build_mask, _masked
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec
from memfit.workload import Workload


def _spec(windows: tuple[int | None, ...]) -> ModelSpec:
    base = spec_from_config(dict(model_type="llama", hidden_size=256, intermediate_size=512,
                                 num_hidden_layers=len(windows), num_attention_heads=4, num_key_value_heads=2,
                                 vocab_size=1000, torch_dtype="bfloat16"))
    layers = tuple(replace(layer, attention=replace(layer.attention, sliding_window=w))
                   for layer, w in zip(base.layers, windows, strict=True))
    return replace(base, layers=layers)


def _wl(attn: str = "sdpa", batch: int = 2) -> Workload:
    return Workload(mode="inference", task="prefill", batch=batch, context=1000, attn=attn).validate()


def test_sliding_mask_build() -> None:
    tr = Recorder()
    mask = _build_mask(tr, _spec((400, None)), _wl(), 2, 1000)
    n = 1000 * 1000  # one q × kv bool; the batch of two is an expanded view
    assert tr.events == [("+", n), ("+", n), ("-", n), ("+", n), ("+", n), ("-", n), ("-", n)]
    assert tr.size[mask] == n
    tr = Recorder()
    assert _build_mask(tr, _spec((None, None)), _wl(), 2, 1000) == 0 and tr.events == []  # is_causal: no mask
    tr = Recorder()
    _build_mask(tr, _spec((None, None)), _wl(), 2, 1500)  # a later chunk: the causal function alone
    assert tr.events == [("+", 1_500_000), ("+", 1_500_000), ("-", 1_500_000)]
    tr = Recorder()
    _build_mask(tr, _spec((400, None)), _wl("eager"), 2, 1000)  # eager: the additive masks at once, one per layer
    assert tr.events == [("+", 2 * 2 * 1000 * 1000 * 2)]  # type (sliding, full) × b2 × s² × 2 B


def test_only_sliding_layers_take_the_mask() -> None:
    spec = _spec((400, None))
    assert [_masked(spec, _wl(), i, 1000) for i in range(2)] == [True, False]
    assert [_masked(spec, _wl("eager"), i, 1000) for i in range(2)] == [True, True]
    assert [_masked(spec, _wl(), i, 1500) for i in range(2)] == [True, True]  # a later chunk


def test_one_kv_head_is_not_copied_under_sdpa() -> None:
    # repeat_kv's expand + reshape over a size-1 head dim is a view (the simulator's trace of gemma-3-1b-it b4: no
    # copy before the memory-efficient kernel on its sliding layers); more K/V heads are copied
    from memfit.memory.runtimes.transformers import _needs_repeat_kv

    att = _spec((400, None)).layers[0].attention
    assert att is not None
    mqa = replace(att, num_kv_heads=1)
    assert not _needs_repeat_kv(mqa, _wl(), True)
    assert _needs_repeat_kv(att, _wl(), True)  # two K/V heads
    assert _needs_repeat_kv(mqa, _wl("eager"), False)
    assert not _needs_repeat_kv(att, _wl(), False)  # no mask: enable_gqa


def test_gemma3_makes_both_ropes_and_embeds_before_the_mask() -> None:
    from memfit.memory.runtimes.transformers_pool import _forward

    spec = replace(_spec((400, None)), family="gemma3_text")
    tr = Recorder()
    _forward(tr, spec, _wl(batch=1), 2, 1000, [])
    t = 1000  # tokens
    # the embedding and its scaled copy (256 wide, bf16), then the mask's build, then two rope tables' fp32 chains
    assert tr.events[:3] == [("+", t * 256 * 2), ("+", t * 256 * 2), ("-", t * 256 * 2)]
    assert tr.events[3:10] == [("+", t * t), ("+", t * t), ("-", t * t), ("+", t * t), ("+", t * t), ("-", t * t),
                               ("-", t * t)]
    n = t * 64  # one table: tokens × head dim
    tables = tr.events[10:tr.events.index(("+", t * 256 * 4))]  # up to the first layer's input norm
    # per rope: the frequencies, their cat, cos, ·scale, sin, ·scale (fp32), the two casts to bf16
    one = [("+", n // 2 * 4), ("+", n * 4), ("+", n * 4), ("+", n * 4), ("-", n * 4), ("+", n * 4), ("+", n * 4),
           ("-", n * 4), ("+", n * 2), ("+", n * 2), ("-", n * 4), ("-", n * 4), ("-", n // 2 * 4), ("-", n * 4)]
    assert tables == one + one
