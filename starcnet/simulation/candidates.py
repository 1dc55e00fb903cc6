# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Simulated cutouts of star-cluster candidates with their classes.
"""

import numpy as np
from scipy import fft as sfft

from ._data import HALF, PSF_HALF, REFERENCE_BAND, SIZE
from .measure import concentration_index
from .noise import (add_noise, apply_artifacts, cosmic_rays, cut_edges, draw_exposures,
                    galaxy_light)
from .psf import draw_psfs, pixel_response, reference_psf
from .recipes import add_candidate, field_star_flux, neighbours
from .render import Components, render

__all__ = ['simulate_cutouts', 'simulate_candidates', 'star_ci']

#: Probabilities of the classes of a candidate's catalog neighbours.
_NEIGHBOUR_CLASSES = (0.15, 0.2, 0.25, 0.4)


def _check_labels(labels):
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        msg = 'labels must be a 1-D array of integers 1-4'
        raise ValueError(msg)
    if labels.size and (labels.min() < 1 or labels.max() > 4):
        msg = f'labels must be LEGUS classes 1-4, got values {np.unique(labels)}'
        raise ValueError(msg)
    return labels.astype(int)


def star_ci(transfer, shape):
    """CI (F555W) of a point source through each PSF of ``transfer`` (n, 5, ...)."""
    ft = transfer[:, REFERENCE_BAND] * pixel_response(shape)
    img = sfft.irfft2(ft, s=shape, workers=1)
    img = np.roll(img, (shape[0] // 2, shape[1] // 2), axis=(-2, -1))
    return concentration_index(img, shape[1] // 2, shape[0] // 2)


#: Smallest measured CI (F555W, 1-3 px) of a simulated candidate, as the
#: extended-source cut of the LEGUS candidate selection (Adamo et al.
#: 2017: CI above the stellar value, about 1.3-1.4 mag depending on the
#: galaxy; lower here to leave room for the measurement scatter).
CI_CUT = 1.25
_MAX_REDRAWS = 4


def _passes_cut(img):
    """
    Whether each cutout's measured F555W CI passes `CI_CUT`: measured at
    the light peak within 3 px of the centre (3x3 centroid), sky from
    the median of a 7-9 px annulus.
    """
    band = img[:, REFERENCE_BAND].astype(np.float64)
    n = band.shape[0]
    box = band[:, 13:19, 13:19].reshape(n, -1)
    iy, ix = np.unravel_index(np.argmax(box, axis=1), (6, 6))
    iy, ix = iy + 13, ix + 13
    rows = np.arange(n)
    win = np.stack([band[rows, iy + dy, ix + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)],
                   axis=1).reshape(n, 3, 3)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    r = np.hypot(xx[None] - ix[:, None, None], yy[None] - iy[:, None, None])
    ring = (r >= 7) & (r < 9)
    sky = np.array([np.median(b[m]) for b, m in zip(band, ring)])
    w = np.clip(win - sky[:, None, None], 0, None)
    total = np.maximum(w.sum((1, 2)), 1e-30)
    x = ix + (w.sum(1) * np.array([-1, 0, 1])).sum(1) / total
    y = iy + (w.sum(2) * np.array([-1, 0, 1])).sum(1) / total
    ci = concentration_index(band - sky[:, None, None], x, y)
    return np.isfinite(ci) & (ci >= CI_CUT)


def _render_chunk(lab, rng, pad):
    """Cutouts (m, 5, 32, 32) of classes ``lab``."""
    m = lab.size
    canvas = SIZE + 2 * pad
    shape = (canvas, canvas)
    transfer, _ = draw_psfs(rng, m, shape)
    ci_shift = star_ci(transfer, shape) - star_ci(reference_psf(shape)[None], shape)[0]
    ci_shift = np.where(np.isfinite(ci_shift), ci_shift, 0.0)
    comps = Components()
    frac = rng.uniform(0, 1, (m, 2))
    # centring error of the catalog position: up to 1 px
    centring = np.clip(rng.normal(0, 1, (m, 2)) * rng.uniform(0, 0.35, (m, 1)), -1.0, 1.0)
    centre = HALF + frac + centring
    for i in range(m):
        cx, cy = pad + centre[i, 0], pad + centre[i, 1]
        flux = add_candidate(comps, i, int(lab[i]), cx, cy, rng, ci_shift[i])
        # catalog neighbours of a real candidate of this class
        for sep, dmag in zip(*neighbours(int(lab[i]), rng)):
            sep = max(sep, 2.5)
            t = rng.uniform(0, 2 * np.pi)
            cls = int(rng.choice(4, p=_NEIGHBOUR_CLASSES)) + 1
            add_candidate(comps, i, cls, cx + sep * np.cos(t), cy + sep * np.sin(t),
                          rng, ci_shift[i],
                          flux=flux * 10 ** (-0.4 * (dmag + rng.normal(0, 0.2, 5))))
        nfield = rng.poisson(rng.uniform(0.5, 10.0))
        if nfield:
            pos = rng.uniform(8, canvas - 8, (nfield, 2))
            keep = np.hypot(pos[:, 0] - cx, pos[:, 1] - cy) > 3.0
            for (fx_, fy_), f in zip(pos[keep], field_star_flux(rng, keep.sum())):
                comps.point(i, fx_, fy_, f)
    exptime, nexp = draw_exposures(rng, m)
    img = render(comps, m, shape, transfer)
    img = img[:, :, pad:pad + SIZE, pad:pad + SIZE].copy()
    arts = {}
    for i, kind, x, y, p in comps.artifacts:
        arts.setdefault(i, []).append((kind, x, y, p))
    for i, items in arts.items():
        apply_artifacts(img[i], items, exptime[i], nexp[i], offset=(pad, pad))
    for i in range(m):
        img[i] += galaxy_light(rng, (SIZE, SIZE))
    img = add_noise(img, rng, exptime, nexp)
    cosmic_rays(img, rng)
    cut_edges(img, rng)
    return img


def simulate_cutouts(labels, *, size=32, seed=None, chunk=500):
    """
    Simulate 5-band cutouts of star-cluster candidates of given classes.

    Parameters
    ----------
    labels : array-like of int
        LEGUS class (1-4) of each candidate to simulate.
    size : int, optional
        Cutout side; only 32 (the StarcNet input) is supported.
    seed : int, `~numpy.random.Generator` or None, optional
        Random seed; the same seed gives the same cutouts.
    chunk : int, optional
        Number of cutouts rendered at once (memory vs. speed).

    Returns
    -------
    cutouts : `~numpy.ndarray`
        float32 array of shape ``(N, 5, 32, 32)`` in e-/s, bands in the
        order of `BANDS`.  Candidate ``k`` sits near ``(15 + fx, 15 +
        fy)`` (0-based column, row) with ``fx, fy`` drawn uniformly in
        [0, 1), off by a centring error of up to 1 px.
    labels : `~numpy.ndarray`
        The classes, as int.

    Notes
    -----
    See the `starcnet.simulation` docstring for the physical model.
    About 10-15 ms per cutout on one CPU core (redraws after the CI cut
    included).  The random stream is
    consumed chunk by chunk, so the same ``seed`` with another ``chunk``
    gives other cutouts.
    """
    if size != SIZE:
        msg = f'only 32x32 cutouts are supported, got size={size}'
        raise ValueError(msg)
    labels = _check_labels(labels)
    rng = np.random.default_rng(seed)
    n = labels.size
    out = np.empty((n, 5, SIZE, SIZE), dtype=np.float32)
    pad = PSF_HALF + 8
    for start in range(0, n, chunk):
        lab = labels[start:start + chunk]
        img = _render_chunk(lab, rng, pad)
        # LEGUS candidates passed an extended-source cut on the measured
        # CI; candidates that would have failed it are drawn again
        for _ in range(_MAX_REDRAWS):
            redo = np.flatnonzero(~_passes_cut(img))
            if not redo.size:
                break
            img[redo] = _render_chunk(lab[redo], rng, pad)
        out[start:start + lab.size] = img
    return out, labels


def simulate_candidates(n_per_class, seed=None):
    """
    Simulate a class-balanced, shuffled set of candidate cutouts.

    Parameters
    ----------
    n_per_class : int or sequence of 4 int
        Number of candidates of each class (one number for all classes,
        or one per class 1-4).
    seed : int, `~numpy.random.Generator` or None, optional
        Random seed.

    Returns
    -------
    cutouts : `~numpy.ndarray`
        float32 ``(N, 5, 32, 32)`` cutouts in e-/s (see `simulate_cutouts`).
    labels : `~numpy.ndarray`
        int classes 1-4, in random order.
    """
    counts = np.broadcast_to(np.asarray(n_per_class, dtype=int), (4,))
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(1, 5), counts)
    labels = labels[rng.permutation(labels.size)]
    return simulate_cutouts(labels, seed=rng)
