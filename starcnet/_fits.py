# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
One band of an HST image from a FITS file.

Which HDU holds the science image (``file.fits[SCI]``, auxiliary planes
skipped), which filter it is (FILTER keywords, else PHOTPLAM against the
pivot wavelengths of the WFC3 and ACS filters), its WCS, and its unit and
factor to electrons per second (BUNIT spellings of the HST pipelines,
EXPTIME).  Used by `starcnet.images.MultiBandImage`.
"""

import os
import re
import warnings

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.nddata import NDData
from astropy.wcs import WCS

_ELECTRON_RATE = u.electron / u.s

# BUNIT spellings of HST pipelines that astropy's unit parser does not
# read as meant ('/S' would be siemens, 'COUNTS' is not a unit name).
_HST_UNITS = {'ELECTRONS/S': _ELECTRON_RATE, 'ELECTRONS/SEC': _ELECTRON_RATE,
              'ELECTRON/S': _ELECTRON_RATE, 'E-/S': _ELECTRON_RATE,
              'E/S': _ELECTRON_RATE, 'ELECTRONS': u.electron,
              'ELECTRON': u.electron, 'E-': u.electron,
              'COUNTS/S': u.count / u.s, 'COUNTS/SEC': u.count / u.s,
              'COUNT/S': u.count / u.s, 'CPS': u.count / u.s,
              'COUNTS': u.count, 'DN/S': u.adu / u.s, 'DN': u.adu,
              'ADU/S': u.adu / u.s, 'ADU': u.adu}

# Names of the auxiliary planes that HST and other pipelines write next
# to the science image (errors, data quality, drizzle weight and context,
# exposure maps, IR sampling, distortion tables, headerlets).
_AUX_EXTNAMES = frozenset({
    'ERR', 'ERROR', 'ERRORS', 'DQ', 'WHT', 'WEIGHT', 'CTX', 'CON', 'CONTEXT',
    'EXP', 'EXPOSURE', 'VAR', 'VARIANCE', 'IVM', 'RMS', 'SIGMA', 'UNC',
    'UNCERT', 'MASK', 'SAMP', 'TIME', 'WCSDVARR', 'D2IMARR', 'HDRLET'})

# Pivot wavelengths (Angstrom) of the broad-, medium- and long-pass
# imaging filters, from the WFC3 and ACS instrument handbooks, used to
# name a band from PHOTPLAM when the header has no filter keyword.
_PIVOT_WAVELENGTHS = {
    ('WFC3', 'UVIS'): {
        'F218W': 2228, 'F225W': 2372, 'F275W': 2710, 'F300X': 2821,
        'F336W': 3355, 'F390M': 3897, 'F390W': 3924, 'F410M': 4109,
        'F438W': 4326, 'F467M': 4683, 'F475W': 4773, 'F475X': 4941,
        'F547M': 5447, 'F555W': 5308, 'F606W': 5889, 'F621M': 6219,
        'F625W': 6243, 'F689M': 6877, 'F763M': 7614, 'F775W': 7651,
        'F814W': 8039, 'F845M': 8439, 'F850LP': 9176},
    ('WFC3', 'IR'): {
        'F098M': 9865, 'F105W': 10551, 'F110W': 11534, 'F125W': 12486,
        'F127M': 12740, 'F139M': 13838, 'F140W': 13923, 'F153M': 15322,
        'F160W': 15369},
    ('ACS', 'WFC'): {
        'F435W': 4330, 'F475W': 4747, 'F550M': 5581, 'F555W': 5361,
        'F606W': 5922, 'F625W': 6312, 'F775W': 7693, 'F814W': 8046,
        'F850LP': 9031},
}

#: Largest relative difference between PHOTPLAM and a filter's pivot
#: wavelength for the filter to be recognised.
_PIVOT_TOLERANCE = 0.02
# Filters whose relative offsets from PHOTPLAM differ by less than this
# are equally good matches.
_PIVOT_TIE = 0.002

# An HST imaging filter name: F555W, F850LP, F098M, FQ508N, F1042M.
_FILTER_NAME = re.compile(r'^FQ?\d{3,4}[A-Z]{1,2}$')

# A path with an extension suffix: 'file.fits[SCI]', 'file.fits[SCI,2]',
# 'file.fits[1]'.
_HDU_SUFFIX = re.compile(r'^(?P<path>.+)\[(?P<spec>[^\[\]]*)\]$')


def _band_name(name):
    if not isinstance(name, str) or not name.strip():
        msg = f'band names must be non-empty strings, got {name!r}'
        raise TypeError(msg)
    return name.strip().upper()


def _parse_hdu(hdu, where='hdu='):
    """
    Normalise an HDU choice: int, name, (name, ver), or a string
    ``'1'``, ``'SCI'``, ``'SCI,2'``.
    """
    if hdu is None:
        return None
    if isinstance(hdu, (int, np.integer)) and not isinstance(hdu, bool):
        return int(hdu)
    if isinstance(hdu, str):
        parts = [p.strip() for p in hdu.split(',')]
        if len(parts) == 1 and parts[0].isdigit():
            return int(parts[0])
        if len(parts) == 1 and parts[0]:
            return parts[0].upper()
        if len(parts) == 2 and parts[0] and parts[1].isdigit():
            return (parts[0].upper(), int(parts[1]))
    elif (isinstance(hdu, tuple) and len(hdu) == 2 and isinstance(hdu[0], str)
          and isinstance(hdu[1], (int, np.integer))):
        return (hdu[0].strip().upper(), int(hdu[1]))
    msg = (f'{where}: cannot understand the HDU {hdu!r}; give an index (1), '
           "a name ('SCI') or a (name, version) pair (('SCI', 2))")
    raise ValueError(msg)


def _split_path(path):
    """
    Split ``'file.fits[SCI,2]'`` into the file name and the HDU
    ``('SCI', 2)``; a path without a suffix (or an existing file whose
    name ends in brackets) gives ``(path, None)``.
    """
    text = os.fspath(path)
    if not isinstance(text, str):
        text = os.fsdecode(text)
    match = _HDU_SUFFIX.match(text)
    if match is None or os.path.exists(text):
        return text, None
    return match['path'], _parse_hdu(match['spec'], where=text)


def _hdu_label(hdul, index):
    hdu = hdul[index]
    return f'{index} ({hdu.name},{hdu.ver})'


def _is_2d_image(hdu):
    return (hdu.is_image and hdu.header.get('NAXIS', 0) == 2
            and all(hdu.header.get(f'NAXIS{i}', 0) > 0 for i in (1, 2)))


def _choose_hdu(hdul, label, path):
    """
    The index of the HDU holding the image when none was asked for.
    """
    if _is_2d_image(hdul[0]):
        return 0
    images = [i for i, h in enumerate(hdul) if _is_2d_image(h)]
    if len(images) == 1:
        return images[0]
    science = [i for i in images
               if hdul[i].name.strip().upper() not in _AUX_EXTNAMES]
    if len(science) == 1:
        return science[0]
    if not images:
        msg = (f'{label}{path!r} has no 2-D image HDU (see its HDUs with '
               'astropy.io.fits.info); give the extension with hdu=')
        raise ValueError(msg)
    shown = science or images
    names = ', '.join(_hdu_label(hdul, i) for i in shown)
    first = hdul[shown[-1]]
    msg = (f'{label}{path!r} has several 2-D image HDUs: {names}; choose '
           f"one with hdu= (an index such as hdu={shown[-1]}, a name, or a "
           f"(name, version) pair such as hdu=('{first.name}', {first.ver})) "
           f"or with a suffix on the file name: '{path}[{first.name},"
           f"{first.ver}]' or '{path}[{shown[-1]}]'")
    raise ValueError(msg)


def _header_value(headers, key):
    for header in headers:
        value = header.get(key)
        if value is not None and not (isinstance(value, str) and not value.strip()):
            return value
    return None


def _filter_from_keywords(headers):
    """
    The filter named by FILTER (WFC3), FILTER1/FILTER2 (ACS) or
    FILTNAM1/FILTNAM2 (WFPC2), or None; and what was found.
    """
    found = []
    for keys in (('FILTER',), ('FILTER1', 'FILTER2'), ('FILTNAM1', 'FILTNAM2')):
        values = [(k, _header_value(headers, k)) for k in keys]
        values = [(k, str(v).strip().upper()) for k, v in values if v is not None]
        if not values:
            continue
        found += [f'{k} = {v!r}' for k, v in values]
        names = {v for _, v in values
                 if not v.startswith('CLEAR') and _FILTER_NAME.match(v)}
        if len(names) == 1:
            return names.pop(), found
        if len(names) > 1:
            msg = (f'{", ".join(found)} name several filters '
                   f'({", ".join(sorted(names))})')
            raise ValueError(msg)
    return None, found


def _filter_from_photplam(headers):
    """
    The filter whose pivot wavelength is nearest PHOTPLAM (within
    `_PIVOT_TOLERANCE`), or None; and why not.
    """
    value = _header_value(headers, 'PHOTPLAM')
    try:
        pivot = float(value)
    except (TypeError, ValueError):
        return None, 'no usable PHOTPLAM'
    if not np.isfinite(pivot) or pivot <= 0:
        return None, f'PHOTPLAM = {value!r} is not a wavelength'
    instrument = str(_header_value(headers, 'INSTRUME') or '').strip().upper()
    detector = str(_header_value(headers, 'DETECTOR') or '').strip().upper()
    key = (instrument, detector)
    tables = ({key: _PIVOT_WAVELENGTHS[key]} if key in _PIVOT_WAVELENGTHS
              else _PIVOT_WAVELENGTHS)
    close = []
    for (inst, det), table in tables.items():
        for name, wave in table.items():
            offset = abs(wave - pivot) / wave
            if offset <= _PIVOT_TOLERANCE:
                close.append((offset, name, f'{inst}/{det}'))
    close.sort()
    if not close:
        where = '/'.join(key) if key in _PIVOT_WAVELENGTHS else 'WFC3 or ACS'
        return None, (f'PHOTPLAM = {pivot:g} A is within '
                      f'{_PIVOT_TOLERANCE:.0%} of no {where} filter')
    # Filters whose pivots are as near as the nearest one (F435W on ACS
    # and F438W on WFC3 differ by 0.1%) cannot be told apart.
    best = close[0][0]
    tied = [(n, i) for offset, n, i in close
            if offset - best < _PIVOT_TIE and n != close[0][1]]
    if tied:
        listing = ', '.join(f'{n} ({i})' for n, i in [close[0][1:], *tied])
        hint = ('INSTRUME/DETECTOR do not say which' if key not in _PIVOT_WAVELENGTHS
                else 'their pivot wavelengths are too close')
        return None, f'PHOTPLAM = {pivot:g} A matches {listing} and {hint}'
    return close[0][1], None


def _header_band(headers, path):
    """
    The band name of a file from its headers, with a note on how it
    was found.
    """
    try:
        name, found = _filter_from_keywords(headers)
    except ValueError as exc:
        msg = (f'{path!r}: cannot tell the band: {exc}; give the files as a '
               "dict of band name to file, e.g. {'F555W': path, ...}")
        raise ValueError(msg) from None
    if name is not None:
        return name, f'band {name} from {", ".join(found)}'
    name, why = _filter_from_photplam(headers)
    if name is not None:
        pivot = float(_header_value(headers, 'PHOTPLAM'))
        return name, f'band {name} from PHOTPLAM = {pivot:g} A'
    keywords = (f'{", ".join(found)} (not an HST imaging filter)' if found
                else 'no FILTER/FILTER1/FILTER2 keyword')
    msg = (f'{path!r}: cannot tell the band: {keywords}, and {why}; give the '
           'files as a dict of band name to '
           "file, e.g. {'F555W': path, ...}")
    raise ValueError(msg)


def _check_filter_keyword(band, headers, where):
    """
    Warn when a file given for an HST band names another filter in its
    FILTER / FILTER1 / FILTER2 (FILTNAM1 / FILTNAM2) keywords: swapped
    files would be classified without a word.
    """
    if not _FILTER_NAME.match(band):
        return
    try:
        name, found = _filter_from_keywords(headers)
    except ValueError:
        return
    if name is not None and name != band:
        from .exceptions import StarcnetWarning

        msg = (f'{where} is given for band {band}, but its header says '
               f'{", ".join(found)} (band {name}); it is used as {band}: check '
               'that the files are not swapped')
        warnings.warn(msg, StarcnetWarning, stacklevel=5)


def _read_fits_band(band, path, hdu, memmap):
    """
    Read one band from a FITS file: data (memory-mapped where
    possible), WCS, unit and header facts.

    ``band`` may be None (the band is then found from the header, see
    `_header_band`); ``path`` may carry an HDU suffix ``[SCI,2]``, which
    takes precedence over ``hdu``.
    """
    path, suffix_hdu = _split_path(path)
    hdu = suffix_hdu if suffix_hdu is not None else _parse_hdu(hdu)
    label = '' if band is None else f'band {band}: '
    if not os.path.exists(path):
        msg = f'{label}FITS file {path!r} does not exist'
        raise FileNotFoundError(msg)
    try:
        # memory-mapped read-only ('denywrite': a shared map of the file's
        # own clean pages), so that the classifier can give back the pages
        # of rows it is done with (starcnet._memmap)
        with fits.open(path, memmap=memmap, lazy_load_hdus=False,
                       mode='denywrite' if memmap else 'readonly') as hdul:
            if hdu is None:
                index = _choose_hdu(hdul, label, path)
            else:
                try:
                    index = hdul.index_of(hdu)
                    hdul[index]
                except (KeyError, IndexError):
                    names = ', '.join(_hdu_label(hdul, i) for i in range(len(hdul)))
                    msg = f'{label}{path!r} has no HDU {hdu!r}; it has {names}'
                    raise ValueError(msg) from None
            selected = hdul[index]
            where = f'{path}[{index}]'
            if not selected.is_image:
                msg = (f'{label}HDU {_hdu_label(hdul, index)} of {path!r} '
                       'is not an image')
                raise ValueError(msg)
            try:
                data = selected.data
            except ValueError as exc:
                # Scaled integers (BSCALE/BZERO/BLANK) cannot be
                # memory-mapped; read them into memory instead.
                if not memmap or 'memory-mapped' not in str(exc):
                    raise
                with fits.open(path, memmap=False) as plain:
                    data = plain[index].data
            header = selected.header.copy()
            headers = (header,) if index == 0 else (header, hdul[0].header)
            if data is None or data.ndim != 2:
                msg = (f'{label}HDU {_hdu_label(hdul, index)} of {path!r} '
                       'holds no 2-D image (shape '
                       f'{None if data is None else data.shape})')
                raise ValueError(msg)
            if band is None:
                band, band_note = _header_band(headers, where)
            else:
                band_note = f'band {band} as given'
                _check_filter_keyword(band, headers, where)
            meta = {'path': path, 'hdu': index, 'extname': selected.name,
                    'extver': selected.ver, 'band_note': band_note,
                    'compressed': isinstance(selected, fits.CompImageHDU),
                    'header': header}
            for key in ('EXPTIME', 'GAIN', 'ATODGAIN'):
                value = _header_value(headers, key)
                if value is not None:
                    meta[key.lower()] = value
            wcs = _header_wcs(header, hdul, f'band {band} ({where})')
    except (OSError, TypeError) as exc:
        msg = f'{label}cannot read {path!r} as FITS ({exc})'
        raise OSError(msg) from exc
    unit, meta['scale'], meta['unit_note'] = _parse_unit(
        band, _header_value(headers, 'BUNIT'), where, meta)
    return band, NDData(data, wcs=wcs, unit=unit, meta=meta, copy=False)


def _header_wcs(header, hdul, where):
    if not header.get('CTYPE1'):
        return None
    with warnings.catch_warnings():
        # Drizzled headers often carry non-standard keywords that astropy
        # comments on; the WCS itself is what matters here.
        warnings.simplefilter('ignore', fits.verify.VerifyWarning)
        warnings.filterwarnings('ignore', module='astropy.wcs')
        try:
            # The file is needed for HST lookup-table distortions
            # (D2IMARR / WCSDVARR extensions of _flt / _flc files).
            return WCS(header, fobj=hdul)
        except (ValueError, KeyError, MemoryError) as exc:
            msg = (f'{where}: cannot read the WCS of the header ({exc}); fix '
                   'the header, or read the data yourself and pass arrays')
            raise ValueError(msg) from exc


def _lookup(meta, key):
    """
    A header fact from an NDData meta: our own lower-case key, an
    upper-case FITS keyword (CCDData.read puts the header there) or
    meta['header'].
    """
    for source in (meta, meta.get('header') or {}):
        for k in (key.lower(), key.upper()):
            try:
                value = source[k]
            except (KeyError, TypeError, IndexError):
                continue
            if value is not None:
                return value
    return None


def _positive(value):
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) and value > 0 else None


def _parse_unit(band, unit, where, meta=None):
    """
    Check a band's pixel unit and find the factor that turns its pixels
    into electrons per second.

    Returns ``(unit, scale, note)``: ``unit`` as an astropy unit or None,
    ``scale`` the factor to multiply the pixels with, ``note`` a
    sentence saying what was done.
    """
    meta = {} if meta is None else meta
    if unit is None or (isinstance(unit, str) and not unit.strip()):
        return None, 1.0, 'no unit: taken as electrons per second'
    original = unit
    try:
        if isinstance(unit, str):
            text = unit.strip()
            unit = _HST_UNITS.get(text.upper().replace(' ', ''))
            if unit is None:
                try:
                    unit = u.Unit(text, parse_strict='raise')
                except ValueError:
                    # FITS spellings such as 'erg/s/cm2/Angstrom'
                    unit = u.Unit(text, format='fits', parse_strict='raise')
        unit = u.Unit(unit)
    except ValueError:
        msg = (f'band {band} ({where}): cannot parse the pixel unit '
               f'{original!r}; starcnet models take electrons per second '
               '(e-/s): fix BUNIT, or convert the image to e-/s and pass it '
               'as an array or NDData')
        raise ValueError(msg) from None
    if unit == u.dimensionless_unscaled:
        return unit, 1.0, 'dimensionless: taken as electrons per second'
    head = (f'band {band} ({where}): pixels are in {unit}, but starcnet '
            'models take electrons per second (e-/s)')
    if unit.is_equivalent(_ELECTRON_RATE):
        scale = float(unit.to(_ELECTRON_RATE))
        note = 'electrons per second' if scale == 1 else f'{unit} times {scale:g}'
        return unit, scale, note
    exptime = _positive(_lookup(meta, 'EXPTIME'))
    if unit.is_equivalent(u.electron):
        if exptime is None:
            msg = (f'{head}; the header has no positive EXPTIME to divide '
                   'by: divide by the exposure time first, or set EXPTIME '
                   "(e.g. NDData meta={'EXPTIME': seconds})")
            raise ValueError(msg)
        scale = float(unit.to(u.electron)) / exptime
        return unit, scale, (f'{unit} divided by EXPTIME = {exptime:g} s to '
                             'give e-/s (applied to each cutout)')
    dn = next((d for d in (u.count, u.adu)
               if unit.is_equivalent(d) or unit.is_equivalent(d / u.s)), None)
    if dn is not None:
        gain = _positive(_lookup(meta, 'GAIN')) or _positive(_lookup(meta, 'ATODGAIN'))
        per_second = unit.is_equivalent(dn / u.s)
        missing = [k for k, v in (('GAIN or ATODGAIN', gain),
                                  ('EXPTIME', exptime if not per_second else 1))
                   if v is None]
        if missing:
            msg = (f'{head}; converting {dn} needs the detector gain (e-/{dn}) '
                   f'{"" if per_second else "and the exposure time "}but the '
                   f'header has no positive {" or ".join(missing)}: multiply '
                   f'by the gain{"" if per_second else " and divide by EXPTIME"}'
                   ' first, or give the band as NDData with unit e-/s')
            raise ValueError(msg)
        if per_second:
            scale = float(unit.to(dn / u.s)) * gain
            return unit, scale, f'{unit} times gain {gain:g} e-/{dn} to give e-/s'
        scale = float(unit.to(dn)) * gain / exptime
        return unit, scale, (f'{unit} times gain {gain:g} e-/{dn} divided by '
                             f'EXPTIME = {exptime:g} s to give e-/s')
    msg = (f'{head}, and {unit} cannot be turned into e-/s here; convert the '
           'image to e-/s first (for HST flux densities: divide by PHOTFLAM) '
           'and pass it as an array or NDData')
    raise ValueError(msg)
