"""GGUF repos on the Hub: the header of one GGUF model (a file, or all parts of a split) by range requests.

The repo listing gives each file's size; the header is read through memfit's own bounded GGUF parser
(``gguf_reader.parse_gguf``) over a remote file object that fetches 1 MiB blocks on demand with HTTP
range requests, at most ``MAX_FETCH`` bytes per file (a tokenizer of a few hundred thousand strings
is a few MB; tensor data is never read). A repo usually holds several quantizations: ``org/name:Q4_K_M``
picks one by its name (case-insensitive), as llama.cpp's ``-hf`` does; a repo with one GGUF model needs
no tag. Projector files (``mmproj*``) are never taken for the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from ..errors import FormatError, UnsupportedError
from .gguf_reader import _SPLIT, GGUFHeader, parse_gguf

__all__ = ["BLOCK", "MAX_FETCH", "RemoteFile", "choose_gguf", "read_remote_gguf", "split_tag"]

BLOCK = 1 << 20
MAX_FETCH = 256 * BLOCK
KEEP_BLOCKS = 4
_TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def split_tag(ref: str) -> tuple[str, str | None]:
    """``org/name:Q4_K_M`` -> (``org/name``, ``Q4_K_M``); a ref without a tag after its last ``/`` is unchanged."""
    head, sep, tag = ref.strip().rpartition(":")
    if not sep or "/" in tag or "/" not in head or not _TAG.match(tag):
        return ref, None
    return head, tag


class RemoteFile:
    """A read-only, seekable view of a remote file of known ``size``; ``fetch(offset, length)`` returns
    those bytes. Blocks are fetched once and a few are kept; more than ``limit`` bytes is an error."""

    def __init__(self, fetch: Callable[[int, int], bytes], size: int, where: str, limit: int = MAX_FETCH) -> None:
        self._fetch, self.size, self.where, self.limit = fetch, size, where, limit
        self.pos = 0
        self.fetched = 0
        self._blocks: dict[int, bytes] = {}

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self.pos = offset if whence == 0 else self.pos + offset if whence == 1 else self.size + offset
        return self.pos

    def _block(self, i: int) -> bytes:
        if i not in self._blocks:
            start = i * BLOCK
            length = min(BLOCK, self.size - start)
            if self.fetched + length > self.limit:
                raise FormatError(f"{self.where}: the GGUF header runs past {self.limit:,} bytes; memfit reads at "
                                  "most that much of a remote file")
            data = self._fetch(start, length)
            if len(data) != length:
                raise FormatError(f"{self.where}: asked for {length:,} bytes at offset {start:,} and got "
                                  f"{len(data):,} (file changed or truncated)")
            self.fetched += length
            if len(self._blocks) >= KEEP_BLOCKS:
                self._blocks.pop(next(iter(self._blocks)))
            self._blocks[i] = data
        return self._blocks[i]

    def read(self, n: int = -1) -> bytes:
        end = self.size if n < 0 else min(self.size, self.pos + n)
        out = bytearray()
        while self.pos < end:
            i, off = divmod(self.pos, BLOCK)
            chunk = self._block(i)[off: off + end - self.pos]
            out += chunk
            self.pos += len(chunk)
        return bytes(out)


def _models(files: Sequence[str]) -> dict[str, list[str]]:
    """GGUF model name (a split's stem, or the file name without .gguf) -> its files in order."""
    out: dict[str, list[str]] = {}
    for f in sorted(files):
        base = f.rsplit("/", 1)[-1]
        if not base.endswith(".gguf") or "mmproj" in base.lower():
            continue
        m = _SPLIT.match(base)
        stem = f[: len(f) - len(base)] + (m.group("stem") if m else base.removesuffix(".gguf"))
        out.setdefault(stem, []).append(f)
    return out


def choose_gguf(files: Sequence[str], tag: str | None, where: str) -> list[str]:
    """The files of the one GGUF model the ref names (all parts of a split, checked complete)."""
    models = _models(files)
    if tag is not None:
        picked = {k: v for k, v in models.items() if tag.lower() in k.rsplit("/", 1)[-1].lower()}
        if len(picked) > 1:  # Q4_K matches Q4_K_M and Q4_K_S: an exact last part wins
            exact = {k: v for k, v in picked.items() if re.split(r"[-.]", k)[-1].lower() == tag.lower()}
            picked = exact or picked
    else:
        picked = models
    names = ", ".join(sorted(models)[:8]) + (", …" if len(models) > 8 else "")
    if not picked:
        raise UnsupportedError(f"{where} has no GGUF model matching {tag!r}; it holds: {names or 'none'}")
    if len(picked) > 1:
        raise UnsupportedError(f"{where} holds {len(picked)} GGUF models ({names}): name one as REPO:QUANT, "
                               f"e.g. {where.split('@')[0]}:Q4_K_M")
    chosen = next(iter(picked.values()))
    m = _SPLIT.match(chosen[0].rsplit("/", 1)[-1])
    if m:
        count = int(m.group("count"))
        want = [f"{chosen[0][: -len('00001-of-00000.gguf')]}{i:05d}-of-{count:05d}.gguf" for i in range(1, count + 1)]
        missing = [w for w in want if w not in chosen]
        if missing:
            raise FormatError(f"{where}: {chosen[0]} is part of a {count}-file split but {', '.join(missing[:3])} "
                              "is not in the repo")
        chosen = want
    return chosen


def read_remote_gguf(files: Sequence[str], sizes: Mapping[str, int | None],
                     opener: Callable[[str], Callable[[int, int], bytes]], where: str) -> list[GGUFHeader]:
    """Each file's header: ``opener(file)`` gives a range reader for it."""
    out = []
    for f in files:
        size = sizes.get(f)
        if size is None:
            raise FormatError(f"{where}/{f}: the Hub reported no file size, so the header cannot be checked")
        out.append(parse_gguf(RemoteFile(opener(f), size, f"{where}/{f}"), size, f"{where}/{f}"))  # type: ignore[arg-type]
    return out
