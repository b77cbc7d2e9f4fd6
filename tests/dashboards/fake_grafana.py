"""A small real HTTP server that speaks the part of Grafana's API `push` uses.

GET /api/health, GET and POST /api/folders, POST /api/dashboards/db. A request
without the expected bearer token gets 401 with Grafana's JSON body; a dashboard
whose uid exists is refused unless `overwrite` is true, as Grafana does (412).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class GrafanaState:
    """What the fake Grafana holds, and every request it saw."""

    token: str
    folders: dict[str, str] = field(default_factory=dict)  # uid -> title
    dashboards: dict[str, dict[str, Any]] = field(default_factory=dict)  # uid -> payload
    versions: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)


def _handler(state: GrafanaState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
            pass

        def _reply(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {state.token}":
                return True
            self._reply(401, {"message": "invalid API key", "traceID": ""})
            return False

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self) -> None:
            state.requests.append(("GET", self.path))
            if self.path == "/api/health":  # unauthenticated in Grafana too
                self._reply(200, {"commit": "fake", "database": "ok", "version": "11.0.0"})
            elif not self._authorized():
                return
            elif self.path.startswith("/api/folders"):
                self._reply(
                    200, [{"id": i, "uid": u, "title": t}
                          for i, (u, t) in enumerate(state.folders.items(), 1)],
                )  # fmt: skip
            else:
                self._reply(404, {"message": "Not found"})

        def do_POST(self) -> None:
            state.requests.append(("POST", self.path))
            if not self._authorized():
                return
            body = self._body()
            if self.path == "/api/folders":
                uid = body.get("uid") or f"f{len(state.folders) + 1}"
                if uid in state.folders:
                    self._reply(409, {"message": "a folder with the same uid already exists"})
                    return
                state.folders[uid] = body["title"]
                self._reply(200, {"id": len(state.folders), "uid": uid, "title": body["title"]})
            elif self.path == "/api/dashboards/db":
                board = body["dashboard"]
                uid = board.get("uid")
                if body.get("folderUid") not in state.folders:
                    self._reply(400, {"message": "folder not found"})
                elif uid in state.dashboards and not body.get("overwrite"):
                    self._reply(412, {"message": "A dashboard with the same uid already exists",
                                      "status": "name-exists"})  # fmt: skip
                else:
                    state.dashboards[uid] = body
                    state.versions[uid] = state.versions.get(uid, 0) + 1
                    version = state.versions[uid]
                    self._reply(200, {"id": 1, "uid": uid, "status": "success",
                                      "version": version, "url": f"/d/{uid}/x"})  # fmt: skip
            else:
                self._reply(404, {"message": "Not found"})

    return Handler


@contextmanager
def fake_grafana(token: str) -> Iterator[tuple[str, GrafanaState]]:
    """A fake Grafana on a free loopback port; yields its URL and state."""
    state = GrafanaState(token)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
