"""What a run finds in a dataset: completeness, the model backtest, the VaR/ES
backtests and the gates. Pure: the dataset in, the findings out; the artifacts, the
push and the exit code are made from them."""

from __future__ import annotations

from dataclasses import dataclass

from riskwatch.policy import Validation
from riskwatch.validation.backtests import GroupBacktest, backtest_all
from riskwatch.validation.completeness import Completeness, completeness
from riskwatch.validation.datasets import Dataset
from riskwatch.validation.gates import Gate, evaluate_gates, largest_return, session_gate
from riskwatch.validation.model_backtest import ModelBacktest, model_backtest


@dataclass(frozen=True)
class Findings:
    """Everything one run found."""

    dataset: Dataset
    completeness: Completeness
    model: ModelBacktest
    backtests: tuple[GroupBacktest, ...]
    gates: tuple[Gate, ...]

    @property
    def passed(self) -> bool:
        """Whether every gate passed."""
        return all(g.passed for g in self.gates)

    @property
    def failed_gates(self) -> list[str]:
        """The names of the gates that failed."""
        return [g.name for g in self.gates if not g.passed]


def assess(dataset: Dataset, policy: Validation) -> Findings:
    """Score `dataset` against the policy's validation section."""
    scored = completeness(dataset.closes)
    model = model_backtest(dataset.closes, policy)
    symbol_returns = dataset.closes.pct_change(fill_method=None)
    largest = largest_return(symbol_returns, dataset.returns)
    gates = evaluate_gates(scored, model, largest, policy)
    if dataset.session is not None:  # the source served the as-of day's minute bars
        gates = (*gates, session_gate(dataset.session, policy))
    return Findings(
        dataset=dataset,
        completeness=scored,
        model=model,
        backtests=tuple(backtest_all(dataset.observations, dataset.span.sessions, policy)),
        gates=gates,
    )
