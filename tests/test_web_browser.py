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

from conftest import WEB_TEST_BUDGET_S

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
import httpx

from _web_server import BackgroundServer
from memfit.options import RUNTIMES
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


# ---------- the home user's question first: layout facts at desktop and phone widths ----------

def _box(pg: Any, sel: str) -> dict[str, float]:
    box = pg.locator(sel).bounding_box()
    assert box is not None, f"{sel} is not shown"
    return dict(box)


def _fit(server_url: str, **body: Any) -> dict[str, Any]:
    r = api(server_url, "/api/fit", {"model": "llama-3.1-8b", "mode": "inference", "context": 4096, "batch": 1,
                                     "new_tokens": 256, **body})
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


@pytest.mark.parametrize(("width", "height", "name"), [(1280, 800, "desktop-1280x800"), (390, 844, "phone-390")])
def test_first_screen_answers_the_question(browser: Any, server_url: str, width: int, height: int,
                                           name: str) -> None:
    ctx = browser.new_context(viewport={"width": width, "height": height}, service_workers="block")
    page = Page(ctx.new_page(), server_url)
    pg = page.page
    pg.goto(server_url + "/")  # no hash: the page's own defaults (a consumer card)
    page.wait_done()
    pg.wait_for_selector("#change li:not(.hint)", timeout=TIMEOUT_MS)
    SHOTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(SHOTS / f"{name}.png"))  # what is seen without scrolling
    page.shot(f"{name}-full")
    # nothing wider than the screen
    assert pg.evaluate("document.documentElement.scrollWidth") <= width
    # the verdict, the runtime assumed and what to change are all on the first screen
    for sel in ("#verdict", "#runtime-assumed", "#change-box"):
        b = _box(pg, sel)
        assert b["y"] >= 0 and b["y"] + b["height"] <= height, (sel, b)
        assert b["x"] >= 0 and b["x"] + b["width"] <= width, (sel, b)
    # on a consumer card the runtime people use there is assumed, and named
    assert pg.input_value("#gpu") == "rtx-4090"
    assert pg.get_attribute("#runtime-assumed", "data-runtime") == "llamacpp"
    assert "llama.cpp" in pg.inner_text("#runtime-assumed")
    fit = _fit(server_url, gpu="rtx-4090", runtime="llamacpp")
    assert pg.inner_text("#verdict") == fit["summary"]
    assert page.shown_total() == fit["estimate"]["total_bytes"]  # the headline is for the verdict's device
    # every runtime the server knows side by side (named as /api/info names them), each with /api/fit's
    # per-GPU figure on this GPU
    info = httpx.get(server_url + "/api/info").json()
    rows = {r.get_attribute("data-runtime"): r for r in pg.query_selector_all("#runtimes tbody tr")}
    assert set(rows) == set(RUNTIMES) == {r["name"] for r in info["runtimes"]}
    for r in info["runtimes"]:
        assert pg.inner_text(f'#runtimes tr[data-runtime="{r["name"]}"] td').startswith(r["label"])
    assert {"vLLM", "SGLang", "llama.cpp", "Ollama", "transformers (PyTorch)"} <= {r["label"] for r in info["runtimes"]}
    for rt, row in rows.items():
        other = api(server_url, "/api/fit", {"model": "llama-3.1-8b", "mode": "inference", "context": 4096,
                                            "batch": 1, "new_tokens": 256, "gpu": "rtx-4090", "runtime": rt})
        if other.status_code == 200:
            assert int(row.get_attribute("data-bytes")) == max(other.json()["per_gpu_bytes"]), rt
            assert row.get_attribute("data-fits") == str(other.json()["fits"]).lower(), rt
    ctx.close()
    assert not page.outside and not [e for e in page.errors if "400" not in e and "422" not in e], page.errors


def test_vllm_on_a_4090_totals_for_the_4090(page: Page, server_url: str) -> None:
    """The headline used to be vLLM's plan for a default H100 while the verdict below it used the 4090."""
    open_page(page, server_url, "#model=llama-3.1-8b&mode=inference&runtime=vllm&context=4096&gpu=rtx-4090")
    page.wait_done("gpu=rtx-4090")
    fit = _fit(server_url, gpu="rtx-4090", runtime="vllm")
    assert page.shown_total() == fit["estimate"]["total_bytes"]
    assert page.shown_components() == fit["estimate"]["components"]
    default_h100 = api(server_url, "/api/estimate", {"model": "llama-3.1-8b", "mode": "inference", "runtime": "vllm",
                                                    "context": 4096, "batch": 1, "new_tokens": 256}).json()
    assert page.shown_total() != default_h100["total_bytes"]
    assert "vLLM (your choice)" in page.page.inner_text("#runtime-assumed")
    page.shot("vllm-on-rtx-4090")


def test_a_data_centre_card_assumes_vllm_and_formats_are_for_it(page: Page, server_url: str) -> None:
    open_page(page, server_url, "#model=llama-3.1-8b&mode=inference&context=4096&gpu=h100-sxm")
    page.wait_done("gpu=h100-sxm")
    pg = page.page
    pg.wait_for_selector("#advice li", timeout=TIMEOUT_MS)
    assert pg.get_attribute("#runtime-assumed", "data-runtime") == "vllm"
    advice = api(server_url, "/api/advise", {"model": "llama-3.1-8b", "mode": "inference", "context": 4096, "batch": 1,
                                            "new_tokens": 256, "gpu": "h100-sxm", "runtime": "vllm"})
    if advice.status_code == 200:
        on_vllm = [r["format"] for r in advice.json()["fitting"] if r["runtime"] in (None, "vllm")][:8]
        shown = [li.get_attribute("data-format") for li in pg.query_selector_all("#advice li[data-format]")]
        assert shown == on_vllm and shown  # formats that fit, for the chosen runtime only
    page.shot("h100-assumes-vllm")


def test_several_gpus_charts_compare_per_gpu_with_one_gpu(page: Page, server_url: str) -> None:
    open_page(page, server_url, "#model=llama-3.1-70b&mode=inference&runtime=transformers&context=4096&gpu=h100-sxm"
              "&gpus=4")
    page.wait_done("gpus=4")
    pg = page.page
    fit = api(server_url, "/api/fit", {"model": "llama-3.1-70b", "mode": "inference", "runtime": "transformers",
                                       "context": 4096, "batch": 1, "new_tokens": 256, "gpu": "h100-sxm",
                                       "gpus": 4}).json()
    dot = pg.query_selector('#chart-context circle[data-x="4096"]')
    assert dot is not None and int(dot.get_attribute("data-bytes")) == max(fit["per_gpu_bytes"])
    assert max(fit["per_gpu_bytes"]) < fit["estimate"]["total_bytes"]  # a per-GPU figure, not the whole
    assert "one GPU's memory" in pg.inner_text("#chart-context")
    assert "the most loaded of 4 GPUs" in pg.inner_text("#per-gpu")
    page.shot("70b-on-4xh100-per-gpu")


def test_component_rows_name_their_moment(page: Page, server_url: str) -> None:
    open_page(page, server_url, "#model=llama-3.1-8b&mode=inference&runtime=transformers&context=8192")
    page.wait_done("context=8192")
    est = api(server_url, "/api/estimate", {"model": "llama-3.1-8b", "mode": "inference", "runtime": "transformers",
                                            "context": 8192, "batch": 1, "new_tokens": 256}).json()
    moment = est["details"]["peak_moment"]
    kv = page.page.inner_text('#components tr[data-component="kv_cache"] td:first-child')
    assert kv.strip() == f"KV cache (at the peak: {moment})"
    assert page.page.inner_text('#components tr[data-component="weights"] td:first-child').strip() == "weights"


def test_weights_chart_uses_a_log_scale_when_one_bar_dwarfs_another(page: Page, server_url: str) -> None:
    open_page(page, server_url, "#model=llama-3.1-8b&mode=weights")
    page.wait_done("mode=weights")
    bars = [int(b.get_attribute("data-bytes")) for b in page.page.query_selector_all("#chart-dtype rect[data-dtype]")]
    caption = page.page.inner_text("#chart-dtype >> xpath=.. >> figcaption")
    assert ("log scale" in caption) == (max(bars) / min(bars) > 20)


def test_a_new_option_appears_on_the_page_from_its_declaration(browser: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The form is drawn from the declaration (/api/info "options"): one hypothetical entry in memfit.options
    gives a field with its range, default, help, and the modes and runtimes that read it; no page edit."""
    from dataclasses import dataclass

    from memfit.options import form_description, option
    from memfit.web import routes
    from memfit.workload import Workload

    @dataclass(frozen=True)
    class WithDraft(Workload):
        draft_tokens: int = option(4, low=1, high=64, modes=("inference",), runtimes=("vllm",),
                                   help="vLLM: tokens the draft model proposes per step.")

    monkeypatch.setattr(routes, "form_description", lambda: form_description(WithDraft))
    with BackgroundServer(create_app(budget_s=WEB_TEST_BUDGET_S)) as url:
        ctx = browser.new_context(viewport={"width": 1280, "height": 800}, service_workers="block")
        page = Page(ctx.new_page(), url)
        pg = page.page
        open_page(page, url, "#model=llama-3.1-8b&mode=inference&runtime=vllm")
        pg.click("#more summary")
        field = pg.locator("#draft_tokens")
        assert (field.get_attribute("min"), field.get_attribute("max"), field.input_value()) == ("1", "64", "4")
        label = pg.locator("label:has(#draft_tokens)")
        assert label.get_attribute("title") == "vLLM: tokens the draft model proposes per step."
        assert label.is_visible()
        pg.select_option("#runtime", "llamacpp")  # read by vLLM only: hidden for llama.cpp
        assert not label.is_visible()
        ctx.close()


def test_what_runs_on_my_gpu(page: Page, server_url: str) -> None:
    """The real memfit.whatfits.models_that_fit, once: the page lists the models it says fit."""
    pytest.importorskip("memfit.whatfits")
    open_page(page, server_url, "#model=llama-3.1-8b&mode=inference&context=8192&gpu=rtx-4090")
    page.wait_done("gpu=rtx-4090")
    pg = page.page
    pg.click("#whatfits-go")
    pg.wait_for_selector("#whatfits:not([hidden]) tbody tr", timeout=300_000)
    shown = {r.get_attribute("data-model"): r.get_attribute("data-format")
             for r in pg.query_selector_all("#whatfits tbody tr")}
    r = api(server_url, "/api/fits", {"gpu": "rtx-4090", "runtime": "llamacpp", "context": 8192})
    assert r.status_code == 200, r.text  # the list the page waited for, remembered by the server
    expected = {m["model"]: m["format"] for m in r.json()["models"] if m["fits"]}
    assert shown == expected and shown
    catalog = httpx.get(server_url + "/api/models", timeout=30).json()
    assert [m["model"] for m in r.json()["models"]] == [m["id"] for m in catalog]  # every catalog model, in order
    page.shot("what-runs-on-rtx-4090")


def test_weights_chart_with_several_gpus_is_per_gpu(page: Page, server_url: str) -> None:
    open_page(page, server_url, "#model=llama-3.1-70b&mode=weights&gpu=rtx-4090&gpus=2")
    page.wait_done("gpus=2")
    pg = page.page
    caption = pg.inner_text("#chart-dtype >> xpath=.. >> figcaption")
    assert "per GPU (÷ 2)" in caption
    fit = api(server_url, "/api/fit", {"model": "llama-3.1-70b", "mode": "weights", "gpu": "rtx-4090",
                                       "gpus": 2}).json()
    bar = pg.query_selector(f'#chart-dtype rect[data-dtype="{fit["estimate"]["dtype"]}"]')
    assert bar is not None
    # the bar's length is one GPU's share, the same figure /api/fit compares with one GPU's memory
    assert -(-int(bar.get_attribute("data-bytes")) // 2) == max(fit["per_gpu_bytes"])


@pytest.mark.parametrize(("hash_", "fits"), [
    ("#model=llama-3.2-1b&mode=inference&runtime=transformers&context=4096&gpu=rtx-4090", True),
    ("#model=llama-3.1-70b&mode=inference&runtime=llamacpp&context=4096&gpu=rtx-4090", False),  # 141 GB of bf16
])
def test_shared_url_shows_the_verdict_the_api_and_cli_give(page: Page, server_url: str, hash_: str, fits: bool,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """One verdict per question: the page's verdict for a shared URL is /api/fit's for the body the page sent,
    and that is what `memfit fit` and memfit.fit say for the same options."""
    import memfit
    from _cli import run

    sent: list[dict[str, Any]] = []
    page.page.on("request", lambda r: sent.append(json.loads(r.post_data or "{}"))
                 if r.url.endswith("/api/fit") and r.method == "POST" else None)
    open_page(page, server_url, hash_)
    page.wait_done("gpu=rtx-4090")
    pg = page.page
    pg.wait_for_selector('#verdict[data-fits]', state="attached", timeout=TIMEOUT_MS)
    q = dict(p.split("=", 1) for p in hash_[1:].split("&"))
    body = next(b for b in sent if b.get("gpu") == "rtx-4090" and b.get("runtime") == q["runtime"])
    assert (body["model"], body["mode"], body["context"]) == (q["model"], "inference", 4096)
    doc = api(server_url, "/api/fit", body).json()
    assert doc["fits"] is fits
    assert pg.get_attribute("#verdict", "data-fits") == str(fits).lower()
    assert pg.inner_text("#verdict") == doc["summary"]
    kw = {k: v for k, v in body.items() if k not in ("model", "gpu")}
    assert memfit.fit(q["model"], "rtx-4090", **kw).fits is fits
    flags = [x for k, v in kw.items() for x in ("--" + k.replace("_", "-"), str(v))]
    code, out, _ = run(["fit", q["model"], "--gpu", "rtx-4090", *flags, "--check"], capsys)
    assert code == (0 if fits else 1), out
    page.shot(f"verdict-{q['model']}-{q['runtime']}-rtx-4090")


def test_precisions_by_workloads_matrix(page: Page, server_url: str) -> None:
    """The matrix section shows /api/matrix's verdict in every cell, for the GPU and runtime on the page."""
    open_page(page, server_url, "#model=llama-3.1-8b&mode=inference&runtime=vllm&context=4096&gpu=rtx-4090")
    page.wait_done("gpu=rtx-4090")
    pg = page.page
    pg.wait_for_selector("#matrix-box:not([hidden]) #matrix tbody tr td", timeout=TIMEOUT_MS)
    doc = api(server_url, "/api/matrix", {"model": "llama-3.1-8b", "gpu": "rtx-4090", "runtime": "vllm",
                                          "context": 4096}).json()
    for c in doc["cells"]:
        td = pg.query_selector(f'#matrix tr[data-precision="{c["precision"]}"] td[data-workload="{c["workload"]}"]')
        assert td is not None, c
        assert td.get_attribute("data-fits") == ("null" if c["fits"] is None else str(c["fits"]).lower()), c
    assert "inference (vllm)" in pg.inner_text("#matrix thead")
    page.shot("matrix-llama-3.1-8b-rtx-4090")
