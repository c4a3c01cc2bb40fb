"""The operator page in headless Chromium against a live API and a live worker (filesystem queue)."""

from __future__ import annotations

import shutil

import httpx
import pytest

from tests.api.conftest import TOKEN, api_settings
from tests.utils.factories import make_fitted_artifact, real_samples
from tests.utils.procs import start_api, start_worker, stop
from wastesort import CLASSES
from wastesort.store import LocalStore

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def live(tmp_path):
    if CHROMIUM is None:
        pytest.fail("chromium is not installed (`make test` installs it through scripts/services.sh)")
    artifact, photos = make_fitted_artifact(tmp_path / "fitted")
    s = api_settings(tmp_path)
    LocalStore(tmp_path / "store").publish(artifact, mode="scratch", version="v1")
    api, url = start_api(s, tmp_path / "api.log")
    worker = start_worker(s, tmp_path / "worker.log")
    try:
        yield url, photos
    finally:
        stop(worker)
        stop(api)


def test_classify_review_and_retrain_in_a_browser(live, tmp_path):
    from playwright.sync_api import expect, sync_playwright

    url, photos = live
    glass = next(p for p in photos if CLASSES[p.label] == "glass")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    api_label = httpx.post(f"{url}/v1/predict", files=[("files", ("g.jpg", glass.path.read_bytes()))]).json()
    assert api_label["predictions"][0]["label"] == "glass"
    # a model fitted to its photos is sure of them: flag every prediction short of certainty for review,
    # and review a photo it has never seen
    for param, value in (("uncertain_rule", "manual"), ("uncertain_threshold", 1.0), ("uncertain_margin", 1.0)):
        httpx.post(f"{url}/v1/change", json={"param": param, "value": value}, headers=auth)
    unseen = real_samples("val", 1)[2]

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 390, "height": 844})  # phone-sized
        page.goto(url)
        expect(page.locator("#model-line")).to_contain_text("Serving v1")
        live = httpx.get(f"{url}/v1/info").json()["model"]["engine"]
        assert live.startswith("openvino-")  # the resolved variant (f32/bf16/int8), not the setting's name
        expect(page.locator("#model-line")).to_contain_text(live)
        page.fill("#token", TOKEN)
        page.dispatch_event("#token", "change")

        page.set_input_files("#files", str(glass.path))
        card = page.locator("#results li.card").first
        expect(card).to_have_attribute("data-label", "glass")
        expect(card.locator(".label")).to_have_text("glass")
        expect(card.locator(".bar")).to_have_count(3)
        page.screenshot(path=str(tmp_path / "classify.png"), full_page=True)

        page.set_input_files("#files", str(unseen.path))
        expect(page.locator("#classify-status")).to_contain_text("Done")
        page.click("#review-refresh")
        item = page.locator("#review-list li.card").first
        expect(item).to_be_visible()
        item.get_by_role("button", name="label as glass").click()  # one click
        expect(page.locator("#labelled-count")).to_have_text("1")

        page.select_option("#mode", "scratch")
        page.select_option("#preset", "tiny")
        page.fill("#limit", "12")
        page.check("#force")
        page.get_by_role("button", name="Start retrain").click()
        expect(page.locator("#job-status")).to_contain_text("is now current", timeout=180_000)
        expect(page.locator("#model-rows tr")).to_have_count(2)
        expect(page.locator("#model-rows tr.current")).not_to_have_attribute("data-version", "v1")

        page.locator('#model-rows tr[data-version="v1"]').get_by_role("button", name="Details").click()
        cm = page.locator("#per-class-body table.cm")
        expect(cm).to_be_visible()
        expect(cm.locator("tr")).to_have_count(1 + 6)  # header + one row per true class
        # the fitted model knows its 12 photos: every count sits on the diagonal (2 per class)
        expect(cm.locator("tr").nth(2).locator("td").nth(1)).to_have_text("2")

        # `make run` queues a job through the API and prints a link with ?job=: the page follows it
        job = httpx.post(f"{url}/v1/retrain", json={"mode": "scratch", "preset": "tiny", "limit": 12, "force": True},
                         headers=auth).json()["id"]
        fresh = browser.new_page()
        fresh.goto(f"{url}/?job={job}")
        expect(fresh.locator("#job-status")).to_contain_text(f"Job {job}")
        expect(fresh.locator("#job-status")).to_contain_text("is now current", timeout=180_000)
        browser.close()
