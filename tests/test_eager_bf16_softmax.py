"""Eager attention's bf16 softmax in the inference pool (issue 12, l12total5a; development case
aria-text-default-l2/prefill-eager-b2-s2000 in sweep-dev.jsonl, moved there from blind round 5 before its trace was
read): ``softmax(x, dim, dtype=torch.float32)`` on bf16 scores is two fp32 tensors, then the cast back (torch's
aten/src/ATen/native/SoftMax.cpp ``softmax``: the fused half-to-float kernel only for Half on CUDA; any other input is
``input_.toType(dtype)`` then ``_softmax``), and Aria's text attention is Llama's, replayed op by op."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from _simulated import case_line, validate_line
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes import transformers_pool_attention as pa

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "sweep-dev.jsonl"
MIB = 2**20


@dataclass
class _Sizes(Trace):
    """A trace that keeps the size of every allocation in order."""

    sizes: list[int] = field(default_factory=list)

    def alloc(self, nbytes: int) -> int:
        if nbytes > 0:
            self.sizes.append(nbytes)
        return super().alloc(nbytes)


def test_bf16_eager_softmax_is_two_fp32_tensors_then_the_cast() -> None:
    # 1,000 scores, bf16, 500 B of the attention's other temporaries (total = 10 B a score + 500): the rest, the
    # product, the scaled, the masked (2 B each), the float copy and the fp32 softmax (4 B each), the bf16 cast;
    # before: one 8 B-a-score block for the two fp32 tensors
    tr = _Sizes()
    pa._eager_scores(tr, 1_000, 2, False, 10_500)
    assert tr.sizes == [500, 2_000, 2_000, 2_000, 4_000, 4_000, 2_000]
    assert tr.pool.allocated == 0
    tr = _Sizes()  # fp16: the fused fp32 softmax, then the fp16 cast (unchanged)
    pa._eager_scores(tr, 1_000, 2, True, 8_500)
    assert tr.sizes == [500, 2_000, 2_000, 2_000, 4_000, 2_000]
    tr = _Sizes()  # fp32: the softmax alone (unchanged)
    pa._eager_scores(tr, 1_000, 4, False, 8_500)
    assert tr.sizes == [500, 4_000, 4_000, 4_000, 4_000]


def test_two_fp32_tensors_reuse_two_cached_segments() -> None:
    # two 200 MiB segments cached (freed), then 50 Mi bf16 scores (100 MiB, fp32 200 MiB), nothing else: the product
    # splits one segment (100 MiB at its head), the scaled takes the rest of it, the masked the product's freed
    # head; the float copy takes the other cached 200 MiB segment whole, the fp32 softmax finds no free 200 MiB
    # block and opens a third segment: 600 MiB reserved. One 400 MiB block (before) opened a 400 MiB segment: 800 MiB
    tr = Trace()
    tr.free(tr.alloc(200 * MIB), tr.alloc(200 * MIB))
    pa._eager_scores(tr, 50 * MIB, 2, False, 500 * MIB)
    assert tr.pool.reserved == 600 * MIB


def test_aria_development_case() -> None:
    row = validate_line(case_line(DEV, "aria-text-default-l2/prefill-eager-b2-s2000"))
    err = row.relative_error
    assert err is not None and abs(err) < 0.005  # allocated: +0.02 % before and now
    assert row.total_error is not None and abs(row.total_error) < 0.01  # device total: -14.77 % before, -0.10 % now
