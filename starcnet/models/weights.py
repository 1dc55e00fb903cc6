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
import io
import json
import os
import pickle
import struct
from collections.abc import Mapping

import torch

from ..io._atomic import atomic_write
from ..legus import CLASS_NAMES
from ..normalization import Normalization
from .info import ModelInfo
from .legacy import _describe, convert_published_state_dict
from .network import StarcNet, StarcNetEnsemble
from .schema import FILE_FORMAT, FILE_FORMAT_VERSION, check_config, decode_metadata

__all__ = ['read_weights', 'save_model']

#: Largest safetensors header we read (the safetensors library's own limit).
MAX_HEADER_BYTES = 100_000_000


def file_sha256(path):
    """Hex sha256 of a file's current content (hashed on every call)."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def read_file(path):
    """
    The bytes of a weights file and their hex sha256, read once.

    Everything that checks or parses a weights file works on these bytes,
    so the sha256 is that of the bytes actually loaded, even if the file
    changes on disk meanwhile.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        msg = f'{path} is a directory, not a weights file'
        raise ValueError(msg)
    with open(path, 'rb') as handle:
        content = handle.read()
    return content, hashlib.sha256(content).hexdigest()


def _detect(head, size, source):
    """The format of a file of ``size`` bytes that starts with ``head``."""
    if len(head) == 0:
        msg = f'weights file {source} is empty'
        raise ValueError(msg)
    # safetensors first: an 8-byte little-endian header length, then a
    # JSON object.  The length is arbitrary, so its first byte may well
    # be 0x80 or b'P' (the pickle and zip signatures tested below); a
    # '{' at byte 8 occurs in neither a zip (compression method) nor a
    # torch.save pickle (its magic number).
    if len(head) >= 9 and head[8:9] == b'{':
        (header_length,) = struct.unpack('<Q', head[:8])
        if header_length + 8 > size:
            msg = (f'weights file {source} looks like a safetensors file but is '
                   f'truncated: its header says {header_length} bytes, the '
                   f'file has {size - 8} after the length')
            raise ValueError(msg)
        if header_length > MAX_HEADER_BYTES:
            msg = (f'weights file {source} looks like a safetensors file but its '
                   f'header length, {header_length} bytes, is implausible (at '
                   f'most {MAX_HEADER_BYTES}); the file is corrupt')
            raise ValueError(msg)
        return 'safetensors'
    if head.startswith((b'PK', b'\x80')):
        return 'published'
    msg = (f'{source} is not a weights file starcnet can read: supported are '
           'safetensors files written by starcnet.models.save_model and '
           'PyTorch state_dicts of the published StarcNet network '
           '(torch.save, zip or legacy pickle format)')
    raise ValueError(msg)


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
    return _detect(head, os.path.getsize(path), path)


def _parse_header(raw, source):
    """The JSON header (``raw``: the bytes after the length) as a dict."""
    try:
        header = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        msg = f'could not read the safetensors header of {source} (truncated or corrupt): {exc}'
        raise ValueError(msg) from exc
    if not isinstance(header, dict):
        msg = f'could not read the safetensors file {source}: its header is not a dict'
        raise ValueError(msg)  # noqa: TRY004 (bad file content, not a bad argument)
    return header


def read_header(path):
    """
    The JSON header of a safetensors file (tensor layout and
    ``'__metadata__'``), without reading the tensors.
    """
    try:
        with open(path, 'rb') as handle:
            (header_length,) = struct.unpack('<Q', handle.read(8))
            if header_length > MAX_HEADER_BYTES:
                msg = (f'the safetensors header of {path} says {header_length} '
                       f'bytes, more than the {MAX_HEADER_BYTES} allowed')
                raise ValueError(msg)
            raw = handle.read(header_length)
    except struct.error as exc:
        msg = f'could not read the safetensors header of {path} (truncated or corrupt): {exc}'
        raise ValueError(msg) from exc
    return _parse_header(raw, path)


def read_metadata(path):
    """
    The checked ``'starcnet'`` metadata of a safetensors file (header
    only), or `None` if it has none.
    """
    path = os.fspath(path)
    return decode_metadata(read_header(path).get('__metadata__'), path)


def parse_weights(content, source):
    """
    `read_weights` of the bytes of a weights file.

    Parameters
    ----------
    content : bytes
        The whole file (`read_file`).
    source : str
        What to name in error messages (the file path).
    """
    fmt = _detect(content[:9], len(content), source)
    if fmt == 'published':
        try:
            # From the bytes, not the path: torch.load would hand a path
            # ending in .safetensors to the safetensors library.
            loaded = torch.load(io.BytesIO(content), map_location='cpu',
                                weights_only=True)
        except (RuntimeError, EOFError, pickle.UnpicklingError, ValueError,
                KeyError, struct.error) as exc:
            msg = (f'could not read the PyTorch checkpoint {source} (truncated or '
                   f'corrupt, or not a plain state_dict): {exc}')
            raise ValueError(msg) from exc
        try:
            state_dict = convert_published_state_dict(loaded)
        except ValueError as exc:
            msg = f'{source}: {exc}'
            keys = loaded.get('state_dict', loaded) if isinstance(loaded, dict) else {}
            if any(str(key).startswith(('branches.', 'head.')) for key in keys):
                msg += ('\n  (this looks like a starcnet state_dict saved with '
                        'torch.save; write weights with starcnet.models.save_model)')
            raise ValueError(msg) from exc
        return state_dict, None, fmt

    from safetensors import SafetensorError
    from safetensors.torch import load as load_safetensors

    (header_length,) = struct.unpack('<Q', content[:8])
    header = _parse_header(content[8:8 + header_length], source)
    try:
        state_dict = load_safetensors(content)
    except (SafetensorError, ValueError, RuntimeError) as exc:
        msg = (f'could not read the safetensors file {source} (truncated or '
               f'corrupt): {exc}')
        raise ValueError(msg) from exc
    metadata = decode_metadata(header.get('__metadata__'), source)
    return state_dict, metadata, fmt


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
    content, _ = read_file(path)
    return parse_weights(content, path)


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
    if 'config' in meta and not isinstance(meta['config'], Mapping):
        msg = (f'metadata "config" must be a dict of the network configuration '
               f'(or left out: it is taken from the module), got {meta["config"]!r}')
        raise ValueError(msg)
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
    eval mode on the CPU; a `~starcnet.models.StarcNetEnsemble` when
    ``config`` has ``members``.

    The configuration is checked (`~starcnet.models.schema.check_config`)
    and the network's parameter shapes are computed on the ``meta`` device,
    which allocates nothing; only weights that match them are used, as the
    parameters themselves (converted to float32), so a file cannot make
    this allocate more than the tensors it holds.

    Raises
    ------
    ValueError
        If the configuration is invalid, any key or shape of the weights
        differs from the network's (all of them are listed), or a tensor
        is not floating point (e.g. quantised int8 weights).
    """
    check_config(config, source, 'network configuration')
    try:
        with torch.device('meta'):
            model = (StarcNetEnsemble(**config) if 'members' in config
                     else StarcNet(**config))
    except (TypeError, ValueError) as exc:
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
        header = f'the weights in {source} do not match {type(model).__name__}({described}):'
        raise ValueError(_describe(missing, unexpected, misshaped, header=header))
    not_float = {key: str(value.dtype).removeprefix('torch.')
                 for key, value in state_dict.items() if not value.is_floating_point()}
    if not_float:
        listed = ', '.join(f'{key} ({dtype})' for key, dtype in sorted(not_float.items())[:5])
        more = f' and {len(not_float) - 5} more' if len(not_float) > 5 else ''
        msg = (f'the weights in {source} are not floating point: {listed}{more}. '
               'Quantised or integer weights are not a StarcNet state_dict '
               'starcnet supports; save the float32 network with '
               'starcnet.models.save_model')
        raise ValueError(msg)
    weights = {key: value.detach().to(device='cpu', dtype=torch.float32).contiguous()
               for key, value in state_dict.items()}
    model.load_state_dict(weights, strict=True, assign=True)
    left = [name for name, tensor in (*model.named_parameters(), *model.named_buffers())
            if tensor.is_meta]
    if left:  # pragma: no cover (StarcNet has no buffers outside its state_dict)
        msg = f'{source}: the network has tensors the weights file does not fill: {left}'
        raise ValueError(msg)
    return model.eval()
