"""``kingsim``: an independent LEGUS-like candidate generator (evaluation only).

King-profile clusters, analytic Moffat+halo PSFs drawn per image, recipes for
associations and non-clusters, drizzle-correlated noise on structured galaxy
light. See ``README.rst`` in this folder. Never used for training.
"""

from .generator import BANDS, PIXEL_SCALE, make_scene, simulate_candidates
from .photometry import APCOR, ZEROPOINTS, measure, measure_at

__all__ = ["simulate_candidates", "make_scene", "measure", "measure_at", "BANDS",
           "PIXEL_SCALE", "ZEROPOINTS", "APCOR"]
