# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Where a model's weights file is: the installed package, a registered
local file, or the astropy download cache.

A remote model is downloaded once with `astropy.utils.data.download_file`
(``cache=True, pkgname='starcnet'``), from its primary URL or, if that
fails, from its mirrors (the file is always cached under the primary URL),
checked against its sha256, then read from the cache offline.  A machine
without internet can seed the cache from a copied file with
`import_model_file`.
"""

import inspect
import os
import urllib.error

from astropy.utils import data as _astropy_data

from . import registry as _registry
from .weights import file_sha256

__all__ = ['get_model_path', 'import_model_file', 'is_cached']

#: Package name of the astropy download cache (``~/.cache/starcnet``).
PKGNAME = 'starcnet'


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


def is_cached(name):
    """
    Whether a model's weights are available without downloading.

    Parameters
    ----------
    name : str
        A name from `~starcnet.models.list_models`.

    Returns
    -------
    cached : bool
        For a bundled model, whether its file is installed; for a
        registered local file, whether it exists; for a remote model,
        whether the file is in the astropy cache (its sha256 is checked
        when it is used).
    """
    info = _registry._lookup(name)
    if info.kind == 'bundled':
        try:
            _registry._bundled_path(info)
        except FileNotFoundError:
            return False
        return True
    if info.kind == 'file':
        return os.path.isfile(info.filename)
    return _is_url_in_cache(info.url[0])


def _registered_file(info):
    """The path of a registered local file (its sha256 is checked by the caller)."""
    if not os.path.isfile(info.filename):
        msg = (f'the weights file of model {info.name!r}, {info.filename}, no '
               'longer exists; register the model again with its new path')
        raise FileNotFoundError(msg)
    return info.filename


def check_file_sha256(info, path, got):
    """
    Check the sha256 ``got`` of the bytes read from ``path``, the file of
    model ``info``, against the registered one.

    A remote model's file that does not match is removed from the cache.

    Raises
    ------
    ValueError
        If the registered sha256 is known and differs.
    """
    if info.sha256 is None or got == info.sha256:
        return
    if info.kind == 'file':
        msg = (f'the weights file of model {info.name!r}, {info.filename}, has '
               f'changed since it was registered (sha256 {got}, registered '
               f'{info.sha256}); register it again with overwrite=True')
        raise ValueError(msg)
    url = info.url[0] if info.url else None
    if info.kind == 'remote':
        _clear_from_cache(url)
        msg = (f'the weights of model {info.name!r} in the starcnet cache ({path}, '
               f'downloaded from {url}) have sha256 {got}, expected {info.sha256}; '
               'the file was removed from the cache. Try again; if it persists, '
               'the file at the URL has changed.')
        raise ValueError(msg)
    msg = (f'the weights file of model {info.name!r}, {path}, has sha256 {got}, '
           f'expected {info.sha256}; reinstall starcnet')
    raise ValueError(msg)


def locate_model_file(name, progress=False):
    """
    (`~starcnet.models.ModelInfo`, local path) of a model's weights file,
    downloaded into the cache if needed; its sha256 is not checked here
    (see `check_file_sha256`).
    """
    info = _registry._lookup(name)
    if info.kind == 'bundled':
        return info, _registry._bundled_path(info)
    if info.kind == 'file':
        return info, _registered_file(info)
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
    return info, path


def get_model_path(name, progress=False):
    """
    Local path of a model's weights file, downloading it if needed.

    The file's sha256 is computed on every call and compared with the
    registered one.  (`~starcnet.models.load_model` does not call this: it
    checks the sha256 of the bytes it loads.)

    Parameters
    ----------
    name : str
        A name from `~starcnet.models.list_models`.
    progress : bool, optional
        Show a progress bar while downloading.

    Returns
    -------
    path : str
        A bundled model's file in the installed package, a registered
        local file, or a remote model's file in the astropy download cache
        (``pkgname='starcnet'``).

    Raises
    ------
    ValueError
        If the name is unknown, or the downloaded, cached or registered
        file has the wrong sha256 (a downloaded one is then removed from
        the cache).
    FileNotFoundError
        If a bundled model's file is not installed, or a registered local
        file is gone.
    OSError
        If a remote model is not cached and cannot be downloaded; the
        message explains how to seed the cache with `import_model_file`.
    """
    info, path = locate_model_file(name, progress=progress)
    if info.sha256 is not None:
        check_file_sha256(info, path, file_sha256(path))
    return path


def import_model_file(name, path):
    """
    Put a copied weights file into the astropy cache, for offline use.

    On a machine without internet, copy the file of a remote model (e.g.
    ``starcnet.pth`` for ``'legus-2021'``) from a machine with internet,
    then call this once; afterwards `get_model_path` and
    `~starcnet.models.load_model` work offline.

    Parameters
    ----------
    name : str
        A remote model's name from `~starcnet.models.list_models`.
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
    info = _registry._lookup(name)
    if info.kind != 'remote':
        msg = (f'model {name!r} is {info.kind}, not remote: it is not '
               'downloaded, so there is nothing to import')
        raise ValueError(msg)
    path = os.fspath(path)
    if not os.path.isfile(path):
        msg = f'no such file: {path}'
        raise FileNotFoundError(msg)
    got = file_sha256(path)
    if info.sha256 is not None and got != info.sha256:
        msg = (f'{path} is not the weights file of model {name!r}: its sha256 '
               f'is {got}, expected {info.sha256}')
        raise ValueError(msg)
    return _astropy_data.import_file_to_cache(info.url[0], path, pkgname=PKGNAME)
