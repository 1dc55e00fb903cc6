"""Galaxy light behind the candidates: disc, arms, diffuse patches, dust lanes.

All components are analytic and smooth on scales of several pixels, so they
are evaluated directly at the sample positions of each dithered exposure
(their PSF convolution is negligible).  Levels are anchored to the mean
pixel values of real LEGUS cutouts in NGC 1566 (F275W 0.0238, F336W 0.138,
F438W 0.145, F555W 0.254, F814W 0.390 e-/s, which include the sources), and
scaled per mosaic by a log-normal factor (median 0.45, 0.35 dex) because most
LEGUS galaxies are fainter than NGC 1566.
"""
import numpy as np

from .optics import PIVOT_NM

__all__ = ['Background', 'draw_background']

MEAN_NGC1566 = np.array([0.0238, 0.138, 0.145, 0.254, 0.390])


class Background:
    """Analytic multi-band galaxy light of one mosaic region."""

    def __init__(self, level, grad, arms, blobs, lanes, centre):
        self.level = level      # (5,) e-/s/px
        self.grad = grad        # (2,) fractional change per px
        self.arms = arms        # list of (nx, ny, c, width, amp(5,))
        self.blobs = blobs      # list of (x, y, sigma, amp(5,))
        self.lanes = lanes      # list of (nx, ny, c, width, tau_v)
        self.centre = centre

    def evaluate(self, b, x, y):
        """Surface brightness (e-/s/px) of band ``b`` at positions ``x, y``."""
        dx, dy = x - self.centre[0], y - self.centre[1]
        img = self.level[b] * np.clip(1 + self.grad[0] * dx + self.grad[1] * dy, 0.2, 3.0)
        for nx, ny, c, w, amp in self.arms:
            d = nx * x + ny * y - c
            img = img + amp[b] * np.exp(-0.5 * (d / w) ** 2)
        for bx, by, sg, amp in self.blobs:
            img = img + amp[b] * np.exp(-0.5 * ((x - bx) ** 2 + (y - by) ** 2) / sg ** 2)
        for nx, ny, c, w, tau in self.lanes:
            d = nx * x + ny * y - c
            img = img * np.exp(-tau * (PIVOT_NM[3] / PIVOT_NM[b]) * np.exp(-0.5 * (d / w) ** 2))
        return img


def draw_background(rng, shape, centre=None):
    """Draw the galaxy light of a region of ``shape`` (rows, cols).

    Parameters
    ----------
    rng : numpy.random.Generator
    shape : tuple of int
    centre : tuple of float, optional
        Reference point (x, y) of the gradient; the region centre by default.

    Returns
    -------
    Background
    """
    h, w = shape
    if centre is None:
        centre = ((w - 1) / 2, (h - 1) / 2)
    scale = 0.45 * 10 ** rng.normal(0, 0.35)
    colour = 10 ** rng.normal(0, 0.08, 5)
    level = 0.6 * MEAN_NGC1566 * scale * colour
    grad = rng.normal(0, 0.25, 2) / max(h, w, 64)
    size = max(h, w)
    blue = np.array([2.2, 1.8, 1.3, 1.0, 0.7])
    arms = []
    for _ in range(rng.poisson(0.6 * max(1.0, size / 128))):
        th = rng.uniform(0, np.pi)
        nx, ny = np.cos(th), np.sin(th)
        c = nx * rng.uniform(0, w) + ny * rng.uniform(0, h)
        amp = level * rng.uniform(0.3, 1.5) * blue
        arms.append((nx, ny, c, rng.uniform(4, 20), amp))
    blobs = []
    for _ in range(rng.poisson(2.0 * max(1.0, (size / 64) ** 2))):
        amp = level * rng.uniform(0.1, 1.0) * blue * rng.uniform(0.7, 1.5)
        blobs.append((rng.uniform(0, w), rng.uniform(0, h), rng.uniform(2.5, 10), amp))
    lanes = []
    for _ in range(rng.poisson(0.3 * max(1.0, size / 128))):
        th = rng.uniform(0, np.pi)
        nx, ny = np.cos(th), np.sin(th)
        c = nx * rng.uniform(0, w) + ny * rng.uniform(0, h)
        lanes.append((nx, ny, c, rng.uniform(1.5, 6), rng.uniform(0.2, 1.2)))
    return Background(level, grad, arms, blobs, lanes, centre)
