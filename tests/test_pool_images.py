"""What the images of an image-text prompt leave in the emulated pool before the text runs
(memory/runtimes/transformers_pool_images.py): sizes worked out by hand from the configs and checked against the
simulator's allocation traces of the development cases; the device totals they give are held in test_accuracy.py."""

from __future__ import annotations

from _traces import Counted, rounded
from memfit.memory.images import with_images
from memfit.memory.runtimes.transformers_pool_images import image_prefill
from memfit.sources.loader import load_model
from memfit.workload import Workload


def _run(model: str, **kw: int) -> tuple[Counted, list[int]]:
    spec = load_model(model)
    wl, _, _ = with_images(spec, Workload(mode="inference", new_tokens=8, **kw))
    tr = Counted()
    return tr, image_prefill(tr, spec, wl, 2)


def test_qwen2_5_vl_tower_leaves_what_the_text_holds() -> None:
    """Two 1,024² images: 37 × 37 = 1,369 merged tokens each (1,036² after smart_resize to multiples of 28), 4 patches
    per token, 10,952 patches. Left alive: the pixels (10,952 rows of 3 × 2 × 14² values, bf16: 25,759,104 B, the
    simulator's pixel tensor), the tower's output (10,952 × 1,280 × 2 = 28,037,120 B) and the features twice
    (2,738 × 3,584 × 2 = 19,625,984 B each); every block is a multiple of 512 B."""
    tr, kept = _run("qwen2.5-vl-7b-instruct", batch=1, context=1024, images=2)
    assert len(kept) == 4
    assert tr.live == rounded(25_759_104) + 28_037_120 + 2 * 19_625_984


def test_qwen2_5_vl_tower_peak_is_the_rotation_of_k() -> None:
    """The tower's peak, read off the block sequence of the simulator's trace (P = 28,037,120 B, fp32 = 2P): the
    stream, the normed input, qkv (3P), q and k in fp32 (2P each), q rotated (2P), and k's rotation at its sum
    (x·cos, ·sin, the sum: 6P) = 17P, beside the pixels and the two fp32 rotary tables (10,952 × 80 × 4 B each);
    the MLP's moment (3P + 3 × 10,952 × 3,420 × 2 B) is lower."""
    tr, _ = _run("qwen2.5-vl-7b-instruct", batch=1, context=1024, images=2)
    p = 28_037_120
    assert tr.peak == 17 * p + rounded(25_759_104) + 2 * 10_952 * 80 * 4
    assert 3 * p + 3 * 10_952 * 3_420 * 2 < 17 * p


def test_mllama_encoder_leaves_pixels_states_and_the_cross_attention_mask() -> None:
    """Llama 3.2 Vision, two images of 4 tiles (560² px, 1,600 patches + the class token): left alive the pixels
    (8 tiles × 3 × 560² × 2 B = 15,052,800 B), the cross-attention states (8 × 1,601 × 4,096 × 2 = 104,923,136 B)
    and the cross-attention mask in bf16 (1 × the text tokens × 2 × 4 × 1,601 positions × 2 B); at the encoder's
    end its 40 layers' outputs (8 × 1,608 padded rows × 1,280 × 2 B each) are alive together."""
    tr, kept = _run("llama-3.2-11b-vision", batch=1, context=1024, images=2)
    spec = load_model("llama-3.2-11b-vision")
    context = with_images(spec, Workload(mode="inference", context=1024, images=2))[0].context
    assert len(kept) == 3
    assert tr.live == 15_052_800 + 104_923_136 + rounded(2 * context * 2 * 4 * 1601)
    assert tr.peak > 41 * 8 * 1608 * 1280 * 2


def test_text_only_prompts_add_nothing() -> None:
    tr, kept = _run("qwen2.5-vl-7b-instruct", batch=1, context=1024)
    assert kept == [] and tr.peak == 0
