"""Tests for video_structure.explorer_server: its JSON endpoints, and the page in a real browser."""

import json
import os
import re
import shutil
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from video_structure import explorer_figures, explorer_server, manipulation

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def server(tiny_export):
    _, path, _ = tiny_export(3, 2)  # Shared with test_collection.py and test_manipulation.py.
    explored = explorer_figures.load_export("tiny", path, "synthetic", num_sequences=3)
    explorer = explorer_server.Explorer([explored])
    httpd = explorer_server.make_server(explorer, port=0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}", explored
    httpd.shutdown()
    httpd.server_close()


def _request(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, data=data)) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_endpoints_run_the_export(server):
    url, explored = server
    status, info = _request(f"{url}/api/info")
    assert status == 200
    assert info["exports"] == [
        {
            "label": "tiny",
            "observed_steps": 3,
            "predicted_steps": 2,
            "num_keypoints": explored.config.num_keypoints,
            "num_sequences": 3,
        }
    ]
    status, data = _request(f"{url}/api/sequence?export=0&sequence=2")
    assert status == 200 and len(data["frames"]) == 5
    assert data["frames"][0].startswith("data:image/png;base64,")
    detected = explorer_figures.sequence(explored, 2)["keypoints"]
    np.testing.assert_allclose(data["keypoints"], detected[0], atol=1e-6)
    observed = manipulation.translate(detected[:, :3], [1], (0.2, 0.1))
    body = {"export": 0, "sequence": 2, "observed_keypoints": observed[0].tolist()}
    status, prediction = _request(f"{url}/api/predict", dict(body, num_samples=4, seed=3))
    assert status == 200
    expected = manipulation.predict(explored.loaded, observed, 4, (3, 0))
    np.testing.assert_allclose(prediction["keypoints"], expected[0], atol=1e-5)
    assert len(prediction["frames"]) == explorer_server.RENDERED_SAMPLES
    assert len(prediction["frames"][0]) == 5


@pytest.mark.parametrize(
    "path, body, message",
    [
        ("/api/sequence?export=0&sequence=9", None, "sequence 9 is out of range"),
        ("/api/sequence?export=1&sequence=0", None, r"export must be in \[0, 0\], got 1"),
        ("/api/sequence?export=0", None, "the query needs an integer sequence"),
        ("/api/predict", {"export": 0, "sequence": 0, "observed_keypoints": [[0]]}, "shape"),
        (
            "/api/predict",
            {"export": 0, "sequence": 0, "observed_keypoints": [], "num_samples": 0},
            r"num_samples must be in \[1, 50\], got 0",
        ),
    ],
)
def test_bad_requests_get_400_and_the_reason(server, path, body, message):
    status, data = _request(server[0] + path, body)
    assert status == 400
    assert re.search(message, data["error"])


@pytest.fixture(scope="module")
def sync_playwright():
    """(Playwright's sync API, chromium's path), or a skip with the reason; before `server`,
    which is costly."""
    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if not executable:
        pytest.skip(f"no chromium at {CHROMIUM}; scripts/install.sh installs it as root")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("playwright is not installed: pip install -e '.[test]'")
    return sync_playwright, executable


@pytest.mark.slow
def test_dragging_a_keypoint_in_the_browser_changes_the_predictions(sync_playwright, server):
    start, executable = sync_playwright
    url, _ = server
    problems = []
    with start() as playwright:
        # --no-sandbox: chromium's sandbox refuses to run as root (CI containers).
        browser = playwright.chromium.launch(
            executable_path=executable,
            args=["--no-sandbox"],
        )
        page = browser.new_page()
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.goto(url)
        page.wait_for_function("explorer.requests >= 1 && !explorer.busy", timeout=60_000)
        before = page.evaluate("explorer.predictions.keypoints")
        x, y = page.evaluate("explorer.keypointPixel(1)")
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 40, y - 20, steps=5)
        page.mouse.up()
        page.wait_for_function("explorer.requests >= 2 && !explorer.busy", timeout=60_000)
        after = page.evaluate("explorer.predictions.keypoints")
        error_text = page.inner_text("#error")
        errors = page.evaluate("explorer.errors")
        rendered = page.locator("#frames img").count()
        browser.close()
    assert not problems and not error_text and errors == 0
    assert np.shape(after) == np.shape(before) == (5, 5, 4, 3)
    assert np.abs(np.subtract(after, before)).max() > 1e-3
    assert rendered == explorer_server.RENDERED_SAMPLES * 5
