"""Connection settings of the external data sources, kept free of vendor imports.

The settings object nests these (`trading.polygon`, `trading.ibkr`), so loading
settings never imports the massive or ib_async clients.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class PolygonConfig(BaseModel):
    """How `PolygonSource` reaches Polygon. The API key has no default: provide one."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    api_key: SecretStr = Field(description="Polygon (Massive) API key; never logged.")
    base_url: str = Field(
        "https://api.polygon.io", description="REST endpoint, without a trailing slash."
    )
    requests_per_minute: int = Field(
        5, ge=1, description="Request budget; 5 is Polygon's free tier. Retries count."
    )
    max_retries: int = Field(
        5, ge=0, description="Retries after a 429, 5xx or transport error, then SourceError."
    )
    backoff_initial_seconds: float = Field(
        1.0, gt=0, description="First wait before a retry; doubles each retry."
    )
    backoff_max_seconds: float = Field(
        30.0,
        gt=0,
        description="Longest wait before a retry. A Retry-After above this gives up at once.",
    )
    timeout_seconds: float = Field(10.0, gt=0, description="Connect and read timeout each.")
    budget_max_wait_seconds: float = Field(
        60.0,
        ge=0,
        description="Longest wait for a request token; a longer one raises SourceError "
        "rather than stall the agent's cycle.",
    )


class IbkrConfig(BaseModel):
    """How `IbkrSource` reaches TWS or IB Gateway. There are no credentials: the
    gateway is already logged in; `client_id` must be unique among its API clients."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Host of TWS or IB Gateway.")
    port: int = Field(
        4002,
        ge=1,
        le=65535,
        description="API port: 4002 Gateway paper (default), 4001 Gateway live, "
        "7497 TWS paper, 7496 TWS live.",
    )
    client_id: int = Field(
        ge=0, description="API client id, unique per connection to the gateway; required."
    )
    account: str | None = Field(
        None,
        description="Account code (e.g. U1234567); needed only when the login manages "
        "several accounts.",
    )
    readonly: bool = Field(
        True, description="Match the gateway's read-only API setting; we never trade."
    )
    connect_timeout_seconds: float = Field(
        10.0, gt=0, description="Handshake plus initial position/account sync."
    )
    request_timeout_seconds: float = Field(
        10.0, gt=0, description="Longest a call waits for the gateway before SourceError."
    )
    reconnect_initial_seconds: float = Field(
        1.0, gt=0, description="Wait before the first reconnect attempt; doubles after each."
    )
    reconnect_max_seconds: float = Field(
        60.0, gt=0, description="Longest wait between reconnect attempts."
    )
