"""Grafana dashboards as code, with grafana-foundation-sdk.

`common` holds the factories every panel is built from; `executive`, `risk`,
`compliance` and `operations` each build one dashboard; `build` renders them to the
committed `dashboards/*.json`; `check` holds them against the metrics catalog and the
alert rules; `push` uploads them to Grafana; `preview` draws them to PNG from
Prometheus without Grafana; `cli` is `riskwatch dashboards`.
"""
