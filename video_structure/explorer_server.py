"""The interactive explorer of Section 5.4: a local web page backed by exports.

`make_server` serves, on 127.0.0.1 only, the page `explorer.html` (a plain
canvas, no library) and three JSON endpoints that run the exports'
signatures through `manipulation`:

* GET /api/info: the exports' labels, T, Delta T, K and the number of test sequences.
* GET /api/sequence?export=i&sequence=j: the sequence's frames (PNG data
  URLs) and its detected keypoints [T + Delta T, K, 3].
* POST /api/predict {"export", "sequence", "observed_keypoints" [T, K, 3],
  "num_samples", "seed"}: the predicted keypoints [N, T + Delta T, K, 3] of N
  samples and the frames rendered from the first few.

Bad requests get status 400 and {"error": message}. The server answers one
request at a time, so that TensorFlow runs one call at a time.
"""

import base64
import http.server
import io
import json
import os
import urllib.parse
from collections.abc import Sequence

import numpy as np
from PIL import Image

from video_structure import explorer_figures, manipulation, visualize

_PAGE = os.path.join(os.path.dirname(__file__), "explorer.html")
# Rendering is the slow part of a prediction: only this many samples are rendered.
RENDERED_SAMPLES = 3
MAX_SAMPLES = 50


def _png_url(frame: np.ndarray) -> str:
    image = visualize.to_uint8(frame)
    if image.shape[-1] == 1:
        image = image[..., 0]
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


class Explorer:
    """What the endpoints compute, on exports loaded with `explorer_figures.load_export`."""

    def __init__(self, exports: Sequence[explorer_figures.Export]):
        if not exports:
            raise ValueError("The explorer needs at least one export.")
        self.exports = list(exports)
        # (export, sequence) -> `explorer_figures.sequence`: detected once, not on every drag.
        self._batches: dict[tuple[int, int], dict[str, np.ndarray]] = {}

    def _export(self, index) -> explorer_figures.Export:
        if not isinstance(index, int) or not 0 <= index < len(self.exports):
            raise ValueError(f"export must be in [0, {len(self.exports) - 1}], got {index!r}.")
        return self.exports[index]

    def _sequence(self, export: int, index: int) -> dict[str, np.ndarray]:
        explored = self._export(export)
        # Checked before the lookup: 2.0 == 2 would find sequence 2's entry.
        explorer_figures.check_sequence_index(explored, index)
        if (export, index) not in self._batches:
            self._batches[export, index] = explorer_figures.sequence(explored, index)
        return self._batches[export, index]

    def info(self) -> dict:
        return {
            "exports": [
                {
                    "label": e.label,
                    "observed_steps": e.config.observed_steps,
                    "predicted_steps": e.config.predicted_steps,
                    "num_keypoints": e.config.num_keypoints,
                    "num_sequences": len(e.sequences["frames"]),
                }
                for e in self.exports
            ]
        }

    def sequence(self, export: int, index: int) -> dict:
        batch = self._sequence(export, index)
        return {
            "frames": [_png_url(frame) for frame in batch["frames"][0]],
            "keypoints": batch["keypoints"][0].tolist(),
        }

    def predict(
        self, export: int, index: int, observed_keypoints, num_samples: int, seed: int = 0
    ) -> dict:
        explored = self._export(export)
        if not isinstance(num_samples, int) or not 1 <= num_samples <= MAX_SAMPLES:
            raise ValueError(f"num_samples must be in [1, {MAX_SAMPLES}], got {num_samples!r}.")
        if not isinstance(seed, int):
            raise ValueError(f"seed must be an integer, got {seed!r}.")
        config = explored.config
        shape = (config.observed_steps, config.num_keypoints, 3)
        observed = np.asarray(observed_keypoints, np.float32)
        if observed.shape != shape or not np.all(np.isfinite(observed)):
            raise ValueError(
                f"observed_keypoints must be finite with shape [T, K, 3] = {list(shape)}, "
                f"got shape {list(observed.shape)}."
            )
        batch = self._sequence(export, index)
        keypoints = manipulation.predict(
            explored.loaded, observed[None], num_samples, (seed, 0), batch.get("actions")
        )  # [1, N, T + Delta T, K, 3]
        shown = keypoints[:, :RENDERED_SAMPLES]
        frames = manipulation.render(
            explored.loaded, shown, batch["frames"][:, 0], batch["keypoints"][:, 0]
        )  # [1, n, T + Delta T, H, W, C]
        return {
            "keypoints": keypoints[0].tolist(),
            "frames": [[_png_url(f) for f in sample] for sample in frames[0]],
        }


class _Handler(http.server.BaseHTTPRequestHandler):
    explorer: Explorer

    def log_message(self, format, *args):
        """Quiet: a request per drag would flood the console."""

    def _send(self, status, body: bytes, content_type):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, compute):
        try:
            status, data = 200, compute()
        except (ValueError, TypeError, KeyError) as error:
            status, data = 400, {"error": str(error)}
        self._send(status, json.dumps(data).encode(), "application/json")

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        if url.path in ("/", "/index.html"):
            with open(_PAGE, "rb") as f:
                self._send(200, f.read(), "text/html; charset=utf-8")
        elif url.path == "/api/info":
            self._json(self.explorer.info)
        elif url.path == "/api/sequence":
            self._json(
                lambda: self.explorer.sequence(
                    _integer(query, "export"), _integer(query, "sequence")
                )
            )
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self):
        if urllib.parse.urlparse(self.path).path != "/api/predict":
            self._send(404, b"not found", "text/plain")
            return

        def predict():
            length = int(self.headers.get("Content-Length") or 0)
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError as error:
                raise ValueError(f"the request is not JSON: {error}") from error
            return self.explorer.predict(
                request["export"],
                request["sequence"],
                request["observed_keypoints"],
                request.get("num_samples", RENDERED_SAMPLES),
                request.get("seed", 0),
            )

        self._json(predict)


def _integer(query, name) -> int:
    try:
        return int(query[name])
    except (KeyError, ValueError) as error:
        raise ValueError(f"the query needs an integer {name}, got {query.get(name)!r}.") from error


def make_server(explorer: Explorer, port: int = 8000) -> http.server.HTTPServer:
    """An HTTP server of `explorer` on 127.0.0.1:`port` (0: a free port); call serve_forever().

    Raises:
        OSError: if the port is taken.
    """
    handler = type("Handler", (_Handler,), {"explorer": explorer})
    return http.server.HTTPServer(("127.0.0.1", port), handler)
