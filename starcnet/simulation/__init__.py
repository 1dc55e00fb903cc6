# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Synthetic LEGUS-like star-cluster candidates and scenes, randomised in
everything the real data do not pin down.

Everything here is plain numpy/scipy/astropy (no torch): it makes the
training data of the bundled models, the test fixtures and the offline
``starcnet demo`` field.  A model trained on it is always evaluated on
candidates of independently written generators too
(`starcnet.evaluation`): a figure measured on this simulator measures
the simulator.

Pixels are in electrons per second (e-/s) on the LEGUS drizzled grid,
0.0396 arcsec per pixel, in the five bands `BANDS`.  The parts:

* `starcnet.simulation.psf`: PSF families drawn per image (TinyTim
  WFC3/UVIS or ACS/WFC model PSFs blurred by a random, slightly
  elliptical Gaussian; Moffat; Gaussian core with an exponential halo),
  per-band widths and registration offsets.
* `starcnet.simulation.recipes`: per-class candidate recipes calibrated
  on real measurements: joint magnitudes, colours and CI of real labelled
  LEGUS objects; Ryon et al. (2017) EFF slopes for clusters; profile
  families (EFF, King, Sérsic) drawn per candidate; crowding from the
  LEGUS catalogs' own positions.
* `starcnet.simulation.render`: rendering through the PSF.
* `starcnet.simulation.noise`: exposure depth, sky, structured galaxy
  light (gradients, knots, arms, dust lanes), Poisson and read noise
  correlated by drizzling, saturation and bleed columns, cosmic-ray
  residuals, footprint and image edges.
* `simulate_cutouts`, `simulate_candidates` (cutouts with classes) and
  `make_scene` (a small field with a truth table).

Cutout convention: for a source at 0-based pixel position ``(x, y)`` a
cutout is ``data[floor(y) - 15:floor(y) + 17, floor(x) - 15:floor(x) +
17]``, so the source centre sits at ``(15 + fx, 15 + fy)`` inside the
cutout, with ``fx, fy`` the fractional parts of ``x, y``.
"""

from ._data import (BANDS, CLASS_NAMES, PIXEL_SCALE, ZEROPOINTS, load_class_photometry,
                    load_crowding, load_psfs, load_ryon2017, mag_to_flux)
from .candidates import simulate_candidates, simulate_cutouts
from .measure import concentration_index
from .scenes import make_scene

__all__ = ['BANDS', 'ZEROPOINTS', 'PIXEL_SCALE', 'CLASS_NAMES',
           'load_psfs', 'load_class_photometry', 'load_ryon2017', 'load_crowding',
           'mag_to_flux', 'concentration_index', 'simulate_cutouts',
           'simulate_candidates', 'make_scene']
