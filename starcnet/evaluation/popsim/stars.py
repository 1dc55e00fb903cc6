"""Approximate stellar populations for popsim.

Stars are drawn from a Kroupa (2001) IMF for a cluster of given mass and
age.  Luminosities and colours are deliberately simple: main-sequence
V-band luminosity ``L_V = m^4`` (m < 2 Msun) and ``16 (m/2)^2.5`` above,
effective temperature ``T = 5800 m^0.55`` K (capped at 45,000 K), main
sequence lifetime setting a turn-off mass ``m_to = (t / 10 Gyr)^-0.4``; stars
in the 12 % mass window above the turn-off are evolved (red supergiants or
giants at 3,800-4,200 K, some blue supergiants at 12,000 K) and 6-8 times
brighter in V than on the main sequence.  Band fluxes come from black-body
colours relative to a 9,600 K (Vega-like) black body at the band pivots.
"""
import numpy as np

from .optics import PIVOT_NM

__all__ = ['bb_colours', 'Population', 'draw_population']

_H, _C, _K = 6.626e-34, 2.998e8, 1.381e-23
_MGRID = np.geomspace(0.1, 120.0, 600)


def _planck(lam_m, t):
    x = _H * _C / (lam_m * _K * np.asarray(t, float)[..., None])
    return 1.0 / (lam_m ** 5 * np.expm1(np.minimum(x, 700)))


def bb_colours(t):
    """Flux in each band relative to F555W for black bodies, Vega-normalised.

    Parameters
    ----------
    t : float or ndarray
        Temperature(s) in K.

    Returns
    -------
    ndarray
        Shape ``t.shape + (5,)``, band fluxes in units of the F555W flux
        (so ``m_b - m_555 = -2.5 log10`` of it).
    """
    lam = PIVOT_NM * 1e-9
    b = _planck(lam, t)
    v = _planck(lam, 9600.0)
    return (b / b[..., 3:4]) / (v / v[3])


def _imf(m):
    return np.where(m < 0.5, 2.0 * m ** -1.3, m ** -2.3)


def _lum_ms(m):
    return np.where(m < 2, m ** 4.0, 16.0 * (m / 2.0) ** 2.5)


def _teff_ms(m):
    return np.minimum(5800.0 * m ** 0.55, 45000.0)


class Population:
    """A drawn stochastic population (fluxes in L_sun,V-like units).

    Attributes
    ----------
    star_flux : ndarray
        ``(k, 5)`` band fluxes of the individually rendered stars.
    smooth_flux : ndarray
        ``(5,)`` expected band flux of all fainter stars.
    mass : float
        Cluster mass (Msun).
    """

    def __init__(self, star_flux, smooth_flux, mass):
        self.star_flux = star_flux
        self.smooth_flux = smooth_flux
        self.mass = mass


def draw_population(l_v, log_age, rng, n_individual=40):
    """Draw the bright stars and the smooth remainder of a cluster.

    Parameters
    ----------
    l_v : float
        Target V luminosity (L_sun), fixes the mass through the model
        light-to-mass ratio at this age.
    log_age : float
        log10 of the age in yr.
    rng : numpy.random.Generator
        Random generator.
    n_individual : int
        Expected number of stars rendered individually (the most massive).

    Returns
    -------
    Population
    """
    m = _MGRID
    m_to = min(120.0, (10 ** log_age / 1e10) ** -0.4)
    m_end = min(120.0, 1.12 * m_to)
    phi = _imf(m)
    alive = m <= m_end
    evolved = (m > m_to) & alive
    lum = np.where(evolved, 7.0 * _lum_ms(m), _lum_ms(m)) * alive
    t_rsg = np.where(m > 8, 3800.0, 4200.0)
    teff = np.where(evolved, t_rsg, _teff_ms(m))
    col = bb_colours(teff)                      # (n, 5)
    dm = np.gradient(m)
    mass_norm = np.sum(phi * m * dm)
    light_per_mass = np.sum(phi * lum * dm) / mass_norm
    mass = l_v / light_per_mass
    # number of stars above each mass
    w = phi * dm * alive
    n_above = mass * np.cumsum(w[::-1])[::-1] / mass_norm
    idx = np.searchsorted(-n_above, -n_individual)
    idx = int(np.clip(idx, np.searchsorted(m, 0.5), np.searchsorted(m, m_end) - 1))
    m_c = m[idx]
    nexp = n_above[idx]
    k = rng.poisson(nexp)
    # inverse-CDF draw of masses above m_c
    cdf = np.cumsum(w[idx:])
    cdf /= cdf[-1]
    ms = np.interp(rng.random(k), cdf, m[idx:])
    is_ev = ms > m_to
    evolved = np.where(ms > 8, np.where(rng.random(k) < 0.3, 12000.0, 3800.0), 4200.0)
    t_star = np.where(is_ev, evolved, _teff_ms(ms))
    l_star = np.where(is_ev, 7.0 * _lum_ms(ms), _lum_ms(ms))
    star_flux = l_star[:, None] * bb_colours(t_star)
    below = m < m_c
    smooth = mass / mass_norm * np.sum((w * lum * below)[:, None] * col, axis=0)
    return Population(star_flux.reshape(k, 5), smooth, mass)
