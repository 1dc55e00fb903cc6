"""Per-class source recipes of ``kingsim``."""


import numpy as np

from .shapes import _gauss, _king, _points, _sersic


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
