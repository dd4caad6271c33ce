"""Counts and byte sizes: parse "7B" / "1.5b" / "70e9", format bytes as GB and GiB."""

from __future__ import annotations

import math
import re

from .errors import ConfigError

__all__ = ["GB", "GIB", "fmt_bytes", "fmt_count", "parse_bytes", "parse_count", "parse_tokens", "size_note"]

GB = 1_000_000_000
GIB = 1024**3
MAX_PARAMETERS = 100_000_000_000_000  # 100 T: anything above is a typo, not a model

_SUFFIX = {"": 1, "k": 10**3, "m": 10**6, "b": 10**9, "g": 10**9, "t": 10**12}
_COUNT_RE = re.compile(r"^\s*([0-9][0-9_,]*(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*([kmbgt]?)\s*$", re.IGNORECASE)
_BYTES_RE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*(b|kb|mb|gb|tb|kib|mib|gib|tib)?\s*$",
                       re.IGNORECASE)
_BYTE_UNITS = {
    "b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
    "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4,
}


def parse_count(text: str) -> int:
    """Parse a parameter count: ``11776``, ``7B``, ``1.5b``, ``70e9``, ``350M``, ``1,234``.

    Raises ConfigError for anything that is not a positive count below 100 T.
    """
    m = _COUNT_RE.match(text)
    if not m:
        raise ConfigError(
            f"{text!r} is not a parameter count: write a number with an optional K/M/B/T suffix, "
            "e.g. 11776, 7B, 1.5b or 70e9"
        )
    number, suffix = m.group(1).replace(",", "").replace("_", ""), m.group(2).lower()
    value = float(number) * _SUFFIX[suffix]
    if math.isfinite(value) and value < 1:
        raise ConfigError(f"parameter count {text!r} must be at least 1")
    if not math.isfinite(value) or value > MAX_PARAMETERS:
        raise ConfigError(f"parameter count {text!r} is above 100T parameters; check the suffix (B = billion)")
    if abs(value - round(value)) >= 0.01:  # 1.5 parameters: a typo for 1.5B (1.1b's float error is far smaller)
        raise ConfigError(f"parameter count {text!r} is not a whole number of parameters; did you mean {text}B?")
    return round(value)


def parse_bytes(text: str) -> int:
    """Parse a memory size: ``24GB`` (10^9), ``24GiB`` (2^30), ``80e9`` (bytes), or a number without a unit
    below a million, read as GB (``24`` → 24 GB; ``size_note`` says so). A size above zero but below 1 GB is
    refused: no accelerator has that little memory, so it is a unit slip (``24`` meant as bytes, ``0.5``)."""
    m = _BYTES_RE.match(text.replace(",", "").replace("_", ""))
    if not m:
        raise ConfigError(f"{text!r} is not a memory size: write e.g. 24GB, 24GiB or 80000000000")
    number = float(m.group(1))
    if m.group(2) is None and math.isfinite(number) and 10**6 <= number < 10**9:
        raise ConfigError(f"{text!r} has no unit and is neither GB nor a byte count of a GPU: write e.g. 24GB, "
                          "24GiB or 80000000000")
    unit = (m.group(2) or ("gb" if number < 10**6 else "b")).lower()
    value = number * _BYTE_UNITS[unit]
    if not math.isfinite(value) or value > 10**18:
        raise ConfigError(f"{text!r} is too large for a memory size: write e.g. 24GB, 24GiB or 80e9")
    if 0 < value < GB:
        raise ConfigError(f"memory size {text!r} is below 1 GB ({round(value):,} bytes): write the unit, e.g. "
                          "24GB or 24GiB")
    return round(value)


def size_note(flag: str, text: str) -> str | None:
    """The note for a size written without a unit (read as GB), None when it had one or is a byte count."""
    m = _BYTES_RE.match(text.replace(",", "").replace("_", ""))
    if m is None or m.group(2) is not None or not 0 < float(m.group(1)) < 10**6:
        return None
    return (f"{flag} {text} has no unit: read as {float(m.group(1)):g} GB ({parse_bytes(text):,} bytes); write "
            f"{text}GiB for GiB")


_TOKENS_RE = re.compile(r"^\s*(-?[0-9][0-9_,]*(?:\.[0-9]+)?)\s*([km]?)\s*$", re.IGNORECASE)


def parse_tokens(text: str) -> int:
    """Parse a token or sequence count as people write it: ``8192``, ``8,192``, ``32K``, ``128k`` (k = 1024,
    as context lengths are quoted: Llama 3.1's "128K" is 131,072 tokens), ``1M`` (1,048,576)."""
    m = _TOKENS_RE.match(text)
    if not m:
        raise ConfigError(f"{text!r} is not a count: write e.g. 8192, 8,192, 32k or 128K (k = 1024)")
    value = float(m.group(1).replace(",", "").replace("_", "")) * {"": 1, "k": 1024, "m": 1024**2}[m.group(2).lower()]
    if not math.isfinite(value) or abs(value) > 10**15:
        raise ConfigError(f"{text!r} is too large for a count")
    if value != int(value):
        raise ConfigError(f"{text!r} is not a whole count: write e.g. 1.5k (1,536) or 1536")
    return int(value)


def fmt_bytes(n: int | float) -> str:
    """``16.06 GB (14.96 GiB)``: both units, always written; small sizes in MB/MiB or bytes."""
    if abs(n) >= 10**8:
        return f"{n / GB:,.2f} GB ({n / GIB:,.2f} GiB)"
    if abs(n) >= 10**5:
        return f"{n / 10**6:,.2f} MB ({n / 1024**2:,.2f} MiB)"
    return f"{int(n):,} bytes"


def fmt_count(n: int) -> str:
    """``8,030,261,248 (8.03B)``."""
    for div, suf in ((10**12, "T"), (10**9, "B"), (10**6, "M"), (10**3, "K")):
        if n >= div:
            return f"{n:,} ({n / div:.2f}{suf})"
    return f"{n:,}"
