"""The ``kingsim`` scene and candidate generator (see README.rst)."""

import os

import numpy as np
from astropy.table import QTable
from scipy import fft as sfft
from scipy.ndimage import convolve

from .photometry import APCOR, BANDS, ZEROPOINTS, ci_and_flux, get_apertures

__all__ = ["simulate_candidates", "make_scene", "BANDS", "PIXEL_SCALE"]

#: Mosaic pixel scale, arcsec.
PIXEL_SCALE = 0.0396
_OS = 3  # sub-pixel sampling of every stamp (pixel integration)
_STAMP = 40  # stamp size for candidates, px
_BIG = 96  # stamp size for bright stars, px
_SOLVE = 32  # stamp size used to solve candidate sizes, px
_EXPTIME = np.array([2400.0, 1100.0, 900.0, 1100.0, 900.0])
_NEXP = 3
_READ_NOISE = 3.0
_FULL_WELL = 63000.0
# Moffat core FWHM range (px) per band; UV halo stronger.
_FWHM = np.array([[1.90, 2.30], [1.80, 2.20], [1.85, 2.25], [1.95, 2.35], [2.10, 2.50]])
_HALO_FRAC = np.array([[0.18, 0.28], [0.14, 0.24], [0.10, 0.18], [0.10, 0.16], [0.12, 0.20]])
# diffuse light (sky + galaxy) mean levels, e-/s/px, before the random scene factor
_SKY = np.array([0.0008, 0.002, 0.005, 0.015, 0.025])
_GAL = np.array([0.008, 0.085, 0.085, 0.105, 0.29])
_CLASS_CENTROID_ERR = {1: 0.15, 2: 0.3, 3: 0.5, 4: 0.3}
_HERE = os.path.dirname(os.path.abspath(__file__))


# ---------------------------------------------------------------- data tables
def _load_tables():
    lim = None
    with open(os.path.join(_HERE, "legus_photometry.txt")) as fh:
        for line in fh:
            if line.startswith("# detection_limits"):
                lim = np.array([float(v) for v in line.split()[2:]])
    phot = np.loadtxt(os.path.join(_HERE, "legus_photometry.txt"))
    ryon = np.loadtxt(os.path.join(_HERE, "ryon2017_reff.txt"))
    return phot, lim, ryon


_PHOT, _DETLIM, _RYON = _load_tables()
_ROWS = {k: _PHOT[_PHOT[:, 0] == k, 1:] for k in (1, 2, 3, 4)}


# ------------------------------------------------------------------ King table
def _king_reff_ratio():
    """Reff / rc of a projected King (1962) profile, on a grid of log c."""
    logc = np.linspace(0.3, 2.5, 45)
    ratio = np.empty_like(logc)
    for i, lc in enumerate(logc):
        c = 10**lc
        r = np.linspace(0, c, 20001)
        s = (1 / np.sqrt(1 + r**2) - 1 / np.sqrt(1 + c**2)) ** 2
        cum = np.cumsum(s * r)
        ratio[i] = np.interp(0.5 * cum[-1], cum, r)
    return logc, ratio


_KING_LOGC, _KING_RATIO = _king_reff_ratio()


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


# ------------------------------------------------------------- source recipes
def _star_colour(rng):
    """Colour offsets m_b - m_V of a field star (blue MS or red supergiant)."""
    if rng.random() < 0.7:
        base = np.array([-1.2, -1.1, -0.2, 0.0, 0.2])
        return base + rng.normal(0, 0.25, 5) * np.array([1, 1, 0.4, 0, 0.5])
    base = np.array([3.2, 2.2, 1.4, 0.0, -1.6])
    return base + rng.normal(0, 0.35, 5) * np.array([1, 1, 0.5, 0, 0.6])


class _Recipe:
    """A source with shape set by one scale parameter.

    ``components(grid, cx, cy, scale)`` returns unit-flux sub-pixel images;
    ``weights`` (n_comp, 5) their relative fluxes per band.
    """

    lo, hi = 0.05, 8.0

    def __init__(self, rng):
        self.weights = np.ones((1, 5))

    def components(self, grid, cx, cy, scale):  # pragma: no cover - abstract
        raise NotImplementedError

    def intrinsic(self, comps, band):
        return sum(w * c for w, c in zip(self.weights[:, band], comps))


class _Class1(_Recipe):
    """Symmetric King cluster."""

    def __init__(self, rng):
        self.logc = rng.uniform(0.7, 1.9)
        self.q = rng.uniform(0.85, 1.0)
        self.pa = rng.uniform(0, np.pi)
        self.weights = np.ones((1, 5))

    def components(self, grid, cx, cy, scale):
        return [_king(grid, cx, cy, scale, self.logc, self.q, self.pa)]


class _Class2(_Recipe):
    """Elongated and/or lopsided King cluster, sometimes with a side clump."""

    def __init__(self, rng):
        self.logc = rng.uniform(0.7, 1.9)
        self.q = rng.uniform(0.45, 0.85) if rng.random() < 0.7 else rng.uniform(0.8, 1.0)
        self.pa = rng.uniform(0, np.pi)
        self.lop = rng.uniform(0.25, 0.7) if rng.random() < 0.5 else 0.0
        self.lop_pa = rng.uniform(0, 2 * np.pi)
        self.clump = rng.random() < 0.35 or (self.lop == 0 and self.q > 0.8)
        self.clump_d = rng.uniform(1.2, 2.5)
        self.clump_pa = rng.uniform(0, 2 * np.pi)
        frac = rng.uniform(0.1, 0.3)
        col = rng.normal(0, 0.15, 5)
        self.weights = np.ones((1, 5))
        if self.clump:
            self.weights = np.vstack([np.full(5, 1 - frac), frac * 10 ** (-0.4 * col)])

    def components(self, grid, cx, cy, scale):
        out = [_king(grid, cx, cy, scale, self.logc, self.q, self.pa, self.lop, self.lop_pa)]
        if self.clump:
            d = self.clump_d * scale + 1.0
            out.append(_king(grid, cx + d * np.cos(self.clump_pa), cy + d * np.sin(self.clump_pa),
                             0.4 * scale, 1.2, 0.9, self.pa))
        return out


class _Class3(_Recipe):
    """Compact association: stellar peaks on diffuse emission."""

    lo, hi = 0.3, 9.0

    def __init__(self, rng):
        self.nstar = 3 + rng.poisson(5)
        q = rng.uniform(0.4, 1.0)
        pa = rng.uniform(0, np.pi)
        off = rng.normal(0, 1, (self.nstar, 2)) * np.array([1 / np.sqrt(q), np.sqrt(q)])
        c, s = np.cos(pa), np.sin(pa)
        self.off = off @ np.array([[c, s], [-s, c]])
        fl = rng.pareto(1.3, self.nstar) + 1
        fdiff = rng.uniform(0.25, 0.65)
        fl = (1 - fdiff) * fl / fl.sum()
        self.q, self.pa = q, pa
        self.dscale = rng.uniform(1.0, 2.0)
        cols = [rng.normal(0, 0.2, 5)]  # diffuse
        for _ in range(self.nstar):
            cols.append(_star_colour(rng) * 0.35 + rng.normal(0, 0.1, 5))
        cols = np.array(cols)
        cols[:, 3] = 0.0
        self.weights = np.concatenate([[fdiff], fl])[:, None] * 10 ** (-0.4 * cols)

    def components(self, grid, cx, cy, scale):
        out = [_gauss(grid, cx, cy, self.dscale * scale, self.q, self.pa)]
        for dx, dy in self.off * scale:
            out.append(_points(grid, [cx + dx], [cy + dy], [1.0]))
        return out


class _Class4(_Recipe):
    """Not a cluster: blends, stars on nebulosity, galaxies, artifacts."""

    def __init__(self, rng, kind=None):
        self.kind = kind or rng.choice(["blend", "star", "galaxy", "spike", "artifact"],
                                       p=[0.38, 0.17, 0.2, 0.15, 0.1])
        r = np.random.default_rng(rng.integers(1 << 31))
        if self.kind in ("blend", "artifact"):
            self.lo, self.hi = 0.05, 3.0
            n = 2 + (r.random() < 0.45) + (r.random() < 0.15)
            fl = np.concatenate([[1.0], r.uniform(0.3, 1.0, n - 1)])
            off = r.normal(0, 1, (n, 2))
            off -= (fl[:, None] * off).sum(0) / fl.sum()  # light centroid at the centre
            self.dirs = np.arctan2(off[:, 1], off[:, 0])
            self.dist = np.hypot(off[:, 0], off[:, 1])
            cols = np.array([_star_colour(r) * 0.6 for _ in range(n)])
            cols[:, 3] = 0
            self.weights = fl[:, None] * 10 ** (-0.4 * cols)
        elif self.kind in ("star", "spike"):
            self.lo, self.hi = 0.3, 3.0
            f = r.uniform(0.3, 0.7)
            col = r.normal(0, 0.3, 5)
            col[3] = 0
            self.weights = np.vstack([np.full(5, 1 - f), f * 10 ** (-0.4 * col)])
            self.q, self.pa = r.uniform(0.5, 1), r.uniform(0, np.pi)
        else:  # background galaxy
            self.lo, self.hi = 0.05, 10.0
            self.n = r.uniform(0.7, 4.0)
            self.q, self.pa = r.uniform(0.3, 1.0), r.uniform(0, np.pi)
            self.weights = np.ones((1, 5))

    def components(self, grid, cx, cy, scale):
        if self.kind in ("blend", "artifact"):
            d = self.dist * scale
            return [_points(grid, [cx + di * np.cos(a)], [cy + di * np.sin(a)], [1.0])
                    for di, a in zip(d, self.dirs)]
        if self.kind in ("star", "spike"):
            return [_points(grid, [cx], [cy], [1.0]), _gauss(grid, cx, cy, scale, self.q, self.pa)]
        return [_sersic(grid, cx, cy, scale, self.n, self.q, self.pa)]


_RECIPES = {1: _Class1, 2: _Class2, 3: _Class3, 4: _Class4}


# --------------------------------------------------------------- the candidate
def _target_mags(row, rng):
    mags = row[:5].copy()
    bad = mags > 60
    mags[bad] = _DETLIM[bad] + rng.uniform(0.3, 1.5, bad.sum())
    return mags


def _centroid_offset(img, cx, cy):
    """Gaussian-windowed (sigma 2 px) centroid offset, as a detection code gives."""
    yy, xx = np.indices(img.shape)
    w = np.exp(-0.5 * ((xx - cx) ** 2 + (yy - cy) ** 2) / 2.0**2) * np.clip(img, 0, None)
    tot = w.sum()
    if tot <= 0:
        return 0.0, 0.0
    return (w * (xx - cx)).sum() / tot, (w * (yy - cy)).sum() / tot


_PC_PER_PX_PER_MPC = PIXEL_SCALE / 206264.806 * 1e6  # 0.192 pc per px at 1 Mpc
_DIST_RANGE = (3.0, 18.0)  # LEGUS galaxy distances, Mpc


def _ryon_distance(cls, reff_px, rng, tries=30):
    """A real Ryon et al. (2017) radius and a LEGUS distance giving ``reff_px``.

    Radii of the same visual class are drawn until the implied distance lies
    in 3-18 Mpc; if none does in ``tries`` draws, the closest is clipped to
    the range (then the pair is only approximately consistent).
    """
    pool = _RYON[_RYON[:, 2] == cls, 0]
    r = rng.choice(pool, tries)
    d = r / (reff_px * _PC_PER_PX_PER_MPC)
    ok = (d >= _DIST_RANGE[0]) & (d <= _DIST_RANGE[1])
    if ok.any():
        i = np.flatnonzero(ok)[0]
        return float(r[i]), float(d[i])
    i = np.argmin(np.abs(np.log(d / np.sqrt(_DIST_RANGE[0] * _DIST_RANGE[1]))))
    return float(r[i]), float(np.clip(d[i], *_DIST_RANGE))


def _ci_curve(recipe, psf, grid, cx, cy, err, n=5):
    """Noiseless F555W CI of a recipe on a log grid of its scale.

    The CI is measured where the catalog will put the object: at the
    windowed light centroid plus the catalog position error ``err`` (px).
    """
    scales = np.geomspace(recipe.lo, recipe.hi, n)
    cis = []
    for s in scales:
        v = psf.convolve(recipe.intrinsic(recipe.components(grid, cx, cy, s), 3))
        dx, dy = _centroid_offset(v, cx, cy)
        f1, f3, _ = ci_and_flux(v, get_apertures(cx + dx + err[0], cy + dy + err[1], v.shape))
        cis.append(2.5 * np.log10(max(f3, 1e-12) / max(f1, 1e-12)))
    cis = np.maximum.accumulate(np.array(cis))  # enforce monotonic
    return scales, cis + np.arange(cis.size) * 1e-6


def _build_candidate(cls, psfs, frac, rng):
    """Solve a candidate's scale and per-band amplitudes.

    Returns the five noiseless pixel stamps (``_STAMP`` px, source at pixel
    ``_STAMP // 2 + frac``), the windowed V centroid offset and metadata.
    """
    row = _ROWS[cls][rng.integers(len(_ROWS[cls]))]
    mags = _target_mags(row, rng)
    ci_target = row[5]
    recipe = _RECIPES[cls](rng)
    # solve the size on a small stamp (only r < 9 px matters for the CI)
    sgrid = _subgrid(_SOLVE)
    scx, scy = _SOLVE // 2 + frac[0], _SOLVE // 2 + frac[1]
    err = rng.normal(0, _CLASS_CENTROID_ERR[int(cls)], 2)
    scales, cis = _ci_curve(recipe, psfs[3], sgrid, scx, scy, err)
    for alt in ("blend", "galaxy"):
        if cls == 4 and ci_target > cis[-1] + 0.03 and recipe.kind != alt:
            # this object cannot be that extended: a (wider) blend, else a galaxy
            recipe = _Class4(rng, kind=alt)
            scales, cis = _ci_curve(recipe, psfs[3], sgrid, scx, scy, err)
    scale = float(np.exp(np.interp(ci_target, cis, np.log(scales))))
    reff_pc, dist = (_ryon_distance(cls, scale, rng) if cls in (1, 2) else (np.nan, np.nan))
    grid = _subgrid(_STAMP)
    cx = _STAMP // 2 + frac[0]
    cy = _STAMP // 2 + frac[1]
    ap = get_apertures(cx, cy, (_STAMP, _STAMP))
    comps = recipe.components(grid, cx, cy, scale)
    stamps = np.empty((5, _STAMP, _STAMP))
    n = _STAMP * _OS
    hats = [sfft.rfft2(c, workers=1) for c in comps] if len(comps) < 5 else None
    for b in range(5):
        if hats is None:
            img = psfs[b].convolve(recipe.intrinsic(comps, b))
        else:
            img = psfs[b].convolve_hat(recipe.intrinsic(hats, b), n)
        _, _, f4 = ci_and_flux(img, ap)
        want = 10 ** (-0.4 * (mags[b] - ZEROPOINTS[b] - APCOR[b]))
        stamps[b] = img * want / max(f4, 1e-3 * img.sum(), 1e-12)
    # windowed centroid of the V light (what a detection code would report)
    dx, dy = _centroid_offset(stamps[3], cx, cy)
    meta = {"kind": getattr(recipe, "kind", f"class{cls}"), "scale": scale,
            "ci_target": ci_target, "mag555": mags[3], "mags": mags,
            "reff_pc": reff_pc, "distance_mpc": dist}
    return stamps, (dx + err[0], dy + err[1]), meta, recipe


def _render_unit(psf_list, unit, fluxes):
    """Five-band pixel stamps of one morphology with per-band total fluxes."""
    hat = sfft.rfft2(unit, workers=1)
    n = unit.shape[0]
    return np.stack([f * p.convolve_hat(hat, n) for f, p in zip(fluxes, psf_list)])


_TAPERS = {}


def _taper(s):
    """Radial window: 1 inside 0.6 S/2, cosine fade to 0 at S/2 (hides stamp edges)."""
    if s not in _TAPERS:
        yy, xx = np.indices((s, s))
        r = np.hypot(xx - s // 2, yy - s // 2) / (s / 2)
        t = np.clip((r - 0.6) / 0.4, 0, 1)
        _TAPERS[s] = np.cos(0.5 * np.pi * t) ** 2
    return _TAPERS[s]


def _add_stamp(images, stamp_imgs, x0, y0):
    """Add (5, S, S) stamps with lower-left pixel (x0, y0) into (5, H, W)."""
    _, h, w = images.shape
    s = stamp_imgs.shape[-1]
    stamp_imgs = stamp_imgs * _taper(s)
    ys, xs = max(y0, 0), max(x0, 0)
    ye, xe = min(y0 + s, h), min(x0 + s, w)
    if ye <= ys or xe <= xs:
        return
    images[:, ys:ye, xs:xe] += stamp_imgs[:, ys - y0:ye - y0, xs - x0:xe - x0]


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


# ----------------------------------------------------------------- the scene
def _as_rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _scene(shape, classes, rng, n_field=None):
    ny, nx = shape
    psfs = [_PSF(b, rng) for b in range(5)]
    exptime = _EXPTIME * rng.uniform(0.8, 1.3)
    model = np.zeros((5,) + shape)
    half = _STAMP // 2
    rows, target_mags = [], []
    # candidate positions: uniform, at least 6 px apart, 20 px from the edges
    pos = []
    for _ in classes:
        for _try in range(50):
            p = rng.uniform([20, 20], [nx - 21, ny - 21])
            if all(np.hypot(*(p - q)) > 6 for q in pos):
                break
        pos.append(p)
    for cls, (x, y) in zip(classes, pos):
        ix, iy = int(np.floor(x)), int(np.floor(y))
        stamps, (dx, dy), meta, recipe = _build_candidate(cls, psfs, (x - ix, y - iy), rng)
        _add_stamp(model, stamps, ix - half, iy - half)
        if meta["kind"] == "spike":
            _bright_star(model, psfs, rng, x, y, exptime)
        if meta["kind"] == "artifact":
            _hot_pixels(model, rng, x, y, stamps)
        rows.append((x + dx, y + dy, int(cls),
                     meta["kind"], meta["ci_target"], meta["mag555"], meta["scale"],
                     meta["reff_pc"], meta["distance_mpc"]))
        target_mags.append(meta["mags"])
    # field population: stars, faint clusters, bright foreground stars
    area = nx * ny / 512.0**2
    nf = rng.poisson(260 * area * rng.uniform(0.5, 1.8)) if n_field is None else n_field
    sgrid = _subgrid(32)
    for _ in range(nf):
        x, y = rng.uniform(-10, nx + 10), rng.uniform(-10, ny + 10)
        ix, iy = int(np.floor(x)), int(np.floor(y))
        u = rng.random()
        vmag = 20.5 + np.log10(1 + u * (10 ** (0.35 * 7.0) - 1)) / 0.35  # dN/dm ~ 10^0.35m
        if rng.random() < 0.15:  # faint compact cluster
            col = rng.normal([0.3, 0.2, 0.4, 0, -0.6], 0.3)
            col[3] = 0
            unit = _king(sgrid, 16 + x - ix, 16 + y - iy, rng.uniform(0.3, 2.0),
                         rng.uniform(0.7, 1.8), rng.uniform(0.6, 1), rng.uniform(0, np.pi))
            vmag = rng.uniform(23.5, 25.5)
            flux = 10 ** (-0.4 * (vmag + col - ZEROPOINTS))
            _add_stamp(model, _render_unit(psfs, unit, flux), ix - 16, iy - 16)
        else:
            col = _star_colour(rng)
            flux = 10 ** (-0.4 * (vmag + col - ZEROPOINTS))
            st = np.stack([f * p.point(x - ix, y - iy) for f, p in zip(flux, psfs)])
            _add_stamp(model, st, ix - 16, iy - 16)
    for _ in range(rng.poisson(0.4 * area)):
        _bright_star(model, psfs, rng, rng.uniform(0, nx), rng.uniform(0, ny), exptime, False)
    images = _background(shape, rng) + model
    # saturation, noise (Poisson + read, Gaussian), drizzle-correlated
    a = rng.uniform(0.2, 0.35)
    k1 = np.array([a, 1.0, a])
    kern = np.outer(k1, k1)
    kern /= np.sqrt((kern**2).sum())
    out = {}
    for b in range(5):
        t = exptime[b]
        img = _saturate(images[b], _FULL_WELL / (t / _NEXP))
        var = (np.clip(img, 0, None) * t + _NEXP * _READ_NOISE**2 + 0.0005 * t) / t**2
        noise = convolve(rng.normal(size=shape), kern, mode="wrap")
        img = img + np.sqrt(var) * noise
        _cosmic_residuals(img, rng, area)
        out[BANDS[b]] = img.astype(np.float32)
    names = ("x", "y", "true_class", "kind", "ci_target", "mag555", "scale", "reff_pc",
             "distance_mpc")
    dtype = (float, float, int, str, float, float, float, float, float)
    truth = QTable(rows=rows, names=names, dtype=dtype) if rows else QTable(names=names,
                                                                            dtype=dtype)
    truth["mag_target"] = np.array(target_mags).reshape(-1, 5)
    return out, truth


def _bright_star(model, psfs, rng, x, y, exptime, offset=True):
    """A bright (often saturated) star with diffraction spikes.

    Placed 7-15 px from ``(x, y)`` when it decorates a class-4 candidate.
    """
    half = _BIG // 2
    if offset:
        d, a = rng.uniform(7, 15), rng.uniform(0, 2 * np.pi)
        x, y = x + d * np.cos(a), y + d * np.sin(a)
    grid = _subgrid(_BIG)
    ix, iy = int(np.floor(x)), int(np.floor(y))
    cx, cy = half + x - ix, half + y - iy
    vmag = rng.uniform(15.5, 18.5)
    col = rng.normal([1.0, 0.6, 0.5, 0, -0.6], 0.3)
    col[3] = 0
    unit = 0.985 * _points(grid, [cx], [cy], [1.0]) + 0.015 * _spikes(
        grid, cx, cy, rng.uniform(0, np.pi / 2), rng.uniform(4, 10))
    flux = 10 ** (-0.4 * (vmag + col - ZEROPOINTS))
    _add_stamp(model, _render_unit(psfs, unit, flux), ix - half, iy - half)


def _hot_pixels(model, rng, x, y, stamps):
    """Cosmic-ray residual / hot-pixel cluster on a candidate (1-2 bands)."""
    peak = stamps.max(axis=(1, 2))
    for b in rng.choice(5, size=rng.integers(1, 3), replace=False):
        for _ in range(rng.integers(1, 5)):
            px = int(np.floor(x + rng.uniform(-2, 2.5)))
            py = int(np.floor(y + rng.uniform(-2, 2.5)))
            if 0 <= py < model.shape[1] and 0 <= px < model.shape[2]:
                model[b, py, px] += peak[b] * rng.uniform(0.3, 1.5)


def _cosmic_residuals(img, rng, area):
    """Residual cosmic rays missed by drizzle's rejection (single band)."""
    ny, nx = img.shape
    for _ in range(rng.poisson(4 * area)):
        x, y = rng.integers(0, nx), rng.integers(0, ny)
        amp = rng.uniform(0.3, 4.0)
        ln = rng.integers(1, 4)
        a = rng.uniform(0, np.pi)
        for i in range(ln):
            px, py = int(x + i * np.cos(a)), int(y + i * np.sin(a))
            if 0 <= px < nx and 0 <= py < ny:
                img[py, px] += amp * rng.uniform(0.5, 1)


# --------------------------------------------------------------------- API
def make_scene(shape=(512, 512), n_sources=150, seed=None):
    """Simulate a LEGUS-like five-band drizzled field with candidates.

    Parameters
    ----------
    shape : tuple of int, optional
        Image shape ``(ny, nx)``, at least 64 x 64.
    n_sources : int, optional
        Number of cluster candidates (classes drawn uniformly from 1-4). Field
        stars, faint clusters, bright stars, galaxy light, noise and
        artifacts are added on top; they are not in ``truth``.
    seed : int, numpy.random.Generator or None, optional
        Random seed or generator.

    Returns
    -------
    images : dict
        Band name (F275W, F336W, F438W, F555W, F814W) -> 2-D float32 array,
        e-/s, all on one grid.
    truth : astropy.table.QTable
        One row per candidate: ``x``, ``y`` (0-based catalog-like centroid),
        ``true_class`` (1-4), ``kind`` (recipe), ``ci_target`` and
        ``mag555`` (the LEGUS catalog values the object was made to match),
        ``mag_target`` (its five target magnitudes; non-detections replaced
        by faint values),
        ``scale`` (size parameter, px; Reff for King clusters), and for
        classes 1-2 ``reff_pc`` (a real Ryon et al. 2017 radius) and
        ``distance_mpc`` (3-18 Mpc) consistent with ``scale`` (NaN otherwise).
    """
    rng = _as_rng(seed)
    shape = tuple(int(v) for v in shape)
    if min(shape) < 64:
        raise ValueError("shape must be at least 64 x 64")
    classes = rng.integers(1, 5, int(n_sources))
    return _scene(shape, classes, rng)


def simulate_candidates(n_per_class, seed=None, return_truth=False):
    """Simulate class-balanced LEGUS-like candidate cutouts.

    Candidates are cut, with the LEGUS cutout convention, from simulated
    384 x 384 fields holding 40 candidates each plus field stars, galaxy
    light, bright stars, noise and artifacts (:func:`make_scene`).

    Parameters
    ----------
    n_per_class : int or sequence of 4 int
        Number of candidates per class (1, 2, 3, 4).
    seed : int, numpy.random.Generator or None, optional
        Random seed or generator.
    return_truth : bool, optional
        Also return a table with, per cutout, the catalog position inside
        the cutout (``xc``, ``yc``) and the :func:`make_scene` truth columns.

    Returns
    -------
    cutouts : numpy.ndarray
        ``(N, 5, 32, 32)`` float32, e-/s, bands F275W, F336W, F438W, F555W,
        F814W.
    labels : numpy.ndarray
        ``(N,)`` int, classes 1-4, shuffled.
    truth : astropy.table.QTable
        Only with ``return_truth``.
    """
    rng = _as_rng(seed)
    counts = np.broadcast_to(np.asarray(n_per_class, dtype=int), (4,))
    if np.any(counts < 0):
        raise ValueError("n_per_class must be non-negative")
    labels = np.repeat(np.arange(1, 5), counts)
    rng.shuffle(labels)
    per_scene = 40
    cut, lab, tabs = [], [], []
    for start in range(0, labels.size, per_scene):
        classes = labels[start:start + per_scene]
        images, truth = _scene((384, 384), classes, rng)
        cube = np.stack([images[b] for b in BANDS])
        for row in truth:
            ix, iy = int(np.floor(row["x"])), int(np.floor(row["y"]))
            cut.append(cube[:, iy - 15:iy + 17, ix - 15:ix + 17])
            lab.append(int(row["true_class"]))
        truth["xc"] = 15 + truth["x"] - np.floor(truth["x"])
        truth["yc"] = 15 + truth["y"] - np.floor(truth["y"])
        tabs.append(truth)
    if not cut:
        out = (np.zeros((0, 5, 32, 32), np.float32), np.zeros(0, int))
        return out + (QTable(),) if return_truth else out
    out = (np.stack(cut).astype(np.float32), np.array(lab, dtype=int))
    if return_truth:
        from astropy.table import vstack
        return out + (vstack(tabs),)
    return out
