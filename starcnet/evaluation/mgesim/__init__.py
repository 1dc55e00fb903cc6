# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""``mgesim``: multi-Gaussian-expansion LEGUS candidate generator.

For **evaluation only**: it is structurally independent of the training
simulators and is meant to test whether a classifier learned the four LEGUS
classes rather than the habits of the simulator it was trained on.
"""
from .core import simulate_candidates, simulate_with_truth  # noqa: F401 (private, for validation)

__all__ = ['simulate_candidates']
