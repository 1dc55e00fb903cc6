"""Diffuse backgrounds and saturation of ``kingsim`` scenes."""


import numpy as np

from ._tables import _GAL, _SKY


# --------------------------------------------------------------- backgrounds
def _random_field(shape, rng, slope):
    ny, nx = shape
    ky = np.fft.fftfreq(ny)[:, None]
    kx = np.fft.rfftfreq(nx)[None, :]
    k = np.hypot(kx, ky)
    k[0, 0] = np.inf
    amp = k ** (-slope / 2)
    noise = rng.normal(size=(ny, nx // 2 + 1)) + 1j * rng.normal(size=(ny, nx // 2 + 1))
    f = np.fft.irfft2(noise * amp, s=shape)
    return (f - f.mean()) / f.std()


def _background(shape, rng):
    """Sky + smooth disc + arms, clumps, dust lane and HII blobs (5, ny, nx).

    Computed on a grid two times coarser, then bilinearly interpolated (all
    its structures are >= 4 px wide).
    """
    full = shape
    shape = ((shape[0] + 1) // 2 + 1, (shape[1] + 1) // 2 + 1)
    out = _background_coarse(shape, rng)
    yy = np.arange(full[0]) / 2.0
    xx = np.arange(full[1]) / 2.0
    iy, ix = yy.astype(int), xx.astype(int)
    fy, fx = (yy - iy)[:, None], (xx - ix)[None, :]
    return ((1 - fy) * (1 - fx) * out[:, iy][:, :, ix] + (1 - fy) * fx * out[:, iy][:, :, ix + 1]
            + fy * (1 - fx) * out[:, iy + 1][:, :, ix] + fy * fx * out[:, iy + 1][:, :, ix + 1])


def _background_coarse(shape, rng):
    """:func:`_background` on the coarse grid (lengths in coarse pixels)."""
    ny, nx = shape
    yy, xx = np.indices(shape, dtype=float)
    level = np.exp(rng.normal(0, 0.5))
    # smooth disc: exponential from a centre outside / at the edge of the field
    ang = rng.uniform(0, 2 * np.pi)
    gcx, gcy = nx / 2 + 1.2 * nx * np.cos(ang), ny / 2 + 1.2 * ny * np.sin(ang)
    rd = rng.uniform(0.5, 2.0) * max(shape)
    disc = np.exp(-np.hypot(xx - gcx, yy - gcy) / rd)
    disc /= disc.mean()
    # spiral-arm band crossing the field (young light, bluer)
    a0 = rng.uniform(0, np.pi)
    curv = rng.normal(0, 3e-3)
    d = (xx - nx / 2) * np.sin(a0) - (yy - ny / 2) * np.cos(a0)
    t = (xx - nx / 2) * np.cos(a0) + (yy - ny / 2) * np.sin(a0)
    d = d - curv * t**2 - rng.uniform(-0.3, 0.3) * ny
    arm = np.exp(-0.5 * (d / rng.uniform(12, 40)) ** 2) * rng.uniform(0.5, 2.5)
    clumpy = np.exp(0.6 * _random_field(shape, rng, 3.2))
    clumpy /= clumpy.mean()
    # dust lane (absorbs more in the blue)
    dl = ((xx - nx / 2) * np.sin(a0 + 0.2) - (yy - ny / 2) * np.cos(a0 + 0.2)
          - rng.uniform(-0.4, 0.4) * ny)
    lane = (np.exp(-0.5 * (dl / rng.uniform(2, 7.5)) ** 2)
            * (1 + 0.5 * _random_field(shape, rng, 3.5)))
    tau_v = rng.uniform(0.0, 0.9)
    tau_scale = np.array([1.9, 1.6, 1.3, 1.0, 0.6])
    out = np.empty((5,) + shape)
    armcol = np.array([3.0, 2.2, 1.4, 1.0, 0.7])  # arm light relative to disc, per band
    blobs = np.zeros(shape)
    for _ in range(rng.poisson(3)):
        bx, by, bs = rng.uniform(0, nx), rng.uniform(0, ny), rng.uniform(2, 7.5)
        blobs += rng.uniform(0.5, 3.0) * np.exp(-0.5 * ((xx - bx) ** 2 + (yy - by) ** 2) / bs**2)
    blobcol = np.array([2.0, 1.6, 0.8, 1.2, 0.5])
    for b in range(5):
        gal = _GAL[b] * level * disc * (0.6 + 0.4 * clumpy) * (1 + armcol[b] * arm * clumpy) / 2
        gal = gal + _GAL[b] * level * blobcol[b] * blobs * 0.5
        gal *= np.exp(-tau_v * tau_scale[b] * np.clip(lane, 0, None))
        out[b] = _SKY[b] * rng.uniform(0.7, 1.4) + gal
    return out


def _saturate(img, sat):
    """Clip at the saturation level and bleed the excess along columns."""
    over = img > sat
    if not over.any():
        return img
    for col in np.unique(np.nonzero(over)[1]):
        c = img[:, col]
        excess = (c[c > sat] - sat).sum()
        rows = np.nonzero(c > sat)[0]
        c[c > sat] = sat
        lo, hi = rows.min(), rows.max()
        while excess > 0 and (lo > 0 or hi < len(c) - 1):
            for r in (lo - 1, hi + 1):
                if 0 <= r < len(c) and excess > 0:
                    add = min(sat - c[r], excess)
                    c[r] += add
                    excess -= add
            lo, hi = max(lo - 1, 0), min(hi + 1, len(c) - 1)
    return img
