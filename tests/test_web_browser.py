"""The page in a real browser: Debian's Chromium driven by Playwright, against the real server on 127.0.0.1.

Every test checks what the page shows against what the JSON API answers for the same request, that the
page made no request outside the local server (it works with no network) and logged no errors.
Screenshots land in artifacts/browser/ (git-ignored). Skipped when Chromium or Playwright is missing.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import httpx

from _web_server import BackgroundServer
from memfit.web.server import create_app

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed")

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
if not Path(CHROMIUM).exists():
    pytest.skip("Chromium is not installed (apt-get install chromium)", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
SHOTS = ROOT / "artifacts" / "browser"
LLAMA_8B = 8_030_261_248  # derived by hand in test_web_api.py
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
        "--disable-default-apps", "--metrics-recording-only", "--mute-audio"]
TIMEOUT_MS = 20_000


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with BackgroundServer(create_app(allowed_hosts=["127.0.0.1", "localhost"])) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        except Exception as e:  # a Chromium that cannot start here (missing libraries, sandbox)
            pytest.skip(f"Chromium did not start: {str(e).splitlines()[0]}")
        yield b
        b.close()


class Page:
    """A page plus what it did: requests outside the server, console errors, page errors."""

    def __init__(self, page: Any, origin: str) -> None:
        self.page, self.origin = page, origin
        self.outside: list[str] = []
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        page.route("**/*", self._route)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.origin + "/") or url == self.origin:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def wait_done(self, contains: str = "") -> None:
        sel = f'#result[data-state="done"][data-rendered*="{contains}"]' if contains else '#result[data-state="done"]'
        self.page.wait_for_selector(sel, state="attached", timeout=TIMEOUT_MS)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)

    def shown_total(self) -> int:
        return int(self.page.get_attribute("#total-bytes", "data-bytes"))

    def shown_components(self) -> dict[str, int]:
        rows = self.page.query_selector_all("#components tbody tr")
        return {r.get_attribute("data-component"): int(r.get_attribute("data-bytes")) for r in rows}


@pytest.fixture
def page(browser: Any, server_url: str) -> Iterator[Page]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, service_workers="block")
    p = Page(ctx.new_page(), server_url)
    yield p
    ctx.close()
    assert not p.outside, f"the page reached outside the local server: {p.outside}"
    assert not [e for e in p.errors if "400" not in e and "422" not in e], p.errors


def api(server_url: str, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(server_url + path, json=body, timeout=30)


def open_page(page: Page, server_url: str, hash_: str = "#model=llama-3.1-8b&mode=weights") -> None:
    page.page.goto(f"{server_url}/{hash_}")
    page.page.wait_for_selector('body[data-ready="1"]', state="attached", timeout=TIMEOUT_MS)
    page.page.wait_for_selector('#result[data-state="done"], #result[data-state="error"]', state="attached",
                                timeout=TIMEOUT_MS)


def test_type_a_model_change_the_context_same_numbers_as_the_api(page: Page, server_url: str) -> None:
    body = {"model": "llama-3.1-8b", "mode": "inference", "runtime": "transformers", "context": 8192, "batch": 1,
            "new_tokens": 128}
    probe = api(server_url, "/api/estimate", body)
    if probe.status_code >= 500:
        pytest.skip(f"inference estimates unavailable in this tree: {probe.json().get('error')}")
    assert probe.status_code == 200, probe.text
    open_page(page, server_url)
    pg = page.page
    pg.check('input[name="source"][value="catalog"]')
    pg.fill("#model", "")
    pg.locator("#model").press_sequentially("llama-3.1-8b", delay=10)
    pg.select_option("#mode", "inference")
    pg.select_option("#runtime", "transformers")
    pg.fill("#batch", "1")
    pg.fill("#new_tokens", "128")
    pg.fill("#context", "8192")
    page.wait_done("context=8192")
    expected = probe.json()
    assert page.shown_total() == expected["total_bytes"]
    assert page.shown_components() == expected["components"]
    assert pg.inner_text("#total-bytes") == f"{expected['total_bytes']:,} bytes"
    # the context chart has a point at 8192 with the same total
    dot = pg.query_selector('#chart-context circle[data-x="8192"]')
    assert dot is not None and int(dot.get_attribute("data-bytes")) == expected["total_bytes"]
    assert pg.query_selector_all("#chart-batch circle")
    page.shot("typed-model-context-8192")
    # a longer context needs more memory, on the page as in the API
    pg.fill("#context", "32768")
    page.wait_done("context=32768")
    longer = api(server_url, "/api/estimate", {**body, "context": 32768}).json()
    assert page.shown_total() == longer["total_bytes"] > expected["total_bytes"]
    # the URL now holds the state: a second page restores it
    shared = pg.url
    assert "model=llama-3.1-8b" in shared and "context=32768" in shared
    other = Page(pg.context.new_page(), server_url)
    other.page.goto(shared)
    other.wait_done("context=32768")
    assert other.shown_total() == longer["total_bytes"]
    assert other.page.input_value("#context") == "32768"
    assert not other.outside and not other.errors


def test_shared_url_restores_form_and_result(page: Page, server_url: str) -> None:
    hash_ = "#model=llama-3.1-70b&mode=weights&dtype=q4_k_m&gpu=rtx-4090&gpus=2"
    open_page(page, server_url, hash_)
    page.wait_done("dtype=q4_k_m")
    pg = page.page
    assert pg.input_value("#model") == "llama-3.1-70b"
    assert pg.input_value("#mode") == "weights"
    assert pg.input_value("#dtype") == "q4_k_m"
    assert pg.input_value("#gpu") == "rtx-4090"
    assert pg.input_value("#gpus") == "2"
    body = {"model": "llama-3.1-70b", "mode": "weights", "dtype": "q4_k_m", "gpus": 2}
    est = api(server_url, "/api/estimate", body).json()
    assert page.shown_total() == est["total_bytes"]
    assert page.shown_components() == est["components"]
    fit = api(server_url, "/api/fit", {**body, "gpu": "rtx-4090"}).json()
    pg.wait_for_selector("#plan li", timeout=TIMEOUT_MS)
    assert pg.get_attribute("#verdict", "data-fits") == str(fit["fits"]).lower()
    assert fit["summary"] == pg.inner_text("#verdict")
    assert pg.query_selector('#plan li[data-question="min_gpus"]') is not None
    # the weights-by-precision chart marks every precision, with the API's bytes
    bars = {b.get_attribute("data-dtype"): int(b.get_attribute("data-bytes"))
            for b in pg.query_selector_all("#chart-dtype rect[data-dtype]")}
    assert bars == est["weights_by_dtype"]
    page.shot("shared-url-70b-q4_k_m-2x4090")


def test_pasted_config_and_reload(page: Page, server_url: str) -> None:
    cfg = json.loads((resources.files("memfit") / "data" / "models" / "llama-3.1-8b.json").read_text("utf-8"))
    open_page(page, server_url)
    pg = page.page
    pg.check('input[name="source"][value="config"]')
    pg.select_option("#mode", "weights")
    pg.fill("#dtype", "float32")
    pg.fill("#config", json.dumps(cfg, indent=2))
    page.wait_done("config=")
    assert page.shown_total() == 4 * LLAMA_8B
    assert "8,030,261,248" in pg.inner_text("#params")
    page.shot("pasted-config")
    pg.reload()
    page.wait_done("config=")
    assert page.shown_total() == 4 * LLAMA_8B
    assert json.loads(pg.input_value("#config")) == cfg


def test_bare_count(page: Page, server_url: str) -> None:
    open_page(page, server_url)
    pg = page.page
    pg.check('input[name="source"][value="count"]')
    pg.select_option("#mode", "weights")
    pg.fill("#dtype", "float16")
    pg.fill("#memory", "24")
    pg.fill("#count", "7B")
    page.wait_done("count=7B")
    assert page.shown_total() == 14_000_000_000
    assert pg.get_attribute("#verdict", "data-fits") == "true"
    assert len(pg.query_selector_all("#chart-dtype rect[data-dtype]")) >= 6
    page.shot("bare-count-7b")


def test_bad_input_shows_the_error_and_the_page_recovers(page: Page, server_url: str) -> None:
    open_page(page, server_url)
    pg = page.page
    pg.select_option("#mode", "weights")
    pg.fill("#dtype", "")
    pg.fill("#model", "/etc/passwd")
    pg.wait_for_selector('#result[data-state="error"][data-rendered*="passwd"]', state="attached",
                         timeout=TIMEOUT_MS)
    assert "--allow-local-paths" in pg.inner_text("#error")
    page.shot("error-local-path")
    pg.fill("#model", "llama-3.1-8b")
    page.wait_done("model=llama-3.1-8b")
    assert pg.is_hidden("#error")
    assert page.shown_total() == 2 * LLAMA_8B
