"""The executive report: KPIs, charts, breaches and compliance, as HTML and email."""
