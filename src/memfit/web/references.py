"""A web visitor's model reference → ``ModelSpec``: catalog ids, parameter counts and pasted config.json objects
always; local paths and Hub repo ids only when the server was started to allow them."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from ..errors import MemfitError, UnknownModelError
from ..sources.catalog import find_entry, suggest
from ..sources.hf_config import spec_from_config
from ..sources.loader import load_model
from ..spec import ModelSpec

__all__ = ["resolve_model"]

_COUNT_LIKE = re.compile(r"^\s*[0-9][0-9_,.]*(e[+-]?[0-9]+)?\s*[kmbgt]?\s*$", re.IGNORECASE)  # 7B, 1.5b, 70e9
_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[A-Za-z0-9][A-Za-z0-9_.\-]*(@[A-Za-z0-9_.\-/]+)?$")
_PATH_LIKE = re.compile(r"^(/|\\|~|\.{1,2}[/\\]|[A-Za-z]:[/\\])|[\\]|\.(json|gguf|safetensors|bin|pt|pth)$",
                        re.IGNORECASE)


def resolve_model(ref: str | int | dict[str, Any], allow_local_paths: bool = False,
                  allow_hub: bool = False) -> ModelSpec:
    """A web visitor's model reference → ``ModelSpec``, never touching the disk or the network unless allowed.

    Catalog ids, Hub repo ids that the catalog knows, and parameter counts always work; a pasted
    config.json object is parsed in memory. Anything else is a local path (``allow_local_paths``) or a
    Hub repo id (``allow_hub``) and is refused with a 400 unless the server was started to allow it.
    """
    if isinstance(ref, dict):
        try:
            return spec_from_config(ref)
        except MemfitError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError, RecursionError) as e:
            raise MemfitError(f"the pasted config.json could not be read ({type(e).__name__}: {e}); "
                              "paste the config.json of a Hugging Face model, unchanged") from None
    if isinstance(ref, int):
        return load_model(ref)
    text = ref.strip()
    if not text or len(text) > 200:
        raise MemfitError("the model is empty or longer than 200 characters: give a catalog id, a parameter "
                          "count such as 7B, or paste a config.json")
    if _COUNT_LIKE.match(text) or find_entry(text) is not None:
        return _load_bundled(text)
    if _PATH_LIKE.search(text):
        if allow_local_paths:
            return load_model(text)
        raise MemfitError(f"{text!r} looks like a file path; this server does not read local files for "
                          "visitors (start it with 'memfit serve --allow-local-paths' to allow that), "
                          "or paste the config.json instead")
    if _HUB_ID.match(text):
        return _hub_model(text, allow_local_paths, allow_hub)
    if allow_local_paths:  # a bare folder name such as "my-model"
        return load_model(text)
    hint = suggest(text)
    raise UnknownModelError(
        f"{text!r} is not a catalog id or a parameter count"
        + (f"; did you mean {' or '.join(repr(h) for h in hint)}?" if hint else ".")
        + " See the model list (GET /api/models), write a count such as 7B, or paste a config.json."
    )


def _hub_model(text: str, allow_local_paths: bool, allow_hub: bool) -> ModelSpec:
    if allow_hub and allow_local_paths:
        return load_model(text)
    if allow_hub:  # straight to the Hub reader: load_model would look for a local folder of that name first
        from ..sources.hub import is_repo_id, load_hub

        if is_repo_id(text):
            return load_hub(text)
    raise MemfitError(f"{text!r} looks like a Hugging Face repo id; this server does not fetch from the Hub "
                      "for visitors (start it with 'memfit serve --allow-hub' to allow that), or paste "
                      "its config.json instead")


@lru_cache(maxsize=1024)
def _load_bundled(text: str) -> ModelSpec:
    """A catalog model or a parameter count: nothing on disk but the package's own data, so it is remembered."""
    return load_model(text)
