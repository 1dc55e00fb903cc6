# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Per-class recipes: which components make up a candidate of each class.

A component is a dict with its centre ``x, y`` (px, relative to the catalog
position), a relative spectral energy distribution ``sed`` (5 numbers; the
candidate is rescaled to its drawn catalog magnitudes afterwards) and an
intrinsic profile ``prof``: an array of rows (flux fraction, variance along
the major axis, variance along the minor axis, position angle), i.e. an MGE
before convolution with the PSF. A point source is a single row of zero
variances.
"""
import numpy as np

from . import calibration as cal
from .profiles import WILSON_W0, exponential_mge, wilson_mge

__all__ = ['draw_candidate', 'RECIPES']

POINT = np.array([[1.0, 0.0, 0.0, 0.0]])

RECIPES = {
    1: (('wilson_round', 1.0),),
    2: (('wilson_elongated', 0.45), ('wilson_lopsided', 0.30), ('wilson_companion', 0.25)),
    3: (('association', 0.75), ('association_chain', 0.25)),
    4: (('star', 0.22), ('star_blend', 0.28), ('background_galaxy', 0.14),
        ('artifact', 0.10), ('diffuse_knot', 0.12), ('star_near_cluster', 0.14)),
}


def wilson_profile(re_px, q=1.0, theta=0.0, w0=None, rng=None):
    """Intrinsic MGE of a Wilson cluster of half-light radius ``re_px``."""
    if w0 is None:
        w0 = WILSON_W0[rng.integers(1, len(WILSON_W0))]
    w, s = wilson_mge(w0)
    # keep the half-light radius along the geometric mean axis
    a2 = (s * re_px / np.sqrt(q)) ** 2
    b2 = (s * re_px * np.sqrt(q)) ** 2
    return np.column_stack([w, a2, b2, np.full(len(w), theta)])


def gaussian_profile(sigma, q=1.0, theta=0.0):
    """A single (elliptical) Gaussian of geometric-mean sigma ``sigma``."""
    return np.array([[1.0, sigma ** 2 / q, sigma ** 2 * q, theta]])


def _sed_jitter(rng, scale=0.15):
    return np.exp(rng.normal(0, scale, 5))


def _blue_sed(rng):
    return np.array([2.5, 1.8, 1.3, 1.0, 0.7]) * _sed_jitter(rng, 0.2)


def _red_sed(rng):
    return np.array([0.15, 0.35, 0.6, 1.0, 1.9]) * _sed_jitter(rng, 0.2)


#: Factor on the Ryon et al. radii, calibrated on the catalog CI distributions
#: (the Ryon sample holds massive, well resolved clusters of two near
#: galaxies; typical catalog clusters are more compact).
#: The log-radius spread around the median is also compressed by
#: `RADIUS_LOG_STRETCH` (the catalog CI distributions are narrower than the
#: Ryon radii imply once the CI selection is applied).
RADIUS_SCALE = {1: 0.55, 2: 0.42}
RADIUS_LOG_STRETCH = 0.7


def _re_px(rng, cls, distance_mpc):
    med = cal.RYON_LOGRE_PC[cls][5]
    log_re = med + RADIUS_LOG_STRETCH * (cal.draw_log_re_pc(rng, cls) - med)
    re_pc = RADIUS_SCALE[cls] * 10 ** log_re
    return max(re_pc / cal.pc_per_pixel(distance_mpc), 0.12)


def _comp(x, y, prof, sed):
    return {'x': float(x), 'y': float(y), 'prof': prof, 'sed': np.asarray(sed, float)}


def draw_candidate(rng, cls, distance_mpc):
    """Components of one candidate of LEGUS class ``cls``.

    Parameters
    ----------
    rng : numpy.random.Generator
    cls : int
    distance_mpc : float
        Distance of the field (sets the cluster radii in px).

    Returns
    -------
    recipe : str
    comps : list of dict
    diffuse_boost : float
        Factor on the local diffuse light (associations sit on diffuse
        emission).
    """
    names, probs = zip(*RECIPES[cls])
    recipe = names[rng.choice(len(names), p=np.array(probs) / np.sum(probs))]
    ones = np.ones(5)
    boost = 1.0
    if recipe == 'wilson_round':
        q = rng.uniform(0.85, 1.0)
        prof = wilson_profile(_re_px(rng, 1, distance_mpc), q, rng.uniform(0, np.pi), rng=rng)
        if q > 0.96:
            prof[:, 2] = prof[:, 1] = np.sqrt(prof[:, 1] * prof[:, 2])
        comps = [_comp(0, 0, prof, ones)]
    elif recipe == 'wilson_elongated':
        re = _re_px(rng, 2, distance_mpc)
        prof = wilson_profile(re, rng.uniform(0.35, 0.75), rng.uniform(0, np.pi), rng=rng)
        comps = [_comp(0, 0, prof, ones)]
    elif recipe == 'wilson_lopsided':
        re = _re_px(rng, 2, distance_mpc)
        theta = rng.uniform(0, 2 * np.pi)
        d = rng.uniform(0.6, 1.5) * re + rng.uniform(0.4, 1.0)
        f = rng.uniform(0.12, 0.3)
        main = wilson_profile(re, rng.uniform(0.65, 1.0), rng.uniform(0, np.pi), rng=rng)
        blob = gaussian_profile(max(re, 0.6) * rng.uniform(0.6, 1.2), rng.uniform(0.4, 1.0),
                                theta)
        comps = [_comp(-f * d * np.cos(theta), -f * d * np.sin(theta), main, ones * (1 - f)),
                 _comp((1 - f) * d * np.cos(theta), (1 - f) * d * np.sin(theta), blob,
                       f * _sed_jitter(rng, 0.25))]
    elif recipe == 'wilson_companion':
        re = _re_px(rng, 2, distance_mpc)
        main = wilson_profile(re, rng.uniform(0.6, 1.0), rng.uniform(0, np.pi), rng=rng)
        d = rng.uniform(1.8, 3.2)
        theta = rng.uniform(0, 2 * np.pi)
        f = rng.uniform(0.1, 0.3)
        sed = _blue_sed(rng) if rng.uniform() < 0.5 else _red_sed(rng)
        comps = [_comp(0, 0, main, ones * (1 - f)),
                 _comp(d * np.cos(theta), d * np.sin(theta), POINT, f * sed)]
    elif recipe in ('association', 'association_chain'):
        boost = rng.uniform(1.5, 4.0)
        n = rng.integers(2, 7)
        flux = np.sort(rng.dirichlet(np.full(n, 1.2)))[::-1]
        spread = rng.uniform(0.5, 2.4)
        if recipe == 'association':
            r = spread * np.sqrt(-2 * np.log(rng.uniform(1e-3, 1, n)))
            ang = rng.uniform(0, 2 * np.pi, n)
        else:
            a0 = rng.uniform(0, np.pi)
            r = np.abs(rng.normal(0, spread * 1.3, n)) + 0.8
            ang = a0 + np.pi * rng.integers(0, 2, n) + rng.normal(0, 0.25, n)
        r[0] = rng.uniform(0, 0.5)
        xs, ys = r * np.cos(ang), r * np.sin(ang)
        f_diff = rng.uniform(0.15, 0.5)
        comps = []
        for k in range(n):
            if rng.uniform() < 0.5:
                prof = POINT
            else:
                prof = wilson_profile(rng.uniform(0.3, 1.2), 1.0, 0.0, rng=rng)
            comps.append(_comp(xs[k], ys[k], prof, (1 - f_diff) * flux[k] * _blue_sed(rng)))
        sig = rng.uniform(1.2, 3.5)
        comps.append(_comp(rng.normal(0, 0.8), rng.normal(0, 0.8),
                           gaussian_profile(sig, rng.uniform(0.4, 1.0), rng.uniform(0, np.pi)),
                           f_diff * _sed_jitter(rng, 0.25)))
    elif recipe == 'star':
        sed = _blue_sed(rng) if rng.uniform() < 0.6 else _red_sed(rng)
        comps = [_comp(0, 0, POINT, sed)]
    elif recipe == 'star_blend':
        n = rng.integers(2, 4)
        comps = [_comp(0, 0, POINT, _blue_sed(rng) if rng.uniform() < 0.6 else _red_sed(rng))]
        for _ in range(n - 1):
            d = rng.uniform(1.0, 3.2)
            a = rng.uniform(0, 2 * np.pi)
            sed = _blue_sed(rng) if rng.uniform() < 0.6 else _red_sed(rng)
            comps.append(_comp(d * np.cos(a), d * np.sin(a), POINT, rng.uniform(0.2, 1.0) * sed))
    elif recipe == 'background_galaxy':
        w, s = exponential_mge()
        re = rng.uniform(1.0, 3.5)
        q = rng.uniform(0.25, 1.0)
        th = rng.uniform(0, np.pi)
        prof = np.column_stack([w, (s * re) ** 2 / q, (s * re) ** 2 * q, np.full(len(w), th)])
        comps = [_comp(0, 0, prof, _red_sed(rng))]
        if rng.uniform() < 0.5:
            comps.append(_comp(0, 0, wilson_profile(0.4 * re, q ** 0.5, th, rng=rng),
                               rng.uniform(0.1, 0.5) * _red_sed(rng)))
    elif recipe == 'artifact':
        # faint point-like source plus cosmic-ray residuals added after the noise
        comps = [_comp(0, 0, POINT, _sed_jitter(rng, 0.6))]
    elif recipe == 'diffuse_knot':
        boost = rng.uniform(1.5, 5.0)
        comps = [_comp(0, 0, gaussian_profile(rng.uniform(0.7, 2.0), rng.uniform(0.4, 1.0),
                                              rng.uniform(0, np.pi)), _sed_jitter(rng, 0.3))]
    elif recipe == 'star_near_cluster':
        d = rng.uniform(2.5, 5.0)
        a = rng.uniform(0, 2 * np.pi)
        comps = [_comp(0, 0, POINT, _blue_sed(rng) if rng.uniform() < 0.6 else _red_sed(rng)),
                 _comp(d * np.cos(a), d * np.sin(a),
                       wilson_profile(rng.uniform(0.8, 3.0), rng.uniform(0.5, 1.0),
                                      rng.uniform(0, np.pi), rng=rng),
                       rng.uniform(0.5, 2.0) * _sed_jitter(rng, 0.3))]
    else:  # pragma: no cover
        raise ValueError(recipe)
    return recipe, comps, boost
