"""The analytic Moffat core + halo PSFs of ``kingsim``, drawn per image."""


import numpy as np
from scipy import fft as sfft

from ._tables import _FWHM, _HALO_FRAC, _OS
from .shapes import _points, _subgrid


# ------------------------------------------------------------------------ PSF
class _PSF:
    """Analytic PSF of one band of one image: elliptical Moffat core + halo."""

    def __init__(self, band, rng):
        self.fwhm = rng.uniform(*_FWHM[band])
        self.beta = rng.uniform(2.0, 5.0)
        self.ell = rng.uniform(0.0, 0.08)
        self.pa = rng.uniform(0, np.pi)
        self.halo_frac = rng.uniform(*_HALO_FRAC[band])
        self.halo_fwhm = rng.uniform(6.0, 12.0)
        self.halo_beta = rng.uniform(1.8, 2.5)
        self.shift = rng.normal(0.0, 0.05, 2)  # band registration jitter, px
        self._cache = {}

    @staticmethod
    def _moffat(dx, dy, fwhm, beta, ell, pa):
        alpha = fwhm / (2 * np.sqrt(2 ** (1 / beta) - 1))
        c, s = np.cos(pa), np.sin(pa)
        u = c * dx + s * dy
        v = -s * dx + c * dy
        r2 = (u / np.sqrt(1 - ell)) ** 2 + (v * np.sqrt(1 - ell)) ** 2
        img = (1 + r2 / alpha**2) ** (-beta)
        return img / img.sum()

    def kernel_fft(self, stamp):
        """rFFT of the sub-pixel-sampled PSF for a stamp of ``stamp`` px."""
        if stamp not in self._cache:
            n = stamp * _OS
            d = (np.arange(n) - n // 2) / _OS
            dx = d[None, :] - self.shift[0]
            dy = d[:, None] - self.shift[1]
            core = self._moffat(dx, dy, self.fwhm, self.beta, self.ell, self.pa)
            halo = self._moffat(dx, dy, self.halo_fwhm, self.halo_beta, 0.5 * self.ell, self.pa)
            k = (1 - self.halo_frac) * core + self.halo_frac * halo
            k = np.fft.ifftshift(k / k.sum())
            self._cache[stamp] = sfft.rfft2(k, workers=1)
        return self._cache[stamp]

    def point(self, fx, fy, stamp=32):
        """Pixel image of a unit point source at the nearest of 3 x 3 phases.

        The source sits at pixel ``(stamp // 2 + fx, stamp // 2 + fy)``.
        """
        jx, jy = int(round(fx * _OS)) % _OS, int(round(fy * _OS)) % _OS
        key = ("pt", stamp, jx, jy)
        if key not in self._cache:
            grid = _subgrid(stamp)
            c = stamp // 2
            self._cache[key] = self.convolve(_points(grid, [c + jx / _OS], [c + jy / _OS], [1.0]))
        return self._cache[key]

    def convolve(self, intrinsic):
        """Convolve a sub-pixel intrinsic image and bin it to pixels."""
        return self.convolve_hat(sfft.rfft2(intrinsic, workers=1), intrinsic.shape[0])

    def convolve_hat(self, hat, n):
        """Like :meth:`convolve`, from the rFFT ``hat`` of an ``n x n`` image."""
        stamp = n // _OS
        out = sfft.irfft2(hat * self.kernel_fft(stamp), s=(n, n), workers=1)
        return out.reshape(stamp, _OS, stamp, _OS).sum(axis=(1, 3))
