"""Parameters a family keeps in float32 whatever the load dtype (``data/fp32_parameters.toml``).

transformers 5.25 ``modeling_utils.py`` ``PreTrainedModel._get_dtype_plan`` maps every entry of a class's
``_keep_in_fp32_modules_strict`` to float32 for fp16 and bf16 loads, and ``core_model_loading.py`` applies the plan to
each parameter whose name the entries' alternation finds (``build_glob_alternation``: each entry a regex with ``*`` read
as ``.*``, its dots unescaped, searched anywhere in the name). Where the weights are 16-bit, those parameters take 4
bytes each, not 2.
"""

from __future__ import annotations

import re
import tomllib
from functools import cache
from importlib import resources

__all__ = ["fp32_kept", "fp32_modules"]


@cache
def fp32_modules() -> dict[str, tuple[str, ...]]:
    """model_type -> the module names its modelling code keeps in float32 (each row of the data file has a source)."""
    text = (resources.files("memfit") / "data" / "fp32_parameters.toml").read_text(encoding="utf-8")
    out: dict[str, tuple[str, ...]] = {}
    for row in tomllib.loads(text)["family"]:
        if not str(row.get("source", "")):
            raise ValueError(f"data/fp32_parameters.toml: row {row.get('model_type')!r} has no source")
        out[str(row["model_type"])] = tuple(str(m) for m in row["modules"])
    return out


@cache
def _pattern(family: str) -> re.Pattern[str] | None:
    modules = fp32_modules().get(family)
    # transformers 5.25 core_model_loading.py build_glob_alternation: body = glob.replace("*", ".*"), not escaped
    return re.compile("|".join(f"(?:{m.replace('*', '.*')})" for m in modules)) if modules else None


def fp32_kept(family: str, name: str) -> bool:
    """Whether the parameter ``name`` (transformers' ``named_parameters`` name) of a ``family`` model stays float32."""
    pattern = _pattern(family)
    return bool(pattern is not None and name and pattern.search(name))
