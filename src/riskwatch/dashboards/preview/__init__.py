"""Render a dashboard to PNG with matplotlib, from the real Prometheus.

Grafana is not needed to see a dashboard: each panel's queries run against
Prometheus exactly as in Grafana (variables set to All, Grafana's interval
variables filled in), and the panel is drawn at its gridPos in the style of its
type: stats, gauges, bar gauges, time series, tables, pie charts, state timelines
and text. Units, decimals, thresholds and value mappings come from the panel's
JSON, so the colours in the preview are the colours in Grafana. It is a faithful
sketch, not a pixel copy: fonts, spacing and legends are simpler.

`render` holds the entry points (`render`, `render_all`) and sends each panel to its
drawing; `layout` places panels on Grafana's grid and frames them; `data` fetches
their series for the time window; `theme` holds the colours, value formatting and
field config; `values` draws stats and gauges, `charts` time series, state timelines
and pies, `tables` tables and text.
"""
