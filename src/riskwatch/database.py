"""Which PostgreSQL to use: the configured DSN, else the running local stack's.

The local stack (`riskwatch stack up`) records its URLs, the database's among them,
in `<state_dir>/stack.json`; agents and exporters started beside it find the
database there without being told.
"""

from __future__ import annotations

import json

from riskwatch.settings import Settings

STACK_FILE = "stack.json"
"""The local stack's record of its components' URLs, in the state directory."""


def local_database_url(settings: Settings) -> str | None:
    """The DSN to use: the configured one, else the running local stack's, else None."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    stack_file = settings.state_dir / STACK_FILE
    try:
        recorded: str = json.loads(stack_file.read_text())["database"]
    except (OSError, ValueError, KeyError):
        return None
    return recorded if "***" not in recorded else None
