"""Public API of popsim: candidate cutouts and multi-band scenes."""
import numpy as np
from astropy.table import QTable

from .background import draw_background
from .optics import BANDS, ZEROPOINT
from .recipes import _artifact_image, make_candidate
from .render import Components, add_noise, combine, draw_setup, render_exposures
from .stars import bb_colours

__all__ = ['simulate_candidates', 'make_scene']

_FRAME = 48
_TILE = 32
_MARGIN = 8


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _distance(rng):
    return float(np.exp(rng.uniform(np.log(3.0), np.log(18.0))))


def _field_stars(rng, comp, x0, y0, w, h, density, avoid=None, rmin=3.0):
    """Resolved field stars (luminosity function ~10^(0.3 m), V = 20.5-27.5)."""
    n = rng.poisson(density * w * h)
    if n == 0:
        return
    x = rng.uniform(x0, x0 + w, n)
    y = rng.uniform(y0, y0 + h, n)
    if avoid is not None:
        keep = np.hypot(x - avoid[0], y - avoid[1]) > rmin
        x, y = x[keep], y[keep]
        n = len(x)
    u = rng.random(n)
    a, b = 10 ** (0.3 * 20.5), 10 ** (0.3 * 27.5)
    mag = np.log10(a + u * (b - a)) / 0.3
    hot = rng.random(n) < 0.55
    t = np.where(hot, rng.uniform(8000, 35000, n), rng.uniform(3400, 5200, n))
    fl = bb_colours(t) * (10 ** (-0.4 * (mag - ZEROPOINT[3])))[:, None]
    comp.add_points(x, y, fl)


def _neighbour_clusters(rng, comp, x0, y0, w, h, n, avoid=None):
    for _ in range(n):
        for _try in range(10):
            x, y = rng.uniform(x0, x0 + w), rng.uniform(y0, y0 + h)
            if avoid is None or np.hypot(x - avoid[0], y - avoid[1]) > 6:
                break
        mag = rng.uniform(21.0, 24.5)
        col = bb_colours(rng.uniform(5000, 25000))
        eta = rng.uniform(1.3, 2.5)
        reff = rng.uniform(0.3, 2.5)
        a = reff / np.sqrt(2 ** (1 / (eta - 1)) - 1)
        comp.add_smooth(x, y, col * 10 ** (-0.4 * (mag - ZEROPOINT[3])), 0, a, eta,
                        rng.uniform(0.5, 1), rng.uniform(0, np.pi))


def _shift(comp, dx, dy):
    out = Components()
    for x, y, f in comp.p:
        out.add_points(x + dx, y + dy, f)
    for (sx, sy, sfl, kind, a, eta, q, pa) in comp.s:
        out.add_smooth(sx + dx, sy + dy, sfl, kind, a, eta, q, pa)
    return out


def _observe(comp, artifacts, shape, setup, bg, rng):
    """Render, add galaxy light, noise and drizzle: dict band -> image."""
    h, w = shape
    if h <= _FRAME and w <= _FRAME:
        frames = [(0, 0, max(h, w), comp)]
        ph, pw, off = max(h, w), max(h, w), 0
    else:
        x, y, f = comp.points()
        frames = []
        m = _TILE + 2 * _MARGIN
        for ty in range(0, h, _TILE):
            for tx in range(0, w, _TILE):
                sub = Components()
                sel = (x >= tx) & (x < tx + _TILE) & (y >= ty) & (y < ty + _TILE)
                if tx == 0:
                    sel |= (x < 0) & (y >= ty) & (y < ty + _TILE)
                if sel.any():
                    sub.add_points(x[sel], y[sel], f[sel])
                for s in comp.s:
                    if tx <= s[0] < tx + _TILE and ty <= s[1] < ty + _TILE:
                        sub.s.append(s)
                if sub.p or sub.s:
                    frames.append((tx - _MARGIN, ty - _MARGIN, m, sub))
        ph, pw, off = h + 2 * _MARGIN + _TILE, w + 2 * _MARGIN + _TILE, _MARGIN
    images = {}
    exps = {b: np.zeros((len(setup.dithers[b]), ph, pw)) for b in range(5)}
    for x0, y0, m, sub in frames:
        ex = render_exposures(sub, x0, y0, m, setup)
        for b in range(5):
            exps[b][:, y0 + off:y0 + off + m, x0 + off:x0 + off + m] += ex[b]
    yy, xx = np.mgrid[0:h, 0:w].astype(float)
    for b in range(5):
        e = exps[b][:, off:off + h, off:off + w]
        d = setup.dithers[b]
        # smooth on >= 2 px scales: a sub-pixel dither shift is negligible
        e += bg.evaluate(b, xx + 0.5, yy + 0.5)[None]
        noisy = add_noise(e, b, setup, rng)
        images[b] = combine(noisy, d)
    for (ax, ay, sigma, flux, q, pa) in artifacts:
        ix, iy = int(np.floor(ax)), int(np.floor(ay))
        art = _artifact_image(sigma, q, pa, ax - ix, ay - iy, size=16)
        ys, xs = iy - 8, ix - 8
        y1, x1 = max(ys, 0), max(xs, 0)
        y2, x2 = min(ys + 16, h), min(xs + 16, w)
        for b in range(5):
            if flux[b] > 0:
                images[b][y1:y2, x1:x2] += flux[b] * art[y1 - ys:y2 - ys, x1 - xs:x2 - xs]
    return {BANDS[b]: images[b].astype(np.float32) for b in range(5)}


def _class_list(n_per_class):
    n = np.broadcast_to(np.asarray(n_per_class, int), (4,))
    if np.any(n < 0):
        raise ValueError('n_per_class must be non-negative')
    return np.repeat(np.arange(1, 5), n)


def simulate_candidates(n_per_class, seed=None):
    """Simulate class-balanced LEGUS-like candidate cutouts.

    Each candidate is cut from its own simulated 64x64 px mosaic region
    (own galaxy distance, galaxy light, field stars and neighbours, PSF blur,
    dithers and noise), at a catalog position with a random sub-pixel part,
    with the LEGUS cutout convention.

    Parameters
    ----------
    n_per_class : int or sequence of 4 int
        Number of candidates of each class 1-4.
    seed : int, numpy.random.Generator or None
        Seed; the output is fully reproducible from it.

    Returns
    -------
    cutouts : numpy.ndarray
        float32 array ``(N, 5, 32, 32)`` in e-/s, bands F275W, F336W,
        F438W, F555W, F814W.
    labels : numpy.ndarray
        int array ``(N,)`` of classes 1-4, shuffled.

    Examples
    --------
    >>> from starcnet.evaluation.popsim import simulate_candidates
    >>> x, y = simulate_candidates(2, seed=1)
    >>> x.shape, x.dtype, sorted(y.tolist())
    ((8, 5, 32, 32), dtype('float32'), [1, 1, 2, 2, 3, 3, 4, 4])
    """
    out, labels, _ = simulate_with_truth(n_per_class, seed)
    return out, labels


def simulate_with_truth(n_per_class, seed=None):
    """Like `simulate_candidates`, also returning per-candidate truth.

    Returns
    -------
    cutouts, labels : numpy.ndarray
        As `simulate_candidates` (identical for the same seed).
    truth : list of dict
        Per candidate: ``x``, ``y`` (catalog position inside the cutout),
        ``recipe``, ``row`` (target LEGUS row), ``scale`` and recipe extras.
    """
    rng = _rng(seed)
    labels = _class_list(n_per_class)
    labels = labels[rng.permutation(len(labels))]
    out = np.empty((len(labels), 5, 32, 32), np.float32)
    truth = []
    for i, cls in enumerate(labels):
        out[i], info = _one_candidate(int(cls), rng)
        truth.append(info)
    return out, labels.astype(int), truth


def _one_candidate(cls, rng):
    setup = draw_setup(rng)
    bg = draw_background(rng, (_FRAME, _FRAME))
    fx, fy = rng.random(2)
    xc, yc = 23 + fx, 23 + fy
    cand, art, info = make_candidate(cls, rng, setup, _distance(rng), fx, fy)
    comp = Components()
    if cand is not None:
        comp.extend(_shift(cand, xc, yc))
    crowd = 10 ** rng.normal(-2.3, 0.4)
    _field_stars(rng, comp, 0, 0, _FRAME, _FRAME, crowd, avoid=(xc, yc))
    _neighbour_clusters(rng, comp, 2, 2, _FRAME - 4, _FRAME - 4, rng.poisson(0.5), avoid=(xc, yc))
    arts = [] if art is None else [(xc, yc) + tuple(art)]
    imgs = _observe(comp, arts, (_FRAME, _FRAME), setup, bg, rng)
    cut = np.stack([imgs[b][8:40, 8:40] for b in BANDS])
    info = dict(info, x=15 + fx, y=15 + fy)
    return cut, info


def make_scene(shape=(512, 512), n_sources=150, seed=None):
    """Simulate a multi-band drizzled mosaic region with labelled candidates.

    Parameters
    ----------
    shape : tuple of int
        ``(rows, cols)`` of the images.
    n_sources : int
        Number of candidates (classes drawn uniformly from 1-4), placed at
        least 16 px from the edges.
    seed : int, numpy.random.Generator or None
        Seed.

    Returns
    -------
    images : dict
        Band name -> 2-D float32 array (e-/s), all on one pixel grid.
    truth : astropy.table.QTable
        Columns ``x``, ``y`` (0-based catalog positions), ``true_class``,
        ``recipe``, ``mag_f555w`` (target Vega magnitude) and ``ci_target``.

    Examples
    --------
    >>> from starcnet.evaluation.popsim import make_scene
    >>> images, truth = make_scene((96, 96), n_sources=3, seed=2)
    >>> sorted(images), len(truth)
    (['F275W', 'F336W', 'F438W', 'F555W', 'F814W'], 3)
    """
    rng = _rng(seed)
    h, w = shape
    if h < 40 or w < 40:
        raise ValueError('shape must be at least 40x40')
    setup = draw_setup(rng)
    bg = draw_background(rng, shape)
    dist = _distance(rng)
    comp = Components()
    arts = []
    rows = []
    for _ in range(n_sources):
        cls = int(rng.integers(1, 5))
        x = rng.uniform(16, w - 17)
        y = rng.uniform(16, h - 17)
        cand, art, info = make_candidate(cls, rng, setup, dist, x % 1, y % 1)
        if cand is not None:
            comp.extend(_shift(cand, x, y))
        if art is not None:
            arts.append((x, y) + tuple(art))
        rows.append((x, y, cls, info['recipe'], info['row'][3], info['row'][5]))
    crowd = 10 ** rng.normal(-2.3, 0.4)
    _field_stars(rng, comp, 0, 0, w, h, crowd)
    _neighbour_clusters(rng, comp, 0, 0, w, h, rng.poisson(h * w / 8000))
    images = _observe(comp, arts, shape, setup, bg, rng)
    truth = QTable(rows=rows, names=('x', 'y', 'true_class', 'recipe', 'mag_f555w', 'ci_target'),
                   dtype=(float, float, int, str, float, float)) if rows else QTable(
        names=('x', 'y', 'true_class', 'recipe', 'mag_f555w', 'ci_target'),
        dtype=(float, float, int, str, float, float))
    return images, truth
