# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Mapping between the state_dict keys of the published StarcNet
checkpoint (Pérez et al. 2021) and those of `~starcnet.models.StarcNet`.

The published network names its layers with a branch prefix (``''``
for the full cutout, ``'a'`` for the middle crop, ``'aa'`` for the
small crop) followed by ``conv1, bn1, conv3, bn3, conv4, bn4, conv7,
bn7, conv8, bn8, conv11, bn11, conv12, bn12, fc1, bn13``, plus one
shared ``fc2``.  For example ``aaconv8.weight`` is the weight of the
fifth convolution of the small branch, which here is
``branches.small.convs.4.weight``.

The conversion is strict: every key must be known, present and of the
right shape, otherwise a `ValueError` lists what is wrong.  Nothing is
skipped silently.
"""

import re

import torch

from .network import StarcNet

__all__ = ['convert_published_state_dict', 'to_published_state_dict']

#: Published branch prefix -> our branch name.
_PREFIX_TO_BRANCH = {'': 'full', 'a': 'middle', 'aa': 'small'}
_BRANCH_TO_PREFIX = {branch: prefix
                     for prefix, branch in _PREFIX_TO_BRANCH.items()}

#: Published layer name (without branch prefix) -> our name inside a branch.
_LAYER_MAP = {
    **{f'conv{n}': f'convs.{i}' for i, n in enumerate((1, 3, 4, 7, 8, 11, 12))},
    **{f'bn{n}': f'norms.{i}' for i, n in enumerate((1, 3, 4, 7, 8, 11, 12))},
    'fc1': 'fc',
    'bn13': 'fc_norm',
}
_LAYER_UNMAP = {ours: published for published, ours in _LAYER_MAP.items()}

_PUBLISHED_KEY = re.compile(r'^(a{0,2})(conv\d+|bn\d+|fc1)\.(weight|bias)$')
_PUBLISHED_HEAD = re.compile(r'^fc2\.(weight|bias)$')
_OUR_KEY = re.compile(r'^branches\.(full|middle|small)\.'
                      r'(convs\.\d+|norms\.\d+|fc|fc_norm)\.(weight|bias)$')
_OUR_HEAD = re.compile(r'^head\.(weight|bias)$')


def _unwrap(state_dict):
    """Remove a ``{'state_dict': ...}`` wrapper and a ``module.`` prefix."""
    if not hasattr(state_dict, 'keys'):
        msg = ('a state_dict must be a mapping of parameter names to tensors, '
               f'got {type(state_dict).__name__}')
        raise ValueError(msg)
    if 'state_dict' in state_dict and hasattr(state_dict['state_dict'], 'keys'):
        state_dict = state_dict['state_dict']
    keys = list(state_dict.keys())
    if keys and all(isinstance(key, str) and key.startswith('module.')
                    for key in keys):
        state_dict = {key[len('module.'):]: value
                      for key, value in state_dict.items()}
    return state_dict


def _published_key_to_ours(key):
    """Our key for a published key, or `None` if the key is unknown."""
    if not isinstance(key, str):
        return None
    match = _PUBLISHED_HEAD.match(key)
    if match:
        return f'head.{match.group(1)}'
    match = _PUBLISHED_KEY.match(key)
    if match is None:
        return None
    prefix, layer, kind = match.groups()
    if layer not in _LAYER_MAP:
        return None
    return f'branches.{_PREFIX_TO_BRANCH[prefix]}.{_LAYER_MAP[layer]}.{kind}'


def _our_key_to_published(key):
    """The published key for one of our keys, or `None` if unknown."""
    if not isinstance(key, str):
        return None
    match = _OUR_HEAD.match(key)
    if match:
        return f'fc2.{match.group(1)}'
    match = _OUR_KEY.match(key)
    if match is None:
        return None
    branch, layer, kind = match.groups()
    if layer not in _LAYER_UNMAP:
        return None
    return f'{_BRANCH_TO_PREFIX[branch]}{_LAYER_UNMAP[layer]}.{kind}'


def _expected_shapes(width):
    """Parameter shapes of ``StarcNet(width=width)``, without allocating it."""
    # GroupNorm parameter shapes do not depend on the number of groups;
    # one group accepts any width the network accepts.
    try:
        with torch.device('meta'):
            model = StarcNet(width=width, groups=1)
    except ValueError:
        with torch.device('meta'):
            model = StarcNet(width=128)
    return {key: tuple(value.shape) for key, value in model.state_dict().items()}


def _infer_width(state_dict, key):
    """Width of the network from the first convolution, default 128."""
    value = state_dict.get(key)
    shape = getattr(value, 'shape', None)
    if shape is not None and len(shape) == 4 and shape[0] > 0:
        return int(shape[0])
    return 128


def _describe(missing, unexpected, misshaped, source=None, *, header=None):
    """
    The error message listing all problems of a state_dict; ``misshaped``
    maps a key to its (got, expected) shapes.
    """
    lines = [header or f'the {source} state_dict does not match the StarcNet network:']
    if missing:
        lines.append(f'  missing keys: {", ".join(sorted(missing))}')
    if unexpected:
        lines.append(f'  unexpected keys: {", ".join(sorted(map(str, unexpected)))}')
    if misshaped:
        items = [f'{key} (got {got}, expected {expected})'
                 for key, (got, expected) in sorted(misshaped.items())]
        lines.append(f'  mis-shaped keys: {", ".join(items)}')
    return '\n'.join(lines)


def _convert(state_dict, rename, first_conv_key, source, name_in_message):
    """Rename the keys of a state_dict strictly, checking shapes."""
    state_dict = _unwrap(state_dict)
    width = _infer_width(state_dict, first_conv_key)
    expected = _expected_shapes(width)

    converted = {}
    unexpected = []
    misshaped = {}
    for key, value in state_dict.items():
        ours = rename(key)
        if ours is None or ours not in expected:
            unexpected.append(key)
            continue
        if not isinstance(value, torch.Tensor):
            misshaped[key] = (type(value).__name__, expected[ours])
            continue
        if tuple(value.shape) != expected[ours]:
            misshaped[key] = (tuple(value.shape), expected[ours])
            continue
        converted[ours] = value

    seen = {rename(key) for key in state_dict}
    missing = [name_in_message(key) for key in expected if key not in seen]
    if missing or unexpected or misshaped:
        raise ValueError(_describe(missing, unexpected, misshaped, source))
    # Keep the order of our module's state_dict.
    return {key: converted[key] for key in expected}


def convert_published_state_dict(state_dict):
    """
    Rename the keys of a published StarcNet state_dict to ours.

    Parameters
    ----------
    state_dict : mapping
        The published checkpoint as returned by `torch.load`: a mapping of
        names such as ``'conv1.weight'`` or ``'aaconv8.bias'`` to tensors.
        A ``{'state_dict': ...}`` wrapper and a ``module.`` prefix on every
        key (from `torch.nn.DataParallel`) are accepted.

    Returns
    -------
    state_dict : dict
        The same tensors (not copied) under the names of
        `~starcnet.models.StarcNet`, e.g. ``'branches.small.convs.4.bias'``,
        ready for ``StarcNet(width=...).load_state_dict``.  The width is
        inferred from ``conv1.weight`` (128 for the published model).

    Raises
    ------
    ValueError
        If any key is unknown, missing or has the wrong shape; the message
        lists all of them.  Nothing is skipped silently.

    See Also
    --------
    to_published_state_dict : the reverse mapping.
    """
    return _convert(state_dict, _published_key_to_ours, 'conv1.weight',
                    'published', lambda key: _our_key_to_published(key) or key)


def to_published_state_dict(state_dict):
    """
    Rename the keys of a `~starcnet.models.StarcNet` state_dict to the
    published ones.

    Parameters
    ----------
    state_dict : mapping
        A state_dict of `~starcnet.models.StarcNet` (any width), e.g.
        ``model.state_dict()``.

    Returns
    -------
    state_dict : dict
        The same tensors (not copied) under the published names, e.g.
        ``'aaconv8.weight'``, in the order of our module.

    Raises
    ------
    ValueError
        If any key is unknown, missing or has the wrong shape.

    See Also
    --------
    convert_published_state_dict : the reverse mapping.
    """
    ours = _convert(state_dict, lambda key: key if _our_key_to_published(key)
                    else None, 'branches.full.convs.0.weight', 'StarcNet',
                    lambda key: key)
    return {_our_key_to_published(key): value for key, value in ours.items()}
