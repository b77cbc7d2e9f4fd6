"""The executive report: KPIs, charts, breaches and compliance, as HTML and email.

- `model`: the report's data (`ReportData` and its parts), the market's day it covers
  (`ReportWindow`, in the policy's time zone) and the limits in force.
- `collect`: what the report shows, from Prometheus and the alert receiver, for one
  day of the market.
- `breaches`: the limits the day crossed, derived from the collected figures.
- `charts`: value/P&L, drawdown and VaR/ES against their limits, as PNG.
- `html`: the page and the plain text, from one formatted view of the data (`fmt`).
- `mail`: the multipart email and its SMTP delivery with retries.
- `build`: all of it into `<out>/<YYYY-MM-DD>/`, written atomically.
- `schedule`: `report_task(settings)`, the agent task that sends it daily at
  `report.schedule_time`.
- `cli`: the `riskwatch report` command.
"""
