"""The forecast log: each exchange day's VaR and ES forecasts and realised returns."""
