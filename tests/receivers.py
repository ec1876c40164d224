"""Real servers that notifications are delivered to in tests: SMTP and HTTP.

`Mailbox` is an aiosmtpd SMTP server; `HttpReceiver` a threaded HTTP server that
takes webhooks, SMS (SMSEagle's JSON-RPC) and push (ntfy) posts, and can be told
to fail the posts that mention something (answer 500), a number of times or until
told otherwise, and to be slow about it. Both note when each message arrived
(time.monotonic(), comparable with the test's clock); posts keep their headers.
"""

from __future__ import annotations

import email
import email.policy
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from cli.broker import free_port


@dataclass(frozen=True)
class Mail:
    at: float
    rcpt: tuple[str, ...]
    subject: str
    body: str


class Mailbox:
    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[Mail] = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        at = time.monotonic()
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
        body = part.get_content() if part is not None else ""
        mail = Mail(at, tuple(envelope.rcpt_tos), str(message["subject"]), body)
        with self._lock:
            self.mails.append(mail)
        return "250 OK"

    def find(self, text: str, rcpt: str | None = None) -> list[Mail]:
        with self._lock:
            return [
                m
                for m in self.mails
                if (text in m.subject or text in m.body) and rcpt in (None, *m.rcpt)
            ]

    def start(self) -> Mailbox:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()


@dataclass(frozen=True)
class Post:
    at: float
    path: str
    body: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class HttpReceiver:
    def __init__(self) -> None:
        self.posts: list[Post] = []
        #: (text, path) -> (failures left (None: until told otherwise), seconds to stall each)
        self._failures: dict[tuple[str, str], tuple[int | None, float]] = {}
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length).decode(errors="replace")
                status, stall = receiver._status_for(self.path, body)
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.posts.append(Post(time.monotonic(), self.path, body, status, headers))
                time.sleep(stall)  # a slow failing server: the sender waits for its 500
                reply = b'{"result": {"message_id": 1, "status": "ok"}}'
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]

    def fail(self, text: str, times: int | None, path: str = "", stall_s: float = 0.0) -> None:
        """Answer 500 to the next `times` posts to `path...` mentioning `text` (None: all
        until `fail(text, 0, path)`), each after `stall_s` seconds."""
        with self._lock:
            self._failures[(text, path)] = (times, stall_s)

    def _status_for(self, path: str, body: str) -> tuple[int, float]:
        with self._lock:
            for (text, prefix), (left, stall) in self._failures.items():
                if text in body and path.startswith(prefix) and (left is None or left > 0):
                    if left is not None:
                        self._failures[(text, prefix)] = (left - 1, stall)
                    return 500, stall
        return 200, 0.0

    def find(self, text: str, path: str = "", status: int | None = 200) -> list[Post]:
        with self._lock:
            return [
                p
                for p in self.posts
                if text in p.body and p.path.startswith(path) and status in (None, p.status)
            ]

    def start(self) -> HttpReceiver:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
