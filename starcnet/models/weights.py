# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Weights files: reading them without executing pickles, writing ours.

Two formats are read, detected from the file content (not the extension):

``'safetensors'``
    Ours, written by `save_model`: the tensors are the
    `~starcnet.models.StarcNet` state_dict and the safetensors metadata
    has one key, ``'starcnet'``, a JSON object described in
    `starcnet.models.schema` (configuration, bands, normalisation,
    temperature, classes, licence, citation, training record).
``'published'``
    The PyTorch state_dict of the published StarcNet network (``torch.save``,
    zip or legacy pickle format), read with ``torch.load(weights_only=True)``
    and renamed with `~starcnet.models.convert_published_state_dict`.
"""

import dataclasses
import hashlib
import json
import os
import pickle
import struct

import torch

from ..io._atomic import atomic_write
from ..legus import CLASS_NAMES
from ..normalization import Normalization
from .info import ModelInfo
from .legacy import _describe, convert_published_state_dict
from .network import StarcNet
from .schema import FILE_FORMAT, FILE_FORMAT_VERSION, decode_metadata

__all__ = ['read_weights', 'save_model']

_SHA256_MEMO = {}


def file_sha256(path):
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


def detect_format(path):
    """
    ``'safetensors'`` or ``'published'`` from the first bytes of a file.

    Raises
    ------
    ValueError
        If the file is empty, a truncated safetensors file, or neither.
    """
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


def read_header(path):
    """
    The JSON header of a safetensors file (tensor layout and
    ``'__metadata__'``), without reading the tensors.
    """
    try:
        with open(path, 'rb') as handle:
            (header_length,) = struct.unpack('<Q', handle.read(8))
            header = json.loads(handle.read(header_length))
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        msg = f'could not read the safetensors header of {path} (truncated or corrupt): {exc}'
        raise ValueError(msg) from exc
    if not isinstance(header, dict):
        msg = f'could not read the safetensors file {path}: its header is not a dict'
        raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
    return header


def read_metadata(path):
    """
    The checked ``'starcnet'`` metadata of a safetensors file (header
    only), or `None` if it has none.
    """
    path = os.fspath(path)
    return decode_metadata(read_header(path).get('__metadata__'), path)


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
        The decoded ``'starcnet'`` metadata of a safetensors file (see
        `starcnet.models.schema`), `None` for a published checkpoint or a
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
    fmt = detect_format(path)
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

    header = read_header(path)
    try:
        state_dict = load_file(path, device='cpu')
    except (SafetensorError, ValueError, RuntimeError) as exc:
        msg = (f'could not read the safetensors file {path} (truncated or '
               f'corrupt): {exc}')
        raise ValueError(msg) from exc
    metadata = decode_metadata(header.get('__metadata__'), path)
    return state_dict, metadata, fmt


def save_model(module, path, metadata, overwrite=False):
    """
    Write a network and its metadata as a starcnet safetensors file.

    The metadata written is ``ModelInfo.to_metadata()`` of the model
    described (`~starcnet.models.ModelInfo.from_metadata` of the file's
    metadata gives it back).  The file is written to a temporary file in
    the same directory and moved into place, so an interrupted write never
    leaves a partial file.

    Parameters
    ----------
    module : `~starcnet.models.StarcNet`
        The network; its ``config`` is stored with the weights.
    path : str or os.PathLike
        Output file, conventionally ending in ``.safetensors``.
    metadata : dict or `~starcnet.models.ModelInfo`
        A `~starcnet.models.ModelInfo` (its stored fields are written), or
        a dict: ``'bands'`` (list of band names, one per input channel) and
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
    if isinstance(metadata, ModelInfo):
        if metadata.config is None:
            metadata = dataclasses.replace(metadata, config=config)
        meta = metadata.to_metadata()
    else:
        meta = dict(metadata or {})
    if 'config' in meta and dict(meta['config']) != config:
        msg = (f'metadata "config" {meta["config"]} differs from the module '
               f'config {config}')
        raise ValueError(msg)
    meta['config'] = config
    meta.setdefault('name', os.path.splitext(os.path.basename(path))[0])
    if 'classes' not in meta and config.get('n_classes', 4) == 4:
        meta['classes'] = dict(CLASS_NAMES)
    for key, ours in (('format', FILE_FORMAT), ('format_version', FILE_FORMAT_VERSION)):
        if meta.setdefault(key, ours) != ours:
            msg = f'metadata "{key}" must be {ours!r} (or left out), got {meta[key]!r}'
            raise ValueError(msg)
    if isinstance(meta.get('normalization'), Normalization):
        meta['normalization'] = meta['normalization'].to_metadata()
    info = ModelInfo.from_metadata(meta, source='save_model', filename=path)
    text = json.dumps(info.to_metadata(), sort_keys=True, allow_nan=False)

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


def published_width(state_dict):
    """The ``width`` of a StarcNet from its (converted) published weights."""
    return int(state_dict['branches.full.convs.0.weight'].shape[0])


def build_network(config, state_dict, source):
    """
    A `~starcnet.models.StarcNet` of ``config`` holding ``state_dict``, in
    eval mode on the CPU.

    Raises
    ------
    ValueError
        If the configuration is invalid, or any key or shape of the weights
        differs from the network's (all of them are listed).
    """
    try:
        model = StarcNet(**config)
    except TypeError as exc:
        msg = f'{source}: invalid network configuration {config}: {exc}'
        raise ValueError(msg) from exc
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    misshaped = {key: (tuple(state_dict[key].shape), expected[key])
                 for key in set(expected) & set(state_dict)
                 if tuple(state_dict[key].shape) != expected[key]}
    missing = set(expected) - set(state_dict)
    unexpected = set(state_dict) - set(expected)
    if missing or unexpected or misshaped:
        described = ', '.join(f'{key}={value!r}' for key, value in model.config.items())
        header = f'the weights in {source} do not match StarcNet({described}):'
        raise ValueError(_describe(missing, unexpected, misshaped, header=header))
    model.load_state_dict(state_dict, strict=True)
    return model.eval()
