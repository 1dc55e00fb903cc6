# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Per-class recipes of LEGUS candidates, calibrated on real measurements.

Each candidate takes one real human-labelled LEGUS object of its class
(`starcnet.simulation.load_class_photometry`): its five magnitudes and
its concentration index (CI) are kept jointly, so colours, brightness
and concentration keep their real correlations.  The CI sets the size.

* **Class 1** (symmetric clusters) and **class 2** (asymmetric clusters):
  a profile family drawn per candidate: EFF with the slope of a real
  Ryon et al. (2017) cluster of similar CI (50%), King 1962 (25%) or
  Sérsic (25%); round (axis ratio 0.8-1) for class 1; for class 2
  elongated (0.35-0.85) and, for 70%, also lopsided and/or with an
  off-centre clump; sometimes 1-4 resolved bright stars on top
  (stochastic sampling of the upper IMF).
* **Class 3** (associations): 2-10 stars or small clumps with their own
  colours on diffuse exponential, Gaussian or Sérsic emission within a
  2-9 px radius.
* **Class 4** (non-clusters; LEGUS candidates passed an extended-source
  cut, so most look extended): single stars, blends of 2-4 stars whose
  spread follows the CI, compact knots often with a star on top, diffuse
  knots, background galaxies (Sérsic n = 1-4, redder, elongated) and
  artifacts (a faint knot with cosmic-ray residuals or hot pixels in one
  band, or the edge of a saturated star with a bleed column).

The size of each model is set so that its CI, through the reference PSF,
equals the real object's CI corrected for the CI of a star through the
image's own PSF (a broader PSF raises every CI).
"""

import functools

import numpy as np

from ._data import (FAINT_LIMIT, REFERENCE_BAND, ZP, crowding_arrays, magnitude_offsets,
                    photometry_arrays, ryon_arrays)
from .measure import concentration_index
from .psf import reference_psf
from .render import Components, render

__all__ = ['add_candidate', 'field_star_flux', 'draw_row', 'neighbours', 'ci_table',
           'size_for_ci', 'CLASS4_KINDS', 'CLUSTER_PROFILES']

#: Mix of class 4 (non-cluster) kinds.
CLASS4_KINDS = {'star': 0.06, 'blend': 0.24, 'knot': 0.2, 'diffuse': 0.15,
                'galaxy': 0.22, 'artifact': 0.13}

#: Profile families of class 1 and 2 clusters and their probabilities.
CLUSTER_PROFILES = {'eff': 0.5, 'king': 0.25, 'sersic': 0.25}

#: Shape-parameter grids of the CI tables per profile family.
_SHAPES = {'eff': (2.2, 2.5, 2.8, 3.2, 3.6, 4.2, 5.0, 6.0),
           'king': (4.0, 8.0, 15.0, 30.0, 60.0),
           'sersic': (0.5, 1.0, 1.5, 2.0, 3.0, 4.0),
           'exp': (1.0,), 'gauss': (1.0,)}


def _nearest_shape(kind, shape):
    grid = np.asarray(_SHAPES[kind])
    return float(grid[np.argmin(np.abs(np.log(grid) - np.log(shape)))])


@functools.cache
def ci_table(kind='eff', shape=3.0):
    """
    CI (F555W, reference PSF) of a star and of a profile family by size.

    Returns
    -------
    star : float
        CI of a point source.
    sizes, cis : `~numpy.ndarray`
        Size parameters and the CI of the unit profiles.
    """
    sizes = np.concatenate([[0.05], np.geomspace(0.1, 8.0, 40)])
    comps = Components()
    size = 72
    for i, s in enumerate(sizes):
        comps.ext(i, 36.0, 36.0, np.ones(5), kind, s, shape, 1.0, 0.0)
    comps.point(len(sizes), 36.0, 36.0, np.ones(5))
    n = len(sizes) + 1
    img = render(comps, n, (size, size), reference_psf((size, size))[None])
    ci = concentration_index(img[:, REFERENCE_BAND], 36.0, 36.0)
    # keep a monotonic part (CI grows with size)
    ci_ext = np.maximum.accumulate(np.nan_to_num(ci[:-1], nan=ci[-1]))
    return float(ci[-1]), sizes, ci_ext


def size_for_ci(ci, rng, kind='eff', shape=3.0, bias=0.0, ci_shift=0.0):
    """Size parameter of a ``kind`` profile whose CI is ``ci`` (plus jitter)."""
    star, sizes, cis = ci_table(kind, _nearest_shape(kind, shape))
    target = np.where(np.isfinite(ci), ci, 1.6) + bias - ci_shift + rng.normal(0, 0.05)
    target = np.clip(target, cis[0] + 0.01, cis[-1])
    return float(np.interp(target, cis, sizes)) * rng.uniform(0.85, 1.15)


def _colour_jitter(total, n, rng, sigma):
    """Split band fluxes ``total`` (5,) into n components with own colours."""
    w = rng.lognormal(0.0, 0.7, size=n)
    w[0] = w.max() * rng.uniform(1.0, 1.8)          # brightest comes first
    frac = w[:, None] * 10 ** (-0.4 * rng.normal(0, sigma, size=(n, 5)))
    frac /= frac.sum(0, keepdims=True)
    return frac * total[None, :]


def draw_row(cls, rng):
    """Fluxes (5,) in e-/s and CI of one real LEGUS object of class ``cls``."""
    classes, mags, ci = photometry_arrays()
    idx = rng.choice(np.flatnonzero(classes == cls))
    m = mags[idx].copy()
    bad = m > 60
    m[bad] = FAINT_LIMIT[bad] + rng.uniform(0, 1.0, bad.sum())
    m += rng.normal(0, 0.3) + rng.normal(0, 0.04, 5) + magnitude_offsets()[cls]
    return 10 ** (-0.4 * (m - ZP)), ci[idx]


def field_star_flux(rng, n):
    """Fluxes (n, 5) of field stars: steep luminosity function, real colours."""
    classes, mags, _ = photometry_arrays()
    a, m1, m2 = 0.35, 20.5, 27.5
    u = rng.uniform(size=n)
    v = np.log10(u * (10 ** (a * m2) - 10 ** (a * m1)) + 10 ** (a * m1)) / a
    rows = mags[rng.choice(np.flatnonzero(classes == 4), n)]
    rows = np.where(rows > 60, FAINT_LIMIT + 1.0, rows)
    m = rows - rows[:, [REFERENCE_BAND]] + v[:, None]
    return 10 ** (-0.4 * (m - ZP))


def neighbours(cls, rng):
    """
    Separations (px) and F555W magnitude differences of the catalog
    neighbours (within 16 px) of one real LEGUS candidate of class ``cls``.
    """
    classes, _, sep, dmag = crowding_arrays()
    idx = rng.choice(np.flatnonzero(classes == cls))
    ok = np.isfinite(sep[idx])
    d = dmag[idx][ok]
    d = np.where(np.isfinite(d), d, rng.normal(1.0, 1.5, d.size))
    return sep[idx][ok], d


@functools.cache
def _ryon_by_class():
    cls, ci, eta, _ = ryon_arrays()
    return {k: (ci[cls == k], eta[cls == k]) for k in (1, 2)}


def _ryon_gamma(cls, ci, rng):
    """EFF index (2 eta) of a Ryon+17 cluster of class ``cls`` with a CI near ``ci``."""
    cis, etas = _ryon_by_class()[cls]
    near = np.argsort(np.abs(cis - ci))[:15]
    return float(np.clip(2.0 * etas[rng.choice(near)], 2.2, 8.0))


def _cluster_profile(cls, ci, rng):
    kind = rng.choice(list(CLUSTER_PROFILES), p=list(CLUSTER_PROFILES.values()))
    if kind == 'eff':
        shape = _ryon_gamma(cls, ci if np.isfinite(ci) else 1.6, rng)
    elif kind == 'king':
        shape = float(np.exp(rng.uniform(np.log(4.0), np.log(60.0))))
    else:
        shape = rng.uniform(0.5, 4.0)
    return str(kind), shape


def _resolved_stars(comps, i, cx, cy, flux, size, rng, frac_range=(0.05, 0.3)):
    """1-4 bright stars on top of a cluster; returns the flux left smooth."""
    n = int(rng.integers(1, 5))
    f = rng.uniform(*frac_range)
    parts = _colour_jitter(f * flux, n, rng, 0.3)
    for k in range(n):
        r, t = rng.uniform(0, 1.0) * max(size, 0.5), rng.uniform(0, 2 * np.pi)
        comps.point(i, cx + r * np.cos(t), cy + r * np.sin(t), parts[k])
    return (1 - f) * flux


def add_candidate(comps, i, cls, cx, cy, rng, ci_shift=0.0, flux=None):
    """
    Add the components of one candidate of class ``cls`` centred at (cx, cy).

    ``ci_shift`` is the CI of a star through this image's PSF minus that
    through the reference PSF; ``flux`` (5,) replaces the drawn fluxes
    (for neighbours of a given brightness).  Returns the fluxes (5,).
    """
    drawn, ci = draw_row(cls, rng)
    flux = drawn if flux is None else np.asarray(flux, dtype=float)
    if cls in (1, 2):
        kind, shape = _cluster_profile(cls, ci, rng)
        size = size_for_ci(ci, rng, kind, shape, bias=0.04 if cls == 1 else 0.0,
                           ci_shift=ci_shift)
        main, mx, my = flux.copy(), cx, cy
        if rng.uniform() < 0.3:
            main = _resolved_stars(comps, i, cx, cy, main, size, rng)
        if cls == 1:
            comps.ext(i, cx, cy, main, kind, size, shape, rng.uniform(0.8, 1.0),
                      rng.uniform(0, np.pi))
            return flux
        # elongated only (30%), else lopsided and/or an off-centre clump
        style = rng.uniform()
        lopsided = 0.3 <= style < 0.8 or (style >= 0.8 and rng.uniform() < 0.5)
        secondary = style >= 0.65
        asym = rng.uniform(0.3, 0.8) if lopsided else 0.0
        if secondary:
            f = rng.uniform(0.12, 0.45)
            d, t = rng.uniform(1.0, 3.0) + 0.5 * size, rng.uniform(0, 2 * np.pi)
            sub = f * main * 10 ** (-0.4 * rng.normal(0, 0.2, 5))
            sx, sy = cx + (1 - f) * d * np.cos(t), cy + (1 - f) * d * np.sin(t)
            mx, my = cx - f * d * np.cos(t), cy - f * d * np.sin(t)
            if rng.uniform() < 0.5:
                comps.point(i, sx, sy, sub)
            else:
                comps.ext(i, sx, sy, sub, 'eff', rng.uniform(0.2, 1.0), 3.0,
                          rng.uniform(0.6, 1.0), rng.uniform(0, np.pi))
            main = (1 - f) * main
        comps.ext(i, mx, my, main, kind, size, shape, rng.uniform(0.35, 0.85),
                  rng.uniform(0, np.pi), asym, rng.uniform(0, 2 * np.pi))
    elif cls == 3:
        n = rng.integers(2, 11)
        radius = rng.uniform(2.0, 9.0)
        fdiff = rng.uniform(0.15, 0.6)
        diffuse = fdiff * flux * 10 ** (-0.4 * rng.normal(0, 0.2, 5))
        prof = rng.choice(['exp', 'gauss', 'sersic'])
        comps.ext(i, cx + rng.normal(0, 1.0), cy + rng.normal(0, 1.0), diffuse,
                  str(prof), rng.uniform(0.5, 1.0) * radius, rng.uniform(0.5, 1.5),
                  rng.uniform(0.5, 1.0), rng.uniform(0, np.pi))
        fluxes = _colour_jitter((1 - fdiff) * flux, n, rng, 0.35)
        r = radius * np.sqrt(rng.uniform(0.02, 1.0, n))
        r[0] = rng.uniform(0, 1.0)
        t = rng.uniform(0, 2 * np.pi, n)
        for k in range(n):
            px, py = cx + r[k] * np.cos(t[k]), cy + r[k] * np.sin(t[k])
            if rng.uniform() < 0.7:
                comps.point(i, px, py, fluxes[k])
            else:
                comps.ext(i, px, py, fluxes[k], 'eff', rng.uniform(0.3, 1.0), 3.0,
                          rng.uniform(0.6, 1.0), rng.uniform(0, np.pi))
    else:
        _add_non_cluster(comps, i, cx, cy, flux, ci, rng, ci_shift)
    return flux


def _add_non_cluster(comps, i, cx, cy, flux, ci, rng, ci_shift):
    # LEGUS candidates passed an extended-source cut (CI above the
    # stellar value) before labelling: class 4 objects look extended.
    # Their apparent size follows the CI of the real object drawn.
    kind = rng.choice(list(CLASS4_KINDS), p=list(CLASS4_KINDS.values()))
    reff = size_for_ci(ci, rng, 'eff', 3.0, bias=0.04, ci_shift=ci_shift)
    if kind == 'star':
        comps.point(i, cx, cy, flux)
    elif kind == 'blend':
        # 2-4 stars of comparable brightness, barely resolved: their
        # spread is set by the CI; the light centroid is the candidate
        n = rng.integers(2, 5)
        w = rng.uniform(0.3, 1.0, n)[:, None] * 10 ** (-0.4 * rng.normal(0, 0.5, (n, 5)))
        fluxes = w / w.sum(0, keepdims=True) * flux[None]
        spread = min(max(3.0 * reff, 1.5), 4.5)
        d = spread * rng.uniform(0.5, 1.0, n)
        t = rng.uniform(0, 2 * np.pi, n)
        px, py = d * np.cos(t), d * np.sin(t)
        wv = fluxes[:, REFERENCE_BAND] / fluxes[:, REFERENCE_BAND].sum()
        px, py = px - np.sum(wv * px), py - np.sum(wv * py)
        for k in range(n):
            comps.point(i, cx + px[k], cy + py[k], fluxes[k])
    elif kind == 'knot':
        # compact knot: Gaussian-like core, often with a star on top
        main = flux.copy()
        if rng.uniform() < 0.5:
            f = rng.uniform(0.1, 0.4)
            comps.point(i, cx + rng.normal(0, 0.3), cy + rng.normal(0, 0.3),
                        f * flux * 10 ** (-0.4 * rng.normal(0, 0.3, 5)))
            main = (1 - f) * flux
        size = size_for_ci(ci, rng, 'gauss', 1.0, bias=0.04, ci_shift=ci_shift)
        comps.ext(i, cx, cy, main, 'gauss', size, 1.0, rng.uniform(0.4, 1.0),
                  rng.uniform(0, np.pi))
    elif kind == 'diffuse':
        prof = str(rng.choice(['exp', 'gauss']))
        size = size_for_ci(ci, rng, prof, 1.0, bias=0.04, ci_shift=ci_shift)
        comps.ext(i, cx, cy, flux, prof, size, 1.0, rng.uniform(0.3, 1.0),
                  rng.uniform(0, np.pi))
    elif kind == 'galaxy':
        # background galaxy: Sérsic, elongated, redder than the candidates
        n = rng.uniform(1.0, 4.0)
        red = flux * 10 ** (-0.4 * np.array([1.2, 0.9, 0.5, 0.0, -0.4])
                            * rng.uniform(0.3, 1.0))
        red *= flux[REFERENCE_BAND] / red[REFERENCE_BAND]
        size = size_for_ci(ci, rng, 'sersic', n, bias=0.04, ci_shift=ci_shift)
        comps.ext(i, cx, cy, red, 'sersic', size, n, rng.uniform(0.25, 0.9),
                  rng.uniform(0, np.pi))
    else:
        sub = rng.choice(['cosmic', 'hot', 'saturation'], p=[0.5, 0.2, 0.3])
        comps.ext(i, cx, cy, rng.uniform(0.3, 0.8) * flux, 'eff', reff, 3.0,
                  rng.uniform(0.5, 1.0), rng.uniform(0, np.pi))
        if sub == 'saturation':
            d, t = rng.uniform(4.0, 10.0), rng.uniform(0, 2 * np.pi)
            sx, sy = cx + d * np.cos(t), cy + d * np.sin(t)
            comps.point(i, sx, sy, flux * 10 ** (0.4 * rng.uniform(2.0, 4.5)))
            comps.artifact(i, 'saturation', sx, sy)
        else:
            band = int(rng.integers(0, 5))
            if sub == 'hot':
                pixels = [(0, 0)] if rng.uniform() < 0.6 else [(0, 0), (0, 1)]
            else:
                length = rng.integers(1, 6)
                t = rng.uniform(0, 2 * np.pi)
                steps = np.arange(length) - length // 2
                pixels = list(zip(steps * np.sin(t), steps * np.cos(t)))
            peak = flux[band] * rng.uniform(0.1, 0.6)
            amps = peak * rng.uniform(0.3, 1.0, len(pixels))
            comps.artifact(i, str(sub), cx + rng.uniform(-1, 1), cy + rng.uniform(-1, 1),
                           band=band, pixels=pixels, amplitudes=amps)
