# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Point-spread functions as Fourier transfer functions, in several families.

Every image (a simulated cutout's canvas or a scene) draws one PSF family
and, per band, its width, shape and registration offset.  The PSF is
returned as the real FFT of the PSF centred on pixel (0, 0) of the
canvas, so that rendering is one multiplication in Fourier space for
point sources and extended sources alike.

Families (`PSF_FAMILIES`):

* ``'tinytim'``: the bundled TinyTim model PSFs (WFC3/UVIS; or ACS/WFC
  for the optical bands; or WFC3 F606W for F555W, as LEGUS fields were
  observed), tapered to a 20 px circle and convolved with a Gaussian of
  random width (charge diffusion, drizzling, guiding jitter) that may be
  slightly elliptical;
* ``'moffat'``: Moffat profiles of random FWHM (1.5-2.7 px, growing to
  the red) and index beta (1.8-5: strong to weak wings), slightly
  elliptical;
* ``'core-halo'``: a Gaussian core with an exponential halo holding 5-30%
  of the light within 2-7 px (the broad UV halo of WFC3).

The transforms of the TinyTim PSFs and of `reference_psf` are cached
per canvas shape, at most `TRANSFORM_CACHE_BYTES` (96 MB) each, the
least recently used first out: the small canvases of simulated cutouts
and one 2k x 2k scene (87 MB) stay cached, while the transforms of a
larger scene (340 MB for a 4k x 4k canvas) are computed again for every
scene instead of being kept.
"""

import collections
import functools
import threading

import numpy as np
from scipy import fft as sfft

from ._data import BANDS, PSF_FILES, PSF_HALF, REFERENCE_BAND, psf_set

__all__ = ['PSF_FAMILIES', 'TRANSFORM_CACHE_BYTES', 'draw_psfs', 'pixel_response',
           'reference_psf']

#: Bytes kept by each cache of PSF transforms (an array larger than this
#: is not kept at all).
TRANSFORM_CACHE_BYTES = 96 * 1024 ** 2


def _bounded_cache(function):
    """
    Cache the arrays ``function(*args)`` returns, least recently used
    first out, up to `TRANSFORM_CACHE_BYTES` in all.
    """
    entries = collections.OrderedDict()
    lock = threading.Lock()

    @functools.wraps(function)
    def cached(*args):
        with lock:
            if args in entries:
                entries.move_to_end(args)
                return entries[args]
        value = function(*args)
        limit = TRANSFORM_CACHE_BYTES
        if value.nbytes <= limit:
            with lock:
                entries[args] = value
                while sum(v.nbytes for v in entries.values()) > limit:
                    entries.popitem(last=False)
        return value

    def cache_nbytes():
        with lock:
            return sum(v.nbytes for v in entries.values())

    cached.cache_clear = entries.clear
    cached.cache_nbytes = cache_nbytes
    return cached


#: PSF families and their probability for a simulated image.
PSF_FAMILIES = {'tinytim': 0.5, 'moffat': 0.3, 'core-halo': 0.2}

#: Relative PSF width per band (wavelength dependence of the core).
_BAND_WIDTH = np.array([1.0, 0.95, 0.95, 1.0, 1.12])


def _frequencies(shape):
    ky = sfft.fftfreq(shape[0])[:, None]
    kx = sfft.rfftfreq(shape[1])[None, :]
    return ky, kx


def _wrapped_coordinates(shape):
    """Pixel offsets from (0, 0) with wrap-around, for centred PSF images."""
    y = (np.arange(shape[0]) + shape[0] // 2) % shape[0] - shape[0] // 2
    x = (np.arange(shape[1]) + shape[1] // 2) % shape[1] - shape[1] // 2
    return y[:, None].astype(np.float64), x[None, :].astype(np.float64)


def pixel_response(shape):
    """
    Fourier transfer of the square pixel (for point sources), with a
    0.25 px Gaussian that damps the ringing of very bright points.
    """
    ky, kx = _frequencies(shape)
    return (np.sinc(ky) * np.sinc(kx)
            * _gaussian_transfer(ky, kx, 0.25, 1.0, 0.0)).astype(np.float32)


@functools.cache
def _psf_taper():
    """Circular taper of the 41x41 PSFs (1 inside 14 px, 0 beyond 20 px)."""
    r = np.hypot(*np.mgrid[-PSF_HALF:PSF_HALF + 1, -PSF_HALF:PSF_HALF + 1])
    x = np.clip((r - 14.0) / (PSF_HALF + 0.5 - 14.0), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(np.pi * x))


@_bounded_cache
def _tinytim_ft(family, shape):
    """rfft2 of the tapered TinyTim PSFs centred on pixel (0, 0): (5, H, W//2+1)."""
    out = np.empty((len(BANDS), shape[0], shape[1] // 2 + 1), dtype=np.complex64)
    psfs = psf_set(family)
    for b, band in enumerate(BANDS):
        psf = psfs[band] * _psf_taper()
        padded = np.zeros(shape)
        h = min(2 * PSF_HALF + 1, shape[0]), min(2 * PSF_HALF + 1, shape[1])
        padded[:h[0], :h[1]] = (psf / psf.sum())[:h[0], :h[1]]
        padded = np.roll(padded, (-PSF_HALF, -PSF_HALF), axis=(0, 1))
        out[b] = sfft.rfft2(padded)
    return out


def _gaussian_transfer(ky, kx, sigma, q, theta):
    """Fourier transfer of elliptical Gaussians; arrays broadcast to (..., H, Wf)."""
    c, s = np.cos(theta), np.sin(theta)
    u = kx * c + ky * s
    v = -kx * s + ky * c
    return np.exp(-2.0 * np.pi ** 2 * sigma ** 2 * (u ** 2 + (q * v) ** 2))


def _image_psfs(images):
    """rfft2 of PSF images centred on (0, 0), normalised to unit sum."""
    images = images / images.sum(axis=(-2, -1), keepdims=True)
    return sfft.rfft2(images, workers=1)


def draw_psfs(rng, n, shape, families=None):
    """
    Draw the PSFs of ``n`` images of one shape.

    Parameters
    ----------
    rng : `~numpy.random.Generator`
    n : int
        Number of images.
    shape : tuple of int
        Image (canvas) shape ``(H, W)``.
    families : dict of str to float, optional
        Families and probabilities (default `PSF_FAMILIES`).

    Returns
    -------
    transfer : `~numpy.ndarray`
        complex64 ``(n, 5, H, W // 2 + 1)``: the rfft2 of each band's PSF
        centred on pixel (0, 0), registration offset included.
    info : dict
        Per-image ``family`` (array of str), ``fwhm`` (n, 5: rough core
        FWHM in px) and ``shift`` (n, 5, 2: registration offsets dy, dx).
    """
    families = PSF_FAMILIES if families is None else families
    names = list(families)
    p = np.asarray([families[k] for k in names], dtype=float)
    kind = rng.choice(names, size=n, p=p / p.sum())
    ky, kx = _frequencies(shape)
    yy, xx = _wrapped_coordinates(shape)
    out = np.empty((n, len(BANDS), shape[0], shape[1] // 2 + 1), dtype=np.complex64)
    fwhm = np.empty((n, len(BANDS)))
    # registration offsets: rms per image 0-0.15 px, F555W the reference
    rms = rng.uniform(0.0, 0.15, (n, 1, 1))
    shift = np.clip(rng.normal(0.0, 1.0, (n, len(BANDS), 2)) * rms, -0.5, 0.5)
    shift[:, REFERENCE_BAND] = 0.0
    for i in range(n):
        band_scale = _BAND_WIDTH * rng.uniform(0.93, 1.07, len(BANDS))
        q = rng.uniform(0.8, 1.0)
        theta = rng.uniform(0, np.pi)
        if kind[i] == 'tinytim':
            instrument = rng.choice(list(PSF_FILES), p=[0.6, 0.25, 0.15])
            sigma = rng.uniform(0.45, 1.05) * band_scale / _BAND_WIDTH
            base = _tinytim_ft(instrument, tuple(shape))
            out[i] = base * _gaussian_transfer(ky, kx, sigma[:, None, None], q, theta)
            fwhm[i] = np.hypot(1.7, 2.355 * sigma)
        elif kind[i] == 'moffat':
            width = rng.uniform(1.7, 2.6) * band_scale
            beta = rng.uniform(1.6, 3.5)
            alpha = width / (2.0 * np.sqrt(2.0 ** (1.0 / beta) - 1.0))
            c, s = np.cos(theta), np.sin(theta)
            u = xx * c + yy * s
            v = (-xx * s + yy * c) / q
            r2 = u ** 2 + v ** 2
            img = (1.0 + r2[None] / alpha[:, None, None] ** 2) ** (-beta)
            out[i] = _image_psfs(img)
            fwhm[i] = width
        else:
            core = rng.uniform(1.9, 2.7) * band_scale
            halo_frac = rng.uniform(0.15, 0.4) * np.linspace(1.3, 0.8, len(BANDS))
            halo_scale = rng.uniform(1.5, 5.0)
            r = np.hypot(xx, yy)
            halo = np.exp(-r / halo_scale)
            halo = halo / halo.sum()
            sig = core / 2.355
            g = _gaussian_transfer(ky, kx, sig[:, None, None], q, theta)
            out[i] = (1 - halo_frac)[:, None, None] * g + halo_frac[:, None, None] * (
                sfft.rfft2(halo)[None])
            fwhm[i] = core
    phase = np.exp(-2j * np.pi * (ky[None, None] * shift[:, :, 0, None, None]
                                  + kx[None, None] * shift[:, :, 1, None, None]))
    out *= phase.astype(np.complex64)
    return out, {'family': kind, 'fwhm': fwhm, 'shift': shift}


def reference_psf(shape):
    """
    The reference PSF of the CI tables: WFC3 TinyTim with a 0.8 px blur.

    Parameters
    ----------
    shape : tuple of int
        Canvas shape ``(H, W)``.

    Returns
    -------
    transfer : `~numpy.ndarray`
        complex64 ``(5, H, W // 2 + 1)``, as `draw_psfs` returns for
        one image.  Cached (see the module's description): do not
        change it in place.
    """
    return _reference_psf(tuple(int(n) for n in shape))


@_bounded_cache
def _reference_psf(shape):
    ky, kx = _frequencies(shape)
    return (_tinytim_ft('wfc3', tuple(shape))
            * _gaussian_transfer(ky, kx, 0.8, 1.0, 0.0)).astype(np.complex64)
