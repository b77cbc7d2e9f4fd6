"""Input checks shared by the analytics modules.

Every public function converts its inputs here, so that a bad input fails the
same way everywhere: a ``ValueError`` whose message names the argument and the
problem.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def as_float_array(values: Any, name: str, *, check_inf: bool = True) -> FloatArray:
    """Return ``values`` as a float64 array, rejecting ±inf (unless ``check_inf`` is
    False: the caller checks) and non-numeric data."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric: {exc}") from exc
    if check_inf:
        reject_inf(array, name)
    return array


def reject_inf(array: FloatArray, name: str) -> None:
    """Raise if ``array`` holds ±inf."""
    if np.isinf(array).any():
        raise ValueError(f"{name} contain infinite values; use NaN for a missing observation")


def as_returns_matrix(values: Any, name: str, *, check_inf: bool = True) -> tuple[FloatArray, bool]:
    """Return ``values`` as a ``(T, N)`` float array and whether the input was 1-D."""
    array = as_float_array(values, name, check_inf=check_inf)
    if array.ndim == 1:
        return array[:, np.newaxis], True
    if array.ndim == 2:
        return array, False
    raise ValueError(f"{name} must be 1-D (T,) or 2-D (T, N); got shape {array.shape}")


def check_min_observations(counts: npt.NDArray[np.intp], minimum: int, what: str) -> None:
    """Raise when any column has fewer than ``minimum`` usable observations."""
    if minimum < 1:
        raise ValueError(f"min_observations must be at least 1; got {minimum}")
    short = np.flatnonzero(counts < minimum)
    if short.size:
        shown = ", ".join(str(i) for i in short[:10]) + (", ..." if short.size > 10 else "")
        raise ValueError(
            f"too few observations: {what} needs at least {minimum} non-NaN values, "
            f"column(s) {shown} have {int(counts[short].min())}"
        )


def check_probability(confidence: float, name: str = "confidence") -> float:
    """Return ``confidence`` as a float strictly between 0 and 1."""
    value = float(confidence)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name} must be strictly between 0 and 1; got {confidence!r}")
    return value


def tail_probability(confidence: float) -> float:
    """The left-tail probability ``1 - confidence``.

    Rounded to 12 decimals because ``1 - 0.99`` is ``0.010000000000000009`` in binary
    floating point; without rounding, the sample-quantile index would differ in the last
    bit from the one a reference library computes from the literal ``0.01``.
    """
    return round(1.0 - check_probability(confidence), 12)
