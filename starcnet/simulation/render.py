# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Rendering of point and extended sources through per-image PSFs.

Sources are collected in a `Components` list (positions in canvas
pixels); `render` turns them into noiseless ``(n, 5, H, W)`` images in
e-/s.  Point sources are added in Fourier space (exact sub-pixel
positions) and multiplied by the pixel response; extended profiles are
evaluated 4x oversampled on 24x24 px stamps (pixel-integrated) and then
convolved with the same PSF.

Profile families (`PROFILES`), all with axis ratio ``q``, position angle
``pa`` and an optional lopsidedness ``asym`` (a dipole ramp towards
``asym_pa``); ``size`` and ``shape`` mean:

* ``'eff'``: Elson, Fall & Freeman (1987), ``(1 + r**2 / a**2) **
  (-shape / 2)``; ``size`` is the effective (half-light) radius for
  ``shape > 2``; Ryon et al. (2017) fit ``eta = shape / 2``;
* ``'king'``: King (1962), ``(1 / sqrt(1 + (r/rc)**2) - 1 / sqrt(1 +
  c**2)) ** 2`` inside ``rt = c rc``; ``size`` is ``rc``, ``shape`` is
  ``c = rt / rc``;
* ``'sersic'``: Sérsic, ``exp(-b_n ((r/re) ** (1/n) - 1))``; ``size`` is
  ``re``, ``shape`` is ``n``;
* ``'exp'`` and ``'gauss'``: exponential and Gaussian light of
  half-light radius ``size``.
"""

import numpy as np
from scipy import fft as sfft

from ._data import BANDS
from .psf import pixel_response

__all__ = ['PROFILES', 'Components', 'render', 'profile_stamps']

PROFILES = ('eff', 'king', 'sersic', 'exp', 'gauss')

STAMP = 24                 # extended components are rendered on 24x24 px
OVERSAMPLE = 4


class Components:
    """Sources to render on a stack of canvases (positions in canvas px)."""

    def __init__(self):
        self.points = []      # (canvas, x, y, flux[5])
        # (canvas, x, y, flux[5], kind, size, shape, q, pa, asym, asym_pa)
        self.extended = []
        self.artifacts = []   # (canvas, kind, x, y, params)

    def point(self, i, x, y, flux):
        self.points.append((i, x, y, np.asarray(flux, dtype=float)))

    def ext(self, i, x, y, flux, kind='eff', size=1.0, shape=3.0, q=1.0, pa=0.0,
            asym=0.0, asym_pa=0.0):
        if kind not in PROFILES:
            msg = f'unknown profile {kind!r}; expected one of {PROFILES}'
            raise ValueError(msg)
        self.extended.append((i, x, y, np.asarray(flux, dtype=float), kind, size,
                              shape, q, pa, asym, asym_pa))

    def artifact(self, i, kind, x, y, **params):
        self.artifacts.append((i, kind, x, y, params))


def eff_core(reff, gamma):
    """EFF core radius ``a`` of a profile of half-light radius ``reff``."""
    return reff / np.sqrt(2.0 ** (2.0 / (gamma - 2.0)) - 1.0)


def _sersic_b(n):
    return 2.0 * n - 1.0 / 3.0 + 0.009876 / n


def profile_stamps(kind, dx, dy, size, shape, q, pa, asym, asym_pa):
    """Evaluate B unit-flux profiles on 24x24 px stamps (4x oversampled, binned)."""
    ns = STAMP * OVERSAMPLE
    s = (np.arange(ns) + 0.5) / OVERSAMPLE - 0.5 - STAMP // 2
    u = s[None, None, :] - dx[:, None, None]
    v = s[None, :, None] - dy[:, None, None]
    c, sn = np.cos(pa)[:, None, None], np.sin(pa)[:, None, None]
    major = u * c + v * sn
    minor = (-u * sn + v * c) / q[:, None, None]
    r2 = major ** 2 + minor ** 2
    size3 = size[:, None, None]
    shape3 = shape[:, None, None]
    if kind == 'eff':
        a = eff_core(size, np.maximum(shape, 2.05))[:, None, None]
        prof = (1.0 + r2 / a ** 2) ** (-shape3 / 2.0)
    elif kind == 'king':
        x = r2 / size3 ** 2
        edge = 1.0 / np.sqrt(1.0 + shape3 ** 2)
        prof = np.clip(1.0 / np.sqrt(1.0 + x) - edge, 0.0, None) ** 2
    elif kind == 'sersic':
        r = np.sqrt(r2) / size3
        prof = np.exp(-_sersic_b(shape3) * (r ** (1.0 / shape3) - 1.0))
    elif kind == 'exp':
        prof = np.exp(-np.sqrt(r2) / (size3 / 1.678))
    else:   # gaussian
        prof = np.exp(-0.5 * r2 / (size3 / 1.1774) ** 2)
    if np.any(asym > 0):
        r = np.sqrt(r2)
        phi = np.arctan2(v, u)
        ramp = r / (r + size3)
        prof = prof * (1.0 + asym[:, None, None] * ramp
                       * np.cos(phi - asym_pa[:, None, None]))
    prof = prof.reshape(len(dx), STAMP, OVERSAMPLE, STAMP, OVERSAMPLE).sum((2, 4))
    prof /= np.maximum(prof.sum((1, 2), keepdims=True), 1e-300)
    return prof


def _add_block(canvas, i, y0, x0, block):
    """canvas[i, :, y0:y0+h, x0:x0+w] += block (5, h, w), clipped to the canvas."""
    h, w = block.shape[-2:]
    H, W = canvas.shape[-2:]
    ya, xa = max(y0, 0), max(x0, 0)
    yb, xb = min(y0 + h, H), min(x0 + w, W)
    if ya >= yb or xa >= xb:
        return
    canvas[i, :, ya:yb, xa:xb] += block[:, ya - y0:yb - y0, xa - x0:xb - x0]


def _point_transform(comps, n_canvas, shape):
    """rfft2 of the point sources of each canvas, as delta functions."""
    H, W = shape
    ky = sfft.fftfreq(H)
    kx = sfft.rfftfreq(W)
    canvas = np.array([p[0] for p in comps.points], dtype=int)
    xs = np.array([p[1] for p in comps.points])
    ys = np.array([p[2] for p in comps.points])
    flux = np.array([p[3] for p in comps.points], dtype=np.float32)      # (P, 5)
    # slot of each point within its canvas, for a padded (M, Pmax) layout
    order = np.argsort(canvas, kind='stable')
    counts = np.bincount(canvas, minlength=n_canvas)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.empty(len(canvas), dtype=int)
    slot[order] = np.arange(len(canvas)) - np.repeat(starts, counts)
    pmax = int(counts.max())
    ey = np.zeros((n_canvas, pmax, H), dtype=np.complex64)
    ex = np.zeros((n_canvas, pmax, W // 2 + 1), dtype=np.complex64)
    f = np.zeros((n_canvas, pmax, len(BANDS)), dtype=np.float32)
    ey[canvas, slot] = np.exp(-2j * np.pi * ys[:, None] * ky[None, :])
    ex[canvas, slot] = np.exp(-2j * np.pi * xs[:, None] * kx[None, :])
    f[canvas, slot] = flux
    # sum_p f_pb ey_p(ky) ex_p(kx): one batched matrix product
    a = f.transpose(0, 2, 1)[:, :, None, :] * ey.transpose(0, 2, 1)[:, None]
    return np.matmul(a, ex[:, None])


def render(comps, n_canvas, shape, transfer):
    """
    Render components into ``(n_canvas, 5, H, W)`` noiseless images.

    Parameters
    ----------
    comps : `Components`
    n_canvas : int
    shape : tuple of int
        Canvas shape ``(H, W)``.
    transfer : `~numpy.ndarray`
        complex ``(n_canvas, 5, H, W // 2 + 1)`` PSF transfer functions
        (`starcnet.simulation.psf.draw_psfs`).  The convolution wraps
        around, so sources should lie ~20 px inside the canvas.
    """
    H, W = shape
    ext = np.zeros((n_canvas, len(BANDS), H, W), dtype=np.float32)
    kinds = {}
    for comp in comps.extended:
        kinds.setdefault(comp[4], []).append(comp)
    for kind, group in kinds.items():
        for start in range(0, len(group), 256):
            chunk = group[start:start + 256]
            arr = lambda k, chunk=chunk: np.array([c[k] for c in chunk], dtype=float)  # noqa: E731
            xs, ys = arr(1), arr(2)
            x0 = np.floor(xs).astype(int)
            y0 = np.floor(ys).astype(int)
            stamps = profile_stamps(kind, xs - x0, ys - y0, arr(5), arr(6), arr(7),
                                    arr(8), arr(9), arr(10)).astype(np.float32)
            for c, stamp, xa, ya in zip(chunk, stamps, x0, y0):
                block = c[3][:, None, None].astype(np.float32) * stamp[None]
                _add_block(ext, c[0], ya - STAMP // 2, xa - STAMP // 2, block)
    total = sfft.rfft2(ext, workers=1)
    del ext
    if comps.points:
        total += _point_transform(comps, n_canvas, shape) * pixel_response(shape)
    total *= transfer
    return sfft.irfft2(total, s=(H, W), workers=1).astype(np.float32)
