"""Grafana dashboards as code, with grafana-foundation-sdk.

Every dashboard is built from `board` (a dashboard's defaults, variables and alert
markers), `panels` (a factory per kind of panel), `style` (units, colours,
thresholds, value mappings) and `measures` (query factories and the figures several
dashboards share); `executive`, `risk`, `compliance` and `operations` each build one
dashboard; `build` renders them to the committed `dashboards/*.json`; `check` holds
them against the metrics catalog and the alert rules; `push` uploads them to
Grafana; the `preview` package draws them to PNG from Prometheus without Grafana;
`cli` is `riskwatch dashboards`.
"""
