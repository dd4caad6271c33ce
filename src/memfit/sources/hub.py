"""Hugging Face Hub repos (``org/name[@revision]``): config.json and safetensors headers only.

``config.json`` and ``model.safetensors.index.json`` come through ``hf_hub_download`` (so the
Hub cache is reused and ``HF_HUB_OFFLINE`` works from it); each shard's header is fetched with
HTTP range requests (a few kilobytes per shard) and validated by memfit's own header parser.
Weights are never downloaded, nothing is unpickled and no remote code runs.

Token and endpoint come from the usual environment (``HF_TOKEN``, ``HF_ENDPOINT``, ``HF_HOME``,
``HF_HUB_CACHE``), read at call time. The header bytes fetched for a commit are kept under
``$MEMFIT_CACHE`` (default ``~/.cache/memfit``) ``/hub-headers/`` so that a later ``HF_HUB_OFFLINE``
run still knows the stored bytes; they are re-validated on every use.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import struct
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..errors import FormatError, MemfitError, UnknownModelError, UnsupportedError
from ..spec import ModelSpec
from .hub_gguf import choose_gguf, read_remote_gguf, split_tag
from .safetensors_reader import SafetensorsHeader, index_shards, parse_header, read_header, spec_with_stored

__all__ = ["is_repo_id", "load_hub", "parse_repo_ref"]

_REPO = re.compile(r"^(?P<repo>[A-Za-z0-9][A-Za-z0-9_.-]{0,95}/[A-Za-z0-9_.-]{1,96})"
                   r"(?:@(?P<rev>[A-Za-z0-9_./-]{1,256}))?$")
_COMMIT = re.compile(r"^[0-9a-f]{40}$")
PREFIX_BYTES = 64 * 1024  # first range request: the whole header of almost every checkpoint
TIMEOUT_S = 20.0
MAX_JSON_BYTES = 100_000_000
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
_TRUE = {"1", "ON", "YES", "TRUE"}


def parse_repo_ref(text: str) -> tuple[str, str | None]:
    """``org/name@rev`` -> (``org/name``, ``rev`` or None); raises for anything else."""
    m = _REPO.match(text.strip())
    if m is None or ".." in text or "--" in m.group("repo"):
        raise UnknownModelError(f"{text!r} is not a Hugging Face repo id; use org/name or org/name@revision")
    return m.group("repo"), m.group("rev")


def is_repo_id(text: str) -> bool:
    """True when ``text`` looks like ``org/name[@revision]`` (and not like a file name)."""
    t = split_tag(text.strip())[0]
    if t.endswith((".json", ".safetensors", ".gguf")) or t.startswith((".", "/", "~")):
        return False
    try:
        parse_repo_ref(t)
    except MemfitError:
        return False
    return True


def _offline() -> bool:
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.upper() in _TRUE


def _cache_dir() -> str:
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
    return os.path.join(os.path.expanduser(home), "hub")


def _endpoint() -> str:
    return (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")


def _token() -> str | None:
    return os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN") or None


def load_hub(ref: str) -> ModelSpec:
    """A ModelSpec (with ``stored``) for a Hub repo, from config.json and the safetensors headers, or from
    the header of one GGUF model (``org/name:QUANT``)."""
    ref, tag = split_tag(ref)
    repo, rev = parse_repo_ref(ref)
    try:
        import huggingface_hub  # noqa: F401
    except ImportError:  # pragma: no cover - hub is an optional extra
        raise UnsupportedError("reading Hub repos needs huggingface_hub: pip install 'memfit[hub]'") from None
    if _offline():
        if tag is not None:
            raise MemfitError(f"HF_HUB_OFFLINE is set: reading the GGUF header of {ref}:{tag} needs the Hub; unset "
                              "HF_HUB_OFFLINE or pass the downloaded .gguf file's path")
        return _load_offline(repo, rev)
    try:
        return _load_online(repo, rev, tag)
    except MemfitError:
        raise
    except Exception as e:
        raise _translate(e, repo, rev) from None


def _translate(e: Exception, repo: str, rev: str | None) -> MemfitError:
    from huggingface_hub import errors

    where = f"{repo}@{rev}" if rev else repo
    if isinstance(e, errors.GatedRepoError):
        return MemfitError(f"{where} is a gated repo: accept its terms on {_endpoint()}/{repo} and set HF_TOKEN to a "
                           "token of an account that has access")
    if isinstance(e, errors.RevisionNotFoundError):
        return UnknownModelError(f"revision {rev!r} does not exist in {repo}: use a branch, tag or commit of the repo")
    if isinstance(e, errors.RepositoryNotFoundError):
        return UnknownModelError(f"{repo!r} is not a catalog id, a local path or a Hub repo that exists (or it is "
                                 "private: set HF_TOKEN). Run 'memfit models' to list the catalog.")
    if isinstance(e, errors.OfflineModeIsEnabled):
        return MemfitError(f"cannot fetch {where}: Hugging Face offline mode is enabled; unset HF_HUB_OFFLINE")
    if isinstance(e, errors.HfHubHTTPError):
        code = getattr(getattr(e, "response", None), "status_code", "?")
        return MemfitError(f"the Hub answered HTTP {code} for {where}: {str(e).splitlines()[0][:200]}")
    if isinstance(e, OSError | TimeoutError) or type(e).__module__.startswith("httpx"):
        return MemfitError(f"cannot reach the Hugging Face Hub at {_endpoint()} for {where} ({type(e).__name__}: "
                           f"{str(e)[:160]}). Check the network, or set HF_HUB_OFFLINE=1 to use the local cache; "
                           "catalog ids (memfit models) work without a network.")
    return MemfitError(f"reading {where} from the Hub failed: {type(e).__name__}: {str(e)[:200]}")


def _load_online(repo: str, rev: str | None, tag: str | None = None) -> ModelSpec:
    from huggingface_hub import HfApi

    api = HfApi(endpoint=_endpoint(), token=_token())
    info = api.model_info(repo, revision=rev, files_metadata=True, timeout=TIMEOUT_S)
    commit = info.sha or rev or "main"
    sizes: dict[str, int | None] = {}
    for s in info.siblings or []:
        size = s.lfs.size if s.lfs is not None else s.size
        sizes[s.rfilename] = size
    ref = rev or "main"  # downloads by ref name, so the cache records the ref and works offline later
    where = f"{repo}@{rev}" if rev else repo
    ggufs = sorted(f for f in sizes if f.endswith(".gguf"))
    if tag is not None or (ggufs and not any(f.endswith(".safetensors") for f in sizes)):
        return _load_gguf(repo, commit, choose_gguf(ggufs, tag, where), sizes, where)
    config = _json(repo, "config.json", ref) if "config.json" in sizes else None
    if "model.safetensors.index.json" in sizes:
        raw = _download_bytes(repo, "model.safetensors.index.json", ref)
        shards = index_shards(raw, f"{repo}/model.safetensors.index.json")
        missing = [f for f in shards if f not in sizes]
        if missing:
            raise FormatError(f"{repo}: model.safetensors.index.json lists {', '.join(missing[:3])}, which the repo "
                              "does not have")
    else:
        shards = sorted(f for f in sizes if f.endswith(".safetensors") and "/" not in f)
    if not shards:
        pickles = [f for f in sizes if f.endswith(PICKLE_SUFFIXES)]
        what = (f"only pickle weights ({', '.join(sorted(pickles)[:3])}), which memfit never downloads or unpickles"
                if pickles else "no safetensors weights")
        if config is None:
            raise UnsupportedError(f"{where} has {what} and no config.json: nothing memfit can read. Pass a "
                                   "config.json, a catalog id or a parameter count instead.")
        import warnings

        warnings.warn(f"{where} has {what}; the estimate comes from its config.json alone", stacklevel=2)
        from .hf_config import spec_from_config

        return replace(spec_from_config(config, repo), source=f"hf:{repo}@{commit}")
    headers = _remote_headers(repo, commit, shards, sizes)
    return spec_with_stored(headers, config, repo, f"hf:{repo}@{commit}", shards)


def _load_gguf(repo: str, commit: str, files: Sequence[str], sizes: dict[str, int | None], where: str) -> ModelSpec:
    """One GGUF model's headers by range requests (gguf_reader's bounded parser over a remote file)."""
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils._headers import build_hf_headers

    from .gguf_reader import _SPLIT, gguf_spec

    headers = build_hf_headers(token=_token())
    session = get_session()

    def opener(filename: str) -> Callable[[int, int], bytes]:
        url = hf_hub_url(repo, filename, revision=commit, endpoint=_endpoint())
        total: list[int | None] = [sizes.get(filename)]
        return lambda offset, length: _range(session, url, headers, offset, length, total, f"{repo}/{filename}")

    parsed = read_remote_gguf(files, sizes, opener, where)
    base = files[0].rsplit("/", 1)[-1]
    m = _SPLIT.match(base)
    stem = m.group("stem") if m else base.removesuffix(".gguf")
    return gguf_spec(parsed, stem, f"hf:{repo}@{commit}:{files[0]}")


def _remote_headers(repo: str, commit: str, files: Sequence[str], sizes: dict[str, int | None]
                    ) -> list[SafetensorsHeader]:
    from huggingface_hub import get_session, hf_hub_url
    from huggingface_hub.utils._headers import build_hf_headers

    headers = build_hf_headers(token=_token())
    session = get_session()

    def fetch(filename: str) -> SafetensorsHeader:
        url = hf_hub_url(repo, filename, revision=commit, endpoint=_endpoint())
        where = f"{repo}/{filename}"
        total: list[int | None] = [sizes.get(filename)]

        def read(offset: int, length: int) -> bytes:
            return _range(session, url, headers, offset, length, total, where)

        prefix = read(0, PREFIX_BYTES)
        size = total[0]
        if size is None:
            raise FormatError(f"{where}: the Hub reported no file size, so the header cannot be checked")
        rest: list[bytes] = []

        def read_rest(offset: int, length: int) -> bytes:
            rest.append(read(offset, length))
            return rest[-1]

        header = parse_header(prefix, read_rest, size, where)
        raw = prefix[: 8 + header.header_size] if not rest else prefix[:8] + rest[0]
        _save_header(repo, commit, filename, size, raw)
        return header

    if len(files) == 1:
        out = [fetch(files[0])]
    else:
        with ThreadPoolExecutor(max_workers=min(8, len(files))) as pool:
            out = list(pool.map(fetch, files))
    _save_shards(repo, commit, files)
    return out


# --- header cache: lets HF_HUB_OFFLINE runs see the stored bytes too --------------------------------

def _header_dir(repo: str, commit: str) -> Path:
    root = os.environ.get("MEMFIT_CACHE") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "memfit")
    return Path(os.path.expanduser(root)) / "hub-headers" / repo.replace("/", "--") / commit


def _save_header(repo: str, commit: str, filename: str, size: int, raw: bytes) -> None:
    """Keep a shard's header bytes (best effort: a read-only cache only loses the offline benefit)."""
    if not _COMMIT.match(commit) or "/" in filename:
        return
    with contextlib.suppress(OSError):
        folder = _header_dir(repo, commit)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{filename}.header").write_bytes(struct.pack("<Q", size) + raw)


def _save_shards(repo: str, commit: str, files: Sequence[str]) -> None:
    if _COMMIT.match(commit):
        with contextlib.suppress(OSError):
            (_header_dir(repo, commit) / "shards.json").write_text(json.dumps(list(files)))


def _slicer(raw: bytes) -> Callable[[int, int], bytes]:
    def read(offset: int, length: int) -> bytes:
        return raw[offset: offset + length]
    return read


def _cached_headers(repo: str, commit: str) -> tuple[list[SafetensorsHeader], list[str]] | None:
    """The headers saved by an earlier online run for this commit, re-validated; None if absent."""
    if not _COMMIT.match(commit):
        return None
    folder = _header_dir(repo, commit)
    try:
        files = json.loads((folder / "shards.json").read_text())
        if not isinstance(files, list) or not all(isinstance(f, str) and "/" not in f for f in files):
            return None
        out = []
        for name in files:
            blob = _read_small(folder / f"{name}.header", str(folder / name))
            size, raw = int.from_bytes(blob[:8], "little"), blob[8:]
            out.append(parse_header(raw, _slicer(raw), size, f"{repo}/{name} (cached header)"))
        return out, files
    except (OSError, ValueError):
        return None


def _range(session: Any, url: str, headers: dict[str, str], offset: int, length: int, total: list[int | None],
           where: str) -> bytes:
    """Bytes [offset, offset+length) of a remote file, never more even if the server ignores Range."""
    from huggingface_hub import hf_raise_for_status

    if length <= 0:
        return b""
    end = offset + length - 1
    with session.stream("GET", url, headers={**headers, "Range": f"bytes={offset}-{end}",
                                              "Accept-Encoding": "identity"}, timeout=TIMEOUT_S) as r:
        if r.status_code >= 400:
            r.read()
            hf_raise_for_status(r)
        content_range = r.headers.get("Content-Range", "")
        m = re.match(r"bytes (\d+)-(\d+)/(\d+)", content_range)
        if r.status_code == 206 and m:
            if int(m.group(1)) != offset:
                raise FormatError(f"{where}: asked for bytes from {offset} and the server sent from {m.group(1)}")
            total[0] = total[0] if total[0] is not None else int(m.group(3))
            skip = 0
        elif r.status_code == 200:  # Range ignored: read just what is needed, then drop the connection
            skip = offset
            if total[0] is None and r.headers.get("Content-Length", "").isdigit():
                total[0] = int(r.headers["Content-Length"])
        else:
            raise FormatError(f"{where}: unexpected HTTP {r.status_code} to a range request")
        out = bytearray()
        for chunk in r.iter_bytes():
            if skip:
                cut = min(skip, len(chunk))
                chunk, skip = chunk[cut:], skip - cut
            out += chunk[: length - len(out)]
            if len(out) >= length:
                break
        return bytes(out)


def _download_bytes(repo: str, filename: str, revision: str, local_only: bool = False) -> bytes:
    from huggingface_hub import hf_hub_download

    path = Path(hf_hub_download(repo, filename, revision=revision, cache_dir=_cache_dir(), endpoint=_endpoint(),
                                token=_token(), local_files_only=local_only, etag_timeout=TIMEOUT_S))
    return _read_small(path, f"{repo}/{filename}")


def _read_small(path: Path, where: str) -> bytes:
    size = path.stat().st_size
    if size > MAX_JSON_BYTES:
        raise FormatError(f"{where} is {size:,} bytes; at most {MAX_JSON_BYTES:,} are read")
    return path.read_bytes()


def _json(repo: str, filename: str, revision: str, local_only: bool = False) -> dict[str, Any]:
    raw = _download_bytes(repo, filename, revision, local_only)
    try:
        obj = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:
        raise FormatError(f"{repo}/{filename} is not valid JSON ({str(e)[:120]})") from None
    if not isinstance(obj, dict):
        raise FormatError(f"{repo}/{filename} must hold a JSON object")
    return obj


def _load_offline(repo: str, rev: str | None) -> ModelSpec:
    """HF_HUB_OFFLINE: config.json (and any fully cached safetensors) from the Hub cache only."""
    from huggingface_hub import try_to_load_from_cache

    where = f"{repo}@{rev}" if rev else repo

    def cached(filename: str) -> Path | None:
        p = try_to_load_from_cache(repo, filename, cache_dir=_cache_dir(), revision=rev)
        return Path(p) if isinstance(p, str) else None

    cfg_path = cached("config.json")
    if cfg_path is None:
        raise MemfitError(f"HF_HUB_OFFLINE is set and {where} is not in the Hugging Face cache ({_cache_dir()}): "
                          "unset HF_HUB_OFFLINE to read it from the Hub, or use a catalog id or a local path")
    config = json.loads(_read_small(cfg_path, f"{repo}/config.json"))
    files: list[Path] = []
    index = cached("model.safetensors.index.json")
    if index is not None:
        names = index_shards(_read_small(index, f"{repo}/model.safetensors.index.json"), str(index))
        found = [cached(n) for n in names]
        files = [f for f in found if f is not None] if all(found) else []
    elif (single := cached("model.safetensors")) is not None:
        files = [single]
    if files:
        headers = [read_header(f) for f in files]
        return spec_with_stored(headers, config, repo, f"hf-cache:{where}", [f.name for f in files])
    saved = _cached_headers(repo, cfg_path.parent.name)  # snapshots/<commit>/config.json
    if saved is not None:
        return spec_with_stored(saved[0], config, repo, f"hf-cache:{where}", saved[1])
    from .hf_config import spec_from_config

    return replace(spec_from_config(config, repo), source=f"hf-cache:{where}")
