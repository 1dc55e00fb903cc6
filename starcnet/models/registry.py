# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The registry of named StarcNet models.

Every model has a name (`list_models`) and a `~starcnet.models.ModelInfo`
(`get_model_info`) saying where its weights live, their sha256, the
network configuration, the band order, the input normalisation, the class
map, licence and citation.  The models of starcnet are data: one entry
each in ``starcnet/models/registry.json`` (`REGISTRY_FILE`), whose keys
are the fields of `~starcnet.models.ModelInfo`.  Kinds of models:

``'bundled'``
    Trained by this project and shipped in ``starcnet/data/`` as a
    safetensors file whose metadata carries the configuration,
    normalisation, bands and classes.  Works offline.
``'remote'``
    Downloaded once into the astropy download cache (``pkgname='starcnet'``),
    sha256-checked, then read from the cache offline (``starcnet.models.cache``).
``'file'``
    A local weights file, registered by a user with `register_model`.

`register_model` adds a model of one's own under a name, for the running
process only.
"""

import copy
import dataclasses
import difflib
import json
import os
import re
import urllib.parse

from astropy.utils import data as _astropy_data

from .info import ModelInfo, check_sha256
from .weights import build_network, parse_weights, published_width, read_file, read_metadata

# Re-exported here for code that imports them from starcnet.models.registry
# (they lived here before starcnet 0.2).  cache and loading refer to this
# module as a whole (``from . import registry``), so importing them here
# is safe although they consult the registry.
from .cache import PKGNAME, get_model_path, import_model_file, is_cached  # noqa: F401
from .loading import load_model  # noqa: F401
from .schema import FILE_FORMAT, FILE_FORMAT_VERSION  # noqa: F401
from .weights import file_sha256, read_weights, save_model  # noqa: F401

__all__ = ['get_model_info', 'list_models', 'register_model', 'unregister_model']

#: The file holding the entries of the models that come with starcnet.
REGISTRY_FILE = os.path.join(os.path.dirname(__file__), 'registry.json')

#: The ``format`` and newest ``format_version`` of a registry file.
REGISTRY_FORMAT = 'starcnet-registry'
REGISTRY_FORMAT_VERSION = 1

_FIELDS = tuple(field.name for field in dataclasses.fields(ModelInfo))

#: The name of the entry whose bands, normalisation and classes a
#: published-format checkpoint gets.
PUBLISHED_MODEL = 'legus-2021'


def read_registry_file(path):
    """
    The entries of a registry file, in file order.

    Parameters
    ----------
    path : str or os.PathLike
        A JSON file ``{"format": "starcnet-registry", "format_version": 1,
        "models": [{...ModelInfo fields...}, ...]}``.

    Returns
    -------
    entries : dict
        Name -> `~starcnet.models.ModelInfo`.

    Raises
    ------
    ValueError
        If the file is not valid JSON of that layout, an entry has an
        unknown field or is invalid, or a name appears twice.
    """
    path = os.fspath(path)
    with open(path, encoding='utf-8') as handle:
        try:
            data = json.load(handle)
        except json.JSONDecodeError as exc:
            msg = f'registry file {path} is not valid JSON: {exc}'
            raise ValueError(msg) from exc
    if (not isinstance(data, dict) or data.get('format') != REGISTRY_FORMAT
            or data.get('format_version') != REGISTRY_FORMAT_VERSION
            or not isinstance(data.get('models'), list)):
        msg = (f'registry file {path} must be a JSON object with "format": '
               f'{REGISTRY_FORMAT!r}, "format_version": {REGISTRY_FORMAT_VERSION} '
               'and a list "models"')
        raise ValueError(msg)
    entries = {}
    for number, entry in enumerate(data['models']):
        where = f'registry file {path}, model {number}'
        if not isinstance(entry, dict):
            msg = f'{where}: an entry must be a JSON object, got {entry!r}'
            raise ValueError(msg)  # noqa: TRY004
        unknown = set(entry) - set(_FIELDS)
        if unknown:
            msg = (f'{where} ({entry.get("name")!r}): unknown fields '
                   f'{sorted(unknown)}; the fields are those of ModelInfo: {list(_FIELDS)}')
            raise ValueError(msg)
        try:
            info = ModelInfo(**entry)
        except (TypeError, ValueError) as exc:
            msg = f'{where} ({entry.get("name")!r}): {exc}'
            raise ValueError(msg) from exc
        if info.name in entries:
            msg = f'{where}: the name {info.name!r} appears twice'
            raise ValueError(msg)
        entries[info.name] = info
    return entries


#: The models that come with starcnet; they cannot be replaced.
_BUILTIN = read_registry_file(REGISTRY_FILE)

#: Every registered model: the built-in ones, then those of `register_model`.
_REGISTRY = dict(_BUILTIN)


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


def _with_published_defaults(entry):
    """Fill an entry's missing bands, normalisation, classes and config
    with those of the published model."""
    published = _BUILTIN[PUBLISHED_MODEL]
    missing = {key: copy.deepcopy(getattr(published, key))
               for key in ('config', 'bands', 'normalization', 'classes')
               if getattr(entry, key) is None}
    return dataclasses.replace(entry, **missing) if missing else entry


def describe_weights(entry, *, path, fmt, meta, state_dict, sha256):
    """
    The `~starcnet.models.ModelInfo` of a weights file that was read.

    Parameters
    ----------
    entry : `~starcnet.models.ModelInfo` or None
        The registry entry of the file, if any: it keeps its name, kind,
        filename, URLs and reference, and its description, licence and
        citation unless empty; the file's metadata gives the rest.
    path : str
        The file.
    fmt, meta, state_dict
        What `~starcnet.models.read_weights` returned.
    sha256 : str
        The file's sha256.
    """
    size = os.path.getsize(path)
    if fmt == 'published':
        if entry is None:
            entry = dataclasses.replace(
                _BUILTIN[PUBLISHED_MODEL], name=path, kind='file', url=(),
                filename=path, size=None,
                description=(f'published-format StarcNet checkpoint {path}, used '
                             f'with the bands, normalisation and classes of '
                             f'{PUBLISHED_MODEL}'))
        entry = _with_published_defaults(entry)
        config = {**entry.config, 'width': published_width(state_dict)}
        return dataclasses.replace(entry, sha256=sha256, config=config, size=size)
    if meta is None:
        msg = (f'{path} has no "starcnet" metadata (configuration, bands, '
               'normalisation, classes); write weights files with '
               'starcnet.models.save_model')
        raise ValueError(msg)
    if entry is None:
        return ModelInfo.from_metadata(meta, source=path, kind='file', filename=path,
                                       sha256=sha256, size=size)
    return _from_file(entry, meta, source=path, sha256=sha256, size=size)


def _from_file(entry, meta, *, source, sha256, size):
    """
    A registry entry completed by its file's metadata.  The entry's
    ``ood`` is used when the file has none (it is then checked against
    the file's network configuration).
    """
    described = ModelInfo.from_metadata(
        meta, source=source, kind=entry.kind, filename=entry.filename,
        url=entry.url, sha256=sha256, size=size, reference=entry.reference)
    try:
        return dataclasses.replace(
            described, name=entry.name,
            description=entry.description or described.description,
            license=entry.license or described.license,
            citation=entry.citation or described.citation,
            ood=described.ood if described.ood is not None else entry.ood)
    except ValueError as exc:
        msg = f'the registry entry of {entry.name!r} does not fit its file {source}: {exc}'
        raise ValueError(msg) from exc


def list_models():
    """
    Names of the registered models.

    Returns
    -------
    names : list of str
        The models of starcnet, then those added by `register_model`.
    """
    return list(_REGISTRY)


def get_model_info(name):
    """
    Description of a registered model.

    For a bundled model whose file is installed, the configuration, bands,
    normalisation and classes are read from the file's metadata (the
    header only; the sha256 stays `None` until `~starcnet.models.load_model`).

    Parameters
    ----------
    name : str
        A name from `list_models`.

    Returns
    -------
    info : `~starcnet.models.ModelInfo`
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
        meta = read_metadata(path)
        if meta is not None:
            return _from_file(info, meta, source=path, sha256=None, size=info.size)
    return copy.deepcopy(info)


def _is_url(text):
    return isinstance(text, str) and urllib.parse.urlsplit(text).scheme in ('http', 'https')


def register_model(model, *, name=None, overwrite=False, sha256=None, mirrors=(),
                   format=None, description=None):
    """
    Register a model of one's own under a name.

    Afterwards ``load_model(name)``, ``get_model_info(name)`` and
    ``StarClusterClassifier(name)`` accept the name.  Registrations last
    for the running Python process only: nothing is written to disk, so
    register the model again in each session (e.g. at the top of a script).

    Parameters
    ----------
    model : str, os.PathLike or `~starcnet.models.ModelInfo`
        A local weights file (a safetensors file from
        `~starcnet.models.save_model`, or a published-format checkpoint,
        which gets the bands, normalisation and classes of
        ``'legus-2021'``): it is read and checked now, and its sha256
        recorded; loading it later fails if the file has changed.  Or an
        ``http://`` or ``https://`` URL of a remote weights file: nothing
        is downloaded now; the first `~starcnet.models.load_model` fetches
        it into the astropy cache and checks it against ``sha256``.  Or a
        complete `~starcnet.models.ModelInfo` of kind ``'remote'`` or
        ``'file'``.
    name : str, optional
        The name: 1-100 letters, digits and ``. _ + -``, starting with a
        letter or digit, not ending in ``.safetensors``, ``.pth`` or
        ``.pt`` (names are looked up before file paths, so a name must
        not look like a path).  Default: a `~starcnet.models.ModelInfo`'s
        name, or the ``name`` in a safetensors file's metadata, or the
        file name without extension.  Required for a URL.
    overwrite : bool, optional
        Replace an earlier registration of the same name.  The models of
        starcnet (``'legus-2021'``, ...) cannot be replaced.
    sha256 : str, optional
        Hex sha256 of the file.  Required for a URL; for a local file,
        checked if given.
    mirrors : sequence of str, optional
        For a URL: more URLs of the same file, tried in order when the
        first fails.
    format : {'safetensors', 'published'}, optional
        For a URL: the file's format.  Default: ``'published'`` for a URL
        ending in ``.pth`` or ``.pt``, otherwise ``'safetensors'``.
    description : str, optional
        One-line description (default: the file's, or none).

    Returns
    -------
    info : `~starcnet.models.ModelInfo`
        The registered entry (a copy).

    Raises
    ------
    ValueError
        If the name is not allowed, or taken (and ``overwrite`` is False,
        or it is a model of starcnet), ``sha256`` is missing for a URL, malformed or not
        the file's, or the file is not a weights file starcnet can read.
    FileNotFoundError
        If a local file does not exist.

    See Also
    --------
    unregister_model
    """
    if name is not None:
        _check_name(name, overwrite)  # before reading a file
    if not _is_url(model) and (mirrors or format is not None):
        msg = 'mirrors= and format= are for a model given by its URL'
        raise ValueError(msg)
    if isinstance(model, ModelInfo):
        info = _register_info(model, name=name, sha256=sha256)
    elif _is_url(model):
        info = _register_url(model, name=name, sha256=sha256, mirrors=mirrors,
                             format=format)
    elif isinstance(model, (str, os.PathLike)):
        path = os.path.abspath(os.fspath(model))
        if not os.path.isfile(path):
            msg = (f'no such weights file: {path} (register_model takes a local '
                   'weights file, an http(s) URL or a ModelInfo)')
            raise FileNotFoundError(msg)
        info = _describe_local(path, name=name, sha256=sha256)
    else:
        msg = ('register_model expects a path, a URL or a ModelInfo, got '
               f'{type(model).__name__}')
        raise TypeError(msg)
    if description is not None:
        info = dataclasses.replace(info, description=description)
    _check_name(info.name, overwrite)
    _REGISTRY[info.name] = info
    return copy.deepcopy(info)


#: What a registered name may be: it is looked up before a path of the same
#: string, so it must not look like one.
_NAME_PATTERN = re.compile(r'[A-Za-z0-9][A-Za-z0-9._+-]{0,99}')
_WEIGHTS_SUFFIXES = ('.safetensors', '.pth', '.pt')


def _check_name(name, overwrite):
    if (not isinstance(name, str) or not _NAME_PATTERN.fullmatch(name)
            or name.lower().endswith(_WEIGHTS_SUFFIXES)):
        msg = (f'model name {name!r} is not allowed: give name= a name of 1-100 '
               'letters, digits and ". _ + -", starting with a letter or digit, '
               'not ending in .safetensors, .pth or .pt (a name is looked up '
               'before a file path of the same string, so it must not look like one)')
        raise ValueError(msg)
    if name in _BUILTIN:
        msg = (f'{name!r} is a model of starcnet and cannot be replaced; '
               'register your model under another name')
        raise ValueError(msg)
    if name in _REGISTRY and not overwrite:
        taken = _REGISTRY[name]
        where = taken.url[0] if taken.kind == 'remote' else taken.filename
        msg = (f'a model named {name!r} is already registered ({where}); pass '
               'overwrite=True to replace it, or choose another name')
        raise ValueError(msg)


def _describe_local(path, *, name, sha256, entry=None):
    """Read, check and describe a local weights file to register."""
    content, got = read_file(path)  # one read: the sha256 is of the bytes parsed
    state_dict, meta, fmt = parse_weights(content, path)
    del content
    if sha256 is not None and check_sha256(sha256) != got:
        msg = f'{path} has sha256 {got}, not the {sha256.lower()} given'
        raise ValueError(msg)
    if entry is not None and entry.format != fmt:
        msg = f'{path} is a {fmt} file but the ModelInfo says {entry.format}'
        raise ValueError(msg)
    info = describe_weights(entry, path=path, fmt=fmt, meta=meta,
                            state_dict=state_dict, sha256=got)
    build_network(info.config, state_dict, path)  # the weights fit the network
    if name is None and entry is None:
        stem = os.path.splitext(os.path.basename(path))[0]
        name = (meta or {}).get('name') or stem
    if entry is None:
        info = dataclasses.replace(info, kind='file', filename=path, url=())
        if fmt == 'published':
            info = dataclasses.replace(
                info, description=f'published-format StarcNet checkpoint {path}')
    return dataclasses.replace(info, name=name or info.name)


def _register_info(info, *, name, sha256):
    if info.kind not in ('remote', 'file'):
        msg = (f'register_model takes models of kind "remote" or "file", not '
               f'{info.kind!r} (the bundled models are those shipped in starcnet/data)')
        raise ValueError(msg)
    if sha256 is not None:
        info = dataclasses.replace(info, sha256=sha256)
    if info.kind == 'remote':
        if info.sha256 is None:
            msg = (f'remote model {info.name!r} needs its sha256, so that the '
                   'downloaded file can be checked')
            raise ValueError(msg)
        return dataclasses.replace(info, name=name or info.name)
    path = os.path.abspath(info.filename)
    if not os.path.isfile(path):
        msg = f'no such weights file: {path} (the filename of model {info.name!r})'
        raise FileNotFoundError(msg)
    entry = dataclasses.replace(info, filename=path)
    return _describe_local(path, name=name or info.name, sha256=info.sha256, entry=entry)


def _register_url(url, *, name, sha256, mirrors, format):
    if not name:
        msg = f'register_model needs name= for the URL {url}'
        raise ValueError(msg)
    if sha256 is None:
        msg = (f'register_model needs sha256= for the URL {url}: the hex sha256 '
               'of the file, so that the download can be checked')
        raise ValueError(msg)
    if isinstance(mirrors, str):
        mirrors = (mirrors,)
    for mirror in mirrors:
        if not _is_url(mirror):
            msg = f'mirrors must be http(s) URLs, got {mirror!r}'
            raise ValueError(msg)
    if format is None:
        path = urllib.parse.urlsplit(url).path.lower()
        format = 'published' if path.endswith(('.pth', '.pt')) else 'safetensors'
    return ModelInfo(name=name, description='', kind='remote', url=(url, *mirrors),
                     sha256=sha256, format=format)


def unregister_model(name):
    """
    Remove a model added by `register_model`.

    Parameters
    ----------
    name : str
        Its name.

    Raises
    ------
    ValueError
        If no such model is registered, or it is a model of starcnet.
    """
    _lookup(name)
    if name in _BUILTIN:
        msg = f'{name!r} is a model of starcnet and cannot be unregistered'
        raise ValueError(msg)
    del _REGISTRY[name]
