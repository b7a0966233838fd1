"""The demo app, served by `sla demo-space --model tiny` on 127.0.0.1 (the tiny demo model, offline): driven in
headless Chromium (a WAV uploaded for each part, Score pressed, the scores and warnings read from the page) and
called through `gradio_client`; both must show exactly what the pipeline gives for the same files.

`SLA_DOCS_SCREENSHOT=docs/images/demo-space.png` also writes the browser test's screenshot, made small, for the
docs."""

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import soundfile
from gradio_client import Client, handle_file
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ready
from selenium.webdriver.support.ui import WebDriverWait
from transformers import pipeline

from modeling_sla import load_test_format
from sla_phi4.data.espeak_tts import synthesize
from sla_phi4.space.explain import explain
from sla_phi4.testing.browser import headless_chromium, missing_browser, save_small_png
from sla_phi4.testing.demo_model import demo_model


STARTUP_TIMEOUT, WAIT = 240, 120  # seconds: the server's start on two busy cores; each wait in the page
SCREENSHOT_ENV = "SLA_DOCS_SCREENSHOT"
ANSWERS = {  # what each part's WAV says; P4's is silence, so the page must show a warning
    "P1": "I live in a small town near the sea. It is quiet, and I walk to school every day with my friends.",
    "P3": "My favourite book is a long story about a family who moves to a new country and learns a new language.",
    "P4": None,
    "P5": "I think people should travel more, because it helps them understand other cultures and ways of life.",
}
QUESTIONS = {"P1": "Where do you live?"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until_serving(url: str, server: subprocess.Popen, log: Path) -> None:
    """Polls `url` until it answers; fails with the server's output if it exits or does not answer in time."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"sla demo-space exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"sla demo-space did not answer at {url} within {STARTUP_TIMEOUT} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    """The cache `sla demo-space --model tiny` finds its model in ($SLA_CACHE_DIR)."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def model_folder(cache) -> Path:
    """The tiny demo model, built here into the cache the server reads: the server must reuse it."""
    return demo_model("sandi2025", root=cache)


@pytest.fixture(scope="module")
def app_url(model_folder, cache, tmp_path_factory):
    """`sla demo-space --model tiny --port N`, running for this module's tests, then stopped."""
    port, log = free_port(), tmp_path_factory.mktemp("server") / "server.log"
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "MPLBACKEND": "Agg",
           "SLA_CACHE_DIR": str(cache)}
    with open(log, "w") as output:
        server = subprocess.Popen([sys.executable, "-m", "sla_phi4", "demo-space", "--model", "tiny", "--port",
                                   str(port)], stdout=output, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_until_serving(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture(scope="module")
def wav_files(tmp_path_factory) -> dict[str, Path]:
    """One 16-bit WAV a part: espeak speech, and silence for P4."""
    folder = tmp_path_factory.mktemp("answers")
    files = {}
    for part, text in ANSWERS.items():
        audio = synthesize(text) if text else np.zeros(16000 * 3, dtype=np.float32)
        files[part] = folder / f"answer-{part}.wav"
        soundfile.write(files[part], audio, 16000, subtype="PCM_16")
    return files


@pytest.fixture(scope="module")
def expected(model_folder, wav_files) -> dict:
    """The pipeline's result for the same files, questions and answer names as the app sends."""
    scorer = pipeline("spoken-language-assessment", model=str(model_folder), trust_remote_code=True)
    responses = [{"response_id": f"{part}-1", "part": part, "audio": str(path), "question": QUESTIONS.get(part)}
                 for part, path in wav_files.items()]
    return scorer({"session_id": "demo", "responses": responses}, decimals=2)


def page_scores(driver) -> dict:
    """`{target: {field: text}}` of the scores table on the page."""
    rows = {}
    for row in driver.find_elements(By.CSS_SELECTOR, "#sla-scores tbody tr[data-target]"):
        cells = row.find_elements(By.CSS_SELECTOR, "td[data-field]")
        rows[row.get_attribute("data-target")] = {cell.get_attribute("data-field"): cell.text for cell in cells}
    return rows


def page_warnings(driver) -> list[tuple]:
    """`(reason, part, answer, text)` of each warning on the page."""
    return [(item.get_attribute("data-reason"), item.get_attribute("data-part"), item.get_attribute("data-response"),
             item.text) for item in driver.find_elements(By.CSS_SELECTOR, "#sla-warnings li")]


def upload_answers(driver, wait: WebDriverWait, wav_files: dict[str, Path]) -> None:
    """Each part's WAV into its first answer slot (waiting until the player shows it), and the typed questions."""
    for part, path in wav_files.items():
        slot = f"#sla-audio-{part}-1"
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, f"{slot} input[type=file]"))).send_keys(
            str(path))
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, f"{slot} audio")))
    for part, question in QUESTIONS.items():
        driver.find_element(By.CSS_SELECTOR, f"#sla-question-{part}-1 textarea").send_keys(question)


def save_screenshots(driver, folder: Path) -> Path:
    """The whole page, scrolled to the top, into `folder`; also to `$SLA_DOCS_SCREENSHOT`, made small."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, height + 100)
    driver.execute_script("window.scrollTo(0, 0)")
    path = folder / "demo-space.png"
    assert driver.save_screenshot(str(path))
    if os.environ.get(SCREENSHOT_ENV):
        save_small_png(path, Path(os.environ[SCREENSHOT_ENV]))
    return path


def test_the_page_shows_the_pipelines_scores_and_warnings(app_url, model_folder, wav_files, expected, tmp_path):
    assert missing_browser() is None, missing_browser()  # .ci/run installs them: never skipped
    with headless_chromium(width=1400, height=1600, timeout=WAIT) as driver:
        driver.get(app_url)
        wait = WebDriverWait(driver, WAIT)
        upload_answers(driver, wait, wav_files)
        driver.find_element(By.ID, "sla-score-button").click()
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#sla-scores tr[data-target]")))
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#sla-chart img")))
        wait.until(ready.presence_of_element_located((By.CSS_SELECTOR, "#sla-warnings li")))
        scores, warnings = page_scores(driver), page_warnings(driver)
        screenshot = save_screenshots(driver, tmp_path)

    report = explain(expected, load_test_format(expected["test_format"]), {f"{part}-1": 1 for part in ANSWERS})
    assert scores == {line.target: {"score": report.shown(line.score), "level": line.level or ""}
                      for line in report.lines}
    assert all(expected["scores"][target] is not None for target in scores)  # every part answered: all scored
    assert warnings == [(m.reason, m.part, m.response_id, m.text) for m in report.messages]
    assert [reason for reason, *_ in warnings] == ["silent"] and warnings[0][1:3] == ("P4", "P4-1")
    assert screenshot.stat().st_size > 10_000
    assert list(model_folder.parent.iterdir()) == [model_folder]  # the server reused the cached model


def test_gradio_client_gets_the_pipelines_result(app_url, wav_files, expected):
    client = Client(app_url, verbose=False)
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/score_session"]  # the page's own button is not part of the API
    assert [p["parameter_name"] for p in endpoints["/score_session"]["parameters"]] == ["responses", "audio"]
    responses = [{"part": part, "question": QUESTIONS.get(part)} if part in QUESTIONS else {"part": part}
                 for part in wav_files]
    result = client.predict(responses=responses, audio=[handle_file(str(path)) for path in wav_files.values()],
                            api_name="/score_session")
    messages = result.pop("messages")
    assert result == expected
    report = explain(expected, load_test_format(expected["test_format"]), {"P4-1": 1})
    assert messages == [message.text for message in report.messages]

    with pytest.raises(Exception, match="2 answers were described but 1 audio files sent"):
        client.predict(responses=responses[:2], audio=[handle_file(str(wav_files["P1"]))], api_name="/score_session")
