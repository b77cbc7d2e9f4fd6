"""The series a backfill computes: values on the timeline, grouped in catalog families.

A family is written as one OpenMetrics metric family; its group says whose samples
already in Prometheus its writes must keep clear of (the agent's, or the recording
rules').
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from riskwatch import catalog
from riskwatch.demo.backfill.base import FloatArray


@dataclass
class Series:
    labels: dict[str, str]
    values: FloatArray
    """One value per timeline instant; NaN where the series has no sample."""


@dataclass
class Family:
    name: str
    type: Literal["gauge", "counter"]
    help: str
    group: Literal["agent", "rules"]
    series: list[Series] = field(default_factory=list)

    def add(self, values: FloatArray, **labels: str) -> None:
        self.series.append(Series(labels, values))


class Families:
    """Catalog families by name, created in first-use order."""

    def __init__(self) -> None:
        self.by_name: dict[str, Family] = {}

    def __call__(self, name: str) -> Family:
        if name not in self.by_name:
            spec = catalog.spec(name)
            assert spec.type in ("gauge", "counter"), name
            self.by_name[name] = Family(name, spec.type, spec.help, "agent")
        return self.by_name[name]
