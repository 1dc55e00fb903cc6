"""HST-like diffraction optics for popsim: pupil, OTF, pixel and blur.

The PSF is never tabulated in real space: every source is rendered in Fourier
space, multiplying its transform by the optical transfer function (OTF) of
an HST-like pupil (2.4 m primary, 0.33 linear central obscuration, four
secondary-mirror spiders, three primary-mirror pads), averaged over three
wavelengths across each band, times the pixel response (a box of one pixel)
and a Gaussian charge-diffusion/drizzle blur chosen per image.
"""
from functools import lru_cache

import numpy as np

__all__ = ['BANDS', 'PIVOT_NM', 'ZEROPOINT', 'EXPTIME', 'PIXSCALE',
           'frequency_grid', 'diffraction_otf', 'system_otf']

#: Band names, always in this order.
BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
#: Approximate pivot wavelengths (nm).
PIVOT_NM = np.array([270.0, 335.0, 432.0, 531.0, 805.0])
#: Approximate WFC3/UVIS Vega zeropoints (mag giving 1 e-/s).
ZEROPOINT = np.array([22.65, 23.48, 24.98, 25.81, 24.67])
#: Typical LEGUS total exposure times (s).
EXPTIME = np.array([2400.0, 1100.0, 900.0, 1100.0, 900.0])
#: Drizzled pixel scale (arcsec/px).
PIXSCALE = 0.0396

_ARCSEC = np.pi / 180 / 3600
_D = 2.4            # primary diameter (m)
_EPS = 0.33         # central obscuration (linear)
_SPIDER_W = 0.038   # spider vane width (m)
_PADS = ((0.8921, 0.0000), (0.8921, 2.0944), (0.8921, 4.1888))  # (r/R, angle)
_PAD_R = 0.065      # pad radius (m)
#: Fraction of light in a broad halo (scattering, UV halo, red CCD halo)
_HALO_FRAC = np.array([0.12, 0.08, 0.05, 0.05, 0.10])
_HALO_SCALE = 3.0   # px, scale of the (1 + r^2/a^2)^-1.5 halo


def frequency_grid(m, oversample=2):
    """Frequencies (cycles/px) of a real FFT grid covering an ``m`` px frame.

    Parameters
    ----------
    m : int
        Frame size in output pixels.
    oversample : int
        Grid points per output pixel.

    Returns
    -------
    fy, fx : ndarray
        1-D frequency axes, ``fy`` of length ``m * oversample`` (full FFT
        ordering) and ``fx`` of length ``m * oversample // 2 + 1`` (rfft).
    """
    n = m * oversample
    return (np.fft.fftfreq(n, d=1.0 / oversample),
            np.fft.rfftfreq(n, d=1.0 / oversample))


def _pupil(npix, dx, sub=3):
    """Anti-aliased pupil transmission on an ``npix`` grid of spacing ``dx`` m."""
    c = (np.arange(npix * sub) - npix * sub / 2 + 0.5) * dx / sub
    x, y = np.meshgrid(c, c)
    r = np.hypot(x, y)
    p = (r <= _D / 2) & (r >= _EPS * _D / 2)
    # four spiders at 45 degrees to the pixel axes
    u, v = (x + y) / np.sqrt(2), (x - y) / np.sqrt(2)
    p &= (np.abs(u) > _SPIDER_W / 2) & (np.abs(v) > _SPIDER_W / 2)
    for rr, th in _PADS:
        px, py = rr * _D / 2 * np.cos(th), rr * _D / 2 * np.sin(th)
        p &= np.hypot(x - px, y - py) > _PAD_R
    p = p.reshape(npix, sub, npix, sub).mean(axis=(1, 3))
    return p


@lru_cache(maxsize=64)
def diffraction_otf(band_index, m, oversample=2):
    """Broad-band diffraction OTF of the pupil on the rfft grid of a frame.

    The OTF is the autocorrelation of the pupil, computed with FFTs on a
    pupil grid whose spacing makes one autocorrelation lag equal one
    frequency step ``1/m`` cycles/px at the given wavelength; it is
    averaged over 0.92, 1.00 and 1.08 times the pivot wavelength and
    mixed with a broad halo.

    Parameters
    ----------
    band_index : int
        Index into `BANDS`.
    m : int
        Frame size in output pixels.
    oversample : int
        Grid points per output pixel.

    Returns
    -------
    otf : ndarray
        Real array of shape ``(m*oversample, m*oversample//2 + 1)``, 1 at
        zero frequency.
    """
    n = m * oversample
    pix_rad = PIXSCALE * _ARCSEC
    total = np.zeros((n, n // 2 + 1))
    for fac in (0.92, 1.0, 1.08):
        lam = PIVOT_NM[band_index] * 1e-9 * fac
        dx = lam / (m * pix_rad)          # metres per frequency step
        need = int(np.ceil(2 * _D / dx)) + 4
        npup = max(64, int(2 ** np.ceil(np.log2(need))))
        p = _pupil(npup, dx)
        fp = np.fft.fft2(p)
        ac = np.fft.ifft2(np.abs(fp) ** 2).real
        ac /= ac[0, 0]
        # lags -n/2 .. n/2-1 (full) along y, 0 .. n/2 along x
        iy = np.fft.fftfreq(n, 1.0 / n).astype(int)
        ix = np.arange(n // 2 + 1)
        sub = ac[np.ix_(iy % npup, ix % npup)]
        # lags beyond the pupil autocorrelation support are zero
        lim = 2 * _D / dx
        ry = np.abs(iy)[:, None]
        sub = np.where(np.hypot(ry, ix[None, :]) > lim, 0.0, sub)
        total += sub
    total /= 3
    fy, fx = frequency_grid(m, oversample)
    f = np.hypot(fy[:, None], fx[None, :])
    halo = np.exp(-2 * np.pi * _HALO_SCALE * f)
    h = _HALO_FRAC[band_index]
    return (1 - h) * np.clip(total, 0, None) + h * halo


@lru_cache(maxsize=64)
def _pixel_response(m, oversample=2):
    fy, fx = frequency_grid(m, oversample)
    return np.sinc(fy)[:, None] * np.sinc(fx)[None, :]


def system_otf(band_index, m, blur_sigma, oversample=2):
    """Full transfer function: optics x pixel box x Gaussian blur.

    Parameters
    ----------
    band_index : int
        Index into `BANDS`.
    m : int
        Frame size in output pixels.
    blur_sigma : float
        Sigma (px) of the charge-diffusion/drizzle Gaussian of this image.
    oversample : int
        Grid points per output pixel.

    Returns
    -------
    otf : ndarray
        Array of shape ``(m*oversample, m*oversample//2 + 1)``.
    """
    fy, fx = frequency_grid(m, oversample)
    f2 = fy[:, None] ** 2 + fx[None, :] ** 2
    return (diffraction_otf(band_index, m, oversample)
            * _pixel_response(m, oversample)
            * np.exp(-2 * np.pi ** 2 * blur_sigma ** 2 * f2))
