"""The ``openai`` backend against a small OpenAI-compatible server on 127.0.0.1: the real client,
over the wire, with scripted answers and faults."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from rewardsmith.llm import ExtractionError, LLMError, extract_code, make_llm
from rewardsmith.llm.cache import CachedLLM
from rewardsmith.llm.openai_backend import OpenAIBackend, cost_usd, price

ANSWER = """I reward forward velocity and penalise effort.

```python
def compute_reward(state, action, next_state):
    forward_weight = 1.0
    forward = forward_weight * next_state.rootx_vel
    return forward, {"forward": forward}
```
"""
MESSAGES = [{"role": "system", "content": "You write rewards."}, {"role": "user", "content": "Hop."}]


class FakeServer:
    """Answers /v1/chat/completions from a script of faults, then with ``answer`` texts."""

    def __init__(self):
        self.script: list[dict] = []  # consumed one per chat request
        self.requests: list[dict] = []
        self.honor_n = True
        self.answer = ANSWER
        self.models = ["tiny-coder", "qwen2.5-coder"]
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):  # quiet
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json", headers=None):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self):
                if self.path.rstrip("/").endswith("/models"):
                    data = {"object": "list", "data": [{"id": m, "object": "model", "created": 0,
                                                        "owned_by": "me"} for m in server.models]}
                    self._send(200, json.dumps(data).encode())
                else:
                    self._send(404, b'{"error": {"message": "no such route"}}')

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                with server.lock:
                    server.requests.append(body)
                    step = server.script.pop(0) if server.script else None
                if step is not None:
                    if "sleep" in step:
                        time.sleep(step["sleep"])
                    if "raw" in step:
                        return self._send(step.get("status", 200), step["raw"])
                    if "status" in step:
                        err = {"error": {"message": step.get("message", "error"), "type": "x"}}
                        return self._send(step["status"], json.dumps(err).encode(),
                                          headers=step.get("headers"))
                n = body.get("n", 1) if server.honor_n else 1
                text = step.get("text", server.answer) if step else server.answer
                data = {
                    "id": "chatcmpl-1", "object": "chat.completion", "created": 0,
                    "model": body.get("model"),
                    "choices": [{"index": i, "finish_reason": "stop",
                                 "message": {"role": "assistant", "content": f"{text}\n<!-- {i} -->"}}
                                for i in range(n)],
                    "usage": {"prompt_tokens": 11, "completion_tokens": 7 * n, "total_tokens": 11 + 7 * n},
                }
                self._send(200, json.dumps(data).encode())

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.block_on_close = False
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = FakeServer()
    yield s
    s.close()


def backend(server, model="tiny-coder", **kw) -> OpenAIBackend:
    kw.setdefault("backoff_s", 0.001)
    kw.setdefault("backoff_max_s", 0.01)
    kw.setdefault("timeout", 5.0)
    return OpenAIBackend(model, base_url=server.url, **kw)


def test_n_samples_in_one_request(server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = backend(server)  # no key needed for a local server
    out = llm.complete(MESSAGES, n=3, temperature=0.7)
    assert len(out.texts) == 3 and len(set(out.texts)) == 3
    assert len(server.requests) == 1
    req = server.requests[0]
    assert req["n"] == 3 and req["temperature"] == 0.7 and req["model"] == "tiny-coder"
    assert req["messages"] == MESSAGES
    assert out.usage.prompt_tokens == 11 and out.usage.completion_tokens == 21
    assert out.usage.cost_usd is None  # a local model has no price
    assert "compute_reward" in extract_code(out.texts[0])


def test_429_then_success(server):
    server.script = [{"status": 429, "message": "rate limited", "headers": {"retry-after": "0"}}]
    out = backend(server).complete(MESSAGES, n=1, temperature=1.0)
    assert len(server.requests) == 2
    assert out.texts and "compute_reward" in out.texts[0]


def test_500_is_retried_then_a_clear_error(server):
    server.script = [{"status": 500, "message": "boom"}] * 10
    with pytest.raises(LLMError) as e:
        backend(server, max_retries=2).complete(MESSAGES, n=1, temperature=1.0)
    assert len(server.requests) == 3
    assert "500" in str(e.value) and server.url in str(e.value) and "3 attempts" in str(e.value)


def test_timeout_is_retried_then_a_clear_error(server):
    server.script = [{"sleep": 0.6}] * 3
    with pytest.raises(LLMError) as e:
        backend(server, timeout=0.2, max_retries=1).complete(MESSAGES, n=1, temperature=1.0)
    assert "timed out" in str(e.value)
    assert len(server.requests) == 2


def test_timeout_then_success(server):
    server.script = [{"sleep": 0.6}]
    out = backend(server, timeout=0.3, max_retries=2).complete(MESSAGES, n=1, temperature=1.0)
    assert "compute_reward" in out.texts[0]


def test_malformed_json_is_not_retried(server):
    server.script = [{"raw": b'{"choices": [ this is not json'}]
    with pytest.raises(LLMError) as e:
        backend(server).complete(MESSAGES, n=1, temperature=1.0)
    assert "malformed" in str(e.value)
    assert len(server.requests) == 1


def test_json_without_choices(server):
    server.script = [{"raw": b'{"object": "chat.completion"}'}]
    with pytest.raises(LLMError, match="malformed"):
        backend(server).complete(MESSAGES, n=1, temperature=1.0)


def test_answer_without_code_is_an_extraction_error(server):
    server.script = [{"text": "I'm sorry, I can't help with reward functions today."}]
    out = backend(server).complete(MESSAGES, n=1, temperature=1.0)
    with pytest.raises(ExtractionError, match="compute_reward"):
        extract_code(out.texts[0])


def test_server_that_ignores_n_falls_back_to_parallel_requests(server):
    server.honor_n = False
    llm = backend(server)
    out = llm.complete(MESSAGES, n=4, temperature=1.0)
    assert len(out.texts) == 4
    assert len(server.requests) == 4  # one with n=4 (1 choice back), then 3 single requests
    assert server.requests[0]["n"] == 4 and all("n" not in r for r in server.requests[1:])
    assert out.usage.completion_tokens == 4 * 7
    # the backend remembers: the next call goes straight to single requests
    server.requests.clear()
    assert len(llm.complete(MESSAGES, n=2, temperature=1.0).texts) == 2
    assert len(server.requests) == 2 and all("n" not in r for r in server.requests)


def test_server_that_rejects_n_falls_back(server):
    server.script = [{"status": 400, "message": "Only one completion choice is allowed (n must be 1)"}]
    out = backend(server).complete(MESSAGES, n=3, temperature=1.0)
    assert len(out.texts) == 3
    assert len(server.requests) == 4


def test_temperature_rejected_is_dropped(server):
    server.script = [{"status": 400, "message": "Unsupported value: 'temperature' does not support 0.7"}]
    llm = backend(server, model="o3-mini")
    out = llm.complete(MESSAGES, n=1, temperature=0.7)
    assert out.texts and "temperature" not in server.requests[-1]


def test_bad_key_401(server):
    server.script = [{"status": 401, "message": "Incorrect API key provided"}]
    with pytest.raises(LLMError) as e:
        backend(server, api_key="sk-wrong").complete(MESSAGES, n=1, temperature=1.0)
    assert "API key" in str(e.value) and "401" in str(e.value)
    assert "OPENAI_API_KEY" in e.value.hint
    assert len(server.requests) == 1


def test_unknown_model_404_lists_models(server):
    server.script = [{"status": 404, "message": "model 'gpt-9' not found"}]
    with pytest.raises(LLMError) as e:
        backend(server, model="gpt-9").complete(MESSAGES, n=1, temperature=1.0)
    assert "'gpt-9'" in str(e.value) and "404" in str(e.value)
    assert "qwen2.5-coder" in e.value.hint


def test_dead_server():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens here now
    url = f"http://127.0.0.1:{port}/v1"
    llm = OpenAIBackend("m", base_url=url, max_retries=1, backoff_s=0.001, timeout=2.0)
    with pytest.raises(LLMError) as e:
        llm.complete(MESSAGES, n=1, temperature=1.0)
    assert url in str(e.value) and "refused" in str(e.value)
    assert "start the server" in e.value.hint and "OPENAI_BASE_URL" in e.value.hint


def test_no_key_for_openai_itself(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(LLMError, match="no OpenAI API key"):
        OpenAIBackend("gpt-4o")


def test_cache_second_request_never_reaches_the_server(server, tmp_path):
    llm = CachedLLM(backend(server), tmp_path)
    first = llm.complete(MESSAGES, n=2, temperature=1.0)
    assert not first.cached and len(server.requests) == 1
    second = llm.complete(MESSAGES, n=2, temperature=1.0)
    assert second.cached and second.texts == first.texts
    assert second.usage.prompt_tokens == 0 and second.usage.cost_usd == 0.0
    assert len(server.requests) == 1
    # a different request is asked
    llm.complete(MESSAGES, n=2, temperature=0.5)
    assert len(server.requests) == 2
    # a fresh process (new wrapper, same folder) still hits
    again = CachedLLM(backend(server), tmp_path).complete(MESSAGES, n=2, temperature=1.0)
    assert again.cached and len(server.requests) == 2


def test_make_llm_openai_over_the_wire(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("REWARDSMITH_CACHE", str(tmp_path))
    monkeypatch.setenv("REWARDSMITH_MODEL", "tiny-coder")
    llm = make_llm(None)
    assert llm.name == "openai:tiny-coder"
    out = llm.complete(MESSAGES, n=1, temperature=1.0)
    assert out.texts and server.requests[0]["model"] == "tiny-coder"
    assert llm.complete(MESSAGES, n=1, temperature=1.0).cached
    assert any(tmp_path.joinpath("llm").rglob("*.json"))


def test_prices():
    assert price("gpt-4o") == (2.5, 10.0)
    assert price("gpt-4o-mini-2024-07-18") == (0.15, 0.6)
    assert price("gpt-4o-2024-08-06") == (2.5, 10.0)
    assert price("qwen2.5-coder") is None and price("gpt-4.5-preview") is None
    assert cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd("llama3", 10, 10) is None
