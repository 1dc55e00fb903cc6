# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Multi-band images on one pixel grid.
"""

import os
import warnings
from collections.abc import Mapping

import numpy as np
from astropy import units as u
from astropy.nddata import NDData

from ._fits import _band_name, _parse_unit, _read_fits_band
from .exceptions import BandSubstitutionWarning
from .legus import BAND_EQUIVALENTS, BANDS

__all__ = ['MultiBandImage', 'STARCNET_BANDS', 'BAND_EQUIVALENTS']

#: The five bands of the published StarcNet model, in network order
#: (`starcnet.legus.BANDS`).
STARCNET_BANDS = BANDS


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


def _align(bands, wcs):
    """
    Resample every band onto the grid of the first band (or ``wcs``)
    with `reproject.reproject_interp`; bands already on that grid are
    kept as they are.
    """
    try:
        from reproject import reproject_interp
    except ImportError:
        msg = ('align=True resamples the bands with the reproject package, '
               'which is not installed: pip install reproject')
        raise ImportError(msg) from None
    from astropy.wcs.utils import proj_plane_pixel_area

    names = list(bands)
    no_wcs = [n for n in names
              if not getattr(bands[n].wcs, 'has_celestial', False)]
    if no_wcs:
        msg = (f'align=True needs a celestial WCS in every band; '
               f'{", ".join(no_wcs)} {"has" if len(no_wcs) == 1 else "have"} '
               'none')
        raise ValueError(msg)
    ref_name = names[0] if wcs is None else 'wcs='
    target = bands[names[0]].wcs if wcs is None else wcs
    shape = bands[names[0]].data.shape
    target_area = proj_plane_pixel_area(target.celestial)
    out = {}
    for name, nd in bands.items():
        if nd.data.shape == shape and (nd.wcs is target
                                       or _same_grid(target, nd.wcs, shape)):
            out[name] = nd
            continue
        source_wcs = nd.wcs.celestial
        with warnings.catch_warnings():
            warnings.filterwarnings('ignore', module='astropy.wcs')
            # float32 input and output keep the memory to two float32
            # copies of a band.
            data = np.empty(shape, dtype=np.float32)
            reproject_interp((np.asarray(nd.data, dtype=np.float32), source_wcs),
                             target, shape_out=shape, output_array=data,
                             return_footprint=False)
            mask = None
            if nd.mask is not None:
                # Any output pixel that a masked input pixel contributes
                # to is masked.
                weight = reproject_interp(
                    (np.asarray(nd.mask, dtype=np.float32), source_wcs), target,
                    shape_out=shape, return_footprint=False)
                mask = ~(weight == 0)
        ratio = target_area / proj_plane_pixel_area(source_wcs)
        # Pixel values are fluxes per pixel: scale by the pixel area.
        if ratio != 1:
            data *= np.float32(ratio)
        meta = dict(nd.meta)
        meta['align_note'] = (f'resampled onto the grid of {ref_name} with '
                              'reproject_interp (bilinear), times the pixel '
                              f'area ratio {ratio:.6g}')
        out[name] = NDData(data, mask=mask, unit=nd.unit, wcs=target,
                           meta=meta, copy=False)
    return out


def _check_distinct_files(bands):
    """
    Refuse one image (the same HDU of one file, after resolving links)
    read for two bands: a copy-and-paste slip that would classify one
    band five times without a word.
    """
    seen = {}
    for band, nd in bands.items():
        path = nd.meta.get('path')
        if path is None:
            continue
        key = (os.path.realpath(path), nd.meta.get('hdu'))
        for other, (other_key, other_path) in seen.items():
            same = other_key == key
            if not same and other_key[1] == key[1]:
                try:
                    same = os.path.samefile(other_path, path)
                except OSError:
                    same = False
            if same:
                msg = (f'bands {other} and {band} are both read from HDU '
                       f'{key[1]} of {path!r}; give each band its own file (to '
                       'use one image for several bands on purpose, read it '
                       'once and pass the same array for each band to '
                       'MultiBandImage)')
                raise ValueError(msg)
        seen[band] = (key, path)


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
    align : bool, optional
        Resample every band that is not on the grid of the first band
        (or of ``wcs``) onto it, with `reproject.reproject_interp`
        (optional dependency: ``pip install reproject``).  Default:
        bands on different grids are an error.

    Raises
    ------
    ValueError
        If the bands differ in shape or WCS (without ``align=True``),
        are not 2-D or have no pixels, or their pixels cannot be turned
        into electrons per second.

    Notes
    -----
    Pixel values are expected in electrons per second, as in HST
    drizzled ``_drc``/``_drz`` products and the LEGUS mosaics.  Bands in
    electrons (with an exposure time, ``EXPTIME``) or in counts / DN
    (with a gain and exposure time) are kept as they are, with the
    factor to e-/s in ``meta['scale']`` and a sentence in
    ``meta['unit_note']``; `band_arrays` returns the factors and the
    classifier applies them to each cutout.  Data are kept as given
    (memory-mapped arrays stay memory-mapped).
    """

    def __init__(self, bands, *, wcs=None, mask=None, align=False):
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

        bands = {name: self._as_nddata(name, value) for name, value in items}
        if align:
            bands = _align(bands, wcs)
        if mask is not None:
            bands = {name: self._with_mask(name, nd, mask)
                     for name, nd in bands.items()}
        self._bands = bands
        self._check_grid(wcs)

    @staticmethod
    def _as_nddata(name, value):
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
        if 0 in data.shape:
            msg = (f'band {name}: the image has no pixels (shape {data.shape}); '
                   'check the file and HDU')
            raise ValueError(msg)
        if not np.issubdtype(data.dtype, np.number):
            msg = f'band {name}: image data must be numeric, got {data.dtype}'
            raise TypeError(msg)
        where = (f'{meta["path"]}[{meta.get("hdu", 0)}]' if 'path' in meta
                 else 'NDData unit')
        unit, meta['scale'], meta['unit_note'] = _parse_unit(name, unit, where, meta)
        if band_mask is not None:
            band_mask = np.asarray(band_mask, dtype=bool)
            if band_mask.shape != data.shape:
                msg = (f'band {name}: mask shape {band_mask.shape} differs '
                       f'from data shape {data.shape}')
                raise ValueError(msg)
        return NDData(data, mask=band_mask, unit=unit, wcs=band_wcs, meta=meta,
                      copy=False)

    @staticmethod
    def _with_mask(name, nd, mask):
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != nd.data.shape:
            msg = (f'the shared mask has shape {mask.shape}, but band '
                   f'{name} has shape {nd.data.shape}')
            raise ValueError(msg)
        band_mask = mask if nd.mask is None else (np.asarray(nd.mask) | mask)
        return NDData(nd.data, mask=band_mask, unit=nd.unit, wcs=nd.wcs,
                      meta=nd.meta, copy=False)

    def _check_grid(self, wcs):
        shapes = {name: nd.data.shape for name, nd in self._bands.items()}
        if len(set(shapes.values())) > 1:
            listing = ', '.join(f'{k} {v}' for k, v in shapes.items())
            msg = (f'bands have different shapes ({listing}); starcnet needs '
                   'all bands on one pixel grid: resample them onto a common '
                   'grid first, or pass align=True to resample them onto the '
                   'grid of the first band (needs the reproject package)')
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
                       'the bands onto one grid first, or pass align=True to '
                       'resample them onto the grid of the first band (needs '
                       'the reproject package)')
                raise ValueError(msg)
        self.wcs = wcs

    @classmethod
    def read(cls, paths, *, hdu=None, memmap=True, mask=None, align=False):
        """
        Read one FITS file per band.

        Parameters
        ----------
        paths : dict or list
            Band name (e.g. ``'F275W'``) to FITS file path; or a list of
            FITS files, whose bands are read from their headers
            (``FILTER``; ``FILTER1``/``FILTER2`` for ACS, the one that is
            not ``CLEAR``; else ``PHOTPLAM`` matched to the nearest
            WFC3 or ACS filter within 2%).  A path may end in an HDU
            suffix, ``'f555w_flc.fits[SCI,2]'``, ``'f.fits[SCI]'`` or
            ``'f.fits[1]'``, which takes precedence over ``hdu``.
        hdu : int, str or tuple, optional
            The HDU holding the image, in every file: an index, an
            ``EXTNAME`` or an ``(EXTNAME, EXTVER)`` pair.  Default: the
            primary HDU if it holds a 2-D image (LEGUS, PHANGS-HST
            mosaics), else the only 2-D image extension, or the only
            one that is not an auxiliary plane (``ERR``, ``DQ``,
            ``WHT``, ``CTX``, ...): the ``SCI`` extension of ``_drc``
            and ``_flt`` files.  Several candidates (the two ``SCI``
            chips of a ``_flc`` file) are an error naming them.
        memmap : bool, optional
            Memory-map the pixel data (default), so that only the pixels
            around the sources are read.  The map is read-only
            (``fits.open(..., mode='denywrite')``): the band arrays
            cannot be changed in place (copy one to change it), and the
            classifier gives back the pages of the rows it is done with.
            Tile-compressed files (``.fits.fz``) and scaled integers
            (``BSCALE``/``BZERO``) are read into memory whatever this
            says.
        mask : array of bool, optional
            A mask shared by all bands (on the common grid).
        align : bool, optional
            Resample the bands onto the grid of the first one with the
            reproject package (see `MultiBandImage`); this reads every
            resampled band into memory.

        Returns
        -------
        image : `MultiBandImage`

        Raises
        ------
        FileNotFoundError, OSError, ValueError
            If a file is missing, is not FITS, has no unambiguous 2-D
            image, its band cannot be told or repeats another file's,
            one image (the same HDU of the same file, after resolving
            links) is given for two bands, or its pixels cannot be
            turned into electrons per second.

        Warns
        -----
        `~starcnet.exceptions.StarcnetWarning`
            When a file given for a band names another HST filter in its
            ``FILTER`` (``FILTER1``/``FILTER2``) keywords; the band is
            used as given.

        Notes
        -----
        To use one image for several bands on purpose (e.g. a test),
        read it once and give the same array or `~astropy.nddata.NDData`
        for each band to `MultiBandImage`.
        """
        if isinstance(paths, Mapping):
            bands = dict(_read_fits_band(_band_name(band), path, hdu, memmap)
                         for band, path in paths.items())
            _check_distinct_files(bands)
        elif (isinstance(paths, (list, tuple))
              and all(isinstance(p, (str, bytes, os.PathLike)) for p in paths)):
            if not paths:
                msg = 'no FITS files given'
                raise ValueError(msg)
            bands, sources = {}, {}
            for path in paths:
                band, nd = _read_fits_band(None, path, hdu, memmap)
                if band in bands:
                    msg = (f'band {band} twice: in {sources[band]!r} and '
                           f'{os.fspath(path)!r} ({bands[band].meta["band_note"]}; '
                           f'{nd.meta["band_note"]}); give one file per band, '
                           'or a dict of band name to file')
                    raise ValueError(msg)
                bands[band], sources[band] = nd, os.fspath(path)
        else:
            msg = ('paths must be a dict of band name to FITS file, e.g. '
                   "{'F275W': 'f275w_drc.fits', ...}, or a list of FITS files "
                   f'whose headers name their filters; got {type(paths).__name__}')
            raise TypeError(msg)
        return cls(bands, mask=mask, align=align)

    def band_arrays(self, bands=None):
        """
        The pixel arrays, masks and e-/s factors of some bands.

        Parameters
        ----------
        bands : sequence of str, optional
            Band names, in the order wanted.  Default: all bands.

        Returns
        -------
        arrays : list of 2-D arrays
            The data as stored (memory-mapped arrays stay so).
        masks : list of 2-D bool arrays or None
        scales : `~numpy.ndarray`
            float32, one per band: multiply a band's pixels by it to get
            electrons per second (1 for bands already in e-/s; ``1 /
            EXPTIME`` for bands in electrons).
        """
        names = self.bands if bands is None else [_band_name(b) for b in bands]
        nds = [self[name] for name in names]
        scales = np.array([nd.meta.get('scale', 1.0) for nd in nds],
                          dtype=np.float32)
        return [nd.data for nd in nds], [nd.mask for nd in nds], scales

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
                          BandSubstitutionWarning, stacklevel=2)
        return mapping
