"""Intrinsic (pre-PSF) surface-brightness shapes of ``kingsim`` sources."""


import numpy as np

from ._tables import _KING_LOGC, _KING_RATIO, _OS


# ------------------------------------------------------------ intrinsic shapes
def _subgrid(stamp):
    u = (np.arange(stamp * _OS) + 0.5) / _OS - 0.5
    return u[None, :], u[:, None]


def _ellcoords(x, y, cx, cy, q, pa, angle=False):
    c, s = np.cos(pa), np.sin(pa)
    dx, dy = x - cx, y - cy
    u = c * dx + s * dy
    v = -s * dx + c * dy
    r = np.sqrt(q * u**2 + v**2 / q)
    return (r, np.arctan2(v, u)) if angle else (r, None)


def _king(grid, cx, cy, reff, logc, q, pa, lop=0.0, lop_pa=0.0):
    x, y = grid
    rc = reff / np.interp(logc, _KING_LOGC, _KING_RATIO)
    rt = rc * 10**logc
    r, phi = _ellcoords(x, y, cx, cy, q, pa, angle=bool(lop))
    img = (1 / np.sqrt(1 + (r / rc) ** 2) - 1 / np.sqrt(1 + (rt / rc) ** 2)) ** 2
    img[r >= rt] = 0.0
    if lop:
        img = img * (1 + lop * np.cos(phi - lop_pa) * r / (r + reff))
    return _norm(img, grid, cx, cy)


def _sersic(grid, cx, cy, reff, n, q, pa):
    x, y = grid
    b = 2 * n - 1 / 3 + 0.009876 / n
    r, _ = _ellcoords(x, y, cx, cy, q, pa)
    return _norm(np.exp(-b * ((r / max(reff, 0.05)) ** (1 / n) - 1)), grid, cx, cy)


def _gauss(grid, cx, cy, sigma, q, pa):
    x, y = grid
    r, _ = _ellcoords(x, y, cx, cy, q, pa)
    return _norm(np.exp(-0.5 * (r / max(sigma, 0.05)) ** 2), grid, cx, cy)


def _norm(img, grid, cx, cy):
    s = img.sum()
    if not np.isfinite(s) or s <= 0:  # narrower than a sub-pixel: a point
        return _points(grid, [cx], [cy], [1.0])
    return img / s


def _points(grid, xs, ys, fluxes):
    n = grid[0].shape[1]
    img = np.zeros((n, n))
    for x, y, f in zip(xs, ys, fluxes):
        sx = (x + 0.5) * _OS - 0.5
        sy = (y + 0.5) * _OS - 0.5
        ix, iy = int(np.floor(sx)), int(np.floor(sy))
        fx, fy = sx - ix, sy - iy
        for ddx, ddy, w in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)),
                            (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
            jx, jy = ix + ddx, iy + ddy
            if 0 <= jx < n and 0 <= jy < n:
                img[jy, jx] += f * w
    return img


def _spikes(grid, cx, cy, pa, length):
    x, y = grid
    img = np.zeros_like(x * y)
    for k in range(4):
        a = pa + k * np.pi / 2
        u = (x - cx) * np.cos(a) + (y - cy) * np.sin(a)
        v = -(x - cx) * np.sin(a) + (y - cy) * np.cos(a)
        img += np.where(u > 0, np.exp(-0.5 * (v / 0.4) ** 2) / (1 + (u / length) ** 2), 0.0)
    return img / img.sum()
