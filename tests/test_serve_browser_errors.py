"""The page when things go wrong, in a real headless browser: a file the server refuses reads as
words (no "error 415", no empty spectrogram box, no dead player), the score is explained, and a
file waiting for an API key says so, as does a key the server refuses.

Uses the browser fixtures of test_serve_browser.py; screenshots go to runs/test-artifacts/.
"""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
import test_serve_browser as browser_test  # noqa: E402
from serve_support import BandDetector, clip_bytes, served  # noqa: E402
from test_serve_browser import _screenshot, _table, _upload, _verdict_for, _wait  # noqa: E402

from spoofscan.serve import ServeSettings, create_app  # noqa: E402

# the browser test's fixtures: chromium and its driver, and the service without a key
browser_paths, driver, server = browser_test.browser_paths, browser_test.driver, browser_test.server
pytestmark = [pytest.mark.browser, pytest.mark.server]  # Chromium, and the app on a 127.0.0.1 port
KEY = "a-key-of-twenty-chars"


@pytest.fixture(scope="module")
def keyed_server():
    """The app with an API key, on a free 127.0.0.1 port, served by uvicorn in a thread."""
    with served(create_app(BandDetector(), ServeSettings(api_key=KEY))) as url:
        yield url


@pytest.fixture
def files(tmp_path):
    (tmp_path / "notes.wav").write_text("a shopping list, not a recording\n" * 20)
    (tmp_path / "real.wav").write_bytes(clip_bytes("bonafide", 4.0, seed=11))
    return tmp_path


def _shown(driver, element_id: str) -> bool:
    return driver.find_element("id", element_id).is_displayed()


def test_a_refused_file_reads_as_words_without_dead_boxes(driver, server, files):
    driver.get(server + "/")
    _upload(driver, files / "real.wav", files / "notes.wav")
    rows = _wait(driver, lambda d: (r := _table(d)) and len(r) == 2 and all(x["state"] != "pending" for x in r) and r,
                 "two scored rows")
    refused = next(r for r in rows if r["file"] == "notes.wav")
    assert refused["state"] == "error" and "not audio" in refused["text"] and "415" not in refused["text"]
    driver.execute_script("document.querySelectorAll('#file-table tbody tr')[1].click()")
    verdict = _wait(driver, lambda d: d.find_element("id", "verdict").text.startswith("Not scored") and
                    d.find_element("id", "verdict"), "the refusal")
    assert verdict.text == "Not scored: not audio"
    explain = driver.find_element("id", "explain").text
    assert explain.startswith("The server could not score this file: not audio: text ('a shopping list"), explain
    assert "WAV, FLAC, MP3" in explain
    assert "Errno" not in explain and "HTTP 415 (not_audio)" in driver.find_element("id", "facts").text
    for box in ("spec-block", "player", "timeline-block"):
        assert not _shown(driver, box), box
    assert driver.find_element("id", "spec-note").text == ""
    _screenshot(driver, "page-error")
    driver.execute_script("document.querySelectorAll('#file-table tbody tr')[0].click()")
    assert _verdict_for(driver, "real.wav")["label"] in ("real", "fake")
    _wait(driver, lambda d: d.find_element("id", "spectrogram").get_attribute("data-drawn") == "1", "the spectrogram")
    assert _shown(driver, "spec-block") and _shown(driver, "player")
    facts = driver.find_element("id", "facts").text
    assert "raw score, before calibration" in facts and "p_fake is computed from it" in facts
    assert "Score is the model's own number before calibration" in driver.find_element("id", "about").text


def test_a_file_waiting_for_a_key_says_so_and_a_wrong_key_is_named(driver, keyed_server, files):
    driver.get(keyed_server + "/")
    message = driver.find_element("id", "key-message")
    _wait(driver, lambda d: "needs an API key" in message.text, "the key box")
    _upload(driver, files / "real.wav")
    verdict = driver.find_element("id", "verdict")
    _wait(driver, lambda d: verdict.text == "Waiting for the API key", "the file to wait for the key")
    assert "enter it above" in driver.find_element("id", "explain").text
    box = driver.find_element("id", "api-key")
    box.send_keys("not-the-key")
    driver.find_element("css selector", "#key-box button").click()
    _wait(driver, lambda d: "refused this API key" in message.text, "the wrong key to be named")
    assert driver.find_element("id", "status").text == ""  # said once, in the key box
    assert verdict.text == "Waiting for the API key"
    _screenshot(driver, "page-wrong-key")
    box.clear()
    box.send_keys(KEY)
    driver.find_element("css selector", "#key-box button").click()
    assert _verdict_for(driver, "real.wav")["label"] in ("real", "fake")
    assert not _shown(driver, "key-box")
