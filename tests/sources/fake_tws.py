"""A fake TWS / IB Gateway speaking the TWS API socket protocol on 127.0.0.1.

It does what a real gateway does for a read-only monitoring client: the ``API\\0``
handshake (server version, then nextValidId and managedAccounts after startApi),
positions (reqPositions), account values and portfolio (reqAccountUpdates), executions
(reqExecutions) and error messages. Messages are length-prefixed, NUL-separated fields
laid out as ib_async's decoder reads them at `SERVER_VERSION`.

Tests drive gateway events: `drop_clients` (the socket closes, as at the nightly
reset), `stop`/`start` on the same port (the gateway is down, then back) and
`broadcast_error` (e.g. 1100 link lost, 1102 restored). It runs in its own threads,
apart from the event loop of the client under test.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.sources.ports import stable_port

SERVER_VERSION = 176  # within ib_async's 157..178; >= 166 adds the error JSON field


@dataclass(frozen=True)
class FakeContract:
    con_id: int
    symbol: str
    sec_type: str = "STK"
    expiry: str = ""
    strike: str = ""
    right: str = ""
    multiplier: str = ""
    exchange: str = "SMART"
    currency: str = "USD"
    local_symbol: str = ""
    trading_class: str = ""

    def fields(self, exchange: str | None = None) -> list[object]:
        return [
            self.con_id,
            self.symbol,
            self.sec_type,
            self.expiry,
            self.strike,
            self.right,
            self.multiplier,
            self.exchange if exchange is None else exchange,
            self.currency,
            self.local_symbol or self.symbol,
            self.trading_class or self.symbol,
        ]


@dataclass(frozen=True)
class Holding:
    contract: FakeContract
    quantity: float
    avg_cost: float
    market_price: float


@dataclass(frozen=True)
class FakeExecution:
    exec_id: str
    contract: FakeContract
    side: str  # BOT or SLD, as TWS sends it
    shares: float
    price: float
    time: str  # "yyyymmdd hh:mm:ss Zone", as TWS sends it
    account: str
    order_id: int = 0
    perm_id: int = 0


def encode(*fields: object) -> bytes:
    payload = "".join(f"{f}\0" for f in fields).encode()
    return struct.pack(">I", len(payload)) + payload


@dataclass
class FakeTws:
    accounts: list[str] = field(default_factory=lambda: ["DU1234567"])
    account_values: list[tuple[str, str, str]] = field(default_factory=list)  # tag, value, cur
    holdings: list[Holding] = field(default_factory=list)
    executions: list[FakeExecution] = field(default_factory=list)
    answer_executions: bool = True
    port: int = 0
    received: list[list[str]] = field(default_factory=list)  # every message from clients
    handshakes: int = 0  # API sessions started (startApi received)
    _listener: socket.socket | None = None
    _clients: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    # --- gateway events ---------------------------------------------------------------

    def start(self) -> None:
        """Listen (again) on `port`; the first start picks one that stays ours."""
        if not self.port:
            self.port = stable_port()
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        listener.settimeout(0.02)  # lets the accept loop notice stop()
        self._listener = listener
        self._spawn(self._accept_loop, listener)

    def stop(self) -> None:
        """The gateway goes away: stop listening and close every client."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        self.drop_clients()

    def drop_clients(self) -> None:
        with self._lock:
            clients, self._clients = self._clients, []
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def broadcast_error(self, code: int, message: str) -> None:
        self._broadcast(encode(4, 2, -1, code, message, ""))

    def close(self) -> None:
        self.stop()
        for thread in self._threads:
            thread.join(timeout=2)

    def requests(self, msg_id: int) -> list[list[str]]:
        with self._lock:
            return [m for m in self.received if m and m[0] == str(msg_id)]

    @property
    def client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    # --- protocol ---------------------------------------------------------------------

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        self._threads.append(thread)
        thread.start()

    def _accept_loop(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            sock.settimeout(None)
            with self._lock:
                self._clients.append(sock)
            self._spawn(self._serve, sock)

    def _broadcast(self, data: bytes) -> None:
        with self._lock:
            clients = list(self._clients)
        for sock in clients:
            with contextlib.suppress(OSError):
                sock.sendall(data)

    @staticmethod
    def _read_exact(sock: socket.socket, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client closed")
            data += chunk
        return data

    def _read_msg(self, sock: socket.socket) -> list[str]:
        (size,) = struct.unpack(">I", self._read_exact(sock, 4))
        return self._read_exact(sock, size).decode().split("\0")[:-1]

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self._read_exact(sock, 4) != b"API\0":
                return
            (size,) = struct.unpack(">I", self._read_exact(sock, 4))
            self._read_exact(sock, size)  # "v157..178": we answer with SERVER_VERSION
            sock.sendall(encode(SERVER_VERSION, "20240531 08:00:00 America/New_York"))
            while True:
                msg = self._read_msg(sock)
                with self._lock:
                    self.received.append(msg)
                reply = self._answer(msg)
                if reply:
                    sock.sendall(reply)
        except OSError:  # ConnectionError included: the client or the test closed it
            pass
        finally:
            with self._lock:
                if sock in self._clients:
                    self._clients.remove(sock)
            sock.close()

    def _answer(self, msg: list[str]) -> bytes:
        msg_id = int(msg[0])
        if msg_id == 71:  # startApi
            with self._lock:
                self.handshakes += 1
            return encode(9, 1, 1) + encode(15, 1, ",".join(self.accounts))
        if msg_id == 61:  # reqPositions
            out = b"".join(
                encode(61, 3, self.accounts[0], *h.contract.fields(), h.quantity, h.avg_cost)
                for h in self.holdings
            )
            return out + encode(62, 1)
        if msg_id == 6 and msg[2] == "1":  # reqAccountUpdates(subscribe, account)
            account = msg[3]
            out = b"".join(encode(6, 2, t, v, c, account) for t, v, c in self.account_values)
            for h in self.holdings:
                value = h.quantity * h.market_price
                out += encode(
                    7, 8, *h.contract.fields(exchange="NASDAQ"), h.quantity, h.market_price,
                    value, h.avg_cost, value - h.quantity * h.avg_cost, 0.0, account,
                )  # fmt: skip
            return out + encode(8, 1, "16:00") + encode(54, 1, account)
        if msg_id == 7:  # reqExecutions(reqId, clientId, acctCode, time, ...)
            if not self.answer_executions:
                return b""
            req_id, account = msg[2], msg[4]
            out = b"".join(
                self._exec_details(req_id, e)
                for e in self.executions
                if not account or e.account == account
            )
            return out + encode(55, 1, req_id)
        return b""  # anything else (cancels, ...) needs no answer here

    @staticmethod
    def _exec_details(req_id: str, e: FakeExecution) -> bytes:
        # orderId, contract, execId, time, account, exchange, side, shares, price, permId,
        # clientId, liquidation, cumQty, avgPrice, orderRef, evRule, evMultiplier,
        # modelCode, lastLiquidity
        fields: list[object] = [11, req_id, e.order_id, *e.contract.fields(), e.exec_id]
        fields += [e.time, e.account, "ISLAND", e.side, e.shares, e.price, e.perm_id]
        fields += [7, 0, e.shares, e.price, "", "", "", "", 1]
        return encode(*fields)


@contextmanager
def running(tws: FakeTws) -> Iterator[FakeTws]:
    """`tws` started, and closed afterwards."""
    tws.start()
    try:
        yield tws
    finally:
        tws.close()
