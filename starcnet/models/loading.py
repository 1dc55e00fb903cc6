# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
`load_model`: a StarcNet network with pretrained weights, by registry name
or from a file.
"""

import copy
import os

from . import registry as _registry
from .cache import get_model_path
from .weights import build_network, file_sha256, read_weights

__all__ = ['load_model']


def _resolve(name_or_path):
    """(registry entry or None, path of the weights file)."""
    if isinstance(name_or_path, str) and name_or_path in _registry._REGISTRY:
        info = _registry._REGISTRY[name_or_path]
        return info, get_model_path(info.name)
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
    state_dict, meta, fmt = read_weights(path)
    sha256 = file_sha256(path)

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
    model = build_network(info.config, state_dict, path)
    model.to(device)
    return model, copy.deepcopy(info)
