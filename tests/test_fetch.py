import http.server
import socket
import threading
import time
from contextlib import contextmanager

import pytest

from synthcircuits.errors import WeightsError
from synthcircuits.models import content_hash, read_weights
from synthcircuits.models.fetch import fetch_weights


@contextmanager
def serve(files: dict[str, bytes]):
    """A throwaway HTTP server on 127.0.0.1 serving the given bytes."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = files.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


def test_fetch_downloads_weights_into_place(lucent_weights_file, tmp_path):
    with serve({"/inception5h.pth": lucent_weights_file.read_bytes()}) as base:
        path = fetch_weights(f"{base}/inception5h.pth", tmp_path / "cache" / "inception5h.pth")
    assert content_hash(read_weights(path).tensors) == content_hash(read_weights(lucent_weights_file).tensors)
    assert sorted(p.name for p in path.parent.iterdir()) == ["inception5h.pth"]


def test_fetch_refuses_a_download_that_is_not_weights(tmp_path):
    with serve({"/inception5h.pth": b"<html>rate limited</html>"}) as base:
        with pytest.raises(WeightsError, match="refused to load"):
            fetch_weights(f"{base}/inception5h.pth", tmp_path / "inception5h.pth")
    assert list(tmp_path.iterdir()) == []


def test_fetch_fails_fast_and_says_what_to_do_when_offline(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(WeightsError) as info:
        fetch_weights(f"http://127.0.0.1:{port}/inception5h.pth", tmp_path / "inception5h.pth", timeout=5)
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "inception5h.pth" in message and str(tmp_path / "inception5h.pth") in message and "--weights" in message
    assert list(tmp_path.iterdir()) == []
