"""Per-class source recipes of popsim.

Every candidate starts from a real LEGUS catalog row of its class (five Vega
magnitudes and CI; table in ``data/legus_targets.npz``).  A recipe draws a
random configuration in units of a scale ``S`` (px); ``S`` is then tuned so
that the noise-free CI of the rendered candidate equals the row's CI, and the
band fluxes are normalised so that the 4 px aperture magnitude plus the
standard aperture correction equals the row's magnitudes.
"""
from functools import lru_cache
from pathlib import Path

import numpy as np

from .optics import ZEROPOINT
from .photometry import aperture_fluxes
from .render import Components, ImageSetup, combine, render_exposures
from .stars import bb_colours, draw_population

__all__ = ['load_targets', 'make_candidate', 'aperture_correction', 'aperture_corrections',
           'RECIPES']

RECIPES = ('cluster', 'elongated', 'lopsided', 'association', 'star',
           'blend', 'galaxy', 'artifact')
_TUNE_M = 32
_CI_OFFSET = {1: 0.05, 2: 0.06, 3: 0.02, 4: 0.05}
_SGRID = np.geomspace(0.04, 10.0, 7)
_REF_SETUP = ImageSetup(np.array([0.80, 0.78, 0.76, 0.74, 0.74]), np.zeros((5, 2)),
                        [np.array([[0.0, 0.0], [0.5, 0.5]])] * 5,
                        [np.array([500.0, 500.0])] * 5)


@lru_cache(maxsize=1)
def load_targets():
    """Real LEGUS target rows per class: dict class -> (n, 6) float array.

    Columns: F275W, F336W, F438W, F555W, F814W Vega mag (NaN = undetected or
    outside the footprint) and CI.
    """
    d = np.load(Path(__file__).with_name('data') / 'legus_targets.npz')
    return {k: d[f'class{k}'].astype(float) for k in (1, 2, 3, 4)}


def _eff_a(reff, eta):
    return reff / np.sqrt(2 ** (1 / (eta - 1)) - 1)


def _eff_radii(rng, n, a, eta, rmax):
    lmax = 1 - (1 + (rmax / a) ** 2) ** (1 - eta)
    u = rng.random(n) * lmax
    return a * np.sqrt((1 - u) ** (1 / (1 - eta)) - 1)


def _ellip(rng, n, a, eta, q, pa, rmax):
    r = _eff_radii(rng, n, a, eta, rmax)
    th = rng.uniform(0, 2 * np.pi, n)
    u, v = r * np.cos(th), q * r * np.sin(th)
    c, s = np.cos(pa), np.sin(pa)
    return u * c - v * s, u * s + v * c


def _measure(comp, setup, fx, fy):
    """Noise-free F555W CI and 4 px aperture fraction of a unit-flux candidate."""
    c0 = 15.0
    shifted = Components()
    for x, y, f in comp.p:
        shifted.add_points(x + c0 + fx, y + c0 + fy, f)
    for (sx, sy, sfl, kind, a, eta, q, pa) in comp.s:
        shifted.add_smooth(sx + c0 + fx, sy + c0 + fy, sfl, kind, a, eta, q, pa)
    ex = render_exposures(shifted, 0.0, 0.0, _TUNE_M, setup, bands=[3])[3]
    img = combine(ex, setup.dithers[3])
    f1, f3, f4 = aperture_fluxes(img, c0 + fx, c0 + fy)
    tot = _total(comp)[3]
    ci = -2.5 * np.log10(f1 / f3) if f1 > 0 and f3 > 0 else np.nan
    return ci, f4 / tot


def _total(comp):
    t = np.zeros(5)
    for _, _, f in comp.p:
        t += f.sum(axis=0)
    for s in comp.s:
        t += s[2]
    return t


@lru_cache(maxsize=1)
def _ref_fraction():
    """4 px aperture fraction (F555W) of the reference cluster (EFF, Reff 1 px, eta 1.5)."""
    comp = Components()
    comp.add_smooth(0, 0, np.ones(5), 0, _eff_a(1.0, 1.5), 1.5)
    return _measure(comp, _REF_SETUP, 0.0, 0.0)[1]


def aperture_correction():
    """Aperture correction (mag) added to 4 px aperture magnitudes.

    It is ``-2.5 log10`` of the fraction of the light of a reference cluster
    (EFF profile, Reff = 1 px, eta = 1.5, typical blur) inside 4 px with the
    7-9 px annulus background, in F555W; used for all bands, like the
    average aperture corrections of the LEGUS catalogs.

    Returns
    -------
    float
        Positive number of magnitudes (total = aperture mag - correction).
    """
    return float(-2.5 * np.log10(_ref_fraction()))


def _star_temp(rng, n):
    hot = rng.random(n) < 0.6
    return np.where(hot, rng.uniform(9000, 35000, n), rng.uniform(3500, 5500, n))


# --- recipes: return build(S) -> Components with unit F555W flux --------------

def _cluster_builder(rng, cls, row, distance_mpc, recipe):
    uv = row[1] - row[3] if np.isfinite(row[1]) else 0.0
    if cls == 3:
        log_age = np.clip(6.9 + 0.5 * (uv + 1.1) + rng.normal(0, 0.2), 6.3, 7.6)
    else:
        log_age = np.clip(7.6 + 1.0 * (uv + 0.3) + rng.normal(0, 0.3), 6.3, 9.5)
    mv = row[3] - 5 * np.log10(distance_mpc * 1e5)
    lv = 10 ** (-0.4 * (mv - 4.83))
    pop = draw_population(lv, log_age, rng, n_individual=60 if cls == 3 else 40)
    k = len(pop.star_flux)
    eta = float(np.clip(np.interp(rng.random(), _ETA_P, _ETA[1 if cls == 1 else 2]), 1.2, 3.5))
    pa = rng.uniform(0, np.pi)
    rmax = 14.0
    parts = []          # (weight, unit x, unit y, eff unit reff, eta, q, stars index mask)
    if recipe == 'cluster':
        q = rng.uniform(0.75, 1.0)
        parts.append((1.0, 0.0, 0.0, 1.0, eta, q, np.ones(k, bool)))
    elif recipe == 'elongated':
        q = rng.uniform(0.3, 0.7)
        parts.append((1.0, 0.0, 0.0, 1.0, eta, q, np.ones(k, bool)))
    elif recipe == 'lopsided':
        f2 = rng.uniform(0.2, 0.45)
        sel = rng.random(k) < f2
        d = rng.uniform(0.8, 1.8)
        ang = rng.uniform(0, 2 * np.pi)
        parts.append((1 - f2, 0.0, 0.0, 1.0, eta, rng.uniform(0.6, 1.0), ~sel))
        parts.append((f2, d * np.cos(ang), d * np.sin(ang), rng.uniform(0.3, 0.7), eta,
                      rng.uniform(0.5, 1.0), sel))
    else:  # association
        nc = rng.integers(3, 8)
        fenv = rng.uniform(0.35, 0.6)
        w = rng.dirichlet(np.ones(nc)) * (1 - fenv)
        which = rng.choice(nc + 1, size=k, p=np.concatenate([[fenv], w]))
        parts.append((fenv, 0.0, 0.0, 1.6, 1.3, rng.uniform(0.5, 1.0), which == 0))
        cxy = rng.normal(0, 0.8, (nc, 2))
        for i in range(nc):
            parts.append((w[i], cxy[i, 0], cxy[i, 1], rng.uniform(0.08, 0.25), 2.0, 1.0,
                          which == i + 1))
    # unit-scale star positions
    sx, sy = np.zeros(k), np.zeros(k)
    for (_, cx, cy, reff, et, q, sel) in parts:
        n = int(sel.sum())
        if n:
            ux, uy = _ellip(rng, n, _eff_a(reff, et), et, q, pa, rmax)
            sx[sel], sy[sel] = ux + cx, uy + cy
    smooth = pop.smooth_flux
    tot_v = pop.star_flux[:, 3].sum() + smooth[3]
    # catalog position: light centroid, or the main peak
    wts = [p[0] * smooth[3] for p in parts]
    cxs = np.array([p[1] for p in parts])
    cys = np.array([p[2] for p in parts])
    cenx = (np.sum(wts * cxs) + np.sum(pop.star_flux[:, 3] * sx)) / tot_v
    ceny = (np.sum(wts * cys) + np.sum(pop.star_flux[:, 3] * sy)) / tot_v
    if recipe in ('lopsided', 'association') and rng.random() < 0.4:
        j = int(np.argmax(wts[1:])) + 1 if len(parts) > 1 else 0
        cenx, ceny = cxs[j], cys[j]
    jit = rng.normal(0, 0.08, 2)

    def build(s):
        comp = Components()
        comp.add_points(s * (sx - cenx) + jit[0], s * (sy - ceny) + jit[1], pop.star_flux / tot_v)
        for (wt, cx, cy, reff, et, q, _sel) in parts:
            comp.add_smooth(s * (cx - cenx) + jit[0], s * (cy - ceny) + jit[1],
                            wt * smooth / tot_v, 0, _eff_a(reff, et) * s, et, q, pa)
        return comp
    return build, {'log_age': log_age, 'mass': pop.mass, 'eta': eta, 'n_stars': k}


def _blend_builder(rng):
    n = rng.integers(2, 5)
    fl = np.concatenate([[1.0], rng.uniform(0.15, 1.0, n - 1)])
    col = bb_colours(_star_temp(rng, n)) * fl[:, None]
    r = np.concatenate([[0.0], rng.uniform(0.5, 1.2, n - 1)])
    th = rng.uniform(0, 2 * np.pi, n)
    x, y = r * np.cos(th), r * np.sin(th)
    if rng.random() < 0.6:
        cx, cy = np.sum(fl * x) / fl.sum(), np.sum(fl * y) / fl.sum()
    else:
        cx, cy = 0.0, 0.0
    jit = rng.normal(0, 0.08, 2)
    tv = col[:, 3].sum()

    def build(s):
        comp = Components()
        comp.add_points(s * (x - cx) + jit[0], s * (y - cy) + jit[1], col / tv)
        return comp
    return build, {'n_stars': int(n)}


def _galaxy_builder(rng):
    kind = int(rng.random() < 0.6)
    eta = rng.uniform(1.3, 2.2)
    q = rng.uniform(0.3, 1.0)
    pa = rng.uniform(0, np.pi)
    col = bb_colours(rng.uniform(3800, 7000))
    col = col / col[3]
    jit = rng.normal(0, 0.1, 2)

    def build(s):
        comp = Components()
        a = s / 1.678 if kind == 1 else _eff_a(s, eta)
        comp.add_smooth(jit[0], jit[1], col, kind, a, eta, q, pa)
        return comp
    return build, {}


def _star_builder(rng):
    col = bb_colours(_star_temp(rng, 1))[0]
    jit = rng.normal(0, 0.06, 2)

    def build(s):
        comp = Components()
        comp.add_points([jit[0]], [jit[1]], (col / col[3])[None])
        return comp
    return build, {}


def _ryon_eta():
    # Real EFF slopes (Ryon et al. 2017, GALFIT on F555W): the 5, 20, 35,
    # 50, 65, 80, 95 percentiles of the 226 class 1 and 141 class 2 fitted
    # clusters of NGC 628-c and NGC 1313 pooled; drawn by inverse CDF.
    c1 = np.array([1.01, 1.07, 1.19, 1.39, 1.56, 1.92, 3.18])
    c2 = np.array([1.01, 1.03, 1.13, 1.29, 1.58, 2.26, 3.91])
    return {1: c1, 2: c2}


_ETA_P = np.array([0.05, 0.20, 0.35, 0.50, 0.65, 0.80, 0.95])


_ETA = _ryon_eta()


def _fill_mags(row, cls, rng):
    """Replace undetected/outside-footprint magnitudes by plausible faint ones."""
    row = row.copy()
    tg = load_targets()[cls]
    for b in range(5):
        if not np.isfinite(row[b]):
            ok = np.isfinite(tg[:, b])
            c = rng.choice(tg[ok, b] - tg[ok, 3])
            row[b] = row[3] + c + 0.7
    return row


def make_candidate(cls, rng, setup, distance_mpc, fx, fy, row=None):
    """Draw one candidate of class ``cls`` around (0, 0).

    Parameters
    ----------
    cls : int
        LEGUS class 1-4.
    rng : numpy.random.Generator
    setup : ImageSetup
        Settings of the image it lies in (used to tune the CI).
    distance_mpc : float
        Galaxy distance.
    fx, fy : float
        Sub-pixel fraction of the catalog position (for the tuning render).
    row : ndarray, optional
        Target catalog row; drawn from the class table when omitted.

    Returns
    -------
    comp : Components
        Sources in e-/s with positions relative to the catalog position.
    artifact : tuple or None
        ``(sigma, flux(5), q, pa)`` of a real-space artifact, else None.
    info : dict
        Recipe name, target row, tuned scale and extra parameters.
    """
    if row is None:
        tg = load_targets()[cls]
        row = tg[rng.integers(len(tg))]
    row = _fill_mags(np.asarray(row, float), cls, rng)
    # empirical offset: on the final noisy images the annulus median picks up
    # neighbours and galaxy structure, which lowers the measured CI by
    # 0.02-0.06 mag relative to the noise-free tuning render (validated with
    # scripts/validate_popsim.py)
    ci_t = row[5] + _CI_OFFSET[cls]
    ci_star = _star_ci()
    flux_t = 10 ** (-0.4 * (row[:5] - ZEROPOINT))
    if cls == 4 and ci_t < ci_star - 0.05:
        return (None, _artifact(rng, ci_t, flux_t),
                {'recipe': 'artifact', 'row': row, 'scale': np.nan})
    if cls == 1:
        recipe = 'cluster'
    elif cls == 2:
        recipe = 'elongated' if rng.random() < 0.5 else 'lopsided'
    elif cls == 3:
        recipe = 'association'
    elif ci_t < ci_star + 0.04:
        recipe = 'star'
    else:
        recipe = 'blend' if rng.random() < 0.65 else 'galaxy'
    if recipe in ('cluster', 'elongated', 'lopsided', 'association'):
        build, extra = _cluster_builder(rng, cls, row, distance_mpc, recipe)
    elif recipe == 'blend':
        build, extra = _blend_builder(rng)
    elif recipe == 'galaxy':
        build, extra = _galaxy_builder(rng)
    else:
        build, extra = _star_builder(rng)
    if recipe == 'star':
        s_best = 0.0
        ci, frac = _measure(build(0.0), setup, fx, fy)
    else:
        cis, fracs = [], []
        for s in _SGRID:
            ci, frac = _measure(build(s), setup, fx, fy)
            cis.append(ci)
            fracs.append(frac)
        cis = np.nan_to_num(np.array(cis), nan=-9.0)
        lg = np.log(_SGRID)
        above = np.nonzero(cis >= ci_t)[0]
        if len(above) == 0:            # target not reachable: most extended
            j = int(np.argmax(cis))
            ls, frac = lg[j], fracs[j]
        elif above[0] == 0:
            ls, frac = lg[0], fracs[0]
        else:                          # first crossing, linear in log S
            j = above[0]
            t = (ci_t - cis[j - 1]) / max(cis[j] - cis[j - 1], 1e-9)
            ls = lg[j - 1] + t * (lg[j] - lg[j - 1])
            frac = fracs[j - 1] + t * (fracs[j] - fracs[j - 1])
        s_best = float(np.exp(ls))
    comp = build(s_best)
    tot = _total(comp)
    fr = _band_fractions(comp, setup, fx, fy)
    scale = flux_t * (_ref_fractions() / np.maximum(fr, 0.05)) / np.maximum(tot, 1e-30)
    out = Components()
    for x, y, f in comp.p:
        out.add_points(x, y, f * scale)
    for (sx, sy, sfl, kind, a, eta, q, pa) in comp.s:
        out.add_smooth(sx, sy, sfl * scale, kind, a, eta, q, pa)
    info = {'recipe': recipe, 'row': row, 'scale': s_best}
    info.update(extra)
    return out, None, info


def _band_fractions(comp, setup, fx, fy):
    """Noise-free 4 px aperture fraction (annulus-subtracted) in every band."""
    c0 = 15.0
    shifted = Components()
    for x, y, f in comp.p:
        shifted.add_points(x + c0 + fx, y + c0 + fy, f)
    for (sx, sy, sfl, kind, a, eta, q, pa) in comp.s:
        shifted.add_smooth(sx + c0 + fx, sy + c0 + fy, sfl, kind, a, eta, q, pa)
    ex = render_exposures(shifted, 0.0, 0.0, _TUNE_M, setup)
    tot = np.maximum(_total(comp), 1e-30)
    return np.array([aperture_fluxes(combine(ex[b], setup.dithers[b]), c0 + fx, c0 + fy,
                                     radii=(4.0,))[0] / tot[b] for b in range(5)])


@lru_cache(maxsize=1)
def _ref_fractions():
    comp = Components()
    comp.add_smooth(0, 0, np.ones(5), 0, _eff_a(1.0, 1.5), 1.5)
    return _band_fractions(comp, _REF_SETUP, 0.0, 0.0)


def aperture_corrections():
    """Per-band aperture corrections (mag), F275W ... F814W.

    ``-2.5 log10`` of the 4 px (7-9 px annulus) light fraction of the
    reference cluster (EFF, Reff = 1 px, eta = 1.5, typical blur) in each
    band: total magnitude = 4 px aperture magnitude - correction.

    Returns
    -------
    numpy.ndarray
        Five positive numbers.
    """
    return -2.5 * np.log10(_ref_fractions())


@lru_cache(maxsize=1)
def _star_ci():
    comp = Components()
    comp.add_points([0.0], [0.0], np.ones((1, 5)))
    return _measure(comp, _REF_SETUP, 0.0, 0.0)[0]


def _artifact_image(sigma, q, pa, fx, fy, size=32):
    c = np.arange(size) - size // 2
    o = (np.arange(3) + 0.5) / 3 - 0.5
    x = (c[None, :, None, None] + o[None, None, None, :]) - fx
    y = (c[:, None, None, None] + o[None, None, :, None]) - fy
    cs, sn = np.cos(pa), np.sin(pa)
    u, v = x * cs + y * sn, (-x * sn + y * cs) / q
    g = np.exp(-0.5 * (u ** 2 + v ** 2) / sigma ** 2).mean(axis=(2, 3))
    return g / g.sum()


def _artifact(rng, ci_t, flux_t):
    """Cosmic-ray residual / hot-pixel group: sharp, not PSF-convolved."""
    q = rng.uniform(0.3, 1.0)
    pa = rng.uniform(0, np.pi)
    sig = np.geomspace(0.15, 1.6, 10)
    cis = []
    for s in sig:
        img = _artifact_image(s, q, pa, 0.0, 0.0)
        f1, f3 = aperture_fluxes(img, 16.0, 16.0, radii=(1.0, 3.0))
        cis.append(-2.5 * np.log10(f1 / f3))
    sigma = float(np.exp(np.interp(ci_t, np.maximum.accumulate(cis), np.log(sig))))
    bands = rng.random(5) < 0.5
    bands[3] = True
    return sigma, flux_t * bands, q, pa
