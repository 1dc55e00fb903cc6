# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Multi-band images on one pixel grid.
"""

import os
import warnings
from collections.abc import Mapping

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData
from astropy.wcs import WCS

from .exceptions import BandSubstitutionWarning

__all__ = ['MultiBandImage', 'STARCNET_BANDS', 'BAND_EQUIVALENTS']

#: The five bands of the published StarcNet model, in network order.
STARCNET_BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')

#: Filters that may stand in for a model band (WFC3/UVIS and ACS/WFC
#: filters of similar pass band, used interchangeably by LEGUS).
BAND_EQUIVALENTS = {'F438W': ('F435W',), 'F435W': ('F438W',),
                    'F555W': ('F606W',), 'F606W': ('F555W',)}

_ELECTRON_RATE = u.electron / u.s

# BUNIT spellings of HST pipelines that astropy's unit parser does not
# read as meant ('/S' would be siemens).
_HST_UNITS = {'ELECTRONS/S': _ELECTRON_RATE, 'ELECTRONS/SEC': _ELECTRON_RATE,
              'ELECTRON/S': _ELECTRON_RATE, 'E-/S': _ELECTRON_RATE,
              'ELECTRONS': u.electron, 'COUNTS/S': u.count / u.s,
              'COUNTS': u.count}


def _band_name(name):
    if not isinstance(name, str) or not name.strip():
        msg = f'band names must be non-empty strings, got {name!r}'
        raise TypeError(msg)
    return name.strip().upper()


def _read_fits_band(band, path, hdu, memmap):
    """
    Read one band from a FITS file: data (memory-mapped where
    possible), WCS and unit.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        msg = f'band {band}: FITS file {path!r} does not exist'
        raise FileNotFoundError(msg)
    try:
        with fits.open(path, memmap=memmap, lazy_load_hdus=False) as hdul:
            if hdu is None:
                images = [i for i, h in enumerate(hdul)
                          if h.is_image and h.header.get('NAXIS', 0) == 2]
                if not images:
                    msg = (f'band {band}: {path!r} has no 2-D image HDU; '
                           'give the extension with hdu=')
                    raise ValueError(msg)
                if len(images) > 1 and images[0] != 0:
                    names = [f'{i} ({hdul[i].name})' for i in images]
                    msg = (f'band {band}: {path!r} has several 2-D image '
                           f'HDUs: {", ".join(names)}; choose one with hdu=')
                    raise ValueError(msg)
                hdu = images[0]
            try:
                selected = hdul[hdu]
            except (KeyError, IndexError):
                msg = f'band {band}: {path!r} has no HDU {hdu!r}'
                raise ValueError(msg) from None
            data = selected.data
            header = selected.header.copy()
    except (OSError, TypeError) as exc:
        msg = f'band {band}: cannot read {path!r} as FITS ({exc})'
        raise OSError(msg) from exc
    if data is None or data.ndim != 2:
        msg = (f'band {band}: HDU {hdu!r} of {path!r} holds no 2-D image '
               f'(shape {None if data is None else data.shape})')
        raise ValueError(msg)
    with warnings.catch_warnings():
        # Drizzled headers often carry non-standard keywords that astropy
        # comments on; the WCS itself is what matters here.
        warnings.simplefilter('ignore', fits.verify.VerifyWarning)
        warnings.filterwarnings('ignore', module='astropy.wcs')
        wcs = WCS(header) if header.get('CTYPE1') else None
    unit = header.get('BUNIT')
    return NDData(data, wcs=wcs, unit=_parse_unit(band, unit, path),
                  meta={'path': path, 'hdu': hdu, 'header': header})


def _parse_unit(band, unit, where):
    """
    Check that a band is in electrons per second (or has no unit).
    """
    if unit is None or (isinstance(unit, str) and not unit.strip()):
        return None
    try:
        if isinstance(unit, str):
            text = unit.strip()
            unit = _HST_UNITS.get(text.upper().replace(' ', ''))
            if unit is None:
                unit = u.Unit(text, parse_strict='raise')
        unit = u.Unit(unit)
    except ValueError:
        msg = f'band {band} ({where}): cannot parse the pixel unit {unit!r}'
        raise ValueError(msg) from None
    if unit != u.dimensionless_unscaled and not unit.is_equivalent(_ELECTRON_RATE):
        msg = (f'band {band} ({where}): pixels are in {unit}, but starcnet '
               'models take electrons per second (e-/s); divide counts or '
               'electrons by the exposure time first')
        raise ValueError(msg)
    return unit


def _same_grid(wcs_a, wcs_b, shape):
    """
    Whether two celestial WCSs map the corners and centre of an image
    of ``shape`` onto the same sky positions within 0.01 pixel.
    """
    ny, nx = shape
    xs = np.array([0, nx - 1, 0, nx - 1, (nx - 1) / 2])
    ys = np.array([0, 0, ny - 1, ny - 1, (ny - 1) / 2])
    sky = wcs_a.pixel_to_world(xs, ys)
    xb, yb = wcs_b.world_to_pixel(sky)
    return bool(np.all(np.hypot(xb - xs, yb - ys) < 0.01))


class MultiBandImage(Mapping):
    """
    Images of one field in several bands on one pixel grid.

    Each band is an `~astropy.nddata.NDData` (data, optional mask, WCS
    and unit).  Bands are looked up by filter name, ``image['F555W']``,
    case-insensitively.

    Parameters
    ----------
    bands : dict, list or 3-D array
        Either a mapping of band names (e.g. ``'F555W'``) to 2-D arrays,
        `~astropy.nddata.NDData` or `~astropy.nddata.CCDData`, or a
        sequence of five 2-D arrays / a ``(5, ny, nx)`` array, taken to be
        in the StarcNet band order F275W, F336W, F438W, F555W, F814W.
    wcs : `~astropy.wcs.WCS`, optional
        The WCS of the common pixel grid.  Default: the WCS of the first
        band that has one.
    mask : array of bool, optional
        A mask shared by all bands (`True` = bad pixel), combined with
        each band's own mask.

    Raises
    ------
    ValueError
        If the bands differ in shape or WCS, are not 2-D, or are not in
        electrons per second.

    Notes
    -----
    Pixel values are expected in electrons per second, as in HST
    drizzled ``_drc``/``_drz`` products and the LEGUS mosaics.  Data
    are kept as given (memory-mapped arrays stay memory-mapped).
    """

    def __init__(self, bands, *, wcs=None, mask=None):
        if isinstance(bands, MultiBandImage):
            bands = dict(bands.items())
        if isinstance(bands, np.ndarray) and bands.ndim == 3:
            bands = list(bands)
        if isinstance(bands, Mapping):
            items = [(_band_name(k), v) for k, v in bands.items()]
        elif isinstance(bands, (list, tuple)):
            if len(bands) != len(STARCNET_BANDS):
                msg = (f'got {len(bands)} unnamed bands; give the five '
                       f'StarcNet bands {", ".join(STARCNET_BANDS)} in that '
                       'order, or a dict of band name to image')
                raise ValueError(msg)
            items = list(zip(STARCNET_BANDS, bands))
        else:
            msg = ('bands must be a dict of band name to image, or a list of '
                   f'five images in StarcNet band order; got {type(bands)}')
            raise TypeError(msg)
        if not items:
            msg = 'no bands given'
            raise ValueError(msg)
        names = [name for name, _ in items]
        if len(set(names)) != len(names):
            msg = f'band names repeat: {names}'
            raise ValueError(msg)

        self._bands = {}
        for name, value in items:
            self._bands[name] = self._as_nddata(name, value, mask)
        self._check_grid(wcs)

    @staticmethod
    def _as_nddata(name, value, mask):
        if isinstance(value, NDData):
            data, band_mask = value.data, value.mask
            unit, band_wcs, meta = value.unit, value.wcs, dict(value.meta)
        elif isinstance(value, u.Quantity):
            data, band_mask, unit, band_wcs, meta = value.value, None, value.unit, None, {}
        else:
            data = np.asanyarray(value)
            if isinstance(data, np.ma.MaskedArray):
                band_mask = np.ma.getmaskarray(data)
                data = data.data
            else:
                band_mask = None
            unit, band_wcs, meta = None, None, {}
        if data.ndim != 2:
            msg = f'band {name}: expected a 2-D image, got shape {data.shape}'
            raise ValueError(msg)
        if not np.issubdtype(data.dtype, np.number):
            msg = f'band {name}: image data must be numeric, got {data.dtype}'
            raise TypeError(msg)
        unit = _parse_unit(name, unit, 'NDData unit')
        if mask is not None:
            mask = np.asarray(mask, dtype=bool)
            if mask.shape != data.shape:
                msg = (f'the shared mask has shape {mask.shape}, but band '
                       f'{name} has shape {data.shape}')
                raise ValueError(msg)
            band_mask = mask if band_mask is None else (np.asarray(band_mask) | mask)
        if band_mask is not None:
            band_mask = np.asarray(band_mask, dtype=bool)
            if band_mask.shape != data.shape:
                msg = (f'band {name}: mask shape {band_mask.shape} differs '
                       f'from data shape {data.shape}')
                raise ValueError(msg)
        return NDData(data, mask=band_mask, unit=unit, wcs=band_wcs, meta=meta,
                      copy=False)

    def _check_grid(self, wcs):
        shapes = {name: nd.data.shape for name, nd in self._bands.items()}
        if len(set(shapes.values())) > 1:
            listing = ', '.join(f'{k} {v}' for k, v in shapes.items())
            msg = (f'bands have different shapes ({listing}); starcnet needs '
                   'all bands on one pixel grid: resample them onto a common '
                   'grid first (e.g. with the reproject package)')
            raise ValueError(msg)
        self.shape = next(iter(shapes.values()))
        wcss = {name: nd.wcs for name, nd in self._bands.items()
                if nd.wcs is not None}
        if wcs is None and wcss:
            ref_name, wcs = next(iter(wcss.items()))
        else:
            ref_name = 'wcs='
        for name, band_wcs in wcss.items():
            if band_wcs is wcs:
                continue
            if (getattr(band_wcs, 'has_celestial', False)
                    and getattr(wcs, 'has_celestial', False)
                    and not _same_grid(wcs, band_wcs, self.shape)):
                msg = (f'band {name} is not on the pixel grid of {ref_name}: '
                       'their WCSs differ by more than 0.01 pixel; resample '
                       'the bands onto one grid first (e.g. with the '
                       'reproject package)')
                raise ValueError(msg)
        self.wcs = wcs

    @classmethod
    def read(cls, paths, *, hdu=None, memmap=True, mask=None):
        """
        Read one FITS file per band.

        Parameters
        ----------
        paths : dict
            Band name (e.g. ``'F275W'``) to FITS file path.
        hdu : int or str, optional
            The HDU holding the image, in every file.  Default: the
            primary HDU if it holds a 2-D image, else the only 2-D image
            extension (an error if there are several).
        memmap : bool, optional
            Memory-map the pixel data (default), so that only the pixels
            around the sources are read.
        mask : array of bool, optional
            A mask shared by all bands.

        Returns
        -------
        image : `MultiBandImage`

        Raises
        ------
        FileNotFoundError, OSError, ValueError
            If a file is missing, is not FITS, or has no unambiguous
            2-D image.
        """
        if not isinstance(paths, Mapping):
            msg = ('paths must be a dict of band name to FITS file, e.g. '
                   "{'F275W': 'f275w_drc.fits', ...}")
            raise TypeError(msg)
        bands = {_band_name(band): _read_fits_band(band, path, hdu, memmap)
                 for band, path in paths.items()}
        return cls(bands, mask=mask)

    # Mapping interface
    def __getitem__(self, band):
        key = _band_name(band)
        try:
            return self._bands[key]
        except KeyError:
            msg = f'no band {band!r}; this image has {", ".join(self._bands)}'
            raise KeyError(msg) from None

    def __iter__(self):
        return iter(self._bands)

    def __len__(self):
        return len(self._bands)

    @property
    def bands(self):
        """
        The band names, in the order given.
        """
        return tuple(self._bands)

    def __repr__(self):
        return (f'<MultiBandImage bands=({", ".join(self._bands)}) '
                f'shape={self.shape} wcs={"yes" if self.wcs is not None else "no"}>')

    def match_bands(self, bands=STARCNET_BANDS):
        """
        Map the bands a model needs onto the bands of this image.

        A missing band may be replaced by an equivalent filter
        (`BAND_EQUIVALENTS`: F435W for F438W, F606W for F555W), with a
        `~starcnet.exceptions.BandSubstitutionWarning`.  Extra bands of
        the image are ignored.

        Parameters
        ----------
        bands : sequence of str
            The bands the model needs, in network order.

        Returns
        -------
        mapping : dict
            Model band name to the image band used for it, in network
            order.

        Raises
        ------
        ValueError
            If a band and all its equivalents are missing.
        """
        mapping, missing, substitutes = {}, [], []
        for band in bands:
            band = _band_name(band)
            if band in self._bands:
                mapping[band] = band
                continue
            alternatives = [b for b in BAND_EQUIVALENTS.get(band, ())
                            if b in self._bands]
            if alternatives:
                mapping[band] = alternatives[0]
                substitutes.append(f'{alternatives[0]} for the model band {band}')
            else:
                missing.append(band)
        if missing:
            msg = (f'the image lacks band(s) {", ".join(missing)} that the '
                   f'model needs (it needs {", ".join(bands)}; the image has '
                   f'{", ".join(self._bands)})')
            raise ValueError(msg)
        if substitutes:
            warnings.warn(f'using band {", ".join(substitutes)}',
                          BandSubstitutionWarning)
        return mapping
