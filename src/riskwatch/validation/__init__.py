"""Risk model validation: the nightly `riskwatch validate` batch job (issue 13)."""
