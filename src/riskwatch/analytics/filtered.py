"""Filtered historical simulation: VaR and ES from a GARCH(1,1) volatility filter.

Barone-Adesi, Giannopoulos and Vosper ("VaR without correlations for portfolios of
derivative securities", 1999): fit a constant-mean GARCH(1,1) by Gaussian quasi
maximum likelihood (``arch``), standardize the returns by their fitted conditional
volatility, and scale the empirical tail of those standardized residuals by the
volatility forecast for the next day:

- ``VaR = -(mu + sigma_next * q_p(z))``, ``q_p`` the lower ``p`` quantile of ``z``
  exactly as the historical method takes it (numpy's linear interpolation);
- ``ES = -(mu + sigma_next * mean of the lowest int((n - 1) p) + 1 z)``, the
  historical method's ES cut-off rule.

So the figures react to the current volatility (a calm window ending in a volatile
week forecasts more risk than plain historical simulation) while the shape of the
tail stays the one observed.

Choices a risk team should know about:

- At least `MIN_OBSERVATIONS` (100) returns per fit. GARCH is identified from
  volatility clustering, which a few dozen returns do not show: below ~100 the
  likelihood is so flat that alpha and beta swing from one window to the next, and
  the 1% quantile of z rests on a single residual. 100 leaves the policy's 250-day
  window well inside, and the agents' three-year history far above.
- Non-convergence: a fit is used when arch's optimiser (SLSQP) reports success and
  the forecast volatility and residuals are finite. Otherwise the column falls back to
  the constant-volatility filter (alpha = beta = 0: z is the demeaned, scaled
  returns), whose figures are the historical method's, and a ``RuntimeWarning`` says
  how many columns did. Parameters from an optimiser that stopped on an iteration
  limit or a failed line search need not maximise anything, so their sigma_next can
  be any number; raising instead would cost the agents every other figure of the
  cycle, and NaN would leave the limit unwatched. Plain historical simulation is
  the estimate the filter degrades to, and one the desk already publishes. On
  2000-2018 S&P 500 daily returns, every one of ~4,500 rolling 250-day fits converged.
- Degenerate but converged fits are used as they are: in ~16% of those S&P windows
  alpha is ~0, i.e. the variance follows a deterministic path from its starting
  value (often decaying after a crisis). That is the Gaussian QMLE of the window,
  not an optimiser failure.
- Each fit starts from arch's own starting values (a grid search), never from the
  previous window's parameters: the likelihood of a 250-day window often has a
  second, boundary optimum (alpha = 0, beta = 1), and warm starts drift into it and
  stay. On the S&P windows they saved ~20% of the time but moved 4.4% of the 99% VaR
  forecasts by more than 1% (2.5% by more than 10%, one by 50%): not optimiser
  tolerance but another optimum. Cold starts make every window's figure the one
  `value_at_risk` gives for it alone, as the agents compute it.
- A constant window (every return equal, e.g. all zero) has no volatility to
  filter: its VaR and ES are minus its return, as for every other method.
- NaN is skipped: the present returns are filtered as if consecutive.

Returns are standardized by their sample mean and standard deviation before the fit
and the results are mapped back, so the optimiser always sees unit-variance data (arch
recommends variances of 1 to 1000; daily returns have ~1e-4, and a mostly-cash book far
less), and the figures scale and shift with the returns like the other methods' (to
the optimiser's tolerance, ~1e-8 relative, not to the last bit).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from riskwatch.analytics._columns import Columns
from riskwatch.analytics._validation import FloatArray, as_float_array, check_min_observations

MIN_OBSERVATIONS = 100
"""Fewest non-NaN returns a GARCH(1,1) fit is made from; see the module docstring."""
MAX_ITERATIONS = 100
"""SLSQP's iteration budget per fit (scipy's and arch's default); fits of daily
returns take ~10."""


@dataclass(frozen=True)
class GarchFit:
    """The volatility filter of one series of returns, in the returns' own units.

    When the GARCH fit converged these are its estimates; when it did not
    (`converged` False) they are the constant-volatility filter the figures fall back
    to: ``alpha = beta = 0``, ``mu`` the sample mean and ``omega`` the sample variance.
    """

    mu: float
    """The constant mean."""
    omega: float
    alpha: float
    """Weight of yesterday's squared shock: ``s2[t] = omega + alpha e[t-1]^2 + beta s2[t-1]``."""
    beta: float
    sigma_next: float
    """The one-step-ahead conditional volatility, ``sqrt(omega + alpha e[T]^2 + beta s2[T])``."""
    residuals: FloatArray
    """Standardized residuals ``z[t] = (r[t] - mu) / s[t]`` of the present returns, in order."""
    converged: bool
    """Whether the optimiser converged; False means the fallback filter above."""


def fit_garch(returns: Any, *, max_iterations: int = MAX_ITERATIONS) -> GarchFit:
    """Fit a constant-mean GARCH(1,1) by Gaussian QMLE to one series of returns.

    Args:
        returns: 1-D periodic simple returns; NaN is skipped (the present returns are
            taken as consecutive).
        max_iterations: the optimiser's iteration budget; a fit that needs more does
            not converge and falls back (see `GarchFit`).

    Returns:
        The fitted filter. A constant series gets ``sigma_next = 0`` and zero residuals.

    Raises:
        ValueError: on ±inf, a non-1-D input or fewer than `MIN_OBSERVATIONS` returns.
    """
    values = as_float_array(returns, "returns")
    if values.ndim != 1:
        raise ValueError(f"returns must be 1-D; got shape {values.shape}")
    present = values[~np.isnan(values)]
    check_min_observations(np.array([present.size]), MIN_OBSERVATIONS, _WHAT)
    fit = _fit(present, max_iterations)
    if not fit.converged:
        _warn_fallback(1, 1)
    return fit


@dataclass(frozen=True)
class FilteredColumns:
    """The volatility filter of each column of a ``(T, N)`` block of returns.

    Column ``j``'s return is ``mu[j] + sigma_next[j] z`` for ``z`` drawn from its
    standardized residuals: tail-risk figures read the residuals as the historical
    method reads returns and map them back through ``mu`` and ``sigma_next``.
    """

    mu: FloatArray
    sigma_next: FloatArray
    residuals: FloatArray
    """``(T, N)``: each column's standardized residuals in its first rows, NaN below (a
    column with NaN returns has fewer residuals), as the quantile helpers read them."""
    converged: npt.NDArray[np.bool_]
    """Per column, whether its fit converged (else the constant-volatility filter)."""


def filter_columns(columns: Columns, *, max_iterations: int = MAX_ITERATIONS) -> FilteredColumns:
    """`fit_garch` on every column, with one warning for all that did not converge.

    Raises:
        ValueError: when a column has fewer than `MIN_OBSERVATIONS` returns.
    """
    check_min_observations(columns.count, MIN_OBSERVATIONS, _WHAT)
    width = columns.values.shape[1]
    mu, sigma_next = np.empty(width), np.empty(width)
    residuals = np.full(columns.values.shape, np.nan)
    converged = np.empty(width, dtype=np.bool_)
    for j in range(width):
        present = columns.values[columns.present[:, j], j]
        fit = _fit(present, max_iterations)
        mu[j], sigma_next[j], converged[j] = fit.mu, fit.sigma_next, fit.converged
        residuals[: present.size, j] = fit.residuals
    if not converged.all():
        _warn_fallback(int(np.count_nonzero(~converged)), width)
    return FilteredColumns(mu, sigma_next, residuals, converged)


_WHAT = "filtered historical VaR/ES (a GARCH(1,1) fit)"


def _fit(returns: FloatArray, max_iterations: int) -> GarchFit:
    """`fit_garch` of NaN-free returns, without the warning."""
    # arch takes ~0.5 s to import; only this method needs it, so every other user of
    # the analytics (the CLI, the exporters) does not pay for it.
    from arch import arch_model

    if returns.min() == returns.max():
        # Nothing to filter: the loss is minus the return. (Compared exactly: the std
        # of equal values can be a rounding residue, ~1e-18, not 0.)
        return GarchFit(float(returns[0]), 0.0, 0.0, 0.0, 0.0, np.zeros(returns.size), True)
    mean = float(returns.mean())
    scale = float(returns.std(ddof=1))
    standard = (returns - mean) / scale
    model = arch_model(
        standard, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False
    )
    # show_warning=False: convergence is judged below; arch's warning would go to the
    # agents' stderr once and then never again.
    result = model.fit(disp="off", show_warning=False, options={"maxiter": max_iterations})
    mu, omega, alpha, beta = (float(v) for v in np.asarray(result.params, dtype=np.float64))
    shock = np.asarray(result.resid, dtype=np.float64)
    volatility = np.asarray(result.conditional_volatility, dtype=np.float64)
    # The next step of the recursion the residuals were standardized by. (arch's own
    # forecast() restarts the recursion from a backcast of the final residuals, not
    # the fit's: the two agree once beta^T is negligible, but in a 250-day window with
    # beta ~0.99 they can differ by ~0.1%, and z and sigma_next must share one path.)
    sigma_next = float(np.sqrt(omega + alpha * shock[-1] ** 2 + beta * volatility[-1] ** 2))
    z = shock / volatility
    if result.convergence_flag == 0 and np.isfinite(sigma_next) and np.isfinite(z).all():
        return GarchFit(
            mean + scale * mu,
            scale**2 * omega,
            alpha,
            beta,
            scale * sigma_next,
            z,
            converged=True,
        )
    # The constant-volatility filter: z is the standardized returns themselves, so the
    # figures are the historical method's (up to rounding).
    return GarchFit(mean, scale**2, 0.0, 0.0, scale, standard, converged=False)


def _warn_fallback(fallbacks: int, columns: int) -> None:
    warnings.warn(
        f"GARCH(1,1) fit did not converge for {fallbacks} of {columns} column(s); their "
        "filtered historical VaR/ES are the historical method's (constant volatility)",
        RuntimeWarning,
        stacklevel=3,
    )
