"""The Hub path end to end against a fake Hub on 127.0.0.1 (range requests, revisions, errors)."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

import memfit
from _checkpoint_files import TINY_CONFIG, TINY_PARAMS, hf_llama_shapes, save_torch
from memfit.errors import FormatError, MemfitError, UnknownModelError, UnsupportedError
from memfit.sources.hub import is_repo_id, parse_repo_ref

pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors")

MAIN = "a" * 40
V1 = "b" * 40


@dataclass
class FakeHub:
    """Repos: name -> {commit -> {file -> bytes}}; refs: name -> {branch/tag -> commit}."""

    repos: dict[str, dict[str, dict[str, bytes]]] = field(default_factory=dict)
    refs: dict[str, dict[str, str]] = field(default_factory=dict)
    gated: set[str] = field(default_factory=set)
    private: dict[str, str] = field(default_factory=dict)  # repo -> the token it needs
    served: dict[str, int] = field(default_factory=dict)  # file path -> bytes sent
    full_gets: list[str] = field(default_factory=list)  # GETs without a Range header
    url: str = ""

    def resolve(self, repo: str, rev: str) -> str | None:
        if rev in self.repos.get(repo, {}):
            return rev
        return self.refs.get(repo, {}).get(rev)


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def _error(self, code: int, error_code: str) -> None:
            body = json.dumps({"error": error_code}).encode()
            self.send_response(code)
            self.send_header("X-Error-Code", error_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _repo(self, repo: str, rev: str, resolve: bool = True) -> str | None:
            if repo in hub.private and self.headers.get("Authorization") != f"Bearer {hub.private[repo]}":
                self._error(401, "RepoNotFound")
                return None
            if repo not in hub.repos:
                self._error(404, "RepoNotFound")
                return None
            if repo in hub.gated and resolve:  # like the Hub: model info is public, files are not
                self._error(403, "GatedRepo")
                return None
            commit = hub.resolve(repo, rev)
            if commit is None:
                self._error(404, "RevisionNotFound")
            return commit

        def do_GET(self) -> None:
            self._serve(body=True)

        def do_HEAD(self) -> None:
            self._serve(body=False)

        def _serve(self, body: bool) -> None:
            path = self.path.split("?")[0]
            m = re.match(r"^/api/models/([^/]+/[^/]+)(?:/revision/([^/]+))?$", path)
            if m:
                repo, rev = m.group(1), m.group(2) or "main"
                commit = self._repo(repo, rev, resolve=False)
                if commit is None:
                    return
                files = hub.repos[repo][commit]
                doc = {"id": repo, "modelId": repo, "sha": commit, "private": False,
                       "siblings": [{"rfilename": f, "size": len(b)} for f, b in sorted(files.items())]}
                raw = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                if body:
                    self.wfile.write(raw)
                return
            m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", path)
            if not m:
                self._error(404, "RepoNotFound")
                return
            repo, rev, name = m.groups()
            commit = self._repo(repo, rev)
            if commit is None:
                return
            data = hub.repos[repo][commit].get(name)
            if data is None:
                self._error(404, "EntryNotFound")
                return
            start, end, status = 0, len(data) - 1, 200
            rng = self.headers.get("Range")
            if rng:
                r = re.match(r"bytes=(\d+)-(\d*)", rng)
                assert r is not None
                start = int(r.group(1))
                end = min(int(r.group(2)) if r.group(2) else len(data) - 1, len(data) - 1)
                status = 206
            elif body:
                hub.full_gets.append(name)
            chunk = data[start: end + 1]
            self.send_response(status)
            self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
            self.send_header("X-Repo-Commit", commit)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(chunk) if body or status == 206 else len(data)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
            self.end_headers()
            if body:
                hub.served[name] = hub.served.get(name, 0) + len(chunk)  # counted before the client can see it
                self.wfile.write(chunk)

    return Handler


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    import huggingface_hub.constants as hc

    fake = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("MEMFIT_CACHE", str(tmp_path / "memfit"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    _publish(fake, tmp_path / "build")
    yield fake
    server.shutdown()
    server.server_close()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir()}


def _publish(hub: FakeHub, build: Path) -> None:
    shapes = hf_llama_shapes()
    config = json.dumps(TINY_CONFIG).encode()
    # org/tiny main: one model.safetensors (bf16); tag v1: two shards (fp16) + index, with 3 layers
    single = build / "single"
    single.mkdir(parents=True)
    save_torch(single / "model.safetensors", {n: (s, "bfloat16") for n, s in shapes.items()})
    sharded = build / "sharded"
    sharded.mkdir()
    shapes3 = hf_llama_shapes(layers=3)
    names = sorted(shapes3)
    half = len(names) // 2
    parts = {"model-00001-of-00002.safetensors": names[:half], "model-00002-of-00002.safetensors": names[half:]}
    for fname, group in parts.items():
        save_torch(sharded / fname, {n: (shapes3[n], "float16") for n in group})
    index = {"metadata": {}, "weight_map": {n: f for f, group in parts.items() for n in group}}
    (sharded / "model.safetensors.index.json").write_text(json.dumps(index))
    hub.repos["org/tiny"] = {
        MAIN: {**_files(single), "config.json": config, "README.md": b"# tiny"},
        V1: {**_files(sharded), "config.json": json.dumps(dict(TINY_CONFIG, num_hidden_layers=3)).encode()},
    }
    hub.refs["org/tiny"] = {"main": MAIN, "v1": V1}
    hub.repos["org/gated"] = {MAIN: {"config.json": config}}
    hub.refs["org/gated"] = {"main": MAIN}
    hub.gated.add("org/gated")
    hub.repos["org/pickles"] = {MAIN: {"config.json": config, "pytorch_model.bin": b"\x80\x04not really"}}
    hub.refs["org/pickles"] = {"main": MAIN}
    hub.repos["org/private"] = {MAIN: dict(hub.repos["org/tiny"][MAIN])}
    hub.refs["org/private"] = {"main": MAIN}
    hub.private["org/private"] = "hf_secret"
    hub.repos["org/gguf-only"] = {MAIN: {"model-Q4_K_M.gguf": b"GGUF", "README.md": b""}}
    hub.refs["org/gguf-only"] = {"main": MAIN}
    hub.repos["org/bare-pickles"] = {MAIN: {"pytorch_model.bin": b"\x80\x04"}}
    hub.refs["org/bare-pickles"] = {"main": MAIN}


TINY3_PARAMS = TINY_PARAMS + 30_848  # one more block of 30,848 parameters


def test_single_file_repo_reads_only_headers(hub: FakeHub, tmp_path: Path) -> None:
    spec = memfit.load_model("org/tiny")
    assert spec.family == "llama" and spec.num_layers == 2
    assert spec.source == f"hf:org/tiny@{MAIN}"
    s = spec.stored
    assert s is not None
    assert s.logical_parameters == TINY_PARAMS == memfit.count_parameters(spec).total
    assert s.stored_bytes == 2 * TINY_PARAMS
    assert s.files == ("model.safetensors",)
    assert hub.full_gets == ["config.json"]  # hf_hub_download of config.json; weights only by range
    assert hub.served["model.safetensors"] <= 64 * 1024 < 2 * TINY_PARAMS
    assert not list((tmp_path / "hf").rglob("*.safetensors"))  # no weights in the cache


def test_sharded_repo_at_a_revision(hub: FakeHub) -> None:
    spec = memfit.load_model("org/tiny@v1")
    assert spec.num_layers == 3
    assert spec.source == f"hf:org/tiny@{V1}"
    s = spec.stored
    assert s is not None
    assert s.files == ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    assert s.logical_parameters == TINY3_PARAMS == memfit.count_parameters(spec).total
    assert s.bytes_by_dtype == (("F16", TINY3_PARAMS, 2 * TINY3_PARAMS),)
    assert sorted(hub.full_gets) == ["config.json", "model.safetensors.index.json"]
    # a commit sha works as a revision too
    assert memfit.load_model(f"org/tiny@{V1}").stored == s


def test_cli_estimate_hub_repo(hub: FakeHub) -> None:
    est = memfit.estimate("org/tiny", dtype="float32")
    assert est.parameters.total == TINY_PARAMS
    assert est.total_bytes == 4 * TINY_PARAMS


def test_missing_repo_revision_and_gated(hub: FakeHub) -> None:
    with pytest.raises(UnknownModelError, match="not a catalog id"):
        memfit.load_model("org/nothing")
    with pytest.raises(UnknownModelError, match="revision 'v9'"):
        memfit.load_model("org/tiny@v9")
    with pytest.raises(MemfitError, match="gated"):
        memfit.load_model("org/gated")


def test_pickle_only_repos(hub: FakeHub) -> None:
    with pytest.warns(UserWarning, match="only pickle weights"):
        spec = memfit.load_model("org/pickles")
    assert spec.stored is None and memfit.count_parameters(spec).total == TINY_PARAMS
    assert "pytorch_model.bin" not in hub.served  # never downloaded
    with pytest.raises(UnsupportedError, match="never downloads or unpickles"):
        memfit.load_model("org/bare-pickles")


def test_offline_uses_the_cache_and_catalog_still_works(hub: FakeHub, monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    import shutil

    online = memfit.load_model("org/tiny@v1")  # caches config.json, the index and the shard headers
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.served.clear()
    spec = memfit.load_model("org/tiny@v1")
    assert spec.source == "hf-cache:org/tiny@v1" and spec.num_layers == 3
    assert spec.stored is not None and online.stored is not None
    assert spec.stored.files == online.stored.files
    assert (spec.stored.logical_parameters, spec.stored.stored_bytes) == (TINY3_PARAMS, 2 * TINY3_PARAMS)
    assert hub.served == {}
    shutil.rmtree(tmp_path / "memfit")  # without saved headers: the config alone
    spec = memfit.load_model("org/tiny@v1")
    assert spec.stored is None and memfit.count_parameters(spec).total == TINY3_PARAMS
    assert hub.served == {}
    with pytest.raises(MemfitError, match="HF_HUB_OFFLINE"):
        memfit.load_model("org/other")
    assert memfit.load_model("llama-3.1-8b").source == "catalog:llama-3.1-8b"


def test_no_network_gives_a_clear_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import socket

    import huggingface_hub.constants as hc

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(MemfitError, match="cannot reach the Hugging Face Hub"):
        memfit.load_model("org/tiny")
    assert memfit.load_model("llama-3.1-8b").num_layers == 32


def test_repo_ids() -> None:
    assert parse_repo_ref("meta-llama/Llama-3.1-8B@main") == ("meta-llama/Llama-3.1-8B", "main")
    assert parse_repo_ref("Qwen/Qwen2.5-7B") == ("Qwen/Qwen2.5-7B", None)
    for bad in ("noslash", "a/b/c", "org/x.json", "./org/x", "org/x@", "org/../x", "/abs/path"):
        assert not is_repo_id(bad), bad


def test_private_repo_uses_hf_token(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UnknownModelError, match="HF_TOKEN"):
        memfit.load_model("org/private")
    monkeypatch.setenv("HF_TOKEN", "hf_secret")
    spec = memfit.load_model("org/private")
    assert spec.stored is not None and spec.stored.logical_parameters == TINY_PARAMS


def test_gguf_only_repo_reads_its_gguf_header(hub: FakeHub) -> None:
    # the one GGUF model of the repo is read by range requests; this one is a 4-byte stub
    with pytest.raises(FormatError, match=r"model-Q4_K_M\.gguf.*truncated"):
        memfit.load_model("org/gguf-only")
