"""The ``kingsim`` scene and candidate generator (see README.rst)."""


import numpy as np
from astropy.table import QTable
from scipy import fft as sfft
from scipy.ndimage import convolve

from ._tables import (
    _BIG,
    _CLASS_CENTROID_ERR,
    _DETLIM,
    _EXPTIME,
    _FULL_WELL,
    _NEXP,
    _OS,
    _READ_NOISE,
    _ROWS,
    _RYON,
    _SOLVE,
    _STAMP,
    PIXEL_SCALE,
)
from .background import _background, _saturate
from .photometry import APCOR, BANDS, ZEROPOINTS, ci_and_flux, get_apertures
from .psf import _PSF
from .recipes import _RECIPES, _Class4, _star_colour
from .shapes import _king, _points, _spikes, _subgrid

__all__ = ["simulate_candidates", "make_scene", "BANDS", "PIXEL_SCALE"]


# --------------------------------------------------------------- the candidate
def _target_mags(row, rng):
    mags = row[:5].copy()
    bad = mags > 60
    mags[bad] = _DETLIM[bad] + rng.uniform(0.3, 1.5, bad.sum())
    return mags


def _centroid_offset(img, cx, cy):
    """Gaussian-windowed (sigma 2 px) centroid offset, as a detection code gives."""
    yy, xx = np.indices(img.shape)
    w = np.exp(-0.5 * ((xx - cx) ** 2 + (yy - cy) ** 2) / 2.0**2) * np.clip(img, 0, None)
    tot = w.sum()
    if tot <= 0:
        return 0.0, 0.0
    return (w * (xx - cx)).sum() / tot, (w * (yy - cy)).sum() / tot


_PC_PER_PX_PER_MPC = PIXEL_SCALE / 206264.806 * 1e6  # 0.192 pc per px at 1 Mpc
_DIST_RANGE = (3.0, 18.0)  # LEGUS galaxy distances, Mpc


def _ryon_distance(cls, reff_px, rng, tries=30):
    """A real Ryon et al. (2017) radius and a LEGUS distance giving ``reff_px``.

    Radii of the same visual class are drawn until the implied distance lies
    in 3-18 Mpc; if none does in ``tries`` draws, the closest is clipped to
    the range (then the pair is only approximately consistent).
    """
    pool = _RYON[_RYON[:, 2] == cls, 0]
    r = rng.choice(pool, tries)
    d = r / (reff_px * _PC_PER_PX_PER_MPC)
    ok = (d >= _DIST_RANGE[0]) & (d <= _DIST_RANGE[1])
    if ok.any():
        i = np.flatnonzero(ok)[0]
        return float(r[i]), float(d[i])
    i = np.argmin(np.abs(np.log(d / np.sqrt(_DIST_RANGE[0] * _DIST_RANGE[1]))))
    return float(r[i]), float(np.clip(d[i], *_DIST_RANGE))


def _ci_curve(recipe, psf, grid, cx, cy, err, n=5):
    """Noiseless F555W CI of a recipe on a log grid of its scale.

    The CI is measured where the catalog will put the object: at the
    windowed light centroid plus the catalog position error ``err`` (px).
    """
    scales = np.geomspace(recipe.lo, recipe.hi, n)
    cis = []
    for s in scales:
        v = psf.convolve(recipe.intrinsic(recipe.components(grid, cx, cy, s), 3))
        dx, dy = _centroid_offset(v, cx, cy)
        f1, f3, _ = ci_and_flux(v, get_apertures(cx + dx + err[0], cy + dy + err[1], v.shape))
        cis.append(2.5 * np.log10(max(f3, 1e-12) / max(f1, 1e-12)))
    cis = np.maximum.accumulate(np.array(cis))  # enforce monotonic
    return scales, cis + np.arange(cis.size) * 1e-6


def _build_candidate(cls, psfs, frac, rng):
    """Solve a candidate's scale and per-band amplitudes.

    Returns the five noiseless pixel stamps (``_STAMP`` px, source at pixel
    ``_STAMP // 2 + frac``), the windowed V centroid offset and metadata.
    """
    row = _ROWS[cls][rng.integers(len(_ROWS[cls]))]
    mags = _target_mags(row, rng)
    ci_target = row[5]
    recipe = _RECIPES[cls](rng)
    # solve the size on a small stamp (only r < 9 px matters for the CI)
    sgrid = _subgrid(_SOLVE)
    scx, scy = _SOLVE // 2 + frac[0], _SOLVE // 2 + frac[1]
    err = rng.normal(0, _CLASS_CENTROID_ERR[int(cls)], 2)
    scales, cis = _ci_curve(recipe, psfs[3], sgrid, scx, scy, err)
    for alt in ("blend", "galaxy"):
        if cls == 4 and ci_target > cis[-1] + 0.03 and recipe.kind != alt:
            # this object cannot be that extended: a (wider) blend, else a galaxy
            recipe = _Class4(rng, kind=alt)
            scales, cis = _ci_curve(recipe, psfs[3], sgrid, scx, scy, err)
    scale = float(np.exp(np.interp(ci_target, cis, np.log(scales))))
    reff_pc, dist = (_ryon_distance(cls, scale, rng) if cls in (1, 2) else (np.nan, np.nan))
    grid = _subgrid(_STAMP)
    cx = _STAMP // 2 + frac[0]
    cy = _STAMP // 2 + frac[1]
    ap = get_apertures(cx, cy, (_STAMP, _STAMP))
    comps = recipe.components(grid, cx, cy, scale)
    stamps = np.empty((5, _STAMP, _STAMP))
    n = _STAMP * _OS
    hats = [sfft.rfft2(c, workers=1) for c in comps] if len(comps) < 5 else None
    for b in range(5):
        if hats is None:
            img = psfs[b].convolve(recipe.intrinsic(comps, b))
        else:
            img = psfs[b].convolve_hat(recipe.intrinsic(hats, b), n)
        _, _, f4 = ci_and_flux(img, ap)
        want = 10 ** (-0.4 * (mags[b] - ZEROPOINTS[b] - APCOR[b]))
        stamps[b] = img * want / max(f4, 1e-3 * img.sum(), 1e-12)
    # windowed centroid of the V light (what a detection code would report)
    dx, dy = _centroid_offset(stamps[3], cx, cy)
    meta = {"kind": getattr(recipe, "kind", f"class{cls}"), "scale": scale,
            "ci_target": ci_target, "mag555": mags[3], "mags": mags,
            "reff_pc": reff_pc, "distance_mpc": dist}
    return stamps, (dx + err[0], dy + err[1]), meta, recipe


def _render_unit(psf_list, unit, fluxes):
    """Five-band pixel stamps of one morphology with per-band total fluxes."""
    hat = sfft.rfft2(unit, workers=1)
    n = unit.shape[0]
    return np.stack([f * p.convolve_hat(hat, n) for f, p in zip(fluxes, psf_list)])


_TAPERS = {}


def _taper(s):
    """Radial window: 1 inside 0.6 S/2, cosine fade to 0 at S/2 (hides stamp edges)."""
    if s not in _TAPERS:
        yy, xx = np.indices((s, s))
        r = np.hypot(xx - s // 2, yy - s // 2) / (s / 2)
        t = np.clip((r - 0.6) / 0.4, 0, 1)
        _TAPERS[s] = np.cos(0.5 * np.pi * t) ** 2
    return _TAPERS[s]


def _add_stamp(images, stamp_imgs, x0, y0):
    """Add (5, S, S) stamps with lower-left pixel (x0, y0) into (5, H, W)."""
    _, h, w = images.shape
    s = stamp_imgs.shape[-1]
    stamp_imgs = stamp_imgs * _taper(s)
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + s, h), min(x0 + s, w)
    if ye <= ys or xe <= xs:
        return
    images[:, ys:ye, xs:xe] += stamp_imgs[:, ys - y0:ye - y0, xs - x0:xe - x0]


# ----------------------------------------------------------------- the scene
def _as_rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _scene(shape, classes, rng, n_field=None):
    ny, nx = shape
    psfs = [_PSF(b, rng) for b in range(5)]
    exptime = _EXPTIME * rng.uniform(0.8, 1.3)
    model = np.zeros((5,) + shape)
    half = _STAMP // 2
    rows, target_mags = [], []
    # candidate positions: uniform, at least 6 px apart, 20 px from the edges
    pos = []
    for _ in classes:
        for _try in range(50):
            p = rng.uniform([20, 20], [nx - 21, ny - 21])
            if all(np.hypot(*(p - q)) > 6 for q in pos):
                break
        pos.append(p)
    for cls, (x, y) in zip(classes, pos):
        ix, iy = int(np.floor(x)), int(np.floor(y))
        stamps, (dx, dy), meta, recipe = _build_candidate(cls, psfs, (x - ix, y - iy), rng)
        _add_stamp(model, stamps, ix - half, iy - half)
        if meta["kind"] == "spike":
            _bright_star(model, psfs, rng, x, y, exptime)
        if meta["kind"] == "artifact":
            _hot_pixels(model, rng, x, y, stamps)
        rows.append((x + dx, y + dy, int(cls),
                     meta["kind"], meta["ci_target"], meta["mag555"], meta["scale"],
                     meta["reff_pc"], meta["distance_mpc"]))
        target_mags.append(meta["mags"])
    # field population: stars, faint clusters, bright foreground stars
    area = nx * ny / 512.0**2
    nf = rng.poisson(260 * area * rng.uniform(0.5, 1.8)) if n_field is None else n_field
    sgrid = _subgrid(32)
    for _ in range(nf):
        x, y = rng.uniform(-10, nx + 10), rng.uniform(-10, ny + 10)
        ix, iy = int(np.floor(x)), int(np.floor(y))
        u = rng.random()
        vmag = 20.5 + np.log10(1 + u * (10 ** (0.35 * 7.0) - 1)) / 0.35  # dN/dm ~ 10^0.35m
        if rng.random() < 0.15:  # faint compact cluster
            col = rng.normal([0.3, 0.2, 0.4, 0, -0.6], 0.3)
            col[3] = 0
            unit = _king(sgrid, 16 + x - ix, 16 + y - iy, rng.uniform(0.3, 2.0),
                         rng.uniform(0.7, 1.8), rng.uniform(0.6, 1), rng.uniform(0, np.pi))
            vmag = rng.uniform(23.5, 25.5)
            flux = 10 ** (-0.4 * (vmag + col - ZEROPOINTS))
            _add_stamp(model, _render_unit(psfs, unit, flux), ix - 16, iy - 16)
        else:
            col = _star_colour(rng)
            flux = 10 ** (-0.4 * (vmag + col - ZEROPOINTS))
            st = np.stack([f * p.point(x - ix, y - iy) for f, p in zip(flux, psfs)])
            _add_stamp(model, st, ix - 16, iy - 16)
    for _ in range(rng.poisson(0.4 * area)):
        _bright_star(model, psfs, rng, rng.uniform(0, nx), rng.uniform(0, ny), exptime, False)
    images = _background(shape, rng) + model
    # saturation, noise (Poisson + read, Gaussian), drizzle-correlated
    a = rng.uniform(0.2, 0.35)
    k1 = np.array([a, 1.0, a])
    kern = np.outer(k1, k1)
    kern /= np.sqrt((kern**2).sum())
    out = {}
    for b in range(5):
        t = exptime[b]
        img = _saturate(images[b], _FULL_WELL / (t / _NEXP))
        var = (np.clip(img, 0, None) * t + _NEXP * _READ_NOISE**2 + 0.0005 * t) / t**2
        noise = convolve(rng.normal(size=shape), kern, mode="wrap")
        img = img + np.sqrt(var) * noise
        _cosmic_residuals(img, rng, area)
        out[BANDS[b]] = img.astype(np.float32)
    names = ("x", "y", "true_class", "kind", "ci_target", "mag555", "scale", "reff_pc",
             "distance_mpc")
    dtype = (float, float, int, str, float, float, float, float, float)
    truth = QTable(rows=rows, names=names, dtype=dtype) if rows else QTable(names=names,
                                                                            dtype=dtype)
    truth["mag_target"] = np.array(target_mags).reshape(-1, 5)
    return out, truth


def _bright_star(model, psfs, rng, x, y, exptime, offset=True):
    """A bright (often saturated) star with diffraction spikes.

    Placed 7-15 px from ``(x, y)`` when it decorates a class-4 candidate.
    """
    half = _BIG // 2
    if offset:
        d, a = rng.uniform(7, 15), rng.uniform(0, 2 * np.pi)
        x, y = x + d * np.cos(a), y + d * np.sin(a)
    grid = _subgrid(_BIG)
    ix, iy = int(np.floor(x)), int(np.floor(y))
    cx, cy = half + x - ix, half + y - iy
    vmag = rng.uniform(15.5, 18.5)
    col = rng.normal([1.0, 0.6, 0.5, 0, -0.6], 0.3)
    col[3] = 0
    unit = 0.985 * _points(grid, [cx], [cy], [1.0]) + 0.015 * _spikes(
        grid, cx, cy, rng.uniform(0, np.pi / 2), rng.uniform(4, 10))
    flux = 10 ** (-0.4 * (vmag + col - ZEROPOINTS))
    _add_stamp(model, _render_unit(psfs, unit, flux), ix - half, iy - half)


def _hot_pixels(model, rng, x, y, stamps):
    """Cosmic-ray residual / hot-pixel cluster on a candidate (1-2 bands)."""
    peak = stamps.max(axis=(1, 2))
    for b in rng.choice(5, size=rng.integers(1, 3), replace=False):
        for _ in range(rng.integers(1, 5)):
            px = int(np.floor(x + rng.uniform(-2, 2.5)))
            py = int(np.floor(y + rng.uniform(-2, 2.5)))
            if 0 <= py < model.shape[1] and 0 <= px < model.shape[2]:
                model[b, py, px] += peak[b] * rng.uniform(0.3, 1.5)


def _cosmic_residuals(img, rng, area):
    """Residual cosmic rays missed by drizzle's rejection (single band)."""
    ny, nx = img.shape
    for _ in range(rng.poisson(4 * area)):
        x, y = rng.integers(0, nx), rng.integers(0, ny)
        amp = rng.uniform(0.3, 4.0)
        ln = rng.integers(1, 4)
        a = rng.uniform(0, np.pi)
        for i in range(ln):
            px, py = int(x + i * np.cos(a)), int(y + i * np.sin(a))
            if 0 <= px < nx and 0 <= py < ny:
                img[py, px] += amp * rng.uniform(0.5, 1)


# --------------------------------------------------------------------- API
def make_scene(shape=(512, 512), n_sources=150, seed=None):
    """Simulate a LEGUS-like five-band drizzled field with candidates.

    Parameters
    ----------
    shape : tuple of int, optional
        Image shape ``(ny, nx)``, at least 64 x 64.
    n_sources : int, optional
        Number of cluster candidates (classes drawn uniformly from 1-4). Field
        stars, faint clusters, bright stars, galaxy light, noise and
        artifacts are added on top; they are not in ``truth``.
    seed : int, numpy.random.Generator or None, optional
        Random seed or generator.

    Returns
    -------
    images : dict
        Band name (F275W, F336W, F438W, F555W, F814W) -> 2-D float32 array,
        e-/s, all on one grid.
    truth : astropy.table.QTable
        One row per candidate: ``x``, ``y`` (0-based catalog-like centroid),
        ``true_class`` (1-4), ``kind`` (recipe), ``ci_target`` and
        ``mag555`` (the LEGUS catalog values the object was made to match),
        ``mag_target`` (its five target magnitudes; non-detections replaced
        by faint values),
        ``scale`` (size parameter, px; Reff for King clusters), and for
        classes 1-2 ``reff_pc`` (a real Ryon et al. 2017 radius) and
        ``distance_mpc`` (3-18 Mpc) consistent with ``scale`` (NaN otherwise).
    """
    rng = _as_rng(seed)
    shape = tuple(int(v) for v in shape)
    if min(shape) < 64:
        raise ValueError("shape must be at least 64 x 64")
    classes = rng.integers(1, 5, int(n_sources))
    return _scene(shape, classes, rng)


def simulate_candidates(n_per_class, seed=None, return_truth=False):
    """Simulate class-balanced LEGUS-like candidate cutouts.

    Candidates are cut, with the LEGUS cutout convention, from simulated
    384 x 384 fields holding 40 candidates each plus field stars, galaxy
    light, bright stars, noise and artifacts (:func:`make_scene`).

    Parameters
    ----------
    n_per_class : int or sequence of 4 int
        Number of candidates per class (1, 2, 3, 4).
    seed : int, numpy.random.Generator or None, optional
        Random seed or generator.
    return_truth : bool, optional
        Also return a table with, per cutout, the catalog position inside
        the cutout (``xc``, ``yc``) and the :func:`make_scene` truth columns.

    Returns
    -------
    cutouts : numpy.ndarray
        ``(N, 5, 32, 32)`` float32, e-/s, bands F275W, F336W, F438W, F555W,
        F814W.
    labels : numpy.ndarray
        ``(N,)`` int, classes 1-4, shuffled.
    truth : astropy.table.QTable
        Only with ``return_truth``.
    """
    rng = _as_rng(seed)
    counts = np.broadcast_to(np.asarray(n_per_class, dtype=int), (4,))
    if np.any(counts < 0):
        raise ValueError("n_per_class must be non-negative")
    labels = np.repeat(np.arange(1, 5), counts)
    rng.shuffle(labels)
    per_scene = 40
    cut, lab, tabs = [], [], []
    for start in range(0, labels.size, per_scene):
        classes = labels[start:start + per_scene]
        images, truth = _scene((384, 384), classes, rng)
        cube = np.stack([images[b] for b in BANDS])
        for row in truth:
            ix, iy = int(np.floor(row["x"])), int(np.floor(row["y"]))
            cut.append(cube[:, iy - 15:iy + 17, ix - 15:ix + 17])
            lab.append(int(row["true_class"]))
        truth["xc"] = 15 + truth["x"] - np.floor(truth["x"])
        truth["yc"] = 15 + truth["y"] - np.floor(truth["y"])
        tabs.append(truth)
    if not cut:
        out = (np.zeros((0, 5, 32, 32), np.float32), np.zeros(0, int))
        return out + (QTable(),) if return_truth else out
    out = (np.stack(cut).astype(np.float32), np.array(lab, dtype=int))
    if return_truth:
        from astropy.table import vstack
        return out + (vstack(tabs),)
    return out
