"""`validation.md`: the run summarised for a risk manager.

Read from the same data as `validation.json` (`summary`), so the two never disagree:
the gates, the VaR/ES backtest table of the last window (and of the whole span when
it is longer), data completeness per symbol (daily bars over the span, and minute bars
over the validated day's session when the source serves them), the model's most
recent windows, and the charts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

# The table shows the newest windows; validation.json has them all.
MODEL_WINDOWS_SHOWN = 12
_P_FLOOR = 1e-4


def _percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def _p(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"<{_P_FLOOR:g}" if value < _P_FLOOR else f"{value:.4f}"


def _fixed(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _gate_value(gate: dict[str, Any]) -> str:
    value = gate["value"]
    if gate["gate"] == "windows":
        return f"{value:g}"
    return _percent(value)


def _backtest_rows(entries: list[dict[str, Any]], part: str) -> list[list[str]]:
    rows = []
    for entry in entries:
        bt = entry[part]
        key = [entry["portfolio"], entry["method"], entry["confidence_label"]]
        if bt is None:
            rows.append([*key, "0", "-", "-", "-", "-", "-", "-", "no realised return"])
            continue
        es = bt["es"]
        es_cells = ["n/a", "not tested"] if es is None else [
            _fixed(es["z2"]), "rejected" if es["rejected"] else "accepted"
        ]  # fmt: skip
        rows.append(
            [
                *key,
                str(bt["n"]),
                str(bt["exceptions"]),
                f"**{bt['zone']}**" if bt["zone"] != "green" else "green",
                _p(bt["kupiec_p"]),
                _p(bt["christoffersen_p"]),
                _p(bt["conditional_coverage_p"]),
                *es_cells,
            ]
        )
    return rows


_BACKTEST_HEADER = (
    "portfolio", "method", "confidence", "n", "exceptions", "zone",
    "Kupiec p", "Christoffersen p", "CC p", "ES Z2", "ES",
)  # fmt: skip


def _span_of(entries: list[dict[str, Any]], part: str) -> str:
    spans = {(e[part]["start"], e[part]["end"]) for e in entries if e[part] is not None}
    return ", ".join(f"{start} to {end}" for start, end in sorted(spans)) or "no days"


def _completeness(title: str, scored: dict[str, Any], expected: str) -> list[str]:
    """A completeness section: the overall figure, then a row per symbol."""
    lines = [
        "",
        f"## {title}",
        "",
        f"{_percent(scored['ratio'], 2)} overall: {scored['received']} of "
        f"{scored['expected']} {expected}.",
        "",
    ]
    return lines + _table(
        ("symbol", "bars", "expected", "completeness"),
        ([s["symbol"], str(s["received"]), str(s["expected"]), _percent(s["ratio"], 2)]
         for s in scored["symbols"]),
    )  # fmt: skip


def render_markdown(data: dict[str, Any], charts: Sequence[tuple[str, str]]) -> str:
    """The Markdown summary of `data` (what `summary.summary` returns); `charts` are
    (file name, title) pairs of the PNGs beside it."""
    policy = data["policy"]
    lines = [
        f"# Model validation: {data['dataset']} as of {data['as_of']}",
        "",
        f"Sessions {data['since']} to {data['as_of']} ({data['sessions']}); run at "
        f"{data['generated_at']} in {data['duration_seconds']:.1f} s.",
        "",
    ]
    if data["passed"]:
        lines.append("**Every gate passed.**")
    else:
        lines.append(f"**Gates failed: {', '.join(data['failed_gates'])}.**")
    lines += [f"\n> Warning: {w}" for w in data["warnings"]]
    lines += ["", "## Gates", ""]
    lines += _table(
        ("gate", "value", "threshold", "result", "detail"),
        (
            [
                g["gate"],
                _gate_value(g),
                f"{g['rule']} {_gate_value({**g, 'value': g['threshold']})}",
                "pass" if g["passed"] else "**FAIL**",
                g["detail"],
            ]
            for g in data["gates"]
        ),
    )
    entries = data["backtests"]
    lines += [
        "",
        f"## VaR and ES backtests: the last {policy['backtest_days']} sessions",
        "",
        f"{_span_of(entries, 'window')}. Each forecast is for the day after it was made; "
        "an exception is a day whose return fell below minus the VaR. Zone: the Basel "
        "traffic light. ES: Acerbi-Szekely Z2 at the same confidence, rejected below "
        f"{policy['es_z2_critical']}.",
        "",
    ]
    lines += _table(_BACKTEST_HEADER, _backtest_rows(entries, "window")) if entries else [
        "No forecasts to backtest."
    ]  # fmt: skip
    if data["sessions"] > policy["backtest_days"] and entries:
        lines += ["", "## Over the whole span", "", f"{_span_of(entries, 'history')}.", ""]
        lines += _table(_BACKTEST_HEADER, _backtest_rows(entries, "history"))
    lines += _completeness(
        "Data completeness", data["completeness"], "daily bars the exchange calendar expected"
    )
    session = data["session_completeness"]
    if session is not None:
        lines += _completeness(
            f"Session completeness ({session['day']}, minute bars)",
            session,
            "minute bars of the regular session the exchange calendar expected",
        )
    model = data["model"]
    windows = model["windows"]
    complete = sum(w["complete"] for w in windows)
    lines += [
        "",
        f"## Trading model ({model['model']})",
        "",
        f"{len(windows)} windows of {model['window_days']} sessions, one every "
        f"{model['step_days']}; {complete} complete. The newest "
        f"{min(len(windows), MODEL_WINDOWS_SHOWN)}:",
        "",
    ]
    lines += _table(
        ("from", "to", "complete", "return", "Sharpe", "max drawdown"),
        ([w["start"], w["end"], "yes" if w["complete"] else "**no**", _percent(w["return"], 2),
          _fixed(w["sharpe"]), _percent(w["max_drawdown"], 2)]
         for w in reversed(windows[-MODEL_WINDOWS_SHOWN:])),
    )  # fmt: skip
    if charts:
        lines += ["", "## Charts", ""]
        lines += [f"![{title}]({name})\n" for name, title in charts]
    return "\n".join(lines).rstrip() + "\n"
