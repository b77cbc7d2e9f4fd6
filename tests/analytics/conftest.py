"""Shared setup for the analytics tests."""

import sys
from pathlib import Path

# The tests import their reference helpers (analytics_reference.py) as a plain module;
# under pytest's importlib import mode the test directory is not on sys.path by itself.
sys.path.insert(0, str(Path(__file__).parent))
