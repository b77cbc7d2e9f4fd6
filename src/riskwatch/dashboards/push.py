"""Upload the dashboards to a running Grafana through its HTTP API.

Three endpoints are all it takes (``/api/health``, ``/api/folders``,
``/api/dashboards/db``), so they are called with requests, which riskwatch already
uses: grafana-client would bring niquests and urllib3-future, which replace the
urllib3 every other package in the environment imports.

Authentication is a service-account token (Grafana's replacement for API keys).
Dashboards land in one folder, created on first push, and overwrite any dashboard
with the same uid, so pushing twice is harmless and a dashboard edited in the UI
is put back to what the code says. Every failure is one sentence (`PushError`):
Grafana unreachable, token refused, or a dashboard rejected, with Grafana's reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests

DEFAULT_FOLDER = "riskwatch"
TIMEOUT_SECONDS = 10.0


class PushError(Exception):
    """A push that failed, already phrased as one line for the operator."""


@dataclass(frozen=True)
class Pushed:
    """One dashboard Grafana accepted: its uid, version and URL path."""

    uid: str
    version: int
    url: str


def folder_uid(title: str) -> str:
    """A stable uid for a folder title, so each push finds the same folder."""
    slug = re.sub(r"[^a-z0-9-]+", "-", title.lower()).strip("-")
    return (slug or "riskwatch")[:40]


def _refusal(status: int, body: str, url: str) -> str:
    if status == 401:
        return (
            f"Grafana at {url} refused the token (401): check the service-account token "
            "and that it has not expired"
        )
    if status == 403:
        return (
            f"Grafana at {url} denied access (403): the service account needs the Editor "
            "role (dashboards:write and folders:create)"
        )
    reason = " ".join(body.split())[:300]
    return f"Grafana at {url} answered with an error: {status} {reason}"


class Pusher:
    """A connection to one Grafana, authenticated with a service-account token."""

    def __init__(self, url: str, token: str, *, timeout: float = TIMEOUT_SECONDS) -> None:
        if not re.match(r"^https?://[^/]+", url):
            raise PushError(f"Grafana URL {url!r} is not an http(s) URL")
        if not token.strip():
            raise PushError("the Grafana service-account token is empty")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token.strip()}"
        self.session.headers["Accept"] = "application/json"

    def _call(self, what: str, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self.session.request(
                method, f"{self.url}/api{path}", json=body, timeout=self.timeout
            )
        except requests.Timeout:
            raise PushError(
                f"{what}: Grafana at {self.url} did not answer within {self.timeout:g} s"
            ) from None
        except requests.RequestException as exc:
            reason = " ".join(str(exc).split())
            raise PushError(f"{what}: cannot reach Grafana at {self.url}: {reason}") from None
        if response.status_code >= 400:
            raise PushError(f"{what}: {_refusal(response.status_code, response.text, self.url)}")
        try:
            return response.json() if response.content else None
        except ValueError:
            raise PushError(
                f"{what}: Grafana at {self.url} answered with something not JSON"
            ) from None

    def health(self) -> None:
        """Fail with a clear message unless Grafana answers and its database is ok."""
        health = self._call("health check", "GET", "/health")
        if isinstance(health, dict) and health.get("database", "ok") != "ok":
            raise PushError(f"Grafana at {self.url} reports its database as {health['database']}")

    def ensure_folder(self, title: str) -> str:
        """The uid of the folder titled `title`, created if there is none."""
        for folder in self._call("listing folders", "GET", "/folders") or []:
            if folder.get("title") == title or folder.get("uid") == folder_uid(title):
                return str(folder["uid"])
        created = self._call(
            f"creating folder {title!r}", "POST", "/folders",
            {"title": title, "uid": folder_uid(title)},
        )  # fmt: skip
        return str(created["uid"])

    def upload(self, board: Mapping[str, Any], folder: str, message: str) -> Pushed:
        """Create or overwrite one dashboard (by uid) in the folder with uid `folder`."""
        uid = str(board.get("uid", ""))
        payload = {
            "dashboard": {**board, "id": None},  # match by uid, never by numeric id
            "folderUid": folder,
            "overwrite": True,
            "message": message,
        }
        result = self._call(f"uploading dashboard {uid}", "POST", "/dashboards/db", payload)
        if not isinstance(result, dict) or result.get("status") not in (None, "success"):
            raise PushError(f"uploading dashboard {uid}: Grafana answered {result!r}")
        return Pushed(uid, int(result.get("version") or 0), str(result.get("url", "")))


def push(
    boards: Mapping[str, Mapping[str, Any]],
    url: str,
    token: str,
    folder: str = DEFAULT_FOLDER,
    *,
    message: str = "riskwatch dashboards push",
    timeout: float = TIMEOUT_SECONDS,
) -> list[Pushed]:
    """Upload every dashboard into `folder`, overwriting by uid; PushError on failure."""
    pusher = Pusher(url, token, timeout=timeout)
    pusher.health()
    folder_id = pusher.ensure_folder(folder)
    return [pusher.upload(board, folder_id, message) for board in boards.values()]
