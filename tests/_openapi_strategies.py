"""Hypothesis strategies for request bodies, read from an OpenAPI schema: mostly what the schema allows (so the
requests reach the arithmetic), mixed with what it forbids and what breaks careless servers (lone UTF-16
surrogates, huge and negative numbers, NaN, wrong types, long strings, unknown keys)."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

_SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
HOSTILE: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "../../etc/passwd", "7" * 300, "1e400", "NaN", "-1", " ", "",
                     "x" * 5000, "q4_k_m\u202e", "h100\ud83d"]),
    st.sampled_from([10**30, -(10**30), 2**63, 2**64 + 1, -1, 0, 1.5, 1e308, float("inf"), float("nan"), True,
                     None, [], {}]),
    st.builds(lambda a, s, b: a + s + b, _ANY_TEXT, _SURROGATES, _ANY_TEXT),
    _ANY_TEXT,
)


class Schemas:
    """Strategies for the request bodies of one OpenAPI document."""

    def __init__(self, doc: dict[str, Any]) -> None:
        self.doc = doc

    def body(self, path: str) -> st.SearchStrategy[Any]:
        """A body for ``POST path``: a valid one, one with a single field spoiled (hostile value, missing, or an
        unknown key), or no object at all."""
        ref = self.doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
        schema = self._resolve(ref)
        valid = self.of(schema)
        return st.one_of(valid, valid, valid, st.builds(_spoil, valid, st.integers(0, 10**6), HOSTILE), HOSTILE)

    def _resolve(self, s: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in s:
            s = self.doc["components"]["schemas"][s["$ref"].rsplit("/", 1)[-1]]
        return s

    def of(self, s: dict[str, Any]) -> st.SearchStrategy[Any]:
        """A value that schema ``s`` allows (its examples often, as they name real models and GPUs)."""
        s = self._resolve(s)
        inner = self._valid(s)
        examples = s.get("examples") or []
        return st.one_of(st.sampled_from(examples), inner) if examples else inner

    def _valid(self, s: dict[str, Any]) -> st.SearchStrategy[Any]:
        if "anyOf" in s:
            return st.one_of([self.of(x) for x in s["anyOf"]])
        if "enum" in s:
            return st.sampled_from(s["enum"])
        kind = s.get("type")
        if kind == "object":
            return self._object(s)
        if kind == "array":
            return st.lists(self.of(s.get("items", {})), min_size=s.get("minItems", 0),
                            max_size=min(s.get("maxItems", 8), 8))
        if kind == "integer":
            lo, hi = int(s.get("minimum", -(2**63))), int(s.get("maximum", 2**63))
            return st.one_of(st.integers(lo, min(hi, lo + 100_000)), st.integers(lo, hi), st.sampled_from([lo, hi]))
        if kind == "number":
            lo, hi = float(s.get("minimum", s.get("exclusiveMinimum", -1e9))), float(s.get("maximum", 1e9))
            return st.floats(lo, hi, allow_nan=False, exclude_min="exclusiveMinimum" in s)
        if kind == "boolean":
            return st.booleans()
        if kind == "null":
            return st.none()
        if kind == "string":
            lo, hi = s.get("minLength", 0), s.get("maxLength", 64)
            if "pattern" in s:
                return st.from_regex(s["pattern"], fullmatch=True).filter(lambda t: lo <= len(t) <= hi)
            return st.text(min_size=lo, max_size=min(hi, 64))
        return st.one_of(st.none(), st.integers(), st.text(max_size=8))

    def _object(self, s: dict[str, Any]) -> st.SearchStrategy[Any]:
        props: dict[str, Any] = s.get("properties", {})
        if not props:  # a free object (a pasted config.json): junk, or a real config with one field changed
            return st.one_of(st.dictionaries(st.text(max_size=12), HOSTILE, max_size=6), _config_like())
        required = set(s.get("required", []))
        return st.fixed_dictionaries({k: self.of(v) for k, v in props.items() if k in required},
                                     optional={k: self.of(v) for k, v in props.items() if k not in required})


def _spoil(body: Any, pick: int, bad: Any) -> Any:
    """``body`` with one thing wrong: a field's value replaced, a field removed, or an unknown field added."""
    if not isinstance(body, dict) or not body:
        return bad
    keys = sorted(body)
    key = keys[pick % len(keys)]
    how = pick % 3
    if how == 0:
        return {**body, key: bad}
    if how == 1:
        return {k: v for k, v in body.items() if k != key}
    return {**body, f"x{pick}\ud800" if pick % 2 else "surprise": bad}


def _config_like() -> st.SearchStrategy[dict[str, Any]]:
    base = {"model_type": "llama", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
            "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 128256,
            "max_position_embeddings": 131072, "torch_dtype": "bfloat16"}
    key = st.sampled_from(sorted(base))
    return st.builds(lambda k, v: {**base, k: v}, key,
                     st.one_of(HOSTILE, st.integers(1, 10_000), st.sampled_from([10**7, 10**12, 9999, 10_000])))


def encode(body: Any) -> bytes:
    """The body as a client would send it: JSON with lone surrogates as \\uXXXX escapes, NaN as NaN."""
    return json.dumps(body, allow_nan=True).encode("ascii")
