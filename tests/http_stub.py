"""Real stdlib HTTP servers on 127.0.0.1 for tests: a scripted JSON server and a vLLM-like stub.

Subclass :class:`JSONHandler`, implement ``do_POST``/``do_GET`` with :meth:`JSONHandler.reply`,
and run it with :func:`serve`::

    with serve(MyHandler) as base_url:   # "http://127.0.0.1:PORT"
        ...

:func:`serve_vllm` runs :class:`VLLMScript`'s server: an OpenAI-compatible ``/v1`` that behaves
like vLLM (drops special tokens unless the request says ``skip_special_tokens: false``, puts
spaces around them unless ``spaces_between_special_tokens: false``, reports ``finish_reason`` and
``usage``) and fails on request as real servers do: a body cut mid-way, a bad status line, a
connection reset, a 503, a slow answer, or the whole server dying with requests in flight.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator

from pleias_rl.data.format import EOS_TOKEN, SPECIAL_TOKENS

FAULTS = ("cut", "bad_status", "reset", "503", "slow", "die")
"""What the vLLM stub can do to a request instead of answering it."""

_SPECIAL = re.compile("|".join(re.escape(token) for token in (*SPECIAL_TOKENS, EOS_TOKEN)))


class JSONHandler(BaseHTTPRequestHandler):
    """A request handler that answers JSON and keeps the test output quiet."""

    def read_json(self) -> Any:
        """The request body, parsed as JSON."""
        return json.loads(self.rfile.read(int(self.headers["Content-Length"])))

    def reply(self, status: int, payload: Any) -> None:
        """Send ``payload`` as a JSON response with ``status``."""
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


class StubServer(ThreadingHTTPServer):
    """A threading server that can die on request and does not print the errors of the
    connections it breaks on purpose."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.dead = threading.Event()
        self._stopped = threading.Event()

    def die(self) -> None:
        """Stop accepting, close the listening socket (new connections are refused); handlers in
        flight see ``dead`` and reset their connections."""
        if not self.dead.is_set():
            self.dead.set()
            threading.Thread(target=self.stop, daemon=True).start()

    def stop(self) -> None:
        """Shut the accept loop down and close the listening socket (once)."""
        if not self._stopped.is_set():
            self._stopped.set()
            self.shutdown()
            self.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Serve ``handler`` on a free port of 127.0.0.1 in a thread; yield the base URL."""
    with running(handler) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"


@contextmanager
def running(handler: type[BaseHTTPRequestHandler]) -> Iterator[StubServer]:
    """Run ``handler`` on a free port of 127.0.0.1 in a thread; yield the server."""
    server = StubServer(handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stop()
        thread.join(timeout=5)


def vllm_decode(text: str, skip_special_tokens: bool = True, spaces_between_special_tokens: bool = True) -> str:
    """What vLLM returns for generated ``text`` under its two decoding parameters (defaults: vLLM's).

    >>> vllm_decode("English<|language_end|>\\n<|answer_start|>Yes.")
    'English\\nYes.'
    >>> vllm_decode("English<|language_end|>\\n", skip_special_tokens=False)
    'English <|language_end|> \\n'
    >>> vllm_decode("English<|language_end|>", False, False)
    'English<|language_end|>'
    """
    if skip_special_tokens:
        return _SPECIAL.sub("", text)
    if spaces_between_special_tokens:
        return _SPECIAL.sub(lambda match: f" {match.group(0)} ", text)
    return text


def stub_tokens(text: str) -> list[str]:
    """The stub's tokens: each special token, word and run of whitespace.

    >>> stub_tokens("English<|language_end|>\\n<|answer_start|>Yes it is.")
    ['English', '<|language_end|>', '\\n', '<|answer_start|>', 'Yes', ' ', 'it', ' ', 'is.']
    """
    return re.findall(_SPECIAL.pattern + r"|\s+|(?:(?!<\|)\S)+", text)


@dataclass
class VLLMScript:
    """What the vLLM stub answers and how it fails.

    - ``completion(prompt)``: the generated text, special tokens included, before vLLM decodes it;
    - ``chat_reply``: the answer of ``/v1/chat/completions``;
    - ``faults``: consumed one per POST, in order (see :data:`FAULTS`); then requests succeed;
    - ``honours_keep``: False makes a server that ignores ``skip_special_tokens`` (always drops);
    - ``delay`` seconds before each answer; ``bodies``: every request received.
    """

    completion: Callable[[str], str] = lambda prompt: "English<|language_end|>"
    chat_reply: str = "yes"
    faults: list[str] = field(default_factory=list)
    honours_keep: bool = True
    delay: float = 0.0
    bodies: list[dict] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_fault(self, body: dict) -> str | None:
        """Record ``body`` and take the next fault (``None``: answer normally)."""
        with self.lock:
            self.bodies.append(body)
            return self.faults.pop(0) if self.faults else None


def vllm_handler(script: VLLMScript) -> type[BaseHTTPRequestHandler]:
    """The request handler of a vLLM-like server driven by ``script``."""

    class Handler(JSONHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as vLLM (uvicorn)

        def do_GET(self) -> None:
            if self.path in ("/health", "/v1/models"):
                self.reply(200, {"status": "ok"} if self.path == "/health" else {"data": [{"id": "stub"}]})
            else:
                self.reply(404, {"error": "not found"})

        def do_POST(self) -> None:
            body = self.read_json()
            fault = script.next_fault(body)
            if fault == "die":
                self.server.die()
            time.sleep(script.delay + (5.0 if fault == "slow" else 0.0))
            if fault in ("die", "reset") or self.server.dead.is_set():
                return self.reset()
            if fault == "503":
                return self.reply(503, {"error": "overloaded"})
            payload = self.answer(body)
            if fault == "cut":
                return self.cut(json.dumps(payload).encode())
            if fault == "bad_status":
                self.wfile.write(b"NOT-HTTP garbage\r\n\r\n")
                self.close_connection = True
                return None
            return self.reply(200, payload)

        def answer(self, body: dict) -> dict:
            if self.path.endswith("/chat/completions"):
                return {"choices": [{"message": {"role": "assistant", "content": script.chat_reply},
                                     "finish_reason": "stop"}], "usage": {"completion_tokens": 1}}
            tokens = stub_tokens(script.completion(body.get("prompt", "")))
            max_tokens = body.get("max_tokens") or 16
            finish = "length" if len(tokens) > max_tokens else "stop"
            keep = script.honours_keep and body.get("skip_special_tokens", True) is False
            text = vllm_decode("".join(tokens[:max_tokens]), not keep,
                               body.get("spaces_between_special_tokens", True))
            return {"choices": [{"text": text, "finish_reason": finish}],
                    "usage": {"completion_tokens": min(len(tokens), max_tokens)}}

        def cut(self, data: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        def reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()

    return Handler


@contextmanager
def serve_vllm(script: VLLMScript) -> Iterator[str]:
    """Run the vLLM-like stub; yield its base URL ending in ``/v1``."""
    with serve(vllm_handler(script)) as url:
        yield url + "/v1"
