"""How a preview looks: Grafana's dark theme, values in Grafana units, field config.

`FieldStyle` reads what a panel's field config says about a series (unit, decimals,
min and max, thresholds, value mappings, and the overrides by name), so the colours
and numbers of the preview are the ones Grafana shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# Grafana's dark theme.
PAGE = "#111217"
PANEL = "#181b1f"
BORDER = "#2c3235"
TEXT = "#ccccdc"
MUTED = "#8e8e9a"
COLORS: Mapping[str, str] = {
    "green": "#73bf69",
    "orange": "#ff9830",
    "red": "#f2495c",
    "blue": "#5794f2",
    "yellow": "#fade2a",
    "purple": "#b877d9",
    "text": TEXT,
    "transparent": PANEL,
}
PALETTE = (
    "#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c",
    "#5794f2", "#b877d9", "#705da0", "#37872d", "#fade2a",
)  # fmt: skip


def color(name: str | None) -> str:
    """A Grafana colour name or hex code as a hex code."""
    if not name:
        return TEXT
    return COLORS.get(name, name if name.startswith("#") else TEXT)


# ------------------------------------------------------------------ formatting
def _auto_decimals(value: float) -> int:
    magnitude = abs(value)
    if magnitude == 0 or not math.isfinite(magnitude):
        return 0
    # Three significant digits, as Grafana's automatic decimals give.
    return max(0, 2 - math.floor(math.log10(magnitude)))


def _scaled(value: float, decimals: int | None, units: Sequence[str]) -> str:
    step = 0
    scaled = value
    while abs(scaled) >= 1000 and step < len(units) - 1:
        scaled /= 1000
        step += 1
    places = _auto_decimals(scaled) if decimals is None else decimals
    return f"{scaled:.{places}f}{units[step]}"


def format_value(value: float, unit: str | None, decimals: int | None) -> str:
    """A value as Grafana prints it in `unit` (the units riskwatch dashboards use)."""
    if value is None or math.isnan(value):
        return "NaN"
    if value == 0 or (math.isfinite(value) and abs(value) < 5e-7):
        value = 0.0  # no "-0.0%" for a value that rounds to zero
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if unit == "currencyUSD":
        text = _scaled(abs(value), decimals, ("", "K", "M", "B", "T"))
        return f"-${text}" if value < 0 else f"${text}"
    if unit == "percentunit":
        places = decimals if decimals is not None else _auto_decimals(value * 100)
        return f"{value * 100:.{places}f}%"
    if unit == "s":
        for size, name in ((86400, "day"), (3600, "hour"), (60, "min")):
            if abs(value) >= size:
                return f"{value / size:.1f} {name}"
        places = decimals if decimals is not None else _auto_decimals(value)
        return f"{value:.{min(places, 3)}f} s"
    if unit == "short":
        return _scaled(value, decimals, ("", " K", " Mil", " Bil", " Tri"))
    if decimals is None and value == int(value):
        return f"{int(value)}"
    places = decimals if decimals is not None else min(_auto_decimals(value), 4)
    return f"{value:.{places}f}"


# ---------------------------------------------------------------- field config
@dataclass
class FieldStyle:
    """What Grafana's field config says about one series: unit, colour, text."""

    unit: str | None = None
    decimals: int | None = None
    minimum: float | None = None
    maximum: float | None = None
    thresholds: list[tuple[float, str]] = field(default_factory=list)
    mappings: dict[str, tuple[str, str | None]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FieldStyle:
        style = cls()
        style.apply(config)
        return style

    def apply(self, config: Mapping[str, Any]) -> None:
        """Overlay one config object (the defaults, then an override's properties)."""
        if "unit" in config:
            self.unit = config["unit"]
        if "decimals" in config:
            self.decimals = config["decimals"]
        if "min" in config:
            self.minimum = config["min"]
        if "max" in config:
            self.maximum = config["max"]
        if "thresholds" in config:
            steps = config["thresholds"].get("steps") or []
            self.thresholds = [
                (-math.inf if s.get("value") is None else float(s["value"]), s["color"])
                for s in steps
            ]
        for mapping in config.get("mappings") or []:
            for key, result in (mapping.get("options") or {}).items():
                self.mappings[str(key)] = (result.get("text", key), result.get("color"))

    def overridden(self, overrides: Sequence[Mapping[str, Any]], name: str) -> FieldStyle:
        """This style with the overrides that match a series or column called `name`."""
        style = FieldStyle(
            self.unit,
            self.decimals,
            self.minimum,
            self.maximum,
            list(self.thresholds),
            dict(self.mappings),
        )
        for override in overrides:
            matcher = override.get("matcher") or {}
            if matcher.get("id") == "byName" and matcher.get("options") == name:
                style.apply({p["id"]: p.get("value") for p in override.get("properties", [])})
        return style

    def color_of(self, value: float) -> str:
        """The colour of `value`: its value mapping's, else its threshold step's."""
        mapped = self.mappings.get(f"{value:g}")
        if mapped is not None and mapped[1]:
            return color(mapped[1])
        chosen = self.thresholds[0][1] if self.thresholds else "green"
        for level, name in self.thresholds:
            if value >= level:
                chosen = name
        return color(chosen)

    def text_of(self, value: float) -> str:
        """`value` as shown: its value mapping's text, else formatted in the unit."""
        mapped = self.mappings.get(f"{value:g}") if math.isfinite(value) else None
        if mapped is not None:
            return mapped[0]
        return format_value(value, self.unit, self.decimals)


def panel_style(panel: Mapping[str, Any]) -> tuple[FieldStyle, list[Mapping[str, Any]]]:
    """A panel's default field style and its overrides."""
    config = panel.get("fieldConfig") or {}
    return FieldStyle.from_config(config.get("defaults") or {}), list(config.get("overrides") or [])
