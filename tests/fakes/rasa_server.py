"""A fake Rasa server speaking real HTTP on 127.0.0.1, in a thread, for the circuit breaker's tests and bench.

It answers like `rasa run --enable-api`: `GET /status` with the loaded model, `POST /model/parse` with
`{"text", "intent": {"name", "confidence"}, "entities": [...]}` (the parse is the embedded NLU's, so a
conversation goes on as with Rasa). Its `mode` says how it misbehaves, and can change while it runs:

- "rasa": answers correctly;
- "hang": accepts the connection, reads the request and never answers (until the mode changes or it stops);
- "error": answers 500 to everything;
- "status_only": `/status` answers, `/model/parse` gets 500 (Rasa up without a usable model).

`stop()` closes the port (connections are refused); `start()` listens again on the same port.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal, Self

from nlu.parse import NluBackend

__all__ = ["FakeRasa", "Mode", "closed_port"]

Mode = Literal["rasa", "hang", "error", "status_only"]
HOST = "127.0.0.1"


class FakeRasa:
    """A Rasa-like HTTP server; counts the requests that reached it, by path."""

    def __init__(self, nlu: NluBackend, mode: Mode = "rasa", port: int = 0) -> None:
        self.nlu = nlu
        self.port = port
        self.requests: dict[str, int] = {"/status": 0, "/model/parse": 0}
        self.latency = 0.0  # seconds each parse takes before its answer (a busy Rasa)
        self._open = threading.Event()  # parses answer only while it is set (see `hold`)
        self._open.set()
        self._mode: Mode = mode
        self._changed = threading.Event()  # set when the mode changes or the server stops: hung requests end
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def mode(self) -> Mode:
        return self._mode

    @mode.setter
    def mode(self, mode: Mode) -> None:
        self._mode = mode
        self._changed.set()
        self._changed = threading.Event()

    def start(self) -> Self:
        server = ThreadingHTTPServer((HOST, self.port), _handler(self))
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._changed.set()
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def hold(self) -> None:
        """Parses wait (then answer as usual) until `release`: a turn stays in the middle for as long as a test
        needs."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def count(self, path: str) -> None:
        with self._lock:
            self.requests[path] = self.requests.get(path, 0) + 1

    def hang(self) -> None:
        """Hold the request without an answer until the mode changes or the server stops (at most a minute)."""
        self._changed.wait(60)

    def answer(self, path: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
        """Status and JSON body for a request, as Rasa would (mode "rasa")."""
        if path == "/status":
            return 200, {"model_file": "models/nlu.tar.gz", "model_id": "fake", "num_active_training_jobs": 0}
        if path == "/model/parse" and self.mode == "rasa":
            self._open.wait(60)
            if self.latency:
                self._changed.wait(self.latency)
            parse = self.nlu.parse(str(body.get("text", "")))
            entities = [{**entity, "extractor": "DIETClassifier"} for entity in parse["entities"]]
            return 200, {"text": parse["text"], "intent": dict(parse["intent"]), "entities": entities}
        if path == "/model/parse":
            return 500, {"status": "failure", "message": "no model", "code": 500}
        return 404, {"status": "failure", "code": 404}

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()


def _handler(fake: FakeRasa) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._serve({})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            self._serve(json.loads(self.rfile.read(length) or b"{}"))

        def _serve(self, body: dict[str, object]) -> None:
            path = self.path.split("?")[0]
            fake.count(path)
            if fake.mode == "hang":
                fake.hang()
                self.close_connection = True
                return
            status, answer = (500, {"status": "failure"}) if fake.mode == "error" else fake.answer(path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    return Handler


def closed_port() -> tuple[socket.socket, int]:
    """A port nothing listens on, kept bound (not listening) so no other test takes it: connections are refused.

    Close the socket before listening on that port (FakeRasa(port=...).start())."""
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind((HOST, 0))
    return holder, holder.getsockname()[1]
