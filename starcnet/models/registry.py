# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Named pretrained StarcNet models, their weights files and the astropy
data cache.

Every model has a name in the registry (`list_models`) and a
`ModelInfo` saying where its weights live, their sha256, the network
configuration, the band order, the input normalisation, the class map,
licence and citation.  Two kinds of models exist:

``'bundled'``
    Trained by this project and shipped in ``starcnet/data/`` as a
    safetensors file whose metadata carries the configuration,
    normalisation, bands and classes.  Works offline.
``'remote'``
    Downloaded once into the astropy download cache (``pkgname='starcnet'``),
    sha256-checked, then read from the cache offline.  A machine without
    internet can seed the cache from a copied file with
    `import_model_file`.

Weights are read without executing pickles: safetensors for our files,
``torch.load(weights_only=True)`` for the published checkpoint.

Our weights file format is safetensors: the tensors are the
`~starcnet.models.StarcNet` state_dict and the safetensors metadata has
one key, ``'starcnet'``, whose value is a JSON object::

    {"format": "starcnet-weights", "format_version": 1,
     "name": ..., "description": ...,
     "config": {...StarcNet keyword arguments...},
     "bands": [5 band names],
     "normalization": {"kind": "affine" or "asinh",
                       "offset": [5 floats], "scale": [5 floats]}
                      or {"kind": "local", "stretch": float or [5 floats],
                          "radius": float},
     "temperature": float > 0 (optional, default 1),
     "classes": {"1": name, ...},
     "license": ..., "citation": ..., "training": {...free-form...}}

Normalisation ``'affine'`` means ``(x - offset) / scale`` per band,
``'asinh'`` means ``asinh((x - offset) / scale)``, ``'local'`` a
per-cutout background and noise (see `starcnet.normalization`); the
dict is read and checked by
`starcnet.normalization.Normalization.from_metadata`.  ``temperature``
divides the logits before the softmax (temperature scaling,
`starcnet.training.fit_temperature`).
"""

import copy
import dataclasses
import difflib
import hashlib
import inspect
import json
import os
import pickle
import struct
import urllib.error

import torch
from astropy.utils import data as _astropy_data

from .._io import atomic_write
from ..legus import BANDS, CLASS_NAMES, PUBLISHED_BAND_OFFSETS
from ..normalization import NORMALIZATION_KINDS, Normalization
from .inference import check_temperature
from .legacy import _describe, convert_published_state_dict
from .network import StarcNet

__all__ = [
    'ModelInfo',
    'get_model_info',
    'get_model_path',
    'import_model_file',
    'is_cached',
    'list_models',
    'load_model',
    'read_weights',
    'save_model',
]

#: Package name of the astropy download cache (``~/.cache/starcnet``).
PKGNAME = 'starcnet'

#: The ``format`` and newest ``format_version`` of our weights files.
FILE_FORMAT = 'starcnet-weights'
FILE_FORMAT_VERSION = 1

_KINDS = ('bundled', 'remote', 'file')
_FORMATS = ('safetensors', 'published')
_NORMALIZATION_KINDS = NORMALIZATION_KINDS
_METADATA_KEYS = {'format', 'format_version', 'name', 'description', 'config',
                  'bands', 'normalization', 'temperature', 'classes', 'license',
                  'citation', 'training'}


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """
    Description of a StarcNet model: where its weights are and how to use
    them.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``'legus-2021'``; for a model read from a file
        that matches no registry entry, the file path.
    description : str
        One-line description.
    kind : {'bundled', 'remote', 'file'}
        ``'bundled'``: shipped in ``starcnet/data/``; ``'remote'``:
        downloaded into the astropy cache; ``'file'``: read from a path
        given by the user.
    filename : str or None
        Bundled models: file name inside ``starcnet/data/``.  Models read
        from a path: that path.
    url : tuple of str
        Remote models: download URLs, the primary first, then mirrors.  The
        primary URL is the key of the file in the astropy cache.
    sha256 : str or None
        Hex sha256 of the weights file.  `None` in the registry entry of a
        bundled model (no download to check); always filled in the
        `ModelInfo` returned by `load_model`.
    size : int or None
        Size of the weights file in bytes, if known.
    format : {'safetensors', 'published'}
        ``'safetensors'``: our format, see the module documentation;
        ``'published'``: the PyTorch state_dict of Pérez et al. (2021).
    config : dict or None
        Keyword arguments of `~starcnet.models.StarcNet`.  `None` for a
        bundled model whose file is not installed (it is read from the
        file's metadata).
    bands : tuple of str or None
        Band names, in the order of the input channels.
    normalization : `~starcnet.normalization.Normalization`, dict or None
        The input normalisation; a metadata dict (e.g. ``{'kind':
        'affine', 'offset': [...], 'scale': [...]}``) is turned into a
        `~starcnet.normalization.Normalization` (and checked).
    temperature : float
        Temperature of the logits (default 1: none); the predictor
        divides the logits by it before the softmax.
    classes : dict or None
        Output index + 1 -> class name, e.g. `starcnet.legus.CLASS_NAMES`.
    license : str
        Licence of the weights.
    citation : str
        What to cite when using the model.
    reference : str
        A link to the paper or to the origin of the weights.
    """

    name: str
    description: str
    kind: str
    filename: str | None = None
    url: tuple = ()
    sha256: str | None = None
    size: int | None = None
    format: str = 'safetensors'
    config: dict | None = None
    bands: tuple | None = None
    normalization: Normalization | None = None
    temperature: float = 1.0
    classes: dict | None = None
    license: str = ''
    citation: str = ''
    reference: str = ''

    def __post_init__(self):
        if self.kind not in _KINDS:
            msg = f'ModelInfo kind must be one of {_KINDS}, got {self.kind!r}'
            raise ValueError(msg)
        if self.format not in _FORMATS:
            msg = f'ModelInfo format must be one of {_FORMATS}, got {self.format!r}'
            raise ValueError(msg)
        url = (self.url,) if isinstance(self.url, str) else tuple(self.url or ())
        object.__setattr__(self, 'url', url)
        if self.kind == 'remote' and not url:
            msg = f'remote model {self.name!r} needs at least one URL'
            raise ValueError(msg)
        if self.kind == 'bundled' and not self.filename:
            msg = f'bundled model {self.name!r} needs a filename'
            raise ValueError(msg)
        if self.bands is not None:
            object.__setattr__(self, 'bands', tuple(self.bands))
        if self.sha256 is not None:
            object.__setattr__(self, 'sha256', self.sha256.lower())
        if self.normalization is not None:
            object.__setattr__(self, 'normalization',
                               Normalization.from_metadata(self.normalization))
        object.__setattr__(self, 'temperature', check_temperature(
            self.temperature, 'ModelInfo temperature'))


_REGISTRY = {}


def _register(info):
    _REGISTRY[info.name] = info


#: The commit of github.com/gperezs/StarcNet whose model/starcnet.pth we use.
_LEGUS_COMMIT = '53a30b9775604323502e317f8699d52cd33476c2'

_register(ModelInfo(
    name='legus-2021',
    description=('The published StarcNet network of Pérez et al. (2021), '
                 'trained on human-labelled LEGUS clusters.'),
    kind='remote',
    url=(f'https://github.com/gperezs/StarcNet/raw/{_LEGUS_COMMIT}/model/starcnet.pth',
         f'https://raw.githubusercontent.com/gperezs/StarcNet/{_LEGUS_COMMIT}/model/starcnet.pth'),
    sha256='5fb81eef6f103af9bd386ec888f043e0494a2f6b35f2588193eb222e0cb26127',
    size=61_077_488,
    format='published',
    config={'width': 128, 'n_bands': 5, 'n_classes': 4, 'size': 32,
            'groups': 8, 'dropout': 0.5},
    bands=BANDS,
    normalization={'kind': 'affine',
                   'offset': list(PUBLISHED_BAND_OFFSETS),
                   'scale': [1.0, 1.0, 1.0, 1.0, 1.0]},
    classes=dict(CLASS_NAMES),
    license='GPL-3.0 (weights from https://github.com/gperezs/StarcNet)',
    citation=('Pérez, G., Messa, M., Calzetti, D., et al. 2021, ApJ, 907, 100: '
              'StarcNet: Machine Learning for Star Cluster Identification'),
    reference='https://ui.adsabs.harvard.edu/abs/2021ApJ...907..100P',
))

_register(ModelInfo(
    name='sim-small-v2',
    description=('A narrow StarcNet trained by the starcnet project on the '
                 'randomised simulator, with level-free inputs, band dropout and '
                 'a fitted temperature; bundled, works offline (the default).'),
    kind='bundled',
    filename='sim-small-v2.safetensors',
    format='safetensors',
    license='BSD-3-Clause',
))

_register(ModelInfo(
    name='sim-small-v1',
    description=('The first bundled StarcNet (starcnet 0.1), trained on the '
                 'simulator before its randomisation; kept loadable by name.'),
    kind='bundled',
    filename='sim-small-v1.safetensors',
    format='safetensors',
    license='BSD-3-Clause',
))


# ---------------------------------------------------------------------------
# Small helpers

def _on_missing_kwargs(function):
    """``{'on_missing': 'ignore'}`` where astropy supports it (>= 8.0)."""
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # pragma: no cover
        return {}
    return {'on_missing': 'ignore'} if 'on_missing' in parameters else {}


def _is_url_in_cache(url):
    return _astropy_data.is_url_in_cache(
        url, pkgname=PKGNAME, **_on_missing_kwargs(_astropy_data.is_url_in_cache))


def _clear_from_cache(url):
    _astropy_data.clear_download_cache(
        url, pkgname=PKGNAME,
        **_on_missing_kwargs(_astropy_data.clear_download_cache))


_SHA256_MEMO = {}


def _sha256(path):
    """Hex sha256 of a file, remembered while its size and mtime stay."""
    stat = os.stat(path)
    key = (os.path.realpath(path), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256_MEMO:
        digest = hashlib.sha256()
        with open(path, 'rb') as handle:
            for block in iter(lambda: handle.read(1 << 20), b''):
                digest.update(block)
        _SHA256_MEMO[key] = digest.hexdigest()
    return _SHA256_MEMO[key]


def _unknown_name_message(name):
    known = ', '.join(repr(known) for known in _REGISTRY)
    msg = f'{name!r} is not a known model name and no file of that name exists'
    close = difflib.get_close_matches(str(name), list(_REGISTRY), n=3)
    if close:
        msg += f'; did you mean {" or ".join(repr(c) for c in close)}?'
    return f'{msg} Known models: {known}.'


def _lookup(name):
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(_unknown_name_message(name))
    return _REGISTRY[name]


def _bundled_path(info):
    """Full path of a bundled model's file; FileNotFoundError if absent."""
    relative = f'data/{info.filename}'
    path = _astropy_data.get_pkg_data_path(relative, package='starcnet')
    if not os.path.isfile(path):
        # Checked here: get_pkg_data_filename would otherwise try to
        # download a missing file from the astropy data server.
        msg = (f'the weights file of the bundled model {info.name!r}, '
               f'starcnet/{relative}, is not installed (looked for {path}); '
               'reinstall starcnet or load another model')
        raise FileNotFoundError(msg)
    return _astropy_data.get_pkg_data_filename(relative, package='starcnet')


# ---------------------------------------------------------------------------
# Metadata of our weights files

def _validate_metadata(meta, config, source):
    """Check the ``'starcnet'`` metadata against a network config."""
    unknown = set(meta) - _METADATA_KEYS
    if unknown:
        msg = (f'{source}: unknown metadata keys {sorted(unknown)}; allowed '
               f'keys are {sorted(_METADATA_KEYS)}')
        raise ValueError(msg)
    n_bands = config.get('n_bands', 5)
    n_classes = config.get('n_classes', 4)

    bands = meta.get('bands')
    if (not isinstance(bands, (list, tuple)) or len(bands) != n_bands
            or not all(isinstance(band, str) for band in bands)):
        msg = (f'{source}: metadata "bands" must be a list of {n_bands} band '
               f'names, got {bands!r}')
        raise ValueError(msg)

    try:
        norm = Normalization.from_metadata(meta.get('normalization'))
        norm.check(n_bands)
    except ValueError as exc:
        msg = (f'{source}: metadata "normalization" is not valid for a {n_bands}-band '
               f'network: {exc}')
        raise ValueError(msg) from exc
    check_temperature(meta.get('temperature', 1.0), f'{source}: metadata "temperature"')

    classes = meta.get('classes')
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


def _info_from_metadata(meta, base, *, sha256, filename):
    """Fill a ModelInfo from the ``'starcnet'`` metadata of a file."""
    return dataclasses.replace(
        base,
        description=meta.get('description') or base.description,
        sha256=sha256,
        format='safetensors',
        filename=filename,
        config=dict(meta['config']),
        bands=tuple(meta['bands']),
        normalization=Normalization.from_metadata(meta['normalization']),
        temperature=float(meta.get('temperature', 1.0)),
        classes={int(key): value for key, value in meta['classes'].items()},
        license=meta.get('license') or base.license,
        citation=meta.get('citation') or base.citation,
    )


def _parse_metadata(raw, path):
    """Decode and check the ``'starcnet'`` entry of safetensors metadata."""
    if not raw or 'starcnet' not in raw:
        return None
    try:
        meta = json.loads(raw['starcnet'])
    except json.JSONDecodeError as exc:
        msg = f'{path}: the "starcnet" metadata is not valid JSON ({exc})'
        raise ValueError(msg) from exc
    if not isinstance(meta, dict) or meta.get('format') != FILE_FORMAT:
        msg = (f'{path}: the "starcnet" metadata is not of format '
               f'{FILE_FORMAT!r}')
        raise ValueError(msg)
    version = meta.get('format_version')
    if not isinstance(version, int) or version > FILE_FORMAT_VERSION or version < 1:
        msg = (f'{path}: weights file format_version {version!r} is not '
               f'supported (this starcnet reads up to {FILE_FORMAT_VERSION}); '
               'upgrade starcnet')
        raise ValueError(msg)
    config = meta.get('config')
    if not isinstance(config, dict):
        msg = f'{path}: the "starcnet" metadata has no "config" dict'
        raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
    _validate_metadata(meta, config, str(path))
    return meta


# ---------------------------------------------------------------------------
# Reading and writing weights files

def _detect_format(path):
    """'safetensors' or 'published' from the first bytes of a file."""
    with open(path, 'rb') as handle:
        head = handle.read(9)
    size = os.path.getsize(path)
    if len(head) == 0:
        msg = f'weights file {path} is empty'
        raise ValueError(msg)
    if head.startswith((b'PK', b'\x80')):
        return 'published'
    if len(head) == 9 and head[8:9] == b'{':
        (header_length,) = struct.unpack('<Q', head[:8])
        if header_length + 8 > size:
            msg = (f'weights file {path} looks like a safetensors file but is '
                   f'truncated: its header says {header_length} bytes, the '
                   f'file has {size - 8} after the length')
            raise ValueError(msg)
        return 'safetensors'
    msg = (f'{path} is not a weights file starcnet can read: supported are '
           'safetensors files written by starcnet.models.save_model and '
           'PyTorch state_dicts of the published StarcNet network '
           '(torch.save, zip or legacy pickle format)')
    raise ValueError(msg)


def read_weights(path):
    """
    Read a weights file without executing any pickled code.

    Parameters
    ----------
    path : str or os.PathLike
        A safetensors file written by `save_model`, or a PyTorch checkpoint
        of the published StarcNet network (``torch.save`` of its
        state_dict, zip or legacy format).  The format is detected from the
        file content, not from its extension.

    Returns
    -------
    state_dict : dict
        Tensors under the names of `~starcnet.models.StarcNet` (published
        names are converted with
        `~starcnet.models.convert_published_state_dict`).
    metadata : dict or None
        The decoded ``'starcnet'`` metadata of a safetensors file (see the
        module documentation), `None` for a published checkpoint or a
        safetensors file without it.
    format : {'safetensors', 'published'}
        The detected format.

    Raises
    ------
    ValueError
        If the file is empty, truncated or corrupt, of an unsupported
        format, or its keys, shapes or metadata do not match the network.
    """
    path = os.fspath(path)
    fmt = _detect_format(path)
    if fmt == 'published':
        try:
            loaded = torch.load(path, map_location='cpu', weights_only=True)
        except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError,
                KeyError, struct.error) as exc:
            msg = (f'could not read the PyTorch checkpoint {path} (truncated or '
                   f'corrupt, or not a plain state_dict): {exc}')
            raise ValueError(msg) from exc
        try:
            state_dict = convert_published_state_dict(loaded)
        except ValueError as exc:
            msg = f'{path}: {exc}'
            keys = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else {}
            if any(str(key).startswith(('branches.', 'head.')) for key in keys):
                msg += ('\n  (this looks like a starcnet state_dict saved with '
                        'torch.save; write weights with starcnet.models.save_model)')
            raise ValueError(msg) from exc
        return state_dict, None, fmt

    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        with open(path, 'rb') as handle:
            (header_length,) = struct.unpack('<Q', handle.read(8))
            header = json.loads(handle.read(header_length))
        state_dict = load_file(path, device='cpu')
    except (SafetensorError, ValueError, RuntimeError) as exc:
        msg = (f'could not read the safetensors file {path} (truncated or '
               f'corrupt): {exc}')
        raise ValueError(msg) from exc
    if not isinstance(header, dict):
        msg = f'could not read the safetensors file {path}: its header is not a dict'
        raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
    metadata = _parse_metadata(header.get('__metadata__'), path)
    return state_dict, metadata, fmt


def _to_json(value):
    """JSON form of numpy arrays and scalars and torch tensors."""
    if hasattr(value, 'tolist'):
        return value.tolist()
    msg = f'{type(value).__name__} is not JSON-serialisable'
    raise TypeError(msg)


def save_model(module, path, metadata, overwrite=False):
    """
    Write a network and its metadata as a starcnet safetensors file.

    The file is written to a temporary file in the same directory and
    moved into place, so an interrupted write never leaves a partial file.

    Parameters
    ----------
    module : `~starcnet.models.StarcNet`
        The network; its ``config`` is stored with the weights.
    path : str or os.PathLike
        Output file, conventionally ending in ``.safetensors``.
    metadata : dict
        ``'bands'`` (list of band names, one per input channel) and
        ``'normalization'`` (a `~starcnet.normalization.Normalization`
        or its metadata dict, e.g. ``{'kind': 'affine' or 'asinh',
        'offset': [...], 'scale': [...]}``) are required; ``'temperature'``
        (float > 0, default 1), ``'name'`` (default: the
        file name without extension), ``'description'``, ``'classes'``
        (default `starcnet.legus.CLASS_NAMES` for four classes), ``'license'``,
        ``'citation'`` and ``'training'`` (any JSON-serialisable dict, e.g.
        data set, epochs, seed, metrics; numpy arrays and scalars are
        converted to lists and numbers) are optional.  ``'config'``,
        ``'format'`` and ``'format_version'`` are filled in; if given, they
        must equal ``module.config``, ``'starcnet-weights'`` and 1.  Other
        keys are an error.
    overwrite : bool, optional
        Replace an existing file.

    Returns
    -------
    path : str
        The path written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False.
    ValueError
        If the metadata is incomplete or inconsistent with the network.
    """
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        msg = f'{path} already exists; use overwrite=True to replace it'
        raise FileExistsError(msg)
    config = dict(getattr(module, 'config', None) or {})
    if not config:
        msg = 'module has no "config": save_model needs a starcnet.models.StarcNet'
        raise ValueError(msg)
    meta = dict(metadata or {})
    if 'config' in meta and dict(meta['config']) != config:
        msg = (f'metadata "config" {meta["config"]} differs from the module '
               f'config {config}')
        raise ValueError(msg)
    meta['config'] = config
    meta.setdefault('name', os.path.splitext(os.path.basename(path))[0])
    meta.setdefault('description', '')
    if 'classes' not in meta and config.get('n_classes', 4) == 4:
        meta['classes'] = dict(CLASS_NAMES)
    meta.setdefault('license', '')
    meta.setdefault('citation', '')
    meta.setdefault('training', {})
    for key, ours in (('format', FILE_FORMAT), ('format_version', FILE_FORMAT_VERSION)):
        if meta.setdefault(key, ours) != ours:
            msg = f'metadata "{key}" must be {ours!r} (or left out), got {meta[key]!r}'
            raise ValueError(msg)
    _validate_metadata(meta, config, 'save_model')
    meta['bands'] = list(meta['bands'])
    meta['classes'] = {str(key): value for key, value in meta['classes'].items()}
    meta['normalization'] = Normalization.from_metadata(meta['normalization']).to_metadata()
    if 'temperature' in meta:
        meta['temperature'] = float(meta['temperature'])
    try:
        text = json.dumps(meta, sort_keys=True, allow_nan=False, default=_to_json)
    except (TypeError, ValueError) as exc:
        msg = f'metadata is not JSON-serialisable: {exc}'
        raise ValueError(msg) from exc

    from safetensors.torch import save as save_safetensors

    tensors = {key: value.detach().to('cpu').contiguous().clone()
               for key, value in module.state_dict().items()}
    content = save_safetensors(tensors, metadata={'starcnet': text})

    def write(tmp):
        with open(tmp, 'wb') as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())

    atomic_write(path, write, overwrite=overwrite, suffix='.tmp')
    return path


# ---------------------------------------------------------------------------
# The registry

def list_models():
    """
    Names of the registered models.

    Returns
    -------
    names : list of str
    """
    return list(_REGISTRY)


def get_model_info(name):
    """
    Description of a registered model.

    For a bundled model whose file is installed, the configuration, bands,
    normalisation and classes are read from the file's metadata (the
    header only; the sha256 stays `None` until `load_model`).

    Parameters
    ----------
    name : str
        A name from `list_models`.

    Returns
    -------
    info : `ModelInfo`
        A copy; changing it does not change the registry.

    Raises
    ------
    ValueError
        If the name is not registered.
    """
    info = _lookup(name)
    if info.kind == 'bundled' and info.config is None:
        try:
            path = _bundled_path(info)
        except FileNotFoundError:
            return copy.deepcopy(info)
        from safetensors import safe_open
        with safe_open(path, framework='pt') as handle:
            meta = _parse_metadata(handle.metadata(), path)
        if meta is not None:
            return _info_from_metadata(meta, info, sha256=None,
                                       filename=info.filename)
    return copy.deepcopy(info)


def is_cached(name):
    """
    Whether a model's weights are available without downloading.

    Parameters
    ----------
    name : str
        A name from `list_models`.

    Returns
    -------
    cached : bool
        For a bundled model, whether its file is installed; for a remote
        model, whether the file is in the astropy cache (its sha256 is
        checked when it is used).
    """
    info = _lookup(name)
    if info.kind == 'bundled':
        try:
            _bundled_path(info)
        except FileNotFoundError:
            return False
        return True
    return _is_url_in_cache(info.url[0])


def get_model_path(name, progress=False):
    """
    Local path of a model's weights file, downloading it if needed.

    Parameters
    ----------
    name : str
        A name from `list_models`.
    progress : bool, optional
        Show a progress bar while downloading.

    Returns
    -------
    path : str
        A bundled model's file in the installed package, or a remote
        model's file in the astropy download cache (``pkgname='starcnet'``).

    Raises
    ------
    ValueError
        If the name is unknown, or the downloaded or cached file has the
        wrong sha256 (it is then removed from the cache).
    FileNotFoundError
        If a bundled model's file is not installed.
    OSError
        If a remote model is not cached and cannot be downloaded; the
        message explains how to seed the cache with `import_model_file`.
    """
    info = _lookup(name)
    if info.kind == 'bundled':
        return _bundled_path(info)
    url = info.url[0]
    errors = []
    # One source at a time (the file is always cached under the primary
    # URL): astropy leaves the responses of failed sources open.
    for source in info.url:
        try:
            path = _astropy_data.download_file(
                url, cache=True, pkgname=PKGNAME, sources=[source],
                show_progress=progress)
            break
        except OSError as exc:  # includes URLError, HTTPError, TimeoutError
            errors.append(f'{source}: {exc}')
            if isinstance(exc, urllib.error.HTTPError):
                exc.close()
    else:
        msg = (f'could not download the weights of model {name!r} '
               f'({"; ".join(errors)}). On a machine without internet, '
               'download the file elsewhere, copy it here and run '
               f'starcnet.models.import_model_file({name!r}, "/path/to/file") '
               'once to put it in the starcnet cache.')
        raise OSError(msg)
    got = _sha256(path)
    if info.sha256 is not None and got != info.sha256:
        _clear_from_cache(url)
        msg = (f'the weights of model {name!r} downloaded from {url} have '
               f'sha256 {got}, expected {info.sha256}; the file was removed '
               'from the cache. Try again; if it persists, the file at the '
               'URL has changed.')
        raise ValueError(msg)
    return path


def import_model_file(name, path):
    """
    Put a copied weights file into the astropy cache, for offline use.

    On a machine without internet, copy the file of a remote model (e.g.
    ``starcnet.pth`` for ``'legus-2021'``) from a machine with internet,
    then call this once; afterwards `get_model_path` and `load_model` work
    offline.

    Parameters
    ----------
    name : str
        A remote model's name from `list_models`.
    path : str or os.PathLike
        The copied file; it is not removed.

    Returns
    -------
    cached_path : str
        The file's path in the cache.

    Raises
    ------
    ValueError
        If the name is unknown or not a remote model, or the file's sha256
        differs from the registered one.
    FileNotFoundError
        If ``path`` does not exist.
    """
    info = _lookup(name)
    if info.kind != 'remote':
        msg = (f'model {name!r} is {info.kind}, not remote: it is not '
               'downloaded, so there is nothing to import')
        raise ValueError(msg)
    path = os.fspath(path)
    if not os.path.isfile(path):
        msg = f'no such file: {path}'
        raise FileNotFoundError(msg)
    got = _sha256(path)
    if info.sha256 is not None and got != info.sha256:
        msg = (f'{path} is not the weights file of model {name!r}: its sha256 '
               f'is {got}, expected {info.sha256}')
        raise ValueError(msg)
    return _astropy_data.import_file_to_cache(info.url[0], path, pkgname=PKGNAME)


def _check_state_dict(model, state_dict, source):
    """Raise a ValueError listing every key or shape mismatch."""
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    misshaped = {key: (tuple(state_dict[key].shape), expected[key])
                 for key in set(expected) & set(state_dict)
                 if tuple(state_dict[key].shape) != expected[key]}
    missing = set(expected) - set(state_dict)
    unexpected = set(state_dict) - set(expected)
    if missing or unexpected or misshaped:
        config = ', '.join(f'{key}={value!r}' for key, value in model.config.items())
        header = f'the weights in {source} do not match StarcNet({config}):'
        raise ValueError(_describe(missing, unexpected, misshaped, header=header))


def _resolve(name_or_path):
    """(registry entry or None, path of the weights file)."""
    if isinstance(name_or_path, str) and name_or_path in _REGISTRY:
        info = _REGISTRY[name_or_path]
        return info, get_model_path(info.name)
    if isinstance(name_or_path, (str, os.PathLike)):
        path = os.fspath(name_or_path)
        if os.path.isfile(path):
            return None, path
        if not isinstance(name_or_path, str):
            msg = f'no such weights file: {path}'
            raise FileNotFoundError(msg)
        raise ValueError(_unknown_name_message(name_or_path))
    msg = ('load_model expects a model name or a path, got '
           f'{type(name_or_path).__name__}')
    raise TypeError(msg)


def load_model(name_or_path, device='cpu'):
    """
    Build a StarcNet network with pretrained weights.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A registry name (`list_models`), or the path of a weights file: a
        safetensors file from `save_model` (configuration, bands,
        normalisation and classes come from its metadata) or a published
        StarcNet PyTorch checkpoint (those of ``'legus-2021'``, with the
        width inferred from the weights).
    device : str or `torch.device`, optional
        Where to put the network.

    Returns
    -------
    model : `~starcnet.models.StarcNet`
        The network, in eval mode, on ``device``.
    info : `ModelInfo`
        Its description, with ``sha256`` of the file actually read.  A file
        whose sha256 equals a registered model's gets that model's entry.

    Raises
    ------
    ValueError
        If the name is unknown (the message lists the known names), the
        file is unreadable or of an unknown format, its sha256 is wrong (for
        a registered remote model), or its keys or shapes do not match
        the network (the message lists them).
    FileNotFoundError
        If a bundled model's file, or a given `os.PathLike`, does not exist.
    """
    entry, path = _resolve(name_or_path)
    state_dict, meta, fmt = read_weights(path)
    sha256 = _sha256(path)

    if entry is None:
        # A path: a file identical to a registered one gets its entry.
        for candidate in _REGISTRY.values():
            if candidate.sha256 is not None and candidate.sha256 == sha256:
                entry = candidate
                break
    if entry is not None and entry.format != fmt:
        msg = (f'{path} is a {fmt} file but model {entry.name!r} is registered '
               f'as {entry.format}')
        raise ValueError(msg)

    if fmt == 'published':
        base = entry if entry is not None else dataclasses.replace(
            _REGISTRY['legus-2021'], name=path, kind='file', url=(),
            filename=path, size=None,
            description=(f'published-format StarcNet checkpoint {path}, used '
                         'with the bands, normalisation and classes of '
                         'legus-2021'))
        width = int(state_dict['branches.full.convs.0.weight'].shape[0])
        config = {**base.config, 'width': width}
        info = dataclasses.replace(base, sha256=sha256, config=config,
                                   size=os.path.getsize(path))
    else:
        if meta is None:
            msg = (f'{path} has no "starcnet" metadata (configuration, bands, '
                   'normalisation, classes); write weights files with '
                   'starcnet.models.save_model')
            raise ValueError(msg)
        if entry is None:
            base = ModelInfo(name=meta.get('name') or path, kind='file',
                             description='', filename=path)
            filename = path
        else:
            base, filename = entry, entry.filename
        info = _info_from_metadata(meta, base, sha256=sha256, filename=filename)
        info = dataclasses.replace(info, size=os.path.getsize(path))

    try:
        model = StarcNet(**info.config)
    except TypeError as exc:
        msg = f'{path}: invalid network configuration {info.config}: {exc}'
        raise ValueError(msg) from exc
    _check_state_dict(model, state_dict, path)
    model.load_state_dict(state_dict, strict=True)
    model.eval()
    model.to(device)
    return model, copy.deepcopy(info)
