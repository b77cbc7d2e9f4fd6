"""Draw bench_scale's figures: one or more runs (push and scrape mode) on one chart.

    .venv/bin/python benchmarks/scale_chart.py --out docs/images/scaling.png \\
        push.json scrape.json

Each JSON file is what `bench_scale.py --json` wrote ({"mode", "budgets", "rows"});
runs of the same mode are merged by N, so a run of larger N extends an earlier one.
Not a test: it draws what was measured.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

Rows = list[dict[str, Any]]

# What each panel plots: (title, y label, [(key, label, scale)]). Push latency has no
# meaning in scrape mode; its rows carry NaN there and the line is left out.
PANELS = (
    (
        "latency",
        "seconds",
        [("push_p95_s", "push p95", 1.0), ("slack_p95_s", "push -> Slack p95", 1.0)],
    ),
    (
        "CPU",
        "cores (of 2)",
        [
            ("pushgateway_cpu", "Pushgateway", 1.0),
            ("prometheus_cpu", "Prometheus", 1.0),
            ("loader_cpu", "load generator", 1.0),
        ],
    ),
    (
        "memory",
        "MB",
        [
            ("pushgateway_rss_mb", "Pushgateway RSS", 1.0),
            ("prometheus_rss_mb", "Prometheus RSS", 1.0),
        ],
    ),
)


def merged(files: list[Path]) -> tuple[dict[str, Rows], dict[str, float]]:
    """Rows per mode, by N (a later file's row for the same N wins), and the budgets."""
    by_mode: dict[str, dict[int, dict[str, Any]]] = {}
    budgets: dict[str, float] = {}
    for path in files:
        run = json.loads(path.read_text())
        budgets.update(run["budgets"])
        rows = by_mode.setdefault(run["mode"], {})
        for row in run["rows"]:
            if not row.get("not_run"):
                rows[row["agents"]] = row
    return {mode: [rows[n] for n in sorted(rows)] for mode, rows in by_mode.items()}, budgets


def chart(runs: dict[str, Rows], budgets: dict[str, float], out: Path) -> None:
    """Three panels (latency, CPU, memory) against N, a line per figure and mode."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(PANELS), figsize=(14, 4.2))
    styles = {"push": "o-", "scrape": "s--", "scrape, static pages": "^:"}
    for ax, (title, unit, lines) in zip(axes, PANELS, strict=True):
        for mode, rows in runs.items():
            for key, label, scale in lines:
                if key.startswith("pushgateway") and mode != "push":
                    continue  # idle in scrape mode: a flat line that only crowds the legend
                points = [
                    (r["agents"], r[key] * scale)
                    for r in rows
                    if isinstance(r.get(key), float) and not math.isnan(r[key])
                ]
                if points:
                    xs, ys = zip(*points, strict=True)
                    ax.plot(xs, ys, styles.get(mode, "^-"), label=f"{label} ({mode})")
        if title == "latency":
            ax.axhline(budgets["slack_p95_s"], color="grey", ls=":", lw=1, label="Slack budget")
        if title == "CPU":
            ax.axhline(budgets["pushgateway_cpu"], color="grey", ls=":", lw=1, label="budget")
        ax.set_title(title)
        ax.set_xscale("log")
        if title == "memory":  # a collapsed gateway's GBs beside everyone's MBs
            ax.set_yscale("log")
        ax.set_xlabel("agents (500 positions each)")
        ax.set_ylabel(unit)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle("One riskwatch stack on 2 cores: push (Pushgateway) and scrape (direct) mode")
    fig.tight_layout()
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", type=Path, nargs="+", help="bench_scale.py --json files")
    parser.add_argument("--out", type=Path, required=True, help="the PNG to write")
    args = parser.parse_args()
    runs, budgets = merged(args.runs)
    chart(runs, budgets, args.out)
    print(
        f"wrote {args.out}: "
        + ", ".join(f"{m} N={[r['agents'] for r in rs]}" for m, rs in runs.items())
    )


if __name__ == "__main__":
    main()
