# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Small simulated LEGUS-like fields with labelled candidates.
"""

import numpy as np
from astropy.table import QTable

from ._data import BANDS, MEAN_PIXEL, PSF_HALF, REFERENCE_BAND, ZEROPOINTS
from .candidates import star_ci
from .noise import add_noise, apply_artifacts, draw_exposures, galaxy_light
from .psf import draw_psfs, reference_psf
from .recipes import add_candidate, field_star_flux
from .render import Components, render

__all__ = ['make_scene']


def make_scene(shape=(512, 512), n_sources=150, *, n_field_stars=400,
               class_fractions=(0.25, 0.25, 0.25, 0.25), min_separation=12.0,
               edge=20, seed=None):
    """
    Simulate a small LEGUS-like 5-band field with labelled candidates.

    Parameters
    ----------
    shape : tuple of int, optional
        Image shape ``(ny, nx)``.
    n_sources : int, optional
        Number of cluster candidates (classes 1-4).
    n_field_stars : int, optional
        Number of field stars (not in the truth table).
    class_fractions : sequence of 4 float, optional
        Expected fractions of classes 1-4 among the candidates.
    min_separation : float, optional
        Minimum distance between two candidates (px); fewer candidates
        are placed if the field is too crowded.
    edge : float, optional
        Minimum distance of candidates from the image edges (px).
    seed : int, `~numpy.random.Generator` or None, optional
        Random seed.

    Returns
    -------
    images : dict of str to `~numpy.ndarray`
        Band (`BANDS`) to float32 image in e-/s, all on the same grid.
    truth : `~astropy.table.QTable`
        One row per candidate: ``x``, ``y`` (0-based pixel position of its
        centre), ``true_class`` (1-4) and ``mag_F555W``.

    Notes
    -----
    The field has one PSF (drawn as for `simulate_cutouts`), LEGUS-like
    exposure times (0.7-1.4 times the LEGUS ones), sky, an
    exponential galaxy disc (redder light is brighter) with star-forming
    blobs and, at random, a spiral-arm ridge and a dust lane, field
    stars, and the candidates with the same models as
    `simulate_cutouts`, Poisson and read noise.  On the F555W image,
    ``DAOStarFinder(fwhm=2.5, threshold=5 * std)`` applied to ``data -
    median``, with ``median`` and ``std`` from
    ``astropy.stats.sigma_clipped_stats(data, sigma=3)``, finds most
    candidates (typically 75-85% within 1.5 px), together with field
    stars and some secondary peaks of associations.  Takes 1-3 s for
    512x512 px and 150 candidates.
    """
    rng = np.random.default_rng(seed)
    ny, nx = shape
    pad = PSF_HALF
    canvas = (ny + 2 * pad, nx + 2 * pad)
    fractions = np.asarray(class_fractions, dtype=float)
    fractions = fractions / fractions.sum()
    # candidate positions with a minimum separation (dart throwing)
    pos = []
    tries = 0
    while len(pos) < n_sources and tries < 50 * max(n_sources, 1):
        tries += 1
        p = (rng.uniform(edge, nx - 1 - edge), rng.uniform(edge, ny - 1 - edge))
        if all((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 >= min_separation ** 2
               for q in pos):
            pos.append(p)
    pos = np.array(pos).reshape(-1, 2)
    classes = rng.choice(np.arange(1, 5), size=len(pos), p=fractions)
    transfer, _ = draw_psfs(rng, 1, canvas)
    ci_shift = float(np.nan_to_num(star_ci(transfer, canvas)[0]
                                   - star_ci(reference_psf(canvas)[None], canvas)[0]))
    comps = Components()
    mag_v = np.empty(len(pos))
    for k, ((x, y), cls) in enumerate(zip(pos, classes)):
        flux = add_candidate(comps, 0, int(cls), x + pad, y + pad, rng, ci_shift)
        mag_v[k] = ZEROPOINTS['F555W'] - 2.5 * np.log10(flux[REFERENCE_BAND])
    # field stars, kept away from candidate centres
    star_pos = rng.uniform((0, 0), (nx, ny), (n_field_stars, 2))
    if len(pos):
        d = np.min(np.hypot(star_pos[:, None, 0] - pos[None, :, 0],
                            star_pos[:, None, 1] - pos[None, :, 1]), axis=1)
        star_pos = star_pos[d > 4.0]
    for (x, y), f in zip(star_pos, field_star_flux(rng, len(star_pos))):
        comps.point(0, x + pad, y + pad, f)
    # LEGUS-like depth: the candidates of a catalog were all detected
    exptime, nexp = draw_exposures(rng, 1, depth=(0.7, 1.4))
    img = render(comps, 1, canvas, transfer)
    del transfer
    img = img[:, :, pad:pad + ny, pad:pad + nx].copy()
    apply_artifacts(img[0], [(k, x, y, p) for _, k, x, y, p in comps.artifacts],
                    exptime[0], nexp[0], offset=(pad, pad))
    # galaxy light: exponential disc + star-forming blobs (bluer) + structure
    yy, xx = np.mgrid[0:ny, 0:nx].astype(np.float32)
    gx0, gy0 = rng.uniform(0.3, 0.7) * nx, rng.uniform(0.3, 0.7) * ny
    scale = rng.uniform(0.3, 0.6) * max(nx, ny)
    disc = np.exp(-np.hypot(xx - gx0, yy - gy0) / scale)
    blobs = np.zeros_like(disc)
    for _ in range(rng.integers(2, 6)):
        bx, by = rng.uniform(0, nx), rng.uniform(0, ny)
        bs = rng.uniform(20, 60)
        blobs += rng.uniform(0.2, 0.6) * np.exp(-0.5 * ((xx - bx) ** 2
                                                        + (yy - by) ** 2) / bs ** 2)
    red = np.array([0.15, 0.3, 0.5, 0.8, 1.0]) * MEAN_PIXEL[-1] * 0.5
    blue = np.array([1.0, 0.9, 0.7, 0.6, 0.5]) * MEAN_PIXEL * 0.4
    light = (red[:, None, None] * disc[None] + blue[:, None, None] * blobs[None])
    structure = galaxy_light(rng, (ny, nx), scale=max(nx, ny) / 88.0)
    img[0] += (light + 0.15 * structure).astype(np.float32)
    noisy = add_noise(img, rng, exptime, nexp)[0]
    images = {band: noisy[b].astype(np.float32) for b, band in enumerate(BANDS)}
    truth = QTable()
    truth['x'] = pos[:, 0]
    truth['y'] = pos[:, 1]
    truth['true_class'] = classes.astype(int)
    truth['mag_F555W'] = mag_v
    truth.meta['bands'] = list(BANDS)
    truth.meta['unit'] = 'electron / s'
    return images, truth
