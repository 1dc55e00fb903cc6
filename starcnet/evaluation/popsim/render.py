"""Fourier-space rendering, dithered exposures, noise and drizzle for popsim."""
import numpy as np
from scipy import special

from .optics import BANDS, EXPTIME, frequency_grid, system_otf

__all__ = ['Components', 'ImageSetup', 'draw_setup', 'render_exposures',
           'combine', 'add_noise']

OVERSAMPLE = 2
READ_NOISE = 3.0       # e- per exposure
FULL_WELL = 63000.0    # e-
#: Sky + dark (e-/s/px) used for the noise; it is subtracted again, as in
#: sky-subtracted drizzled mosaics.
SKY = np.array([0.0012, 0.0025, 0.012, 0.035, 0.040])
NB = len(BANDS)


class Components:
    """Sources to render: point sources and smooth analytic profiles.

    Point sources: ``px, py`` (global 0-based px) and ``pflux`` (k, 5) e-/s.
    Smooth profiles: centre ``sx, sy``, ``sflux`` (j, 5), kind (0 = projected
    EFF ``(1 + r^2/a^2)^-eta``, 1 = exponential disc of scale length
    ``a``), scale ``a`` (px), ``eta``, axis ratio ``q``, position angle
    ``pa`` (rad).
    """

    def __init__(self):
        self.p = []
        self.s = []

    def add_points(self, x, y, flux):
        x = np.atleast_1d(np.asarray(x, float))
        y = np.atleast_1d(np.asarray(y, float))
        flux = np.asarray(flux, float).reshape(len(x), NB)
        if len(x):
            self.p.append((x, y, flux))

    def add_smooth(self, x, y, flux, kind, a, eta=1.5, q=1.0, pa=0.0):
        self.s.append((float(x), float(y), np.asarray(flux, float).reshape(NB),
                       int(kind), float(a), float(eta), float(q), float(pa)))

    def extend(self, other):
        self.p.extend(other.p)
        self.s.extend(other.s)

    def points(self):
        if not self.p:
            return np.zeros(0), np.zeros(0), np.zeros((0, NB))
        return (np.concatenate([p[0] for p in self.p]),
                np.concatenate([p[1] for p in self.p]),
                np.concatenate([p[2] for p in self.p]))


class ImageSetup:
    """Per-image settings: blur, band alignment, exposures and dithers."""

    def __init__(self, blur, align, dithers, exptimes):
        self.blur = blur            # (5,) px
        self.align = align          # (5, 2) px (dx, dy)
        self.dithers = dithers      # list of (n_i, 2) arrays, per band
        self.exptimes = exptimes    # list of (n_i,) arrays, per band


def draw_setup(rng):
    """Draw the per-image settings of one mosaic.

    Parameters
    ----------
    rng : numpy.random.Generator

    Returns
    -------
    ImageSetup
    """
    blur = rng.uniform(0.62, 0.85, NB) + np.array([0.06, 0.04, 0.02, 0.0, 0.0])
    align = rng.normal(0.0, 0.04, (NB, 2))
    align[3] = 0.0
    dithers, times = [], []
    for b in range(NB):
        n = rng.choice([2, 3, 3, 4])
        d = rng.random((n, 2))
        t = EXPTIME[b] / n * rng.uniform(0.85, 1.15)
        dithers.append(d)
        times.append(np.full(n, t))
    return ImageSetup(blur, align, dithers, times)


_ZTAB = np.concatenate([[0.0], np.geomspace(1e-4, 300.0, 1500)])
_ETAB = np.round(np.arange(1.05, 4.001, 0.05), 2)


def _eff_table():
    rows = []
    zz = np.maximum(_ZTAB, 1e-12)
    for eta in _ETAB:
        nu = eta - 1.0
        with np.errstate(all='ignore'):
            val = 2 ** (1 - nu) / special.gamma(nu) * zz ** nu * special.kv(nu, zz)
        val = np.nan_to_num(val, nan=0.0, posinf=1.0)
        val[0] = 1.0
        rows.append(np.clip(val, 0.0, 1.0))
    return np.array(rows)


_EFF_TAB = _eff_table()


def _eff_ft(z, eta):
    """Fourier transform of the projected EFF profile, unit flux.

    ``FT[(1 + r^2/a^2)^-eta] = 2^(1-nu)/Gamma(nu) z^nu K_nu(z)``, with
    ``nu = eta - 1`` and ``z = 2 pi a f``; tabulated in eta steps of 0.05.
    """
    i = int(np.clip(np.round((eta - 1.05) / 0.05), 0, len(_ETAB) - 1))
    return np.interp(z, _ZTAB, _EFF_TAB[i])


def scene_ft(comp, x0, y0, m):
    """Fourier transform of the sources on the rfft grid of one frame.

    Parameters
    ----------
    comp : Components
    x0, y0 : float
        Global position of the frame's pixel (0, 0).
    m : int
        Frame size (px).

    Returns
    -------
    ndarray
        Complex array ``(5, n, n//2 + 1)`` with ``n = m * OVERSAMPLE``
        (before the transfer function).
    """
    fy, fx = frequency_grid(m, OVERSAMPLE)
    out = np.zeros((NB, len(fy), len(fx)), complex)
    x, y, fl = comp.points()
    if len(x):
        ey = np.exp(-2j * np.pi * np.outer(y - y0, fy))        # (k, n)
        ex = np.exp(-2j * np.pi * np.outer(x - x0, fx))        # (k, nx)
        a = (fl.T[:, :, None] * ey[None]).transpose(0, 2, 1)   # (b, n, k)
        out += np.matmul(a, ex)
    for (sx, sy, sfl, kind, a, eta, q, pa) in comp.s:
        c, s = np.cos(pa), np.sin(pa)
        fu = fx[None, :] * c + fy[:, None] * s
        fv = -fx[None, :] * s + fy[:, None] * c
        z = 2 * np.pi * a * np.sqrt(fu ** 2 + (q * fv) ** 2)
        prof = _eff_ft(z, eta) if kind == 0 else (1 + z ** 2) ** -1.5
        ph = np.outer(np.exp(-2j * np.pi * (sy - y0) * fy), np.exp(-2j * np.pi * (sx - x0) * fx))
        g = prof * ph
        out += sfl[:, None, None] * g[None]
    return out


def render_exposures(comp, x0, y0, m, setup, bands=range(NB)):
    """Noise-free exposure samples of one frame, for each band and dither.

    Exposure ``i`` of band ``b`` samples the image at output coordinates
    ``(col + dx_i, row + dy_i)``.

    Returns
    -------
    dict
        band index -> array ``(n_i, m, m)`` in e-/s.
    """
    ft = scene_ft(comp, x0, y0, m)
    fy, fx = frequency_grid(m, OVERSAMPLE)
    n = m * OVERSAMPLE
    res = {}
    for b in bands:
        f = ft[b] * system_otf(b, m, setup.blur[b], OVERSAMPLE)
        ax, ay = setup.align[b]
        exps = []
        for dx, dy in setup.dithers[b]:
            sh = np.outer(np.exp(2j * np.pi * (dy - ay) * fy), np.exp(2j * np.pi * (dx - ax) * fx))
            img = np.fft.irfft2(f * sh, s=(n, n)) * OVERSAMPLE ** 2
            exps.append(img[::OVERSAMPLE, ::OVERSAMPLE])
        res[b] = np.array(exps)
    return res


def add_noise(exps, b, setup, rng):
    """Poisson + read noise and full-well clipping of each exposure of band ``b``.

    Parameters
    ----------
    exps : ndarray
        ``(n_i, h, w)`` noise-free exposures (e-/s, background included).
    b : int
        Band index.
    setup : ImageSetup
    rng : numpy.random.Generator

    Returns
    -------
    ndarray
        Noisy exposures in e-/s, sky subtracted.
    """
    t = setup.exptimes[b][:, None, None]
    counts = np.clip((exps + SKY[b]) * t, 0, None)
    counts = rng.poisson(counts).astype(float) + rng.normal(0.0, READ_NOISE, counts.shape)
    counts = np.minimum(counts, FULL_WELL)
    return counts / t - SKY[b]


def combine(exps, dithers):
    """Drizzle (pixfrac 1, same scale) the dithered exposures onto the output grid.

    For a pure sub-pixel shift, the overlap weights of drizzling are
    bilinear: output pixel ``(r, c)`` takes ``(1-dx)(1-dy)`` of exposure
    pixel ``(r, c)``, ``dx(1-dy)`` of ``(r, c-1)`` and so on.  This
    correlates the noise of neighbouring pixels as in real mosaics.

    Parameters
    ----------
    exps : ndarray
        ``(n_i, h, w)``.
    dithers : ndarray
        ``(n_i, 2)`` (dx, dy) in [0, 1).

    Returns
    -------
    ndarray
        ``(h, w)`` mean of the re-sampled exposures.
    """
    out = np.zeros(exps.shape[1:])
    for e, (dx, dy) in zip(exps, dithers):
        left = np.concatenate([e[:, :1], e[:, :-1]], axis=1)
        ex = (1 - dx) * e + dx * left
        up = np.concatenate([ex[:1], ex[:-1]], axis=0)
        out += (1 - dy) * ex + dy * up
    return out / len(exps)
