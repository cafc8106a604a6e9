"""Lambda function URLs on loopback: each HTTP request becomes the event AWS sends, and the
function's answer becomes the HTTP response.

The shapes are AWS's "payload format version 2.0" of function URLs
(https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html, "Request and response
payloads"): the request event has ``version``, ``routeKey`` ``$default``, ``rawPath``,
``rawQueryString``, ``cookies``, ``headers`` (names lower-cased, repeated values joined with
commas), ``queryStringParameters``, ``requestContext`` (``accountId`` ``anonymous`` for
AuthType NONE, ``http.method/path/protocol/sourceIp/userAgent``, ``requestId``, ``time``,
``timeEpoch``), ``body`` and ``isBase64Encoded``; the answer's ``statusCode``, ``headers``,
``cookies`` (each a Set-Cookie), ``body`` and ``isBase64Encoded`` become the response (a
non-dict answer is a 200 JSON body, as AWS does). A function error is 502, as AWS answers.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

URL_ID = "localfunctionurl0000000000000000"  # the <url-id> of a function URL (32 characters)
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/x-www-form-urlencoded")


def request_event(
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    *,
    source_ip: str = "127.0.0.1",
    host: str = "localhost",
) -> dict[str, Any]:
    """The function URL event (payload 2.0) of one HTTP request (``target``: path?query)."""
    parts = urlsplit(target)
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        lower = name.lower()
        if lower == "cookie":
            cookies += [c.strip() for c in value.split(";") if c.strip()]
            continue
        merged[lower] = f"{merged[lower]},{value}" if lower in merged else value
    query: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        query[name] = f"{query[name]},{value}" if name in query else value
    text = not body or any(merged.get("content-type", "").startswith(t) for t in TEXT_TYPES)
    now = time.time()
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path or "/",
        "rawQueryString": parts.query,
        "headers": merged,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": URL_ID,
            "domainName": host,
            "domainPrefix": URL_ID,
            "http": {
                "method": method,
                "path": parts.path or "/",
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": merged.get("user-agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": not text,
    }
    if cookies:
        event["cookies"] = cookies
    if query:
        event["queryStringParameters"] = query
    if body:
        event["body"] = body.decode() if text else base64.b64encode(body).decode()
    return event


def http_answer(result: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """The HTTP response of a function's answer (status, headers, body)."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return 200, [("content-type", "application/json")], json.dumps(result).encode()
    headers = [(str(k), str(v)) for k, v in (result.get("headers") or {}).items()]
    headers += [("set-cookie", str(c)) for c in result.get("cookies") or []]
    body = result.get("body") or ""
    raw = base64.b64decode(body) if result.get("isBase64Encoded") else str(body).encode()
    return int(result["statusCode"]), headers, raw


class FunctionUrl:
    """Serve one function on ``http://127.0.0.1:<port>/`` (``url``) until :meth:`stop`.

    ``invoke`` (event -> answer) may be set after start (the stack needs the URL before it
    starts the functions: the scanner's LINK_BASE_URL); a request before then is 503.
    """

    def __init__(self, invoke: Callable[[dict[str, Any]], Any] | None = None) -> None:
        self.invoke = invoke
        self.requests = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                outer.requests += 1
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                event = request_event(
                    self.command,
                    self.path,
                    list(self.headers.items()),
                    body,
                    source_ip=self.client_address[0],
                    host=self.headers.get("host", "localhost"),
                )
                status, headers, raw = outer.answer(event)
                self.send_response(status)
                for name, value in headers:
                    if name.lower() != "content-length":
                        self.send_header(name, value)
                self.send_header("content-length", str(len(raw)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(raw)

            do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, event: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
        if self.invoke is None:
            return 503, [("content-type", "text/plain")], b"function not started"
        try:
            return http_answer(self.invoke(event))
        except Exception as exc:  # a function error: AWS answers 502
            return 502, [("content-type", "application/json")], json.dumps({"Message": str(exc)}).encode()

    def start(self) -> FunctionUrl:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
