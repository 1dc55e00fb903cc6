# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Constants of the LEGUS images and the real-data tables the simulator reads.
"""

import functools

import numpy as np
from astropy.io import fits
from astropy.table import Table
from astropy.utils.data import get_pkg_data_filename

from ..legus import BANDS, CLASS_NAMES, PIXEL_SCALE, PUBLISHED_BAND_OFFSETS

__all__ = ['BANDS', 'ZEROPOINTS', 'PIXEL_SCALE', 'CLASS_NAMES', 'load_psfs',
           'load_class_photometry', 'load_ryon2017', 'load_crowding', 'mag_to_flux']

#: Approximate WFC3/UVIS Vega zeropoints (mag for 1 e-/s, infinite aperture).
ZEROPOINTS = {'F275W': 22.65, 'F336W': 23.48, 'F438W': 24.98,
              'F555W': 25.81, 'F814W': 24.67}

ZP = np.array([ZEROPOINTS[b] for b in BANDS])
#: Mean pixel values of real LEGUS cutouts (NGC 1566), e-/s: the
#: published network's input offsets.
MEAN_PIXEL = np.array(PUBLISHED_BAND_OFFSETS)
EXPTIME = np.array([2400., 1100., 900., 1100., 900.])
READ_NOISE = 3.1           # e- per exposure
FULL_WELL = 63000.         # e- per exposure
#: Magnitudes given to bands where the real object was not detected.
FAINT_LIMIT = np.array([25.3, 25.6, 26.4, 26.6, 25.8])
REFERENCE_BAND = BANDS.index('F555W')

HALF = 15                  # cutout = [c - 15, c + 17)
SIZE = 32
PSF_HALF = 20              # PSFs are 41x41

#: Model PSF files per band: WFC3/UVIS, and the ACS/WFC (or WFC3 F606W)
#: PSFs that LEGUS fields observed with ACS or in F606W have.
PSF_FILES = {
    'wfc3': {b: f'wfc3_uvis_{b.lower()}' for b in BANDS},
    'acs': {'F275W': 'wfc3_uvis_f275w', 'F336W': 'wfc3_uvis_f336w',
            'F438W': 'acs_wfc_f435w', 'F555W': 'acs_wfc_f606w',
            'F814W': 'acs_wfc_f814w'},
    'wfc3-f606w': {**{b: f'wfc3_uvis_{b.lower()}' for b in BANDS},
                   'F555W': 'wfc3_uvis_f606w'},
}


@functools.cache
def _psf_file(name):
    path = get_pkg_data_filename(f'data/psfs/{name}.fits', package='starcnet')
    with fits.open(path) as hdul:
        data = np.asarray(hdul[0].data, dtype=np.float64)
    return data / data.sum()


def psf_set(family='wfc3'):
    """The five model PSFs (float64, 41x41, sum 1) of one instrument set."""
    return {band: _psf_file(name) for band, name in PSF_FILES[family].items()}


def load_psfs(family='wfc3'):
    """
    Load the bundled model PSFs.

    Parameters
    ----------
    family : {'wfc3', 'acs', 'wfc3-f606w'}, optional
        ``'wfc3'``: the WFC3/UVIS PSFs of the five bands; ``'acs'``: the
        ACS/WFC F435W, F606W and F814W PSFs for the three optical bands
        (LEGUS fields observed with ACS), WFC3/UVIS in the UV;
        ``'wfc3-f606w'``: WFC3/UVIS with F606W in place of F555W.

    Returns
    -------
    psfs : dict of str to `~numpy.ndarray`
        Band name (`BANDS`) to a 41x41 float64 PSF sampled at about
        0.04 arcsec per pixel, normalised to sum 1.  TinyTim PSFs from
        drizzlepac 3.11.0 (BSD-3-Clause, STScI); charge diffusion is not
        included.
    """
    if family not in PSF_FILES:
        msg = f'unknown PSF family {family!r}; expected one of {", ".join(PSF_FILES)}'
        raise ValueError(msg)
    return {band: psf.copy() for band, psf in psf_set(family).items()}


def _table(name):
    path = get_pkg_data_filename(f'data/{name}', package='starcnet')
    return Table.read(path, format='ascii.ecsv')


@functools.cache
def photometry_arrays():
    """(classes, mags (N, 5), ci) of the bundled real LEGUS photometry."""
    table = _table('legus_class_photometry.ecsv')
    mags = np.stack([np.asarray(table[f'mag_{b}'], dtype=np.float64) for b in BANDS],
                    axis=1)
    return (np.asarray(table['class'], dtype=int), mags,
            np.asarray(table['ci'], dtype=np.float64))


@functools.cache
def magnitude_offsets():
    """Per-class magnitude offsets (mag, added to all bands), classes 1-4."""
    table = _table('simulation_calibration.ecsv')
    out = np.zeros(5)
    out[np.asarray(table['class'], dtype=int)] = np.asarray(table['dmag'], dtype=float)
    return out


@functools.cache
def ryon_arrays():
    """(class, ci, eta, reff_px) of the Ryon et al. (2017) clusters with a fit."""
    table = _table('ryon2017_clusters.ecsv')
    cls = np.asarray(table['fvis'], dtype=int)
    ci = np.asarray(table['ci'], dtype=float)
    eta = np.asarray(table['eta'], dtype=float)
    reff = np.asarray(table['reff_px'], dtype=float)
    ok = np.isin(cls, (1, 2)) & np.isfinite(ci) & np.isfinite(eta) & (eta > 0)
    return cls[ok], ci[ok], eta[ok], reff[ok]


@functools.cache
def crowding_arrays():
    """(class, n_neighbours, sep (N, 8), dmag (N, 8)) of real LEGUS candidates."""
    table = _table('legus_crowding.ecsv')
    sep = np.stack([np.asarray(table[f'sep_{i}'], dtype=float) for i in range(8)], axis=1)
    dmag = np.stack([np.asarray(table[f'dmag_{i}'], dtype=float) for i in range(8)],
                    axis=1)
    return (np.asarray(table['class'], dtype=int),
            np.asarray(table['n_neighbours'], dtype=int), sep, dmag)


def load_class_photometry():
    """
    Load the per-class photometry of real labelled LEGUS candidates.

    Returns
    -------
    table : `~astropy.table.Table`
        Columns ``galaxy``, ``class`` (human label 1-4), ``mag_F275W`` ...
        ``mag_F814W`` (Vega; 99.999 where not detected) and ``ci``
        (concentration index, mag).  750 objects per class drawn from the
        public LEGUS cluster catalogs (see the table's comments).
    """
    return _table('legus_class_photometry.ecsv')


def load_ryon2017():
    """
    Load the cluster profiles measured by Ryon et al. (2017).

    Returns
    -------
    table : `~astropy.table.Table`
        One row per cluster of NGC 628 and NGC 1313: ``id``, ``galaxy``,
        ``ci`` (the LEGUS catalog's concentration index), ``eta`` (slope
        of the fitted EFF profile ``(1 + r**2 / a**2) ** -eta``),
        ``reff_pc``, ``reff_px`` (effective radius in parsecs and in
        LEGUS pixels) and ``fvis`` (human class, 1 or 2).
    """
    return _table('ryon2017_clusters.ecsv')


def load_crowding():
    """
    Load the crowding of real LEGUS candidates, from the catalog positions.

    Returns
    -------
    table : `~astropy.table.Table`
        750 labelled candidates per class: ``class``, ``n_neighbours``
        (catalog sources within 16 px) and, for the nearest 8, ``sep_i``
        (px) and ``dmag_i`` (F555W magnitude of the neighbour minus that
        of the candidate).
    """
    return _table('legus_crowding.ecsv')


def mag_to_flux(mag, band):
    """
    Convert Vega magnitudes into count rates with `ZEROPOINTS`.

    Parameters
    ----------
    mag : float or array-like
        Vega magnitude(s).
    band : str
        One of `BANDS`.

    Returns
    -------
    flux : float or `~numpy.ndarray`
        Total count rate in e-/s.
    """
    return 10.0 ** (-0.4 * (np.asarray(mag, dtype=float) - ZEROPOINTS[band]))
