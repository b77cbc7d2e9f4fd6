"""How to reach a Pushgateway that only agents may write to: basic-auth credentials
and the CA of its TLS certificate (docs/security.md).

`PushgatewayAccess.from_settings` reads them from the settings (configured, or the
local stack's generated login); `handler()` gives prometheus_client's push functions a
handler that sends them, and `open()` makes any other request with them.
"""

from __future__ import annotations

import base64
import ssl
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from riskwatch.settings import Settings

Handler = Callable[[str, str, float | None, list[tuple[str, str]], bytes], Callable[[], None]]
"""prometheus_client's push handler signature: (url, method, timeout, headers, data)."""


@dataclass(frozen=True)
class PushgatewayAccess:
    """How to reach a Pushgateway: basic-auth credentials, and the CA file that signs
    its TLS certificate when it is not one the system trusts. The default is open
    access, for a Pushgateway without auth (a test's own, say)."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: Path | None = None

    @classmethod
    def parse(cls, credentials: str, ca_file: Path | None = None) -> PushgatewayAccess:
        """`user:password`, as the Pushgateway auth file holds them."""
        username, sep, password = credentials.strip().partition(":")
        if not sep or not username or not password:
            # Never echo the text: it is a secret.
            raise ValueError("Pushgateway credentials must read user:password")
        return cls(username, password, ca_file)

    @classmethod
    def from_settings(cls, settings: Settings) -> PushgatewayAccess:
        """The settings' credentials (pushgateway_auth, its file, or the local stack's
        generated file) and CA file; open access when there are none."""
        credentials = settings.pushgateway_credentials()
        if credentials is None:
            return cls(ca_file=settings.pushgateway_ca_file)
        return cls.parse(credentials, settings.pushgateway_ca_file)

    def headers(self) -> dict[str, str]:
        if self.username is None or self.password is None:
            return {}
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _context(self) -> ssl.SSLContext | None:
        return ssl.create_default_context(cafile=str(self.ca_file)) if self.ca_file else None

    def open(
        self,
        url: str,
        *,
        method: str = "GET",
        data: bytes | None = None,
        timeout: float | None = 5.0,
        headers: Iterable[tuple[str, str]] = (),
    ) -> bytes:
        """One request to the Pushgateway; the body. HTTP errors raise (OSError)."""
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{url}: a Pushgateway URL is http:// or https://")
        request = urllib.request.Request(url, data=data, method=method)
        for name, value in [*headers, *self.headers().items()]:
            request.add_header(name, value)
        # The scheme is checked above: no file:// or custom scheme reaches urlopen.
        with urllib.request.urlopen(  # nosec B310
            request, timeout=timeout, context=self._context()
        ) as resp:
            body: bytes = resp.read()
            return body

    def handler(self) -> Handler:
        """A prometheus_client push handler that sends these credentials."""

        def make(
            url: str,
            method: str,
            timeout: float | None,
            headers: list[tuple[str, str]],
            data: bytes,
        ) -> Callable[[], None]:
            def handle() -> None:
                self.open(url, method=method, data=data, timeout=timeout, headers=headers)

            return handle

        return make


OPEN_ACCESS = PushgatewayAccess()
"""No credentials: for a Pushgateway without auth (a test's own, say)."""
