# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Cluster and galaxy surface-brightness profiles as multi-Gaussian expansions.

Clusters follow the Wilson (1975) lowered-isothermal model (the ``g = 2``
member of the lowered-isothermal family, density
``rho(W) ~ exp(W) P(7/2, W)`` with ``P`` the regularised lower incomplete
gamma function), solved from Poisson's equation for a central potential
``W0``, projected, and fitted with a fixed logarithmic set of circular
Gaussians by non-negative least squares (Cappellari 2002). Background galaxies
use an MGE of an exponential disc. All MGEs are returned in units of the
projected half-light radius, so a profile of radius ``R_e`` is obtained by
multiplying the sigmas by ``R_e``.
"""
from functools import lru_cache

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import nnls
from scipy.special import gammainc

__all__ = ['wilson_mge', 'exponential_mge', 'WILSON_W0']

#: Grid of central potentials for which Wilson MGEs are precomputed.
WILSON_W0 = (2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)


def _wilson_density(w):
    w = np.maximum(w, 0.0)
    return np.exp(w) * gammainc(3.5, w)


def _solve_wilson(w0):
    """Radius grid and 3D density of a Wilson model (King-radius units)."""
    rho0 = _wilson_density(w0)

    def rhs(r, y):
        w, dw = y
        return [dw, -9.0 * _wilson_density(w) / rho0 - 2.0 * dw / r]

    def edge(r, y):
        return y[0]
    edge.terminal = True
    edge.direction = -1
    r0 = 1e-4
    y0 = [w0 - 1.5 * r0 ** 2, -3.0 * r0]
    sol = solve_ivp(rhs, (r0, 1e4), y0, events=edge, rtol=1e-8, atol=1e-10,
                    dense_output=True)
    rt = sol.t_events[0][0]
    r = np.geomspace(r0, rt, 600)
    rho = _wilson_density(sol.sol(r)[0]) / rho0
    return r, rho, rt


def _project(r, rho, rt, radii):
    """Surface density at projected radii by Abel projection."""
    out = np.empty(len(radii))
    for k, big_r in enumerate(radii):
        s = np.linspace(0, np.sqrt(max(rt ** 2 - big_r ** 2, 0.0)), 400)
        rr = np.sqrt(big_r ** 2 + s ** 2)
        out[k] = 2 * np.trapezoid(np.interp(rr, r, rho, right=0.0), s)
    return out


def _fit_mge(radii, sigma_surf, n_gauss=14):
    """Fit circular Gaussians (fixed log-spaced sigmas) to a 1D surface profile.

    Returns weights (total flux fractions) and sigmas, normalised so the
    projected half-light radius is 1.
    """
    sig = np.geomspace(radii[1] * 0.5, radii[-1] * 0.6, n_gauss)
    # column j: surface density of a unit-flux Gaussian of sigma sig[j]
    a = np.exp(-0.5 * (radii[:, None] / sig[None, :]) ** 2) / (2 * np.pi * sig ** 2)
    wt = 1.0 / np.maximum(sigma_surf, sigma_surf.max() * 1e-6)
    flux, _ = nnls(a * wt[:, None], sigma_surf * wt)
    keep = flux > 0
    flux, sig = flux[keep], sig[keep]
    flux = flux / flux.sum()
    # half-light radius of the mixture
    rg = np.geomspace(sig.min() * 0.05, sig.max() * 6, 2000)
    enc = np.sum(flux[None, :] * (1 - np.exp(-0.5 * (rg[:, None] / sig) ** 2)), axis=1)
    re = np.interp(0.5, enc, rg)
    return flux, sig / re


@lru_cache(maxsize=None)
def wilson_mge(w0):
    """MGE of a projected Wilson (1975) model.

    Parameters
    ----------
    w0 : float
        Dimensionless central potential (one of `WILSON_W0` is fastest; any
        value is solved and cached).

    Returns
    -------
    weights, sigmas : ndarray
        Flux fractions (sum 1) and Gaussian sigmas in units of the projected
        half-light radius.
    """
    r, rho, rt = _solve_wilson(float(w0))
    radii = np.concatenate([[0.0], np.geomspace(rt * 1e-3, rt * 0.98, 60)])
    surf = _project(r, rho, rt, radii)
    w, s = _fit_mge(radii, surf)
    return w, s


@lru_cache(maxsize=None)
def exponential_mge():
    """MGE of an exponential disc, in units of its half-light radius."""
    radii = np.concatenate([[0.0], np.geomspace(0.01, 8.0, 80)])
    surf = np.exp(-1.678 * radii)
    return _fit_mge(radii, surf, n_gauss=10)
