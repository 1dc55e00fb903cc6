# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Observing conditions: exposure depth, sky, structured galaxy light,
detector noise correlated by drizzling, and image defects.

Everything is drawn per image (a cutout's canvas or a scene):

* **exposure**: the LEGUS exposure times scaled by 0.3-2.5 (depth), 2-6
  exposures per band (read noise 3.1 e- each);
* **sky**: 2-40% of the mean pixel values of real LEGUS cutouts, per band;
* **galaxy light** (3-100% of those values): a smooth gradient plus, at
  random, Gaussian knots (HII regions, bluer), a spiral-arm segment (a
  ridge 4-20 px wide along a random curve) and a dust lane (an absorbing
  band that dims the blue bands most);
* **noise**: Poisson and read noise, then, for most images, correlated
  between neighbouring pixels by a small drizzle-like kernel (variance
  per pixel kept);
* **defects**: saturation with bleed columns (from the sources' flux),
  cosmic-ray residuals and hot pixels in one band, and, rarely, a
  footprint edge (zeros beyond a line, as drizzled mosaics hold) or an
  image edge (the pixels beyond it filled with the median of the rest,
  as `starcnet.cutouts.extract_cutouts` does).
"""

import numpy as np
from scipy import ndimage

from ._data import EXPTIME, FULL_WELL, MEAN_PIXEL, READ_NOISE

__all__ = ['draw_exposures', 'galaxy_light', 'add_noise', 'apply_artifacts',
           'cosmic_rays', 'cut_edges']

_BLUE = np.array([1.0, 0.9, 0.7, 0.6, 0.5])       # young light (relative)
_RED = np.array([0.15, 0.3, 0.5, 0.8, 1.0])       # old light (relative)


def draw_exposures(rng, n, depth=(0.3, 2.5)):
    """
    Exposure times (n, 5) in s and numbers of exposures (n, 5); ``depth``
    is the range of the factor applied to the LEGUS exposure times.
    """
    exptime = EXPTIME[None, :] * rng.uniform(*depth, (n, 1)) * rng.uniform(
        0.8, 1.25, (n, 5))
    nexp = rng.integers(2, 7, (n, 5)).astype(float)
    return exptime, nexp


def galaxy_light(rng, shape, scale=1.0):
    """
    Sky plus structured diffuse galaxy light of one image, (5, H, W) e-/s.

    ``scale`` sets the typical size of the structures in pixels (1 for a
    cutout's canvas; larger for a scene).
    """
    H, W = shape
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    yy -= (H - 1) / 2
    xx -= (W - 1) / 2
    sky = MEAN_PIXEL * np.exp(rng.uniform(np.log(0.02), np.log(0.4))
                              + rng.normal(0, 0.2, 5))
    level = MEAN_PIXEL * np.exp(rng.uniform(np.log(0.03), np.log(1.0)))
    mix = rng.uniform(0, 1)
    colour = mix * _BLUE / _BLUE.mean() + (1 - mix) * _RED / _RED.mean()
    colour = colour * np.exp(rng.normal(0, 0.15, 5))
    g = rng.normal(0, 0.02 / scale, 2)
    smooth = np.exp(g[0] * xx + g[1] * yy)
    light = colour[:, None, None] * smooth[None]
    if rng.uniform() < 0.5:                 # knots: HII regions, bluer
        for _ in range(rng.integers(1, 4)):
            bx, by = rng.uniform(-0.6, 0.6, 2) * (W, H)
            bs = rng.uniform(3, 15) * scale
            amp = rng.uniform(0.2, 1.0)
            knot = np.exp(-0.5 * ((xx - bx) ** 2 + (yy - by) ** 2) / bs ** 2)
            light = light + amp * (_BLUE / _BLUE.mean())[:, None, None] * knot[None]
    if rng.uniform() < 0.35:                # spiral-arm segment: a curved ridge
        t = rng.uniform(0, np.pi)
        curv = rng.normal(0, 0.01 / scale)
        d = (xx * np.sin(t) - yy * np.cos(t) + rng.uniform(-0.4, 0.4) * W
             + curv * (xx * np.cos(t) + yy * np.sin(t)) ** 2)
        width = rng.uniform(4, 20) * scale
        ridge = np.exp(-0.5 * (d / width) ** 2)
        light = light + rng.uniform(0.3, 1.5) * colour[:, None, None] * ridge[None]
    img = sky[:, None, None] + level[:, None, None] * light
    if rng.uniform() < 0.25:                # dust lane: dims blue bands most
        t = rng.uniform(0, np.pi)
        d = xx * np.sin(t) - yy * np.cos(t) + rng.uniform(-0.4, 0.4) * W
        width = rng.uniform(2, 8) * scale
        tau = rng.uniform(0.2, 1.5) * np.array([1.9, 1.6, 1.35, 1.0, 0.6])
        img = img * np.exp(-tau[:, None, None] * np.exp(-0.5 * (d / width) ** 2)[None])
    return img.astype(np.float32)


def add_noise(img, rng, exptime, nexp, correlated=None):
    """
    Poisson and read noise on ``img`` (M, 5, H, W) in e-/s; a new array.

    ``correlated`` (M,) bool: correlate the noise of neighbouring pixels
    (default: drawn, 75% of the images).
    """
    M = img.shape[0]
    t = exptime[:, :, None, None]
    expected = np.clip(img, 0, None) * t
    counts = rng.poisson(expected).astype(np.float32)
    read = rng.standard_normal(img.shape, dtype=np.float32) * (
        READ_NOISE * np.sqrt(nexp))[:, :, None, None].astype(np.float32)
    noise = (counts - expected.astype(np.float32) + read) / t.astype(np.float32)
    if correlated is None:
        correlated = rng.uniform(size=M) < 0.75
    for m in np.flatnonzero(correlated):
        a = rng.uniform(0.15, 0.6)
        k = np.array([a, 1.0, a])
        k /= np.sqrt(np.sum(k ** 2))          # separable; variance kept
        noise[m] = ndimage.convolve1d(noise[m], k, axis=-1, mode='wrap')
        noise[m] = ndimage.convolve1d(noise[m], k, axis=-2, mode='wrap')
    return (img + noise).astype(np.float32)


def apply_artifacts(img, artifacts, exptime, nexp, offset=(0, 0)):
    """Add non-astronomical features to ``img`` (5, H, W) in place."""
    H, W = img.shape[-2:]
    for kind, x, y, p in artifacts:
        x, y = x - offset[1], y - offset[0]
        if kind == 'saturation':
            b_sat = FULL_WELL * nexp / exptime          # e-/s per band
            for b in range(img.shape[0]):
                band = img[b]
                excess = np.clip(band - b_sat[b], 0, None)
                if not excess.any():
                    continue
                band[:] = np.minimum(band, b_sat[b])
                col = int(round(x))
                if not 0 <= col < W:
                    continue
                length = int(excess.sum() / (2 * b_sat[b])) + 1
                row = int(round(y))
                lo, hi = max(row - length, 0), min(row + length + 1, H)
                band[lo:hi, col] = b_sat[b]
        elif kind in ('cosmic', 'hot'):
            b = p['band']
            for (yy, xx), amp in zip(p['pixels'], p['amplitudes']):
                yy, xx = int(round(y + yy)), int(round(x + xx))
                if 0 <= yy < H and 0 <= xx < W:
                    img[b, yy, xx] += amp


def cosmic_rays(img, rng, rate=0.1):
    """Residual cosmic rays / hot pixels in one band of some images, in place."""
    M, nb, H, W = img.shape
    for m in np.flatnonzero(rng.uniform(size=M) < rate):
        b = int(rng.integers(0, nb))
        sigma = 1.4826 * np.median(np.abs(img[m, b] - np.median(img[m, b])))
        for _ in range(rng.integers(1, 4)):
            length = int(rng.integers(1, 7))
            t = rng.uniform(0, 2 * np.pi)
            y0, x0 = rng.uniform(0, H), rng.uniform(0, W)
            steps = np.arange(length) - length // 2
            ys = np.clip(np.round(y0 + steps * np.sin(t)).astype(int), 0, H - 1)
            xs = np.clip(np.round(x0 + steps * np.cos(t)).astype(int), 0, W - 1)
            img[m, b, ys, xs] += rng.uniform(5, 80, length) * max(sigma, 1e-4)


def cut_edges(img, rng, rate=0.04, core=(11, 22)):
    """
    Footprint edges (zeros) and image edges (median fill) in some cutouts.

    ``img`` (M, 5, 32, 32) in place; the edge never reaches the central
    pixels ``core`` (a source there would not be classified).
    """
    M, nb, H, W = img.shape
    for m in np.flatnonzero(rng.uniform(size=M) < rate):
        side = int(rng.integers(0, 4))
        depth = int(rng.integers(1, core[0]))       # rows/columns lost
        sel = [slice(None)] * 2
        sel[side % 2] = slice(0, depth) if side < 2 else slice(H - depth, H)
        if rng.uniform() < 0.5:
            bands = [int(rng.integers(0, nb))]      # one band's footprint ends
            for b in bands:
                img[m, b][tuple(sel)] = 0.0
        else:                                       # the image ends: filled
            keep = np.ones((H, W), dtype=bool)
            keep[tuple(sel)] = False
            for b in range(nb):
                img[m, b][~keep] = np.median(img[m, b][keep])
