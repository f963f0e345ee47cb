"""The ranking page: a small local web app on 127.0.0.1 (stdlib ``http.server`` in a thread).

``GET /`` the page (static files in ``static/``, no CDN: it works offline), ``GET /api/state``
the candidates, ``GET /media/<id>/video.mp4|video.gif`` their clips (with HTTP ranges, so the
browser can seek), ``POST /api/submit`` the person's answer: ``{"best", "worst", "order",
"comment"}``. The answer is handed to ``on_submit``, which records it in the run directory
before the request returns; then :meth:`FeedbackServer.wait` returns it.

Blind by default: until an answer is in, ``/api/state`` carries no task score (``fitness`` is
null), so neither the page nor a look at its data shows which candidate the fitness prefers; the
answer's reply and the state after it carry the scores, and the page shows them then.
``show_scores=True`` sends them from the start.
"""

from __future__ import annotations

import json
import mimetypes
import re
import threading
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from rewardsmith.errors import RewardsmithError
from rewardsmith.feedback.cards import Card

STATIC = Path(__file__).parent / "static"
STATIC_FILES = {"/": "index.html", "/index.html": "index.html", "/app.js": "app.js",
                "/style.css": "style.css"}
MEDIA_FILES = ("video.mp4", "video.gif")
MAX_BODY = 1_000_000
DEFAULT_PORT = 8765


def validate_answer(answer: Any, ids: list[str]) -> dict[str, Any]:
    """The person's answer, checked: best (and worst, when there are two or more candidates),
    an optional full ordering (best first) and a comment."""
    if not isinstance(answer, dict):
        raise RewardsmithError("the answer must be a JSON object")
    order = answer.get("order") or []
    if not isinstance(order, list) or not all(isinstance(i, str) for i in order):
        raise RewardsmithError("order must be a list of candidate ids")
    if order:
        if sorted(order) != sorted(ids):
            raise RewardsmithError(f"an ordering must name every candidate once: {', '.join(ids)}")
        best, worst = order[0], (order[-1] if len(order) > 1 else None)
    else:
        best, worst = answer.get("best"), answer.get("worst")
    if best not in ids:
        raise RewardsmithError("pick the best candidate")
    if len(ids) > 1:
        if worst not in ids:
            raise RewardsmithError("pick the worst candidate")
        if worst == best:
            raise RewardsmithError("the best and the worst must be different candidates")
    else:
        worst = None
    comment = answer.get("comment") or ""
    if not isinstance(comment, str):
        raise RewardsmithError("comment must be text")
    return {"best": best, "worst": worst, "order": list(order), "comment": comment.strip()[:5000]}


class FeedbackServer:
    """Serves one iteration's ranking page until the person submits an answer."""

    def __init__(self, cards: list[Card], folders: dict[str, Path], *, iteration: int,
                 title: str, description: str = "",
                 on_submit: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
                 host: str = "127.0.0.1", port: int | None = None, show_scores: bool = False):
        self.cards = cards
        self.show_scores = show_scores
        self.folders = {k: Path(v) for k, v in folders.items()}
        self.iteration = iteration
        self.title = title
        self.description = description
        self.on_submit = on_submit or (lambda a: a)
        self.answer: dict[str, Any] | None = None
        self.result: dict[str, Any] | None = None
        self._done = threading.Event()
        self._lock = threading.Lock()
        self.httpd = self._bind(host, port)
        self.host, self.port = self.httpd.server_address[:2]
        self._thread: threading.Thread | None = None

    def _bind(self, host: str, port: int | None) -> ThreadingHTTPServer:
        handler = _handler(self)
        tries = [port] if port is not None else [DEFAULT_PORT, 0]
        last: OSError | None = None
        for p in tries:
            try:
                httpd = ThreadingHTTPServer((host, p), handler)
                httpd.daemon_threads = True
                return httpd
            except OSError as e:
                last = e
        raise RewardsmithError(f"cannot serve the ranking page on {host}:{port}: {last}",
                               "pick another port")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def scores_hidden(self) -> bool:
        """The task scores stay off the page until the person has sent a ranking."""
        return not self.show_scores and self.result is None

    def scores(self) -> dict[str, float | None]:
        return {c.id: c.fitness for c in self.cards}

    def state(self) -> dict[str, Any]:
        hidden = self.scores_hidden
        cards = [{**c.to_json(), **({"fitness": None} if hidden else {})} for c in self.cards]
        return {"iteration": self.iteration, "title": self.title, "description": self.description,
                "candidates": cards, "blind": not self.show_scores, "scores_hidden": hidden,
                "has_scores": any(c.fitness is not None for c in self.cards),
                "submitted": self.result is not None,
                "answer": self.answer}

    def submit(self, answer: Any) -> dict[str, Any]:
        with self._lock:
            if self.result is not None:
                return self.result
            checked = validate_answer(answer, [c.id for c in self.cards])
            self.result = self.on_submit(checked) or checked
            self.answer = checked
            self._done.set()
            return self.result

    def start(self) -> FeedbackServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="rewardsmith-feedback",
                                        kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> dict[str, Any] | None:
        """Block until an answer arrives (None on timeout). Ctrl-C interrupts it."""
        while not self._done.wait(0.2 if timeout is None else min(0.2, timeout)):
            if timeout is not None:
                timeout -= 0.2
                if timeout <= 0:
                    return None
        return self.result

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FeedbackServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()


def _handler(server: FeedbackServer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "rewardsmith-feedback"

        def log_message(self, format, *args):  # noqa: A002 - keep the terminal quiet
            pass

        # ------------------------------------------------------------ helpers
        def _host_ok(self) -> bool:
            # refuse other host names (DNS rebinding): the page is for this machine only
            host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
            return host in ("127.0.0.1", "localhost", "::1", server.host)

        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, obj: Any) -> None:
            self._send(status, json.dumps(obj).encode(), "application/json")

        # --------------------------------------------------------------- GET
        def do_HEAD(self):
            self.do_GET()

        def do_GET(self):
            if not self._host_ok():
                return self._send(HTTPStatus.FORBIDDEN, b"forbidden", "text/plain")
            path = self.path.split("?", 1)[0]
            if path in STATIC_FILES:
                name = STATIC_FILES[path]
                ctype = {"html": "text/html; charset=utf-8", "js": "text/javascript; charset=utf-8",
                         "css": "text/css; charset=utf-8"}[name.rsplit(".", 1)[1]]
                return self._send(HTTPStatus.OK, (STATIC / name).read_bytes(), ctype)
            if path == "/api/state":
                return self._json(HTTPStatus.OK, server.state())
            m = re.fullmatch(r"/media/([A-Za-z0-9_.-]+)/([a-z0-9_.]+)", path)
            if m and m.group(1) in server.folders and m.group(2) in MEDIA_FILES:
                return self._file(server.folders[m.group(1)] / m.group(2))
            if path == "/favicon.ico":
                return self._send(HTTPStatus.NO_CONTENT, b"", "image/x-icon")
            return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

        def _file(self, p: Path):
            if not p.is_file():
                return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
            data = p.read_bytes()
            ctype = mimetypes.guess_type(p.name)[0] or "application/octet-stream"
            rng = self.headers.get("Range")
            m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip()) if rng else None
            if m and (m.group(1) or m.group(2)):
                size = len(data)
                if m.group(1):
                    start = int(m.group(1))
                    end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                else:  # the last N bytes
                    start, end = max(0, size - int(m.group(2))), size - 1
                if start >= size or start > end:
                    return self._send(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE, b"", ctype,
                                      {"Content-Range": f"bytes */{size}"})
                return self._send(HTTPStatus.PARTIAL_CONTENT, data[start:end + 1], ctype,
                                  {"Content-Range": f"bytes {start}-{end}/{size}",
                                   "Accept-Ranges": "bytes"})
            return self._send(HTTPStatus.OK, data, ctype, {"Accept-Ranges": "bytes"})

        # -------------------------------------------------------------- POST
        def do_POST(self):
            if not self._host_ok():
                return self._send(HTTPStatus.FORBIDDEN, b"forbidden", "text/plain")
            if self.path != "/api/submit":
                return self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")
            # JSON only: a cross-site form cannot send it without a preflight we never answer
            if not (self.headers.get("Content-Type") or "").startswith("application/json"):
                return self._json(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"error": "send JSON"})
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                return self._json(HTTPStatus.BAD_REQUEST, {"error": "empty or too large"})
            try:
                answer = json.loads(self.rfile.read(length))
                result = server.submit(answer)
            except ValueError:
                return self._json(HTTPStatus.BAD_REQUEST, {"error": "not JSON"})
            except RewardsmithError as e:
                return self._json(HTTPStatus.UNPROCESSABLE_ENTITY, {"error": str(e)})
            return self._json(HTTPStatus.OK, {"ok": True, "saved": result.get("path"),
                                              "best": result.get("best"), "worst": result.get("worst"),
                                              "scores": server.scores()})  # ranked: no longer hidden

    return Handler
