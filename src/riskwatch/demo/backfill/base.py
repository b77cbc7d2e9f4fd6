"""What every module of the backfill shares: its errors, array types and progress callback."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Progress = Callable[[str, float], None]
"""Called as ``progress(stage, fraction)``; see `riskwatch.demo.backfill.backfill`."""


class BackfillError(RuntimeError):
    """The backfill could not be done; the message says why and what to do."""


class NothingToBackfill(BackfillError):  # noqa: N818 - an outcome, not a fault
    """The range asked for is already in Prometheus: a rerun has nothing to add."""
