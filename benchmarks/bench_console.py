"""Render time of the console's filtered alert list with a large trail.

Starts a throwaway PostgreSQL cluster (default durability), fills the trail with
`--alerts` alerts (100,000 by default: 40 alert names, 3 severities, 4 teams, 25
portfolios, firing and resolved, starting over 90 days, each with its firing event),
serves the receiver under waitress on a free loopback port, logs in as a viewer over
HTTP like a browser, and times whole page loads (request to last byte) of the list
with each filter the console offers, and of deep pages reached by the cursor.

    .venv/bin/python benchmarks/bench_console.py [--alerts 100000] [--requests 200]

Not a test: the figures depend on the machine. It prints p50, p95 and max per filter.
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from typing import Final

import psycopg
import requests
from bench_receiver import throwaway_cluster
from pydantic import SecretStr

from riskwatch.receiver import users
from riskwatch.receiver.serve import serving_in_thread
from riskwatch.settings import ReceiverSettings, Settings

PASSWORD: Final = "benchmark password"
FILTERS: Final = {
    "newest page, no filter": {},
    "status=firing & severity=critical": {"status": "firing", "severity": "critical"},
    "team=ops": {"team": "ops"},
    "portfolio=p07 & alertname=BenchAlert02": {"portfolio": "p07", "alertname": "BenchAlert02"},
    "one week & severity=warning": {
        "since": "2026-10-01T00:00",
        "until": "2026-10-08T00:00",
        "severity": "warning",
    },
}
_FILL: Final = """
INSERT INTO alerts (fingerprint, status, alertname, severity, team, portfolio, labels,
                    annotations, starts_at, ends_at)
SELECT md5(n::text), CASE WHEN n %% 5 = 0 THEN 'firing' ELSE 'resolved' END,
       'BenchAlert' || lpad((n %% 40)::text, 2, '0'),
       (ARRAY['critical', 'warning', 'info'])[1 + n %% 3],
       (ARRAY['risk', 'ops', 'compliance', 'quant'])[1 + n %% 4],
       'p' || lpad((n %% 25)::text, 2, '0'),
       jsonb_build_object('alertname', 'BenchAlert' || lpad((n %% 40)::text, 2, '0'),
                          'instance', 'bench-' || n),
       jsonb_build_object('summary', 'benchmark alert ' || n),
       timestamptz '2026-08-01' + (n * interval '77 seconds'),
       CASE WHEN n %% 5 = 0 THEN NULL
            ELSE timestamptz '2026-08-01' + (n * interval '77 seconds') + interval '10 minutes'
       END
FROM generate_series(1, %(alerts)s) AS n
"""
_EVENTS: Final = """
INSERT INTO alert_events (alert_id, status, receiver, group_key, received_at)
SELECT id, 'firing', 'audit', '{}', starts_at FROM alerts
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=200, help="page loads per filter")
    args = parser.parse_args()

    with throwaway_cluster() as cluster:
        settings = Settings(
            database_url=SecretStr(cluster.dsn),
            receiver_token=SecretStr("bench-admin-token"),
            receiver_session_key=SecretStr("bench-session-key"),
            # requests keeps a Secure cookie off plain http; a browser on loopback would not.
            receiver=ReceiverSettings(cookie_secure=False, threads=4),
        )
        with serving_in_thread(settings) as url:  # migrates the schema at start
            started = time.perf_counter()
            with psycopg.connect(cluster.dsn, autocommit=True) as conn:
                conn.execute(_FILL, {"alerts": args.alerts})
                conn.execute(_EVENTS)
                conn.execute("ANALYZE")
                users.add_user(conn, "bench", "viewer")
                users.set_password(conn, "bench", PASSWORD)
            print(f"trail filled: {args.alerts} alerts in {time.perf_counter() - started:.1f} s")
            browser = _logged_in(url)
            print(f"{'list page':<42} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}  rows")
            for name, params in FILTERS.items():
                _report(name, *_time_pages(browser, f"{url}/console/", params, args.requests))
            deep = _deep_page_url(browser, url, pages=50)
            _report("page 51 by cursor, no filter", *_time_pages(browser, deep, {}, args.requests))
            browser.close()  # before the server stops: no keep-alive left to service


def _logged_in(url: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(f"{url}/console/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form)
    assert token
    done = browser.post(
        f"{url}/console/login",
        data={"name": "bench", "password": PASSWORD, "csrf_token": token.group(1)},
        timeout=10,
    )
    done.raise_for_status()
    return browser


def _time_pages(
    browser: requests.Session, url: str, params: dict[str, str], count: int
) -> tuple[list[float], int]:
    timings, rows = [], 0
    for _ in range(count):
        start = time.perf_counter()
        page = browser.get(url, params=params, timeout=30)
        page.raise_for_status()
        timings.append((time.perf_counter() - start) * 1000)
        rows = page.text.count("<tr class=")
    return timings, rows


def _deep_page_url(browser: requests.Session, url: str, pages: int) -> str:
    page_url = f"{url}/console/"
    for _ in range(pages):
        found = re.search(r'rel="next" href="([^"]+)"', browser.get(page_url, timeout=30).text)
        assert found, "the trail ran out of pages"
        page_url = url + found.group(1).replace("&amp;", "&")
    return page_url


def _report(name: str, timings: list[float], rows: int) -> None:
    ordered = sorted(timings)
    p95 = statistics.quantiles(ordered, n=20, method="inclusive")[18]
    print(f"{name:<42} {statistics.median(ordered):8.1f} {p95:8.1f} {ordered[-1]:8.1f}  {rows}")


if __name__ == "__main__":
    main()
