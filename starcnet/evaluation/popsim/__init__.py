"""popsim: LEGUS-like candidates from stochastic stellar populations.

An independent simulator of HST star-cluster candidate cutouts, used only to
evaluate classifiers trained on other simulations.  See ``README.rst``.
"""
from .core import make_scene, simulate_candidates

__all__ = ['simulate_candidates', 'make_scene']
