# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Random multi-Gaussian point-spread functions, one per band and candidate.

Each PSF is a mixture of 2-4 Gaussians aligned with the pixel axes: a core
(sigma from a random F555W FWHM of 1.8-2.3 px, scaled per band), and one to
three wings of increasing width holding 40-60 % of the light, each with its own
small ellipticity, plus a random isotropic jitter added in quadrature. The
widths and wing fractions were tuned so that a noiseless point source has a
LEGUS concentration index (1 px vs 3 px apertures) of about 1.1-1.4 mag in
F555W, like real LEGUS stars.
"""
import numpy as np

__all__ = ['draw_psfs', 'BAND_WIDTH_SCALE']

#: FWHM of each band relative to F555W (UV: worse optics/drizzle, F814W:
#: diffraction and the red halo of the CCD).
BAND_WIDTH_SCALE = np.array([1.07, 1.03, 0.99, 1.0, 1.06])
#: Extra wing light in each band (F814W has the strongest halo).
BAND_WING_BOOST = np.array([1.05, 1.0, 0.95, 1.0, 1.2])


def draw_psfs(rng, fwhm_v=None):
    """Draw the PSFs of the five bands for one candidate.

    Parameters
    ----------
    rng : numpy.random.Generator
    fwhm_v : float, optional
        Core FWHM in F555W (px); random in 1.8-2.3 px when omitted.

    Returns
    -------
    psfs : list of ndarray
        One array of shape (n_gauss, 3) per band with columns
        (flux fraction, variance along x, variance along y) in px^2.
    """
    if fwhm_v is None:
        fwhm_v = rng.uniform(1.8, 2.3)
    n_wings = rng.integers(1, 4)
    wing_total = rng.uniform(0.40, 0.60)
    wing_split = rng.dirichlet(np.full(n_wings, 2.0))
    wing_scale = np.sort(rng.uniform(1.7, 3.2, n_wings) * np.array([1.0, 1.9, 3.8])[:n_wings])
    jitter = rng.uniform(0.0, 0.25)
    psfs = []
    for b in range(5):
        sig = fwhm_v * BAND_WIDTH_SCALE[b] * rng.uniform(0.97, 1.03) / 2.3548
        wt = min(wing_total * BAND_WING_BOOST[b], 0.7)
        comp = []
        e = rng.uniform(0.0, 0.08)
        if rng.uniform() < 0.5:
            comp.append((1 - wt, (sig * (1 + e)) ** 2, (sig * (1 - e)) ** 2))
        else:
            comp.append((1 - wt, (sig * (1 - e)) ** 2, (sig * (1 + e)) ** 2))
        for k in range(n_wings):
            s = sig * wing_scale[k]
            e = rng.uniform(-0.1, 0.1)
            comp.append((wt * wing_split[k], (s * (1 + e)) ** 2, (s * (1 - e)) ** 2))
        comp = np.array(comp)
        comp[:, 1:] += jitter ** 2
        psfs.append(comp)
    return psfs
