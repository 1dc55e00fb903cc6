# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
`load_model`: a StarcNet network with pretrained weights, by registry name
or from a file.
"""

import copy
import dataclasses
import os
import warnings

from ..exceptions import StarcnetWarning
from . import registry as _registry
from .cache import check_file_sha256, locate_model_file
from .weights import build_network, file_sha256, parse_weights, read_file

__all__ = ['load_model']


def _resolve(name_or_path):
    """(registry entry or None, path of the weights file)."""
    if isinstance(name_or_path, str) and name_or_path in _registry._REGISTRY:
        return locate_model_file(name_or_path)
    if isinstance(name_or_path, (str, os.PathLike)):
        path = os.fspath(name_or_path)
        if os.path.isfile(path):
            return None, path
        if not isinstance(name_or_path, str):
            msg = f'no such weights file: {path}'
            raise FileNotFoundError(msg)
        raise ValueError(_registry._unknown_name_message(name_or_path))
    msg = ('load_model expects a model name or a path, got '
           f'{type(name_or_path).__name__}')
    raise TypeError(msg)


def load_model(name_or_path, device='cpu'):
    """
    Build a StarcNet network with pretrained weights.

    Parameters
    ----------
    name_or_path : str or os.PathLike
        A registry name (`~starcnet.models.list_models`, including models
        added with `~starcnet.models.register_model`), or the path of a
        weights file: a safetensors file from `~starcnet.models.save_model`
        (configuration, bands, normalisation and classes come from its
        metadata) or a published StarcNet PyTorch checkpoint (those of
        ``'legus-2021'``, with the width inferred from the weights).
    device : str or `torch.device`, optional
        Where to put the network.

    Returns
    -------
    model : `~starcnet.models.StarcNet`
        The network, in eval mode, on ``device``.
    info : `~starcnet.models.ModelInfo`
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
    # One read: the sha256 checked and reported is that of the bytes loaded.
    content, sha256 = read_file(path)
    if entry is not None:
        check_file_sha256(entry, path, sha256)
    state_dict, meta, fmt = parse_weights(content, path)
    del content

    if entry is None:
        # A path: a file identical to a registered one gets its entry.
        for candidate in _registry._REGISTRY.values():
            if candidate.sha256 is not None and candidate.sha256 == sha256:
                entry = candidate
                break
    if entry is not None and entry.format != fmt:
        msg = (f'{path} is a {fmt} file but model {entry.name!r} is registered '
               f'as {entry.format}')
        raise ValueError(msg)

    info = _registry.describe_weights(entry, path=path, fmt=fmt, meta=meta,
                                      state_dict=state_dict, sha256=sha256)
    if entry is None:
        info = _unclaimed(info, path)
    model = build_network(info.config, state_dict, path)
    model.to(device)
    return model, copy.deepcopy(info)


def _registered_sha256(entry):
    """The sha256 of a registry entry's file, or None if not known here."""
    if entry.sha256 is not None:
        return entry.sha256
    if entry.kind == 'bundled':
        try:
            return file_sha256(_registry._bundled_path(entry))
        except FileNotFoundError:
            return None
    return None


def _unclaimed(info, path):
    """
    ``info`` of a file loaded by path, renamed if its metadata claims the
    name of a registered model whose file it is not.

    Such a file would otherwise be reported (e.g. in a catalog's meta) as
    that model, with another model's weights.
    """
    entry = _registry._REGISTRY.get(info.name)
    if entry is None:
        return info
    registered = _registered_sha256(entry)
    if registered == info.sha256:
        return info
    name = f'{info.name} (unverified)'
    theirs = ('is not known here' if registered is None else f'is {registered}')
    msg = (f'{path} says it is model {info.name!r} but is not that model\'s '
           f'file (its sha256 is {info.sha256}; the registered model\'s '
           f'{theirs}): it is loaded and reported as {name!r}. Load the '
           'registered model by its name, or save this file under a name of '
           'its own')
    warnings.warn(msg, StarcnetWarning, stacklevel=3)
    return dataclasses.replace(info, name=name)
