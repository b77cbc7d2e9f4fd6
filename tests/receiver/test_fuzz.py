"""Fuzz the receiver with schemathesis against its own OpenAPI description.

Every operation of the generated ``/openapi.json`` (openapi.py) gets requests
generated from the document, valid ones and deliberately invalid ones, sent to the real
app on a real PostgreSQL database with the bearer token. No request may get a 5xx, and
every response must be one the document declares, with the declared content type and
body shape. The one exception is 502 from the routes that call Alertmanager (an ack
with silence_hours, an expiry): there is none here, and saying so is their job. The run is
bounded (a fixed number of examples per operation and mode, derandomized so the suite
is reproducible) and prints what it sent: run with ``pytest -s`` to see the figures.
"""

from __future__ import annotations

import json
import os
import warnings
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import HypothesisWarning
from schemathesis import DataGenerationMethod
from schemathesis.checks import not_a_server_error
from schemathesis.exceptions import SkipTest
from schemathesis.internal.checks import CheckContext
from schemathesis.internal.result import Ok
from schemathesis.models import APIOperation, Case
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.transports.responses import GenericResponse

from riskwatch.receiver.ops import OPENAPI_DOCUMENT

from .conftest import AppFactory, free_port

TOKEN = "fuzz-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_EXAMPLES = int(os.environ.get("RISKWATCH_FUZZ_EXAMPLES", "60"))
"""Examples per operation and generation mode (the run takes about 20 s); set
RISKWATCH_FUZZ_EXAMPLES for a longer hunt, and RISKWATCH_FUZZ_RANDOM=1 for fresh seeds."""
RANDOM = bool(os.environ.get("RISKWATCH_FUZZ_RANDOM"))
WEBHOOK_OPERATION = "POST /webhook/alertmanager"
READ_BACK = "/api/alerts?limit=1000"

GENERATION_METHODS = (DataGenerationMethod.positive, DataGenerationMethod.negative)
ALERTMANAGER_FAILED = 502
"""What the routes that call Alertmanager answer when it fails, as it must here."""


def not_a_receiver_error(ctx: CheckContext, response: GenericResponse, case: Case) -> bool | None:
    """No 5xx, but a documented 502: Alertmanager's failure, not the receiver's."""
    if response.status_code == ALERTMANAGER_FAILED and documents(case, ALERTMANAGER_FAILED):
        return None
    return not_a_server_error(ctx, response, case)


def documents(case: Case, status: int) -> bool:
    """Whether `case`'s operation declares `status` among its responses."""
    return str(status) in case.operation.definition.raw["responses"]


CHECKS = (
    not_a_receiver_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
)

# Timestamps: any calendar day, and often the edges where time zones and PostgreSQL's
# range meet (year 1 at a positive offset is before year 1 in UTC; year 9999 at a
# negative one is after it), which uniform dates almost never reach.
# Hypothesis draws the first entries (and branches) most: the edges come first.
_OFFSETS = st.sampled_from(
    ["+01:00", "-05:00", "Z", "+23:59", "-23:59", "+14:00", "-12:00", "+00:00"]
)
_EDGE_DAYS = st.sampled_from(["0001-01-01", "1969-12-31", "1970-01-01", "9999-12-31"])
_EDGE_TIMES = st.sampled_from(["00:00:00", "23:59:59.999999"])
DATE_TIMES = st.one_of(
    st.tuples(_EDGE_DAYS, _EDGE_TIMES, _OFFSETS),
    st.tuples(st.dates().map(str), st.times().map(str), _OFFSETS),
).map(lambda parts: f"{parts[0]}T{parts[1]}{parts[2]}")


@dataclass
class FuzzRun:
    """What the fuzzer sent and what went wrong, over every operation."""

    requests: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    alertmanager_failed: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def fuzz(self, operation: APIOperation[Any, Any], method: DataGenerationMethod) -> None:
        """Send MAX_EXAMPLES generated requests for `operation`; keep the first failure
        (shrunk by hypothesis) and go on with the next operation."""
        name = f"{operation.verbose_name} ({method.name})"

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=not RANDOM,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(data_generation_method=method))
        def send(case: Case) -> None:
            response = case.call(headers=AUTH)
            self.count(
                name, response.status_code, response.text, documents(case, response.status_code)
            )
            case.validate_response(response, checks=CHECKS, headers=AUTH)
            if operation.verbose_name == WEBHOOK_OPERATION and response.status_code == 200:
                # What was stored must be readable: a stored alert that breaks every
                # later list is the worst kind of accepted input.
                listed = case.app.test_client().get(READ_BACK, headers=AUTH)
                self.count(
                    f"GET {READ_BACK} after a stored payload", listed.status_code, listed.text
                )
                assert listed.status_code == 200, listed.text[:300]

        try:
            send()
        except SkipTest:
            pass  # nothing to generate in this mode, e.g. invalid input without parameters
        except Exception as exc:  # every operation runs; all failures are reported
            self.failures.append(f"{name}: {exc}")

    def count(self, name: str, status: int, body: str, documented: bool = False) -> None:
        """Count one response; a 5xx is a server error unless it is a documented 502."""
        self.requests[name] += 1
        if status == ALERTMANAGER_FAILED and documented:
            self.alertmanager_failed[name] += 1
        elif status >= 500:
            self.server_errors.append(f"{name} -> {status}: {body[:300]}")

    def report(self) -> str:
        lines = [
            f"schemathesis: {sum(self.requests.values())} requests generated, "
            f"{len(self.server_errors)} server errors (5xx), "
            f"{sum(self.alertmanager_failed.values())} documented 502s (no Alertmanager)"
        ]
        lines += [f"  {name}: {count}" for name, count in sorted(self.requests.items())]
        lines += [
            f"  502 (no Alertmanager): {name}: {count}"
            for name, count in sorted(self.alertmanager_failed.items())
        ]
        lines += [f"  5xx: {error}" for error in dict.fromkeys(self.server_errors)]
        return "\n".join(lines)


@contextmanager
def date_times_with_edges() -> Iterator[None]:
    """Generate ``format: date-time`` strings from DATE_TIMES while inside."""
    with warnings.catch_warnings():
        # hypothesis-jsonschema warns that a standard format is overridden: we mean it.
        warnings.simplefilter("ignore", HypothesisWarning)
        schemathesis.openapi.format("date-time", DATE_TIMES)
        try:
            yield
        finally:
            schemathesis.openapi.unregister_string_format("date-time")


def test_fuzz_the_receiver_api(make_app: AppFactory) -> None:
    # Nothing listens there: a developer's own Alertmanager gets no fuzzed silences.
    app = make_app(token=TOKEN, alertmanager_url=f"http://127.0.0.1:{free_port()}")
    # A 500 is a response to count, not an exception for the test client to raise.
    app.config["PROPAGATE_EXCEPTIONS"] = False
    schema = schemathesis.from_dict(json.loads(OPENAPI_DOCUMENT), app=app, validate_schema=True)
    run = FuzzRun()
    with date_times_with_edges():
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), result
            for method in GENERATION_METHODS:
                run.fuzz(result.ok(), method)
    print("\n" + run.report())
    assert not run.failures, "\n\n".join(run.failures)
    assert not run.server_errors
    assert sum(run.requests.values()) >= MAX_EXAMPLES
