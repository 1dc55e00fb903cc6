"""LEGUS-style aperture photometry used by ``kingsim`` (and its validation).

Apertures are exact to 1/8 px (each pixel split into 8 x 8 sub-pixels); the
local background is the median of the pixels whose centres lie in the annulus
7 <= r < 9 px (LEGUS used an annulus at 7 px, 1 px wide). The concentration
index is ``CI = m(r=1) - m(r=3)`` and magnitudes use a 4 px aperture plus a
fixed per-band aperture correction :data:`APCOR` (mag, added to the 4 px
magnitude, so negative). The generator scales every candidate so that this
measurement, made on the noiseless object alone, returns the LEGUS catalog
magnitude it was drawn from; the correction therefore plays the role of the
LEGUS average aperture correction and its value only fixes the total fluxes.
"""

import numpy as np

__all__ = ["BANDS", "ZEROPOINTS", "APCOR", "aperture_weights", "measure", "measure_at",
           "ci_and_flux"]

#: Band names, in cutout order.
BANDS = ("F275W", "F336W", "F438W", "F555W", "F814W")
#: Approximate WFC3/UVIS Vega zeropoints (mag of 1 e-/s).
ZEROPOINTS = np.array([22.65, 23.48, 24.98, 25.81, 24.67])
#: 4 px -> total aperture correction (mag): median over 40 random kingsim
#: PSFs per band of a King cluster with Reff = 1 px, c = 30 (annulus-subtracted
#: 4 px flux vs total flux).
APCOR = np.array([-0.39, -0.34, -0.31, -0.29, -0.33])

_SUB = 8
_ANN = (7.0, 9.0)


def aperture_weights(cx, cy, radius, shape):
    """Fraction of every pixel inside a circle.

    Parameters
    ----------
    cx, cy : float
        Centre, 0-based pixel coordinates (pixel centres at integers).
    radius : float
        Radius in pixels.
    shape : tuple of int
        Image shape (ny, nx).

    Returns
    -------
    numpy.ndarray
        Weights in [0, 1], same shape as the image.
    """
    ny, nx = shape
    w = np.zeros(shape)
    x0 = max(int(np.floor(cx - radius - 1)), 0)
    x1 = min(int(np.ceil(cx + radius + 1)) + 1, nx)
    y0 = max(int(np.floor(cy - radius - 1)), 0)
    y1 = min(int(np.ceil(cy + radius + 1)) + 1, ny)
    off = (np.arange(_SUB) + 0.5) / _SUB - 0.5
    xs = (np.arange(x0, x1)[:, None] + off[None, :]).ravel() - cx
    ys = (np.arange(y0, y1)[:, None] + off[None, :]).ravel() - cy
    inside = (ys[:, None] ** 2 + xs[None, :] ** 2) < radius**2
    frac = inside.reshape(y1 - y0, _SUB, x1 - x0, _SUB).mean(axis=(1, 3))
    w[y0:y1, x0:x1] = frac
    return w


class _Apertures:
    """Cached aperture masks for one centre (cropped to a box of r <= 10 px)."""

    def __init__(self, cx, cy, shape):
        ny, nx = shape
        y0, y1 = max(int(cy) - 10, 0), min(int(cy) + 12, ny)
        x0, x1 = max(int(cx) - 10, 0), min(int(cx) + 12, nx)
        self.box = (slice(y0, y1), slice(x0, x1))
        sub = (y1 - y0, x1 - x0)
        self.w1 = aperture_weights(cx - x0, cy - y0, 1.0, sub)
        self.w3 = aperture_weights(cx - x0, cy - y0, 3.0, sub)
        self.w4 = aperture_weights(cx - x0, cy - y0, 4.0, sub)
        yy, xx = np.indices(sub)
        r = np.hypot(xx - (cx - x0), yy - (cy - y0))
        self.ann = (r >= _ANN[0]) & (r < _ANN[1])
        self.a1, self.a3, self.a4 = self.w1.sum(), self.w3.sum(), self.w4.sum()


_AP_CACHE = {}


def get_apertures(cx, cy, shape):
    """Aperture masks for a centre, cached on a 1/20 px grid of centres.

    Centres are rounded to 0.05 px (a negligible change of the photometry);
    masks far enough from the image edges are reused from a cache.
    """
    qx, qy = np.round(cx * 20) / 20, np.round(cy * 20) / 20
    ix, iy = int(np.floor(qx)), int(np.floor(qy))
    ny, nx = shape
    if not (ix - 10 >= 0 and iy - 10 >= 0 and ix + 12 <= nx and iy + 12 <= ny):
        return _Apertures(qx, qy, shape)
    key = (round((qx - ix) * 20), round((qy - iy) * 20))
    if key not in _AP_CACHE:
        _AP_CACHE[key] = _Apertures(10 + qx - ix, 10 + qy - iy, (22, 22))
    base = _AP_CACHE[key]
    ap = _Apertures.__new__(_Apertures)
    ap.__dict__.update(base.__dict__)
    ap.box = (slice(iy - 10, iy + 12), slice(ix - 10, ix + 12))
    return ap


def ci_and_flux(img, ap):
    """Background-subtracted 1, 3 and 4 px aperture fluxes of one image.

    Parameters
    ----------
    img : numpy.ndarray
        2-D image (or a stack ``(..., ny, nx)``).
    ap : _Apertures
        Masks made for the image shape.

    Returns
    -------
    f1, f3, f4 : numpy.ndarray
        Fluxes (e-/s), annulus-median background removed.
    """
    sub = img[(Ellipsis,) + ap.box]
    bkg = np.median(sub[..., ap.ann], axis=-1)
    f1 = (sub * ap.w1).sum(axis=(-2, -1)) - bkg * ap.a1
    f3 = (sub * ap.w3).sum(axis=(-2, -1)) - bkg * ap.a3
    f4 = (sub * ap.w4).sum(axis=(-2, -1)) - bkg * ap.a4
    return f1, f3, f4


def measure(cutouts):
    """Measure LEGUS-style CI, magnitudes and S/N on 32 x 32 cutouts.

    The source is taken at pixel (15.5, 15.5) of each cutout, the centre of a
    position with fractional part 0.5 (unknown fractional parts are treated
    as the mean; pass exact centres to :func:`ci_and_flux` when known).

    Parameters
    ----------
    cutouts : numpy.ndarray
        ``(N, 5, 32, 32)`` in e-/s.

    Returns
    -------
    dict
        ``ci`` (N,), ``mag`` (N, 5) aperture-corrected Vega magnitudes (NaN
        where the 4 px flux is not positive), ``f4`` (N, 5) fluxes and
        ``snr`` (N, 5), the 4 px flux over its background error (annulus MAD,
        times 1.5 for the drizzle correlation; source Poisson noise ignored).
    """
    return measure_at(cutouts, np.full(len(cutouts), 15.5), np.full(len(cutouts), 15.5))


def measure_at(cutouts, cx, cy):
    """Like :func:`measure`, with a centre ``(cx[i], cy[i])`` per cutout."""
    cutouts = np.asarray(cutouts, dtype=float)
    n = len(cutouts)
    ci = np.full(n, np.nan)
    mag = np.full((n, 5), np.nan)
    f4s = np.full((n, 5), np.nan)
    snr = np.full((n, 5), np.nan)
    for i in range(n):
        ap = get_apertures(cx[i], cy[i], cutouts.shape[-2:])
        f1, f3, f4 = ci_and_flux(cutouts[i], ap)
        f4s[i] = f4
        ann = cutouts[i][(Ellipsis,) + ap.box][..., ap.ann]
        mad = np.median(np.abs(ann - np.median(ann, axis=-1)[:, None]), axis=-1)
        # background error of the 4 px sum; x1.5 for drizzle-correlated noise
        err = 1.4826 * mad * np.sqrt(ap.a4) * 1.5
        snr[i] = f4 / np.maximum(err, 1e-12)
        if f1[3] > 0 and f3[3] > 0:
            ci[i] = 2.5 * np.log10(f3[3] / f1[3])
        ok = f4 > 0
        mag[i, ok] = ZEROPOINTS[ok] - 2.5 * np.log10(f4[ok]) + APCOR[ok]
    return {"ci": ci, "mag": mag, "f4": f4s, "snr": snr}
