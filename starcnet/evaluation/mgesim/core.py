# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Assemble, render, select and cut LEGUS-like candidate stamps."""
import numpy as np

from . import calibration as cal
from .noise import (add_cosmic_residual, add_hot_pixels, add_noise, diffuse_light,
                    field_star_components)
from .psf import draw_psfs
from .recipes import draw_candidate, wilson_profile, POINT
from .render import render_gaussians

__all__ = ['simulate_candidates', 'simulate_with_truth', 'aperture_weights',
           'concentration_index']

REGION = 64          # rendered region (px)
ANCHOR = 31          # floor of the catalog position inside the region
STAMP = 32
MAX_TRIES = 40


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def aperture_weights(cx, cy, radius, shape, sub=8):
    """Fractional pixel coverage of a circular aperture (sub-pixel sampled).

    Parameters
    ----------
    cx, cy : float
        Centre (pixel centres at integers).
    radius : float
    shape : (int, int)
    sub : int
        Sub-samples per pixel and axis.

    Returns
    -------
    weights : ndarray, shape ``shape``
    """
    w = np.zeros(shape)
    x0 = max(int(np.floor(cx - radius)) - 1, 0)
    x1 = min(int(np.ceil(cx + radius)) + 2, shape[1])
    y0 = max(int(np.floor(cy - radius)) - 1, 0)
    y1 = min(int(np.ceil(cy + radius)) + 2, shape[0])
    off = (np.arange(sub) + 0.5) / sub - 0.5
    xs = (np.arange(x0, x1)[:, None] + off[None, :]).ravel() - cx
    ys = (np.arange(y0, y1)[:, None] + off[None, :]).ravel() - cy
    inside = (ys[:, None] ** 2 + xs[None, :] ** 2) <= radius ** 2
    w[y0:y1, x0:x1] = inside.reshape(y1 - y0, sub, x1 - x0, sub).mean(axis=(1, 3))
    return w


def concentration_index(image, cx, cy):
    """LEGUS CI (mag, 1 px minus 3 px aperture), background from a 7-9 px annulus."""
    ann = (aperture_weights(cx, cy, 9.0, image.shape, 2)
           - aperture_weights(cx, cy, 7.0, image.shape, 2)) > 0.5
    img = image - np.median(image[ann])
    f1 = np.sum(aperture_weights(cx, cy, 1.0, image.shape) * img)
    f3 = np.sum(aperture_weights(cx, cy, 3.0, image.shape) * img)
    if f1 <= 0 or f3 <= 0:
        return np.nan
    return -2.5 * np.log10(f1 / f3)


def _gaussians(comps, psf, shift):
    """Flatten components convolved with one band's PSF into Gaussian parameters."""
    fl, xs, ys, cxx, cyy, cxy = [], [], [], [], [], []
    for c in comps:
        p = c['prof']
        ct, st = np.cos(p[:, 3]), np.sin(p[:, 3])
        pxx = p[:, 1] * ct ** 2 + p[:, 2] * st ** 2
        pyy = p[:, 1] * st ** 2 + p[:, 2] * ct ** 2
        pxy = (p[:, 1] - p[:, 2]) * ct * st
        f = c['band_flux'] * p[:, 0]
        for w, vx, vy in psf:
            fl.append(f * w)
            cxx.append(pxx + vx)
            cyy.append(pyy + vy)
            cxy.append(pxy)
            xs.append(np.full(len(p), c['x'] + shift[0]))
            ys.append(np.full(len(p), c['y'] + shift[1]))
    return [np.concatenate(a) for a in (fl, xs, ys, cxx, cyy, cxy)]


def _render_components(comps, psfs, shifts, band_flux):
    shape = (REGION, REGION)
    out = np.zeros((5, REGION, REGION))
    for b in range(5):
        for c, bf in zip(comps, band_flux):
            c['band_flux'] = bf[b]
        fl, x, y, cxx, cyy, cxy = _gaussians(comps, psfs[b], shifts[b])
        cxy = np.where(np.abs(cxy) < 1e-9, 0.0, cxy)
        out[b] = render_gaussians(shape, fl, x, y, cxx, cyy, cxy)
    return out


def _one(rng, cls):
    field, dist, ci_cut = cal.draw_field(rng, cls)
    mags = cal.draw_photometry(rng, cls)[0]
    fx, fy = rng.uniform(0, 1, 2)
    cat_x, cat_y = ANCHOR + fx, ANCHOR + fy
    r_off = min(abs(rng.normal(0, 0.3)), 0.8)
    a_off = rng.uniform(0, 2 * np.pi)
    src_x = cat_x + r_off * np.cos(a_off)
    src_y = cat_y + r_off * np.sin(a_off)
    psfs = draw_psfs(rng)
    shifts = np.clip(rng.normal(0, 0.04, (5, 2)), -0.1, 0.1)
    shifts[3] = 0.0
    recipe, comps, boost = draw_candidate(rng, cls, dist)
    for c in comps:
        c['x'] += src_x
        c['y'] += src_y
    src = _render_components(comps, psfs, shifts, [c['sed'] for c in comps])
    # scale each band so that 4 px aperture flux + APCOR = the drawn magnitude
    w4 = aperture_weights(cat_x, cat_y, 4.0, (REGION, REGION))
    target = 10 ** (-0.4 * (mags - cal.APCOR - cal.ZEROPOINTS))
    ap = np.einsum('bij,ij->b', src, w4)
    src *= (target / np.maximum(ap, 1e-12))[:, None, None]

    # other catalog candidates in the region (at the catalogs' crowding)
    nb = rng.poisson(cal.NEIGHBOURS_PER_CUTOUT[cls] * REGION ** 2 / (np.pi * 22.6 ** 2))
    neigh, neigh_flux = [], []
    for _ in range(nb):
        while True:
            x, y = rng.uniform(-0.5, REGION - 0.5, 2)
            if np.hypot(x - cat_x, y - cat_y) > 4.0:
                break
        m = cal.draw_photometry(rng, int(rng.integers(1, 5)))[0]
        prof = POINT if rng.uniform() < 0.4 else wilson_profile(
            rng.uniform(0.4, 2.5), rng.uniform(0.5, 1.0), rng.uniform(0, np.pi), rng=rng)
        neigh.append({'x': x, 'y': y, 'prof': prof})
        neigh_flux.append(10 ** (-0.4 * (m - cal.APCOR * 0.5 - cal.ZEROPOINTS)))
    # resolved field stars
    xy, sflux = field_star_components(rng, (REGION, REGION), rng.lognormal(np.log(1.5), 0.7),
                                      (cat_x, cat_y))
    for (x, y), f in zip(xy, sflux):
        neigh.append({'x': x, 'y': y, 'prof': POINT})
        neigh_flux.append(f)
    scene = src
    if neigh:
        scene = scene + _render_components(neigh, psfs, shifts, neigh_flux)
    level = rng.lognormal(np.log(0.04), 1.0) * boost
    scene = scene + diffuse_light(rng, (REGION, REGION), level)

    exptime = cal.EXPTIME * rng.uniform(0.7, 1.4, 5)
    sky = cal.SKY * rng.uniform(0.6, 1.6, 5)
    n_exp = rng.integers(2, 6, 5)
    img = add_noise(rng, scene, exptime, sky, n_exp)
    img = add_hot_pixels(rng, img)
    if recipe == 'artifact':
        for b in rng.choice(5, size=rng.integers(1, 3), replace=False):
            peak = src[b].max() * rng.uniform(1.0, 6.0) + 0.05
            add_cosmic_residual(rng, img[b], src_x + rng.normal(0, 0.6),
                                src_y + rng.normal(0, 0.6), peak)
    y0 = ANCHOR - 15
    stamp = img[:, y0:y0 + STAMP, y0:y0 + STAMP]
    truth = {'x': 15 + fx, 'y': 15 + fy, 'src_x': src_x - y0, 'src_y': src_y - y0,
             'recipe': recipe, 'field': field, 'ci_cut': ci_cut, 'mag_v': mags[3]}
    return stamp, truth


def _selected(rng, cls):
    """Draw candidates until one passes the LEGUS CI cut of its field."""
    for _ in range(MAX_TRIES):
        stamp, truth = _one(rng, cls)
        ci = concentration_index(stamp[3], truth['x'], truth['y'])
        if np.isfinite(ci) and truth['ci_cut'] - 0.02 + rng.normal(0, 0.02) <= ci < 4.0:
            truth['ci'] = ci
            return stamp, truth
    truth['ci'] = ci
    return stamp, truth


def simulate_with_truth(n_per_class, seed=None):
    """Simulate candidates and return the truth of each.

    Parameters
    ----------
    n_per_class : int
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    cutouts : ndarray of float32, shape (4 * n_per_class, 5, 32, 32)
    labels : ndarray of int, shape (4 * n_per_class,)
    truth : dict of ndarray
        ``x``, ``y`` (catalog position in the cutout), ``src_x``, ``src_y``
        (true source centre), ``recipe``, ``field``, ``ci_cut``, ``mag_v``
        (drawn catalog F555W mag) and ``ci`` (CI measured for the selection).
    """
    rng = _rng(seed)
    n_per_class = int(n_per_class)
    labels = np.repeat(np.arange(1, 5), n_per_class)
    labels = labels[rng.permutation(len(labels))]
    cut = np.empty((len(labels), 5, STAMP, STAMP), dtype=np.float32)
    rows = []
    for i, cls in enumerate(labels):
        stamp, truth = _selected(rng, int(cls))
        cut[i] = stamp
        rows.append(truth)
    keys = ('x', 'y', 'src_x', 'src_y', 'recipe', 'field', 'ci_cut', 'mag_v', 'ci')
    truth = {k: np.array([r[k] for r in rows]) for k in keys}
    return cut, labels.astype(int), truth


def simulate_candidates(n_per_class, seed=None):
    """Simulate class-balanced LEGUS-like candidate cutouts (evaluation only).

    Parameters
    ----------
    n_per_class : int
        Candidates per LEGUS class (1-4).
    seed : int or numpy.random.Generator, optional

    Returns
    -------
    cutouts : ndarray of float32, shape (4 * n_per_class, 5, 32, 32)
        e-/s, bands F275W, F336W, F438W, F555W, F814W; the catalog position
        lies at pixel (15 + frac(x), 15 + frac(y)).
    labels : ndarray of int
        Classes 1-4, balanced and shuffled.
    """
    cut, labels, _ = simulate_with_truth(n_per_class, seed)
    return cut, labels
