"""A chat-completions server on loopback for tests: real HTTP, scripted replies."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: (status, headers, body dict or raw str, delay seconds)
Scripted = tuple[int, dict[str, str], Any, float]


def completion(content: str, prompt_tokens: int = 50, completion_tokens: int = 20) -> dict:
    """A chat-completions response body carrying ``content``."""
    return {
        "id": "cmpl-test",
        "object": "chat.completion",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def mentions_reply(*mentions: dict[str, Any]) -> Scripted:
    """A good reply: the default task's answer with ``mentions`` (flags default false)."""
    full = [
        {
            "negated": False,
            "uncertain": False,
            "historical": False,
            "hypothetical": False,
            "family": False,
            "context": "",
            **m,
        }
        for m in mentions
    ]
    return 200, {}, completion(json.dumps({"mentions": full})), 0.0


class ChatServer:
    """``POST /v1/chat/completions`` answered by ``responder(request_body)``."""

    def __init__(self, responder: Callable[[dict[str, Any]], Scripted]) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(body)
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send_response(404)
                    self.end_headers()
                    return
                status, headers, payload, delay = server.responder(body)
                if delay:
                    time.sleep(delay)
                raw = payload if isinstance(payload, str) else json.dumps(payload)
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(raw.encode())))
                    self.end_headers()
                    self.wfile.write(raw.encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def user_text(body: dict[str, Any]) -> str:
    """The first user message of a request (the note chunk)."""
    return next(m["content"] for m in body["messages"] if m["role"] == "user")
