"""LEGUS-style aperture photometry used by popsim (tuning, tests, validation).

Apertures of radius 1, 3 and 4 px around a sub-pixel position, sampled with
5x5 sub-pixels per pixel; the local background is the median of the pixels
whose centres lie 7-9 px from the position.  ``CI = m(1 px) - m(3 px)``.
"""
import numpy as np

__all__ = ['aperture_fluxes', 'concentration_index']

_SUB = 5
_HALF = 10


_O = (np.arange(_SUB) + 0.5) / _SUB - 0.5
_C = np.arange(-_HALF, _HALF + 1)


def _weights(fx, fy, radii):
    # sub-pixel sampling only inside the largest radius + 1 px
    rmax = int(np.ceil(max(radii))) + 1
    c = np.arange(-rmax, rmax + 1)
    gx = (c[None, :, None, None] + _O[None, None, None, :]) - fx
    gy = (c[:, None, None, None] + _O[None, None, :, None]) - fy
    r2 = gx ** 2 + gy ** 2
    out = []
    for rad in radii:
        w = np.zeros((2 * _HALF + 1, 2 * _HALF + 1))
        w[_HALF - rmax:_HALF + rmax + 1, _HALF - rmax:_HALF + rmax + 1] = (
            (r2 < rad * rad).mean(axis=(2, 3)))
        out.append(w)
    return out


def aperture_fluxes(image, x, y, radii=(1.0, 3.0, 4.0), annulus=(7.0, 9.0)):
    """Background-subtracted aperture sums at one position.

    Parameters
    ----------
    image : ndarray
        2-D image (e-/s).
    x, y : float
        0-based position (pixel centres at integers).
    radii : sequence of float
        Aperture radii in px (at most 10).
    annulus : tuple of float
        Inner and outer radius of the background annulus (px).

    Returns
    -------
    fluxes : ndarray
        One background-subtracted sum per radius.
    """
    ix, iy = int(np.round(x)), int(np.round(y))
    fx, fy = x - ix, y - iy
    image = np.asarray(image, float)
    h, w = image.shape
    yy = np.clip(np.arange(iy - _HALF, iy + _HALF + 1), 0, h - 1)
    xx = np.clip(np.arange(ix - _HALF, ix + _HALF + 1), 0, w - 1)
    win = image[np.ix_(yy, xx)]
    rc = np.hypot(_C[None, :] - fx, _C[:, None] - fy)
    ann = win[(rc >= annulus[0]) & (rc < annulus[1])]
    bkg = np.median(ann)
    ws = _weights(fx, fy, radii)
    return np.array([np.sum(w * (win - bkg)) for w in ws])


def concentration_index(image, x, y):
    """CI = m(r=1 px) - m(r=3 px); NaN when either flux is not positive.

    Parameters
    ----------
    image : ndarray
        2-D image (F555W in LEGUS).
    x, y : float
        0-based position.

    Returns
    -------
    float
    """
    f1, f3 = aperture_fluxes(image, x, y, radii=(1.0, 3.0))
    if f1 <= 0 or f3 <= 0:
        return float('nan')
    return float(-2.5 * np.log10(f1 / f3))
