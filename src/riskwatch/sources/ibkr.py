"""Interactive Brokers account, positions and executions through `ib_async`.

Threading model. ib_async is asyncio: its socket is only read while an event loop runs.
The agents are synchronous, so a blocking-wrapper design (``IB.connect``/``util.run``
on the caller's thread) would notice a dropped gateway only on the next call, and
``riskwatch_broker_connected`` would lie in between. `IbkrSource` instead owns one daemon thread
running its own event loop with the ``IB`` object inside it. That loop always reads the
socket, so a disconnect is seen at once, and it runs the reconnect supervisor. Public
methods are thread-safe: they hand a coroutine to the loop
(``run_coroutine_threadsafe``) and wait for it with a timeout. ``util.startLoop`` (nested
loops, for notebooks) is not used.

Reconnects. IB Gateway restarts nightly and on Sundays, and loses its own link to IB at
times (error 1100). The supervisor reconnects with bounded exponential backoff
(``reconnect_initial_seconds`` doubling to ``reconnect_max_seconds``); no call ever
waits for it: while down, every call raises `SourceError` at once. `connected` is the
``riskwatch_broker_connected{broker="ibkr"}`` value and ``on_disconnect`` is called once per
drop, for a disconnect counter.

State. Positions and account values come from the subscriptions ib_async opens when it
connects (``reqPositions``, ``reqAccountUpdates``), kept current by the gateway; each
connect re-synchronises them before `connected` turns true. Executions are requested
afresh on each `executions` call (``reqExecutions``): the gateway returns the current
day's executions, filtered to ``since`` here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any, TypeVar

from ib_async import IB, ExecutionFilter
from ib_async import Position as IbPosition
from ib_async.contract import Contract
from ib_async.ib import StartupFetch

from riskwatch.source_settings import IbkrConfig

from .base import Account, Execution, Position, Side, SourceError

log = logging.getLogger(__name__)

T = TypeVar("T")

BROKER = "ibkr"

# TWS/Gateway messages about its own link to IB's servers; the API socket stays up.
# https://ibkrcampus.com/campus/ibkr-api-page/twsapi-doc/#api-error-codes
_LINK_LOST = frozenset({1100, 2110})  # connectivity between TWS and IB lost / broken
_LINK_RESTORED_DATA_KEPT = 1102
_LINK_RESTORED_DATA_LOST = 1101  # subscriptions are gone: resynchronise from scratch

_SIDES: dict[str, Side] = {"BOT": "buy", "SLD": "sell"}

# Gateway notices about its data farms: OK (and inactive-but-available) versus broken.
_FARM_CODES: dict[int, bool] = {
    2103: False,  # market data farm connection is broken
    2104: True,  # market data farm connection is OK
    2105: False,  # HMDS data farm connection is broken
    2106: True,  # HMDS data farm connection is OK
    2107: True,  # HMDS data farm connection is inactive but available on demand
    2108: True,  # market data farm connection is inactive but available on demand
    2157: False,  # sec-def data farm connection is broken
    2158: True,  # sec-def data farm connection is OK
}

# Only what we read: positions always come with the connect; orders are not ours to see.
_STARTUP_FETCH = StartupFetch.POSITIONS | StartupFetch.ACCOUNT_UPDATES


def _symbol(contract: Contract) -> str:
    # Stocks by ticker; a derivative's ticker is its underlying's, so use the local
    # symbol (e.g. the OCC option symbol), which names the instrument itself.
    if contract.secType in ("STK", "ETF") or not contract.localSymbol:
        return str(contract.symbol)
    return str(contract.localSymbol)


class IbkrSource:
    """`BrokerSource` backed by TWS / IB Gateway through ``ib_async.IB``.

    Args:
        config: gateway address, client id, account, timeouts and reconnect backoff.
        on_disconnect: called (from the source's thread; keep it quick) each time an
            established connection is lost, for a disconnect counter.

    Call `start` (or use ``with``) to begin connecting; `close` to stop.
    """

    name = BROKER

    def __init__(
        self, config: IbkrConfig, *, on_disconnect: Callable[[], None] | None = None
    ) -> None:
        self.config = config
        self._on_disconnect = on_disconnect
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ib: IB | None = None
        self._loop_ready = threading.Event()
        self._up = threading.Event()  # set while `connected`
        self._stopping = False
        # Written only on the loop thread; plain bools are safe to read elsewhere.
        self._synced = False  # socket up and initial sync done
        self._link_ok = True  # the gateway's own link to IB (errors 1100/1102)
        self._disconnects = 0
        self._wake: asyncio.Event | None = None
        self._supervisor: asyncio.Task[None] | None = None
        # Gateway telemetry for the ibkr exporter, written on the loop thread.
        self.error_counts: dict[int, int] = {}
        self.farms: dict[str, bool] = {}
        self.last_account_update: float | None = None  # time.time() of the newest update

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start the background loop; it connects, and reconnects, on its own."""
        if self._thread is not None:
            return
        self._stopping = False
        self._loop_ready.clear()
        self._thread = threading.Thread(target=self._run, name="ibkr-source", daemon=True)
        self._thread.start()
        self._loop_ready.wait()

    def wait_connected(self, timeout: float) -> bool:
        """Block up to `timeout` seconds for a connection; whether there is one."""
        return self._up.wait(timeout)

    def close(self) -> None:
        """Disconnect and stop the background loop."""
        self._stopping = True
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(self._request_stop)
            thread.join(timeout=5.0)
        self._thread = None

    def __enter__(self) -> IbkrSource:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- BrokerSource -----------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True while the API connection is up, synchronised, and the gateway is linked
        to IB: the value for ``riskwatch_broker_connected{broker="ibkr"}``."""
        return self._synced and self._link_ok and not self._stopping

    @property
    def disconnects(self) -> int:
        """Established connections lost since construction."""
        return self._disconnects

    def account(self) -> Account:
        """Cash (``TotalCashValue``) and net liquidation (``NetLiquidation``) in USD."""
        return self._call(self._read_account, "account")

    def positions(self) -> list[Position]:
        """Open positions of the account. ``avg_cost`` is IB's: per share for stocks,
        per contract (multiplier included) for derivatives."""
        return self._call(self._read_positions, "positions")

    def executions(self, since: datetime) -> list[Execution]:
        """Fills of the account at or after `since` (timezone-aware), oldest first.

        The gateway reports only recent executions (the current day unless configured
        otherwise), so a `since` further back gets what the gateway still has.
        """
        if since.tzinfo is None:
            raise ValueError("since must be timezone-aware")
        return self._call(lambda: self._read_executions(since), "executions")

    # --- the calling side -------------------------------------------------------------

    def _call(self, job: Callable[[], Coroutine[Any, Any, T]], what: str) -> T:
        loop = self._loop
        if loop is None or not self.connected:
            raise SourceError(
                f"{BROKER}: not connected to {self.config.host}:{self.config.port} ({what})"
            )
        coroutine = job()
        try:
            future = asyncio.run_coroutine_threadsafe(coroutine, loop)
        except RuntimeError:  # the loop closed under us: close() ran meanwhile
            coroutine.close()
            raise SourceError(f"{BROKER}: closed ({what})") from None
        try:
            return future.result(timeout=self.config.request_timeout_seconds)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise SourceError(
                f"{BROKER}: no answer to {what} in {self.config.request_timeout_seconds:g}s"
            ) from None
        except (ConnectionError, OSError) as exc:  # the socket dropped mid-request
            raise SourceError(f"{BROKER}: {what} failed: {exc}") from None

    # --- on the loop thread -----------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        # ib_async creates futures through get_event_loop(); make ours the thread's.
        asyncio.set_event_loop(loop)
        self._loop = loop
        self._supervisor = loop.create_task(self._supervise())
        self._loop_ready.set()
        try:
            loop.run_until_complete(self._supervisor)
        except asyncio.CancelledError:
            pass  # close()
        finally:
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()
            self._synced = False
            self._up.clear()

    async def _supervise(self) -> None:
        """Connect, wait for the connection to drop, back off, reconnect; until
        cancelled by close(), which may interrupt any step."""
        cfg = self.config
        self._ib = ib = IB()
        self._wake = asyncio.Event()
        ib.disconnectedEvent += self._on_disconnected
        ib.errorEvent += self._on_error
        ib.accountValueEvent += self._on_account_value
        delay = cfg.reconnect_initial_seconds
        try:
            while True:
                # Cleared before connecting, so a drop at any point after the connect
                # still wakes the wait below.
                self._wake.clear()
                try:
                    await ib.connectAsync(
                        cfg.host,
                        cfg.port,
                        clientId=cfg.client_id,
                        timeout=cfg.connect_timeout_seconds,
                        readonly=cfg.readonly,
                        account=cfg.account or "",
                        # A connect whose position/account sync timed out would publish
                        # an empty book as if it were real: count it as failed.
                        raiseSyncErrors=True,
                        fetchFields=_STARTUP_FETCH,
                    )
                except Exception as exc:
                    # Refused, timed out, sync incomplete, or anything else ib_async
                    # raises: the supervisor must outlive them, or reconnects stop.
                    log.warning(
                        "%s: cannot connect to %s:%d (%r); retrying in %.3gs",
                        BROKER,
                        cfg.host,
                        cfg.port,
                        exc,
                        delay,
                    )
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, cfg.reconnect_max_seconds)
                    continue
                delay = cfg.reconnect_initial_seconds
                self._synced, self._link_ok = True, True
                self._set_up()
                log.info("%s: connected to %s:%d", BROKER, cfg.host, cfg.port)
                await self._wake.wait()  # set by a drop or a 1101 resync
                if ib.isConnected():  # a resync: the socket is still up
                    ib.disconnect()
                # Even after a clean drop wait a little: a gateway that accepts and
                # then drops us at once must not be hammered.
                await asyncio.sleep(delay)
        finally:
            ib.disconnect()

    def _request_stop(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()

    def _set_up(self) -> None:
        if self.connected:
            self._up.set()
        else:
            self._up.clear()

    def _went_down(self, reason: str) -> None:
        """Record a transition from connected to not connected, once."""
        was_up = self._up.is_set()
        self._set_up()
        if was_up and not self._up.is_set() and not self._stopping:
            self._disconnects += 1
            log.warning("%s: disconnected: %s", BROKER, reason)
            if self._on_disconnect is not None:
                try:
                    self._on_disconnect()
                except Exception:  # a metrics hook must not kill the supervisor
                    log.exception("%s: on_disconnect hook failed", BROKER)

    def _on_disconnected(self) -> None:
        self._synced = False
        self._went_down("connection to the gateway closed")
        if self._wake is not None:
            self._wake.set()

    def _on_account_value(self, _value: Any) -> None:
        self.last_account_update = time.time()

    def _on_error(self, req_id: int, code: int, message: str, contract: Any) -> None:
        self.error_counts[code] = self.error_counts.get(code, 0) + 1
        farm_state = _FARM_CODES.get(code)
        if farm_state is not None:
            # "Market data farm connection is OK:usfarm": the farm is after the colon.
            farm = message.rsplit(":", 1)[-1].strip() or "unknown"
            self.farms[farm] = farm_state
        if code in _LINK_LOST:
            self._link_ok = False
            self._went_down(f"gateway lost its link to IB ({code}: {message})")
        elif code == _LINK_RESTORED_DATA_KEPT:
            self._link_ok = True
            self._set_up()
            log.info("%s: gateway link to IB restored, data kept (%d)", BROKER, code)
        elif code == _LINK_RESTORED_DATA_LOST:
            # Subscriptions are lost: stay down until a fresh connect has resynced.
            log.warning("%s: gateway link restored with data lost (%d); resyncing", BROKER, code)
            self._link_ok = False
            self._went_down("resynchronising after 1101")
            if self._wake is not None:
                self._wake.set()

    def _live_ib(self) -> IB:
        # Re-checked on the loop thread: between the caller's check and now the
        # connection may have dropped and ib_async cleared its state.
        if self._ib is None or not self.connected:
            raise SourceError(f"{BROKER}: connection lost")
        return self._ib

    def _account_code(self, ib: IB) -> str:
        if self.config.account:
            return self.config.account
        accounts = ib.managedAccounts()
        if len(accounts) != 1:
            raise SourceError(
                f"{BROKER}: the login manages accounts {accounts}; set the account to use"
            )
        return accounts[0]

    async def _read_account(self) -> Account:
        ib = self._live_ib()
        code = self._account_code(ib)
        values = {
            (v.tag, v.currency): v.value
            for v in ib.accountValues(code)
            if v.tag in ("TotalCashValue", "NetLiquidation")
        }
        try:
            cash = float(values["TotalCashValue", "USD"])
            net_liquidation = float(values["NetLiquidation", "USD"])
        except (KeyError, ValueError):
            raise SourceError(
                f"{BROKER}: account {code} has no USD TotalCashValue/NetLiquidation "
                f"(got {sorted(values)})"
            ) from None
        return Account(cash=cash, net_liquidation=net_liquidation, currency="USD")

    async def _read_positions(self) -> list[Position]:
        ib = self._live_ib()
        code = self._account_code(ib)
        held: list[IbPosition] = ib.positions(code)
        return [
            Position(symbol=_symbol(p.contract), quantity=p.position, avg_cost=p.avgCost)
            for p in held
            if p.position != 0
        ]

    async def _read_executions(self, since: datetime) -> list[Execution]:
        ib = self._live_ib()
        code = self._account_code(ib)
        # Time is filtered here rather than with ExecutionFilter.time, a string whose
        # timezone the gateway interprets by its own settings; aware datetimes compare
        # exactly.
        fills = await ib.reqExecutionsAsync(ExecutionFilter(acctCode=code))
        result: list[Execution] = []
        for fill in fills:
            ex = fill.execution
            side = _SIDES.get(ex.side)
            when = ex.time.astimezone(UTC)
            if ex.acctNumber and ex.acctNumber != code:
                continue  # the gateway filters by account already; this is belt and braces
            if side is None:
                log.warning("%s: execution %s has unknown side %r", BROKER, ex.execId, ex.side)
                continue
            if when < since:
                continue
            result.append(
                Execution(
                    exec_id=ex.execId,
                    symbol=_symbol(fill.contract),
                    side=side,
                    quantity=float(ex.shares),
                    price=float(ex.price),
                    timestamp=when,
                )
            )
        return sorted(result, key=lambda e: e.timestamp)


__all__ = ["IbkrConfig", "IbkrSource"]
