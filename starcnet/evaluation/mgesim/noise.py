# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Diffuse galaxy light, field stars, detector artefacts and noise.

Noise is built as a real photon count: the noiseless scene plus sky and dark
current times the exposure time is drawn from a Poisson distribution, read
noise of ``n_exp`` exposures is added, the expected sky is subtracted (the
mosaics are sky subtracted) and the residual is shaped in Fourier space by a
random anisotropic Gaussian transfer function that mimics the pixel-to-pixel
correlation (and variance reduction) of drizzling.
"""
import numpy as np

from . import calibration as cal

__all__ = ['diffuse_light', 'field_star_components', 'add_noise', 'add_hot_pixels',
           'DIFFUSE_COLOUR']

#: Typical per-band ratio of diffuse light to F555W, from the per-band means of
#: real NGC 1566 cutouts subtracted by the published StarcNet model
#: ([0.024, 0.138, 0.145, 0.254, 0.390] e-/s divided by the F555W value).
DIFFUSE_COLOUR = np.array([0.094, 0.54, 0.57, 1.0, 1.54])


def diffuse_light(rng, shape, level_v, n_clumps=None):
    """Smooth unresolved galaxy light: a tilted plane plus broad Gaussian clumps.

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : (int, int)
    level_v : float
        Mean F555W surface brightness (e-/s/px).
    n_clumps : int, optional

    Returns
    -------
    images : ndarray, shape (5, ny, nx)
    """
    from .render import render_gaussians
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    colour = DIFFUSE_COLOUR * np.exp(rng.normal(0, 0.3, 5))
    ang = rng.uniform(0, 2 * np.pi)
    slope = rng.uniform(0, 0.6) / max(nx, ny)
    ramp = 1 + slope * ((xx - nx / 2) * np.cos(ang) + (yy - ny / 2) * np.sin(ang))
    out = np.empty((5, ny, nx))
    if n_clumps is None:
        n_clumps = rng.integers(0, 5)
    cx = rng.uniform(0, nx, n_clumps)
    cy = rng.uniform(0, ny, n_clumps)
    sx = rng.uniform(4, 20, n_clumps)
    sy = sx * rng.uniform(0.5, 1.0, n_clumps)
    amp = level_v * rng.uniform(0.3, 1.5, n_clumps) * 2 * np.pi * sx * sy
    blue = rng.uniform(0, 1, n_clumps)
    clump_colour = DIFFUSE_COLOUR[None, :] * (1 + blue[:, None] * np.array([3, 1.5, 0.8, 0, -0.3]))
    for b in range(5):
        img = level_v * colour[b] * 0.6 * ramp
        if n_clumps:
            img = img + render_gaussians(shape, amp * clump_colour[:, b], cx, cy, sx ** 2,
                                         sy ** 2)
        out[b] = np.clip(img, 0, None)
    return out


def _star_mags(rng, n, v):
    """Five-band Vega mags of field stars: blue main sequence or red giants."""
    red = rng.uniform(size=n) < 0.4
    v_i = np.where(red, rng.normal(1.3, 0.3, n), rng.normal(-0.1, 0.15, n))
    b_v = np.where(red, rng.normal(1.0, 0.2, n), rng.normal(-0.1, 0.1, n))
    u_b = np.where(red, rng.normal(0.6, 0.3, n), rng.normal(-1.0, 0.2, n))
    nuv_u = np.where(red, rng.normal(1.5, 0.5, n), rng.normal(-0.6, 0.2, n))
    b = v + b_v
    u = b + u_b
    return np.column_stack([u + nuv_u, u, b, v, v - v_i])


def field_star_components(rng, shape, density, exclude_xy, exclude_r=2.5):
    """Resolved field stars (point sources) with a rising luminosity function.

    Returns
    -------
    xy : ndarray, shape (n, 2)
    fluxes : ndarray, shape (n, 5)
        e-/s in each band.
    """
    ny, nx = shape
    n = rng.poisson(density * nx * ny / 1024.0)
    x = rng.uniform(-0.5, nx - 0.5, n)
    y = rng.uniform(-0.5, ny - 0.5, n)
    far = np.hypot(x - exclude_xy[0], y - exclude_xy[1]) > exclude_r
    x, y = x[far], y[far]
    n = len(x)
    # dN/dm ~ 10^(0.35 m) between 22.5 and 27.5 (inverse-CDF draw)
    a = 0.35 * np.log(10)
    u = rng.uniform(size=n)
    lo, hi = np.exp(a * 22.5), np.exp(a * 27.5)
    v = np.log(lo + u * (hi - lo)) / a
    mags = _star_mags(rng, n, v)
    return np.column_stack([x, y]), 10 ** (-0.4 * (mags - cal.ZEROPOINTS[None, :]))


def add_hot_pixels(rng, images, rate=0.25):
    """Add warm/hot pixels and short cosmic-ray residuals, independently per band."""
    nb, ny, nx = images.shape
    for b in range(nb):
        for _ in range(rng.poisson(rate)):
            x, y = rng.integers(0, nx), rng.integers(0, ny)
            images[b, y, x] += rng.lognormal(np.log(0.1), 1.0)
    return images


def add_cosmic_residual(rng, image, x0, y0, peak):
    """A short (1-4 px) cosmic-ray residual track near (x0, y0)."""
    ny, nx = image.shape
    length = rng.integers(1, 5)
    ang = rng.uniform(0, np.pi)
    for k in range(length):
        x = int(round(x0 + k * np.cos(ang)))
        y = int(round(y0 + k * np.sin(ang)))
        if 0 <= x < nx and 0 <= y < ny:
            image[y, x] += peak * rng.uniform(0.4, 1.0)
    return image


def _transfer(rng, shape):
    ny, nx = shape
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.fftfreq(nx)[None, :]
    sx, sy = rng.uniform(0.25, 0.6, 2)
    h = np.exp(-2 * np.pi ** 2 * (sx ** 2 * kx ** 2 + sy ** 2 * ky ** 2))
    var_keep = rng.uniform(0.6, 0.95)
    return h * np.sqrt(var_keep / np.mean(h ** 2))


def add_noise(rng, model, exptime, sky, n_exp):
    """Photon, dark and read noise, sky subtracted and drizzle-correlated.

    Parameters
    ----------
    rng : numpy.random.Generator
    model : ndarray, shape (5, ny, nx)
        Noiseless scene (e-/s), non-negative.
    exptime, sky : ndarray, shape (5,)
    n_exp : ndarray of int, shape (5,)
        Exposures combined in each band.

    Returns
    -------
    images : ndarray, shape (5, ny, nx)
    """
    out = np.empty_like(model)
    for b in range(model.shape[0]):
        t = exptime[b]
        expect = (np.clip(model[b], 0, None) + sky[b] + cal.DARK) * t
        counts = rng.poisson(expect).astype(float)
        counts += rng.normal(0, cal.READ_NOISE * np.sqrt(n_exp[b]), expect.shape)
        resid = counts - expect
        h = _transfer(rng, model.shape[1:])
        resid = np.real(np.fft.ifft2(np.fft.fft2(resid) * h))
        out[b] = model[b] + resid / t
    return out
