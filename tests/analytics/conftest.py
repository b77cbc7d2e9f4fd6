"""Shared settings for the analytics tests.

Hypothesis runs a bounded number of examples so that the whole analytics suite stays
well under a minute on two cores; deadlines are off because a first call warms numpy.
"""

import sys
from pathlib import Path

from hypothesis import HealthCheck, settings

# The tests import their reference helpers (analytics_reference.py) as a plain module;
# under pytest's importlib import mode the test directory is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).parent))

settings.register_profile(
    "analytics",
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("analytics")
