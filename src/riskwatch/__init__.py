"""riskwatch: monitoring and alerting for trading desks."""

__version__ = "0.1.0"
