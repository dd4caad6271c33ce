"""ExLlamaV2 (EXL2) and ExLlamaV3 (EXL3) weights: the spellings ``exl2-4.65bpw-h6`` / ``exl3-4bpw-h6-mul1`` and the
bytes of one tensor.

EXL2 (turboderp/exllamav2): the converter spends ``int(numel × bits)`` bits on the decoder's linear layers
together (``conversion/optimize.py``: ``weight_budget``), each option's ``total_bits`` counting its ``q_weight``,
``q_scale``, ``q_scale_max``, ``q_groups`` and ``q_invperm`` (``conversion/qparams.py``), so a decoder linear is
priced at its share, ``ceil(numel × bits / 8)``; the layer-by-layer mix is the optimizer's and only the file
knows it. The output layer is quantized on its own at ``head_bits`` with the fixed option of
``qparams_headoptions`` (data/formats.toml ``[[exl2_head]]``), whose ``total_bits`` is exact:
``Σ rows_b × out × b + groups × (16 + 32) + groups × out × scale_bits + in × 32`` (rows = input features).
Embeddings and norms stay 16-bit.

EXL3 (turboderp-org/exllamav3, ``modules/quant/exl3.py`` ``LinearEXL3``): a linear stores its trellis, int16
``[in/16, out/16, 16·K]`` (K bits per weight), the fp16 sign/scale vectors ``suh [in]`` and ``svh [out]``, and for
the ``mcg``/``mul1`` codebooks one int32 multiplier: ``in·out·K/8 + 2·in + 2·out (+ 4)``. K is ``bits`` (the
conversion's average when it is fractional) and ``head_bits`` for the output layer. The converter always writes
a separate output layer (``quant_config.update_config`` unties embeddings), so a model with tied embeddings gets
one too (``memory/weights.py`` adds it).
"""

from __future__ import annotations

import importlib.resources
import math
import re
import tomllib
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import cache

from ..errors import ConfigError
from .base import Format

__all__ = ["EXL_SPELLING", "Exl2Head", "exl2_head", "exl_format", "exl_tensor_bytes"]

EXL_SPELLING = re.compile(r"^(exl[23])(?:[-_](\d+(?:\.\d+)?)[-_]?bpw)?(?:[-_]h(?:b)?(\d+))?(?:[-_](3inst|mcg|mul1))?$")


@dataclass(frozen=True)
class Exl2Head:
    """One of exllamav2's ``qparams_headoptions``: group size, bit widths and their shares of the rows, scale bits."""

    head_bits: int
    group_size: int
    bits: tuple[int, ...]
    bits_prop: tuple[float, ...]
    scale_bits: int
    source: str


@cache
def _heads() -> dict[int, Exl2Head]:
    text = importlib.resources.files("memfit").joinpath("data", "formats.toml").read_text(encoding="utf-8")
    rows = tomllib.loads(text).get("exl2_head", [])
    return {int(r["head_bits"]): Exl2Head(int(r["head_bits"]), int(r["group_size"]), tuple(int(b) for b in r["bits"]),
                                          tuple(float(p) for p in r["bits_prop"]), int(r["scale_bits"]),
                                          str(r["source"])) for r in rows}


def exl2_head(head_bits: int) -> Exl2Head:
    """The output layer's quantization for ``head_bits`` (ConfigError for a width exllamav2 does not offer)."""
    heads = _heads()
    if head_bits not in heads:
        raise ConfigError(f"EXL2 head_bits = {head_bits}: exllamav2 quantizes the output layer at "
                          f"{', '.join(map(str, sorted(heads)))} bits (or 16: unquantized)")
    return heads[head_bits]


def exl_format(base: Format, spelled: str, bits_text: str | None, head_text: str | None,
               codebook: str | None) -> Format:
    """``exl2[-<bits>bpw][-h<head>]`` / ``exl3[-<bits>bpw][-h<head>][-<codebook>]`` from the base row."""
    bits = float(bits_text) if bits_text else base.bits
    head = int(head_text) if head_text else base.head_bits
    lo, hi = (2.0, 8.0) if base.kind == "exl2" else (1.0, 8.0)
    if not lo <= bits <= hi:
        raise ConfigError(f"{spelled!r}: {base.kind.upper()} stores {lo:g} to {hi:g} bits per weight, not {bits:g}")
    if head != 16:
        if base.kind == "exl2":
            exl2_head(head)
        elif not 1 <= head <= 8:
            raise ConfigError(f"{spelled!r}: EXL3 head_bits is 1 to 8, or 16 (unquantized), not {head}")
    if codebook and base.kind != "exl3":
        raise ConfigError(f"{spelled!r}: a codebook ({codebook}) is an EXL3 setting")
    book = codebook or base.codebook
    name = f"{base.kind}-{bits:g}bpw-h{head}" + (f"-{book}" if base.kind == "exl3" else "")
    return replace(base, name=name, bits=bits, head_bits=head, codebook=book, aliases=(),
                   description=f"{base.kind.upper()} {bits:g} bits per weight in the decoder, output layer "
                               f"{'16-bit' if head == 16 else f'{head}-bit'}"
                               + (f", codebook {book}" if base.kind == "exl3" else ""))


def _exl2_head_bits(opt: Exl2Head, rows: int, columns: int) -> int:
    """exllamav2's ``QParams.total_bits`` for a (rows = in, columns = out) weight, in its own float arithmetic."""
    groups, remaining, bits_groups = 0, rows, []
    for p in opt.bits_prop:  # one group size for every width in the head options
        g = math.ceil(min(rows * p, remaining) / opt.group_size)
        groups += g
        remaining -= g * opt.group_size
        bits_groups.append(g)
    total, left = 0, rows
    for g, b in zip(bits_groups, opt.bits, strict=True):
        r = min(opt.group_size * g, left)
        left -= r
        total += r * columns * b  # q_weight
    total += groups * 16  # q_scale_max
    total += groups * (16 + 16)  # q_groups
    total += groups * columns * opt.scale_bits  # q_scale
    total += rows * 32  # q_invperm
    return total


def exl_tensor_bytes(fmt: Format, out: int, inp: int, role: str) -> int:
    """Bytes of one (out, in) weight matrix stored by ExLlamaV2/V3 in ``fmt``, as a decoder linear or (``role``
    ``lm_head``) the output layer."""
    head = role == "lm_head"
    if head and fmt.head_bits == 16:
        return 2 * out * inp
    if fmt.kind == "exl2":
        if head:
            return -(-_exl2_head_bits(exl2_head(fmt.head_bits), inp, out) // 8)
        return math.ceil(Fraction(out * inp) * Fraction(repr(fmt.bits)) / 8)
    k = Fraction(fmt.head_bits) if head else Fraction(repr(fmt.bits))
    multiplier = 4 if fmt.codebook in ("mcg", "mul1") else 0
    return math.ceil(Fraction(out * inp) * k / 8) + 2 * inp + 2 * out + multiplier
