# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The metadata of a starcnet weights file, and its one validator.

A safetensors file written by `~starcnet.models.save_model` stores one
metadata key, ``'starcnet'``, whose value is a JSON object::

    {"format": "starcnet-weights", "format_version": 1,
     "name": ..., "description": ...,
     "config": {...StarcNet keyword arguments...},
     "bands": [one band name per input channel],
     "normalization": {...see starcnet.normalization...},
     "temperature": float > 0 (optional, default 1),
     "classes": {"1": name, ...},
     "license": ..., "citation": ..., "training": {...free-form...},
     "ood": {"kind": "energy" | "mahalanobis" | "input_statistics" |
             "combined", "threshold": float, "quantile": float,
             "fitted_on": str, "n_cutouts": int,
             "features": {"means": [[...]], "precision": [[...]],
                          "scale": float},
             "inputs": {"statistics": [...], "mean": [...],
                        "covariance": [[...]], "scale": float},
             "centre": {"threshold": float} (combined),
             "evidence": {"rule": "rarest" | "sum",
                          "quantiles": [...], "features": [...],
                          "inputs": [...], "centre_rise": [...],
                          "scale": float} (optional)}
            (optional; see check_ood)}

`validate_metadata` checks such a dict; the normalisation inside it is
checked by `starcnet.normalization.Normalization` (the one validator of
normalisations), the temperature by
``starcnet.models.inference.check_temperature``, the out-of-distribution
threshold by `check_ood` (see `starcnet.models.uncertainty`).
`~starcnet.models.ModelInfo.to_metadata` writes this dict and
`~starcnet.models.ModelInfo.from_metadata` reads it.
"""

import inspect
import json
import math

from ..normalization import Normalization
from .inference import check_temperature
from .network import MAX_MEMBERS, StarcNet

__all__ = ['CONFIG_LIMITS', 'FILE_FORMAT', 'FILE_FORMAT_VERSION', 'METADATA_KEYS',
           'MAX_OOD_FEATURES', 'OOD_KINDS', 'OOD_PARTS', 'check_config', 'check_ood',
           'decode_metadata', 'validate_metadata']

#: The ``format`` and newest ``format_version`` of our weights files.
FILE_FORMAT = 'starcnet-weights'
FILE_FORMAT_VERSION = 1

#: The keys a file's ``'starcnet'`` metadata may have.
METADATA_KEYS = frozenset({
    'format', 'format_version', 'name', 'description', 'config', 'bands',
    'normalization', 'temperature', 'classes', 'license', 'citation',
    'training', 'ood'})

#: The kinds of out-of-distribution score a model's ``ood`` entry may
#: hold (higher is more unusual; see `starcnet.models.uncertainty.ood_score`):
#: ``'energy'``, `~starcnet.models.uncertainty.energy_score` of the
#: calibrated logits; ``'mahalanobis'``, the class-conditional
#: Mahalanobis distance of the penultimate features; ``'input_statistics'``,
#: the Mahalanobis distance of `~starcnet.models.uncertainty.input_statistics`;
#: ``'combined'``, the larger of the last two, each over its own scale.
OOD_KINDS = ('energy', 'mahalanobis', 'input_statistics', 'combined')

#: The keys of an ``ood`` entry: the first four required, ``n_cutouts``
#: optional, ``features`` and ``inputs`` as the kind needs, ``evidence``
#: optional for ``'combined'``.
OOD_KEYS = ('kind', 'threshold', 'quantile', 'fitted_on', 'n_cutouts', 'features',
            'inputs', 'evidence')

#: The parts (keys) each kind of ``ood`` entry needs.
OOD_PARTS = {'energy': (), 'mahalanobis': ('features',),
             'input_statistics': ('inputs',), 'combined': ('features', 'inputs')}

#: Most penultimate features a Mahalanobis ``ood`` entry may describe
#: (its precision matrix has the square of it: at most 262,144 numbers;
#: the published network has 384 features, the bundled ones 48).
MAX_OOD_FEATURES = 512

#: The keys that must be present.
REQUIRED_KEYS = ('format', 'format_version', 'config', 'bands',
                 'normalization', 'classes')

_TEXT_KEYS = ('name', 'description', 'license', 'citation')

#: The integer values a network configuration may take, (smallest,
#: largest), inclusive.  A file declares its network before its tensors
#: are compared with it, so a few bytes of metadata must not be able to
#: ask for a network of many gigabytes: width 1024 is eight times the
#: published network (about 1 GB of float32 weights).
CONFIG_LIMITS = {'width': (1, 1024), 'n_bands': (1, 64), 'n_classes': (2, 1000),
                 'size': (32, 32), 'groups': (1, 1024), 'members': (1, MAX_MEMBERS)}


def check_config(config, source='config', what='"config"'):
    """
    Check the `~starcnet.models.StarcNet` keyword arguments of a weights
    file or registry entry: known keys, integers within `CONFIG_LIMITS`
    (``groups`` may also be `None`), ``dropout`` in [0, 1].  ``members``
    (the number of networks of a `~starcnet.models.StarcNetEnsemble`) is
    the one key StarcNet itself does not take.

    Parameters
    ----------
    config : dict
        The keyword arguments.
    source, what : str, optional
        What to name in error messages: the file or entry, and the value.

    Raises
    ------
    ValueError
        Saying which value is wrong and what it may be.
    """
    if not isinstance(config, dict):
        msg = f'{source}: {what} must be a dict of StarcNet arguments, got {config!r}'
        raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
    allowed = _network_parameters()
    unknown = sorted(str(key) for key in set(config) - set(allowed))
    if unknown:
        msg = (f'{source}: {what} has keys {unknown} that StarcNet '
               f'does not take; allowed are {allowed}')
        raise ValueError(msg)
    for key, (low, high) in CONFIG_LIMITS.items():
        value = config.get(key)
        if key not in config or (key == 'groups' and value is None):
            continue
        if (isinstance(value, bool) or not isinstance(value, int)
                or not low <= value <= high):
            allowed_values = f'{low}' if low == high else f'an integer from {low} to {high}'
            msg = f'{source}: {what} {key} must be {allowed_values}, got {value!r}'
            raise ValueError(msg)
    if 'dropout' in config:
        dropout = config['dropout']
        if (isinstance(dropout, bool) or not isinstance(dropout, (int, float))
                or not 0 <= dropout <= 1):
            msg = f'{source}: {what} dropout must be a number in [0, 1], got {dropout!r}'
            raise ValueError(msg)


def _matrix(value, shape, source, what):
    """``value`` as a float64 array of ``shape`` (None: any size), finite."""
    import numpy as np

    try:
        array = np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        array = None
    ok = (array is not None and array.dtype == np.float64
          and array.ndim == len(shape) and np.isfinite(array).all()
          and all(want is None or got == want for got, want in zip(array.shape, shape))
          and array.size > 0)
    if not ok:
        dims = ' x '.join('n' if want is None else str(want) for want in shape)
        given = ('' if array is None or array.dtype != np.float64
                 else f' of shape {" x ".join(map(str, array.shape))}')
        msg = (f'{source}: {what} must be a {dims} list of finite numbers, '
               f'got {_short(value)}{given}')
        raise ValueError(msg)
    return array


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + '...'


def _check_symmetric_positive(array, source, what):
    import numpy as np

    scale = max(float(np.abs(array).max()), 1e-300)
    if not np.allclose(array, array.T, rtol=0, atol=1e-6 * scale):
        msg = f'{source}: {what} must be a symmetric matrix'
        raise ValueError(msg)
    if np.linalg.eigvalsh((array + array.T) / 2).min() <= 0:
        msg = f'{source}: {what} must be positive definite (a covariance or its inverse)'
        raise ValueError(msg)


def _check_ood_part(part, entry, kind, source, what, config):
    """Check the ``features`` or ``inputs`` of an ``ood`` entry."""
    from .uncertainty import statistics_names

    where = f'{what} {part}'
    if kind == 'combined':
        keys = {'features': ('means', 'precision', 'scale'),
                'inputs': ('statistics', 'mean', 'covariance', 'scale')}[part]
    else:
        keys = {'features': ('means', 'precision'),
                'inputs': ('statistics', 'mean', 'covariance')}[part]
    if not isinstance(entry, dict) or set(entry) != set(keys):
        got = sorted(entry) if isinstance(entry, dict) else _short(entry)
        msg = f'{source}: {where} must be a dict with the keys {list(keys)}, got {got}'
        raise ValueError(msg)
    checked = {}
    if part == 'features':
        n_features = (None if config is None
                      else 3 * int(config.get('width', 128)) * int(config.get('members', 1)))
        means = _matrix(entry['means'], (None, n_features), source, f'{where} means')
        n_classes = None if config is None else int(config.get('n_classes', 4))
        if means.shape[1] > MAX_OOD_FEATURES or (
                n_classes is not None and len(means) > n_classes):
            msg = (f'{source}: {where} means must have at most '
                   f'{n_classes or "n_classes"} rows of at most {MAX_OOD_FEATURES} '
                   f'features (3 x the network width), got {means.shape}')
            raise ValueError(msg)
        precision = _matrix(entry['precision'], (means.shape[1],) * 2, source,
                            f'{where} precision')
        _check_symmetric_positive(precision, source, f'{where} precision')
        checked.update(means=means.tolist(), precision=precision.tolist())
    else:
        names = entry['statistics']
        n_bands = None if config is None else int(config.get('n_bands', 5))
        expected = None
        if isinstance(names, list) and len(names) >= 5 and (len(names) - 3) % 2 == 0:
            expected = statistics_names((len(names) - 3) // 2)
        if names != expected or (n_bands is not None and len(names) != 2 * n_bands + 3):
            want = statistics_names(n_bands or 5)
            msg = (f'{source}: {where} statistics must name the input statistics of '
                   f'this starcnet, {want}, got {_short(names)}')
            raise ValueError(msg)
        mean = _matrix(entry['mean'], (len(names),), source, f'{where} mean')
        covariance = _matrix(entry['covariance'], (len(names),) * 2, source,
                             f'{where} covariance')
        _check_symmetric_positive(covariance, source, f'{where} covariance')
        checked.update(statistics=list(names), mean=mean.tolist(),
                       covariance=covariance.tolist())
    if 'scale' in keys:
        checked['scale'] = _positive_scale(entry['scale'], source, where)
    return checked


def _finite_number(value, source, name, low=-math.inf, high=math.inf, bounds=None):
    """
    ``value`` (a number of an ``ood`` entry) as a float; a `ValueError`
    saying that ``name`` must be a finite number in (``low``, ``high``)
    (``bounds``: how to say so; default `` in (low, high)`` where
    bounded) if it is not.
    """
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value) or not low < value < high):
        if bounds is None:
            bounds = '' if low == -math.inf else f' in ({low:g}, {high:g})'
        msg = f'{source}: {name} must be a finite number{bounds}, got {value!r}'
        raise ValueError(msg)
    return float(value)


def _positive_scale(scale, source, where):
    """The ``scale`` of a part of an ``ood`` entry as a float, finite and > 0."""
    return _finite_number(scale, source, f'{where} scale', low=0, bounds=' > 0')


def check_ood(ood, source='ood', what='"ood"', config=None):
    """
    Check the out-of-distribution entry of a model's metadata.

    Parameters
    ----------
    ood : dict
        ``{'kind': ..., 'threshold': float, 'quantile': float in (0, 1),
        'fitted_on': str}``, optionally ``'n_cutouts'`` (int >= 1), and by
        kind (`OOD_KINDS`, `OOD_PARTS`; a missing ``kind`` reads as
        ``'energy'``): ``'features'``, ``{'means': K x D, 'precision': D x
        D}`` with D at most `MAX_OOD_FEATURES` and the precision symmetric
        positive definite; ``'inputs'``, ``{'statistics': names, 'mean':
        M, 'covariance': M x M}`` with the names those of
        `starcnet.models.uncertainty.statistics_names`; for
        ``'combined'`` each part also has a ``'scale'`` > 0, and an
        optional ``'centre'``, ``{'threshold': float}`` (of
        `starcnet.models.uncertainty.off_centre_flags`), and an
        optional ``'evidence'``, ``{'rule': 'rarest' or 'sum',
        'quantiles': Q, 'features': Q, 'inputs': Q, 'centre_rise': Q,
        'scale': float}``, its quantiles
        rising strictly from 0.5 to below 1, each part's values at them
        rising strictly (the two distances' positive), the scale > 0.  See
        `starcnet.models.uncertainty.fit_ood`.
    source, what : str, optional
        What to name in error messages.
    config : dict, optional
        The network's configuration: when given, D must be 3 x its
        ``width``, K at most its ``n_classes`` and M ``2 * n_bands + 3``.

    Returns
    -------
    ood : dict
        A checked copy, numbers as plain floats and ints, ``kind`` filled.

    Raises
    ------
    ValueError
        Saying which value is wrong and what it may be.
    """
    if not isinstance(ood, dict):
        msg = (f'{source}: {what} must be a dict like {{"kind": "energy", '
               f'"threshold": ..., "quantile": 0.99, "fitted_on": ...}}, got {_short(ood)}')
        raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
    kind = ood.get('kind', 'energy')
    if kind not in OOD_KINDS:
        msg = f'{source}: {what} kind must be one of {OOD_KINDS}, got {kind!r}'
        raise ValueError(msg)
    parts = OOD_PARTS[kind]
    allowed = ('kind', 'threshold', 'quantile', 'fitted_on', 'n_cutouts') + parts
    if kind == 'combined':
        allowed += ('centre', 'evidence')
    unknown = sorted(str(key) for key in set(ood) - set(allowed))
    required = ('threshold', 'quantile', 'fitted_on') + parts
    missing = [key for key in required if key not in ood]
    if unknown or missing:
        msg = (f'{source}: {what} has unknown keys {unknown} or lacks {missing}; '
               f'the keys of kind {kind!r} are {list(allowed)} '
               f'({", ".join(k for k in allowed if k not in required)} optional)')
        raise ValueError(msg)

    checked = {'kind': kind,
               'threshold': _finite_number(ood['threshold'], source, f'{what} threshold'),
               'quantile': _finite_number(ood['quantile'], source, f'{what} quantile', 0, 1)}
    if not isinstance(ood['fitted_on'], str):
        msg = f'{source}: {what} fitted_on must be a str, got {ood["fitted_on"]!r}'
        raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
    checked['fitted_on'] = ood['fitted_on']
    if 'n_cutouts' in ood:
        n = ood['n_cutouts']
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            msg = f'{source}: {what} n_cutouts must be an integer >= 1, got {n!r}'
            raise ValueError(msg)
        checked['n_cutouts'] = int(n)
    for part in parts:
        checked[part] = _check_ood_part(part, ood[part], kind, source, what, config)
    if 'centre' in ood:
        centre = ood['centre']
        if not isinstance(centre, dict) or set(centre) != {'threshold'}:
            got = sorted(centre) if isinstance(centre, dict) else _short(centre)
            msg = f"{source}: {what} centre must be a dict {{'threshold': float}}, got {got}"
            raise ValueError(msg)
        checked['centre'] = {'threshold': _finite_number(
            centre['threshold'], source, f'{what} centre threshold')}
    if 'evidence' in ood:
        checked['evidence'] = _check_ood_evidence(ood['evidence'], source, f'{what} evidence')
    return checked


def _check_ood_evidence(entry, source, what):
    """Check the ``evidence`` of a combined ``ood`` entry."""
    import numpy as np

    from .uncertainty import EVIDENCE_PARTS, EVIDENCE_RULES, EVIDENCE_TAILS

    keys = ('rule', 'quantiles') + EVIDENCE_PARTS + ('scale',)
    if not isinstance(entry, dict) or set(entry) != set(keys):
        got = sorted(entry) if isinstance(entry, dict) else _short(entry)
        msg = f'{source}: {what} must be a dict with the keys {list(keys)}, got {got}'
        raise ValueError(msg)
    if entry['rule'] not in EVIDENCE_RULES:
        msg = f'{source}: {what} rule must be one of {EVIDENCE_RULES}, got {entry["rule"]!r}'
        raise ValueError(msg)
    quantiles = _matrix(entry['quantiles'], (None,), source, f'{what} quantiles')
    if not (2 <= len(quantiles) <= 64 and quantiles[0] == 0.5 and quantiles[-1] < 1
            and np.all(np.diff(quantiles) > 0)):
        msg = (f'{source}: {what} quantiles must rise strictly from 0.5 to below 1 '
               f'(2 to 64 of them), got {_short(entry["quantiles"])}')
        raise ValueError(msg)
    checked = {'rule': entry['rule'], 'quantiles': quantiles.tolist()}
    for part in EVIDENCE_PARTS:
        grid = _matrix(entry[part], (len(quantiles),), source, f'{what} {part}')
        positive = EVIDENCE_TAILS[part] == 'quadratic'
        if not np.all(np.diff(grid) > 0) or (positive and grid[0] <= 0):
            msg = (f'{source}: {what} {part} must rise strictly (one value per '
                   f'quantile){", from above 0" if positive else ""}, '
                   f'got {_short(entry[part])}')
            raise ValueError(msg)
        checked[part] = grid.tolist()
    checked['scale'] = _positive_scale(entry['scale'], source, what)
    return checked


def check_distinct_bands(bands, source, what='"bands"'):
    """A `ValueError` if a band name repeats in ``bands`` (one per input channel)."""
    bands = list(bands)
    repeated = sorted({band for band in bands if bands.count(band) > 1})
    if repeated:
        msg = (f'{source}: {what} names {", ".join(repeated)} more than once, '
               f'got {bands!r}; each input channel needs its own band')
        raise ValueError(msg)


def _network_parameters():
    signature = inspect.signature(StarcNet.__init__)
    return [name for name in signature.parameters if name != 'self'] + ['members']


def validate_metadata(meta, source='metadata'):
    """
    Check the ``'starcnet'`` metadata of a weights file.

    Parameters
    ----------
    meta : dict
        The decoded metadata (see the module documentation).
    source : str, optional
        What to name in error messages (a file path, a function).

    Raises
    ------
    ValueError
        Saying which key is wrong and what it should be.
    """
    if not isinstance(meta, dict):
        msg = f'{source}: the "starcnet" metadata must be a JSON object, got {meta!r}'
        raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
    unknown = set(meta) - METADATA_KEYS
    if unknown:
        msg = (f'{source}: unknown metadata keys {sorted(unknown)}; allowed '
               f'keys are {sorted(METADATA_KEYS)}')
        raise ValueError(msg)
    if meta.get('format') != FILE_FORMAT:
        msg = (f'{source}: the "starcnet" metadata is not of format '
               f'{FILE_FORMAT!r} (its "format" is {meta.get("format")!r})')
        raise ValueError(msg)
    version = meta.get('format_version')
    if (isinstance(version, bool) or not isinstance(version, int)
            or not 1 <= version <= FILE_FORMAT_VERSION):
        msg = (f'{source}: weights file format_version {version!r} is not '
               f'supported (this starcnet reads 1 to {FILE_FORMAT_VERSION}); '
               'upgrade starcnet')
        raise ValueError(msg)
    missing = [key for key in REQUIRED_KEYS if key not in meta]
    if missing:
        msg = f'{source}: metadata lacks the required keys {missing}'
        raise ValueError(msg)

    config = meta['config']
    check_config(config, source, 'metadata "config"')
    n_bands = config.get('n_bands', 5)
    n_classes = config.get('n_classes', 4)

    bands = meta['bands']
    if (not isinstance(bands, (list, tuple)) or len(bands) != n_bands
            or not all(isinstance(band, str) for band in bands)):
        msg = (f'{source}: metadata "bands" must be a list of {n_bands} band '
               f'names, got {bands!r}')
        raise ValueError(msg)
    check_distinct_bands(bands, source, 'metadata "bands"')

    try:
        Normalization.from_metadata(meta['normalization']).check(n_bands)
    except ValueError as exc:
        msg = (f'{source}: metadata "normalization" is not valid for a {n_bands}-band '
               f'network: {exc}')
        raise ValueError(msg) from exc
    check_temperature(meta.get('temperature', 1.0), f'{source}: metadata "temperature"')

    classes = meta['classes']
    if not isinstance(classes, dict) or len(classes) != n_classes:
        msg = (f'{source}: metadata "classes" must map {n_classes} class '
               f'numbers to names, got {classes!r}')
        raise ValueError(msg)
    try:
        numbers = sorted(int(key) for key in classes)
    except (TypeError, ValueError):
        numbers = None
    if numbers != list(range(1, n_classes + 1)):
        msg = (f'{source}: metadata "classes" keys must be 1..{n_classes}, '
               f'got {sorted(map(str, classes))}')
        raise ValueError(msg)
    if not all(isinstance(value, str) for value in classes.values()):
        msg = f'{source}: metadata "classes" values must be class names (str), got {classes!r}'
        raise ValueError(msg)
    names = list(classes.values())
    if len(set(names)) != len(names):
        msg = f'{source}: metadata "classes" names must differ, got {classes!r}'
        raise ValueError(msg)

    for key in _TEXT_KEYS:
        if key in meta and not isinstance(meta[key], str):
            msg = f'{source}: metadata "{key}" must be a str, got {meta[key]!r}'
            raise ValueError(msg)
    if not isinstance(meta.get('training', {}), dict):
        msg = f'{source}: metadata "training" must be a dict, got {meta["training"]!r}'
        raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
    if 'ood' in meta:
        check_ood(meta['ood'], source, 'metadata "ood"', config=config)


def decode_metadata(raw, source):
    """
    Decode and check the ``'starcnet'`` entry of safetensors metadata.

    Parameters
    ----------
    raw : dict or None
        The safetensors ``__metadata__`` (str -> str).
    source : str
        What to name in error messages (the file path).

    Returns
    -------
    meta : dict or None
        The checked metadata, `None` if there is no ``'starcnet'`` entry.
    """
    if not raw or 'starcnet' not in raw:
        return None
    try:
        meta = json.loads(raw['starcnet'])
    except (TypeError, json.JSONDecodeError) as exc:
        msg = f'{source}: the "starcnet" metadata is not valid JSON ({exc})'
        raise ValueError(msg) from exc
    validate_metadata(meta, source)
    return meta
