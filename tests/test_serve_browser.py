"""The page in a real headless browser (Debian's chromium + chromium-driver, driven by Selenium):
upload a real and a fake clip, read each verdict from the page, check it is the API's verdict
for that file and that the timeline chart and spectrogram are drawn; several files at once
give a table; the microphone records (Chromium's fake device) and the recording is scored.

Screenshots are kept under runs/test-artifacts/ (git-ignored); their paths are printed.
Without chromium the tests skip locally and fail in CI (CI=true), where scripts/install.sh
must have installed it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
import httpx2 as httpx  # noqa: E402
from serve_support import BandDetector, clip_bytes, served  # noqa: E402
from synth import encode, synth_clip  # noqa: E402

from spoofscan.serve import ServeSettings, create_app  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "runs" / "test-artifacts"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
DRIVER_NAMES = ("chromedriver", "chromium-driver")
CHROME_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream")
WAIT_SECONDS = 60

pytestmark = [pytest.mark.browser, pytest.mark.server]  # Chromium, and the app on a 127.0.0.1 port


def _find(names) -> str | None:
    return next((p for p in map(shutil.which, names) if p), None)


@pytest.fixture(scope="module")
def browser_paths():
    chromium, driver = _find(CHROMIUM_NAMES), _find(DRIVER_NAMES)
    missing = [what for what, path in (("chromium", chromium), ("chromedriver (chromium-driver)", driver)) if not path]
    import importlib.util

    if importlib.util.find_spec("selenium") is None:
        missing.append("selenium (pip install -e '.[test]')")
    if missing:
        message = f"the browser test needs {', '.join(missing)}: run scripts/install.sh"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message + " (CI must run it, not skip it)")
        pytest.skip(message)
    return chromium, driver


@pytest.fixture(scope="module")
def server():
    """The app on a free 127.0.0.1 port, served by uvicorn in a thread."""
    with served(create_app(BandDetector(), ServeSettings(max_seconds=120.0))) as url:
        yield url


@pytest.fixture
def driver(browser_paths, tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, chromedriver = browser_paths
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.add_argument("--window-size=1100,1900")
    d = webdriver.Chrome(service=Service(executable_path=chromedriver), options=options)
    d.set_script_timeout(WAIT_SECONDS)
    yield d
    d.quit()


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    files = {"real.wav": clip_bytes("bonafide", 6.0, seed=11), "fake.wav": clip_bytes("spoof", 6.0, seed=12),
             "silence.wav": encode(np.zeros(3 * 16_000, np.float32)),
             "broken.wav": clip_bytes("bonafide", 3.0)[:30_000],
             # real, then 5 s of synthetic speech, then real again
             "interview.wav": encode(np.concatenate([synth_clip(label, 5.0, np.random.default_rng(20 + i))
                                                        for i, label in enumerate(("bonafide", "spoof", "bonafide"))]))}
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def _api(server, path: Path) -> httpx.Response:
    with open(path, "rb") as f:
        return httpx.post(f"{server}/v1/detect", files={"file": (path.name, f)}, timeout=30)


def _wait(driver, condition, what: str):
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, WAIT_SECONDS).until(lambda d: condition(d))
    except Exception:
        shot = _screenshot(driver, f"timeout-{what}")
        text = driver.find_element("tag name", "body").text[:800]
        raise AssertionError(f"timed out waiting for {what}; page text: {text!r}; screenshot {shot}") from None


def _screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


# counts the pixels of a canvas by colour: drawn (not blank), red-ish, green-ish
CANVAS_PIXELS = """
const c = document.getElementById(arguments[0]);
const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
let drawn = 0, red = 0, green = 0, colours = new Set();
for (let i = 0; i < data.length; i += 4) {
  const [r, g, b, a] = [data[i], data[i + 1], data[i + 2], data[i + 3]];
  if (a > 0 && !(r > 245 && g > 245 && b > 245)) drawn++;
  if (a > 0 && r > 150 && g < 80 && b < 80) red++;
  if (a > 0 && g > 100 && r < 60 && b < 110) green++;
  if (colours.size < 500) colours.add((r << 16) | (g << 8) | b);
}
return {drawn, red, green, colours: colours.size, width: c.width, height: c.height};
"""


# the table as the page shows it, read in one go (rows are redrawn as results come in)
TABLE = """
return Array.from(document.querySelectorAll('#file-table tbody tr')).map((r) => ({
  file: r.dataset.file, state: r.dataset.state, label: r.dataset.label, text: r.textContent}));
"""


def _table(driver) -> list[dict]:
    return driver.execute_script(TABLE)


def _click_row(driver, index: int):
    driver.execute_script("document.querySelectorAll('#file-table tbody tr')[arguments[0]].click()", index)


def _upload(driver, *paths: Path):
    driver.find_element("id", "file").send_keys("\n".join(str(p) for p in paths))


def _verdict_for(driver, name: str) -> dict:
    def shown(d):
        v = d.find_element("id", "verdict")
        label = v.get_attribute("data-label")
        return v if v.get_attribute("data-file") == name and label and label != "" else False

    v = _wait(driver, shown, f"the verdict on {name}")
    return {"label": v.get_attribute("data-label"), "text": v.text, "p_fake": v.get_attribute("data-p-fake")}


def test_real_and_fake_uploads_show_the_apis_verdicts_and_a_drawn_timeline(driver, server, clips):
    driver.get(server + "/")
    _wait(driver, lambda d: "band-ratio" in d.find_element("id", "model-line").text, "the model line")
    for name, expected in (("real.wav", "real"), ("fake.wav", "fake")):
        api = _api(server, clips / name).json()
        assert api["label"] == expected  # the test detector does tell them apart
        _upload(driver, clips / name)
        shown = _verdict_for(driver, name)
        assert shown["label"] == api["label"] and shown["text"] == expected.capitalize()
        assert float(shown["p_fake"]) == pytest.approx(api["p_fake"], abs=1e-9)
        pfake_text = driver.find_element("id", "pfake-text").text
        assert f"{api['p_fake']:.3f}" in pfake_text and "equally likely" in pfake_text
        timeline = driver.find_element("id", "timeline")
        _wait(driver, lambda d: timeline.get_attribute("data-windows") == str(api["windows"]), "the timeline")
        pixels = driver.execute_script(CANVAS_PIXELS, "timeline")
        assert pixels["drawn"] > 2000, pixels
        # the window markers take the verdict's colour: red for fake, green for real
        if expected == "fake":
            assert pixels["red"] > 5 * max(pixels["green"], 1), pixels
        else:
            assert pixels["green"] > 5 * max(pixels["red"], 1), pixels
        spec = driver.find_element("id", "spectrogram")
        _wait(driver, lambda d: spec.get_attribute("data-drawn") == "1", "the spectrogram")
        spec_pixels = driver.execute_script(CANVAS_PIXELS, "spectrogram")
        assert spec_pixels["drawn"] > 0.5 * spec_pixels["width"] * spec_pixels["height"] and spec_pixels["colours"] > 50
        _screenshot(driver, f"page-{expected}")
    assert [(r["file"], r["label"]) for r in _table(driver)] == [("real.wav", "real"), ("fake.wav", "fake")]
    assert not driver.find_element("id", "key-box").is_displayed()  # no key asked for: the server has none


# the colour of the window markers along the timeline, in thirds of the plot's width
MARKERS_BY_THIRD = """
const c = document.getElementById('timeline');
const ctx = c.getContext('2d');
const ratio = Number(c.dataset.ratio) || 1;
const left = 38 * ratio, right = c.width - 8 * ratio;
const out = [];
for (let k = 0; k < 3; k++) {
  const x0 = Math.round(left + (right - left) * k / 3), x1 = Math.round(left + (right - left) * (k + 1) / 3);
  const data = ctx.getImageData(x0, 0, x1 - x0, c.height).data;
  let red = 0, green = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0 && data[i] > 150 && data[i + 1] < 80 && data[i + 2] < 80) red++;
    if (data[i + 3] > 0 && data[i + 1] > 100 && data[i] < 60 && data[i + 2] < 110) green++;
  }
  out.push({red, green});
}
return out;
"""


def test_the_timeline_shows_which_seconds_look_synthetic(driver, server, clips):
    """A clip that is real, then synthetic for 5 s, then real: the API's windows say so, and
    the chart draws the middle third's windows red and the outer ones green."""
    api = _api(server, clips / "interview.wav").json()
    middle = [w["p_fake"] for w in api["timeline"] if 5.5 <= w["start"] and w["end"] <= 9.5]
    outer = [w["p_fake"] for w in api["timeline"] if w["end"] <= 4.5 or w["start"] >= 10.5]
    assert min(middle) > 0.8 and max(outer) < 0.2
    driver.get(server + "/")
    _upload(driver, clips / "interview.wav")
    assert _verdict_for(driver, "interview.wav")["label"] == api["label"]
    timeline = driver.find_element("id", "timeline")
    _wait(driver, lambda d: timeline.get_attribute("data-windows") == str(api["windows"]), "the timeline")
    _wait(driver, lambda d: d.find_element("id", "spectrogram").get_attribute("data-drawn") == "1", "the spectrogram")
    first, second, third = driver.execute_script(MARKERS_BY_THIRD)
    assert second["red"] > 5 * max(second["green"], 1), (first, second, third)
    assert first["green"] > 5 * max(first["red"], 1) and third["green"] > 5 * max(third["red"], 1), (first, third)
    _screenshot(driver, "page-partly-fake")


# the pixels of the run colour (app.js RUN_COLOUR, #d97706) in a canvas's top strip, per third of the plot
RUN_PIXELS_BY_THIRD = """
const c = document.getElementById(arguments[0]);
const ratio = Number(c.dataset.ratio) || 1;
const left = 38 * ratio, right = c.width - 8 * ratio, strip = Math.round(6 * ratio);
const out = [];
for (let k = 0; k < 3; k++) {
  const x0 = Math.round(left + (right - left) * k / 3), x1 = Math.round(left + (right - left) * (k + 1) / 3);
  const data = c.getContext('2d').getImageData(x0, 0, x1 - x0, strip).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (Math.abs(data[i] - 217) <= 4 && Math.abs(data[i + 1] - 119) <= 4 && Math.abs(data[i + 2] - 6) <= 4) n++;
  }
  out.push(n);
}
return out;
"""


def test_a_partly_fake_clip_states_its_run_and_marks_it_on_both_charts(driver, server, clips):
    """Real, then 5 s synthetic, then real: the mean says real, the run of fake windows makes the
    API say partly fake; the page states the run's seconds and marks them, in the middle third
    only, on the timeline and on the spectrogram."""
    api = _api(server, clips / "interview.wav").json()
    assert api["label"] == "partly fake" and api["p_fake"] < api["threshold"]
    (run,) = api["segments"]
    assert 4.5 <= run["start"] <= 6.0 and 9.0 <= run["end"] <= 10.5 and run["p_fake"] > 0.8
    driver.get(server + "/")
    _upload(driver, clips / "interview.wav")
    shown = _verdict_for(driver, "interview.wav")
    assert shown["label"] == "partly fake"
    words = re.fullmatch(r"Partly fake: (\d+\.\d)-(\d+\.\d) s", shown["text"])  # one decimal
    assert words, shown["text"]
    assert [float(v) for v in words.groups()] == pytest.approx([run["start"], run["end"]], abs=0.05 + 1e-9)
    assert "Fake passages" in driver.find_element("id", "facts").text
    timeline = driver.find_element("id", "timeline")
    _wait(driver, lambda d: timeline.get_attribute("data-segments") == "1", "the timeline's run")
    spec = driver.find_element("id", "spectrogram")
    _wait(driver, lambda d: spec.get_attribute("data-drawn") == "1" and spec.get_attribute("data-segments") == "1",
          "the spectrogram's run")
    for canvas in ("timeline", "spectrogram"):
        first, middle, last = driver.execute_script(RUN_PIXELS_BY_THIRD, canvas)
        assert middle > 200 and first == 0 and last == 0, (canvas, first, middle, last)
    _screenshot(driver, "page-partly-fake-run")


def test_several_files_give_a_table_with_errors_and_no_speech(driver, server, clips):
    driver.get(server + "/")
    names = ["real.wav", "fake.wav", "silence.wav", "broken.wav"]
    _upload(driver, *(clips / n for n in names))

    def all_done(d):
        rows = _table(d)
        return rows if len(rows) == 4 and all(r["state"] != "pending" for r in rows) else False

    rows = _wait(driver, all_done, "four rows")
    got = {r["file"]: (r["state"], r["label"]) for r in rows}
    for name in names:
        api = _api(server, clips / name)
        if api.status_code == 200:
            assert got[name] == ("done", api.json()["label"]), name
        else:
            assert got[name] == ("error", ""), name
    assert got["silence.wav"] == ("done", "no speech") and got["broken.wav"][0] == "error"
    assert "cut short" in rows[3]["text"]  # the error kind in words, not "error 422"
    _click_row(driver, 2)
    shown = _verdict_for(driver, "silence.wav")
    assert shown["label"] == "no speech" and shown["text"] == "No speech"
    assert "too little speech" in driver.find_element("id", "explain").text
    assert not driver.find_element("id", "pfake-block").is_displayed()
    _click_row(driver, 3)
    assert "truncated" in _wait(driver, lambda d: d.find_element("id", "explain").text, "the error text")
    _screenshot(driver, "page-table")


def test_a_recording_from_the_microphone_is_scored(driver, server):
    driver.get(server + "/")
    button = driver.find_element("id", "record")
    assert button.is_enabled()  # 127.0.0.1 is a secure context: the microphone is offered
    button.click()
    _wait(driver, lambda d: "Stop" in button.text, "the recording to start")
    time.sleep(2.5)
    button.click()

    def scored(d):
        v = d.find_element("id", "verdict")
        recorded = (v.get_attribute("data-file") or "").startswith("recording-")
        return v if recorded and v.get_attribute("data-label") else False

    verdict = _wait(driver, scored, "the recording's verdict")
    explain = driver.find_element("id", "explain").text
    assert verdict.get_attribute("data-label") in ("real", "fake", "no speech"), explain
    duration = driver.execute_script("return document.getElementById('facts').textContent")
    assert "Length" in duration


def test_the_page_fits_a_phone_screen(driver, server, clips):
    driver.set_window_size(390, 844)
    driver.get(server + "/")
    _upload(driver, clips / "fake.wav")
    _verdict_for(driver, "fake.wav")
    overflow = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
    width = driver.execute_script("return document.getElementById('timeline').getBoundingClientRect().width")
    assert 300 <= width <= 390
    _screenshot(driver, "page-phone")
