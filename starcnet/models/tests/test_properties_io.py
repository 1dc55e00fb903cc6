# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Property-based tests (hypothesis) of the weights files: random model
metadata (names, descriptions and licences of 0-200 characters of any
unicode, class names, band orders, normalisations, temperatures,
training records) goes through `save_model` and comes back unchanged
through the public readers, and `load_model` gives back the network.

The example budget is the hypothesis profile (``starcnet/conftest.py``).
"""

import os
import tempfile

import pytest

from starcnet.tests._tools import require_module

require_module('hypothesis', 'pip install hypothesis (it is in the test extra)')

from hypothesis import example, given, strategies as st  # noqa: E402

FILTERS = ['F275W', 'F336W', 'F435W', 'F438W', 'F555W', 'F606W', 'F814W']

#: Any text of 0-200 characters (all of unicode but lone surrogates).
TEXT = st.text(max_size=200)

finite = st.floats(allow_nan=False, allow_infinity=False)

NORMALIZATIONS = st.one_of(
    st.builds(lambda kind, offset, scale: {'kind': kind, 'offset': offset, 'scale': scale},
              st.sampled_from(['affine', 'asinh']),
              st.lists(st.floats(-1e4, 1e4), min_size=5, max_size=5),
              st.lists(st.floats(1e-4, 1e4), min_size=5, max_size=5)),
    st.builds(lambda stretch, radius: {'kind': 'local', 'stretch': stretch, 'radius': radius},
              st.one_of(st.floats(0.01, 100),
                        st.lists(st.floats(0.01, 100), min_size=5, max_size=5)),
              st.floats(0, 14.99)))

JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(), finite, st.text(max_size=30))
TRAINING = st.dictionaries(st.text(max_size=20),
                           st.one_of(JSON_LEAF, st.lists(JSON_LEAF, max_size=4)),
                           max_size=5)


@st.composite
def metadata(draw):
    """A valid metadata dict for `save_model` of a 5-band, 4-class network."""
    return {
        'name': draw(st.text(min_size=1, max_size=60).filter(str.strip), label='name'),
        'description': draw(TEXT, label='description'),
        'bands': draw(st.permutations(FILTERS), label='bands')[:5],
        'normalization': draw(NORMALIZATIONS, label='normalization'),
        'temperature': draw(st.floats(0.01, 100), label='temperature'),
        'classes': dict(zip('1234', draw(st.lists(
            st.text(min_size=1, max_size=40), min_size=4, max_size=4, unique=True),
            label='classes'))),
        'license': draw(TEXT, label='license'),
        'citation': draw(TEXT, label='citation'),
        'training': draw(TRAINING, label='training'),
    }


#: Metadata whose file has an 8-byte header length with low byte 0x80
#: (issue 13 item 1); with `network`'s tensors.
BAD_HEADER_LENGTH = {
    'name': 't' * 30, 'description': 'a' * 200,
    'bands': ['F275W', 'F336W', 'F438W', 'F555W', 'F814W'],
    'normalization': {'kind': 'local'}}


@pytest.fixture(scope='module')
def network():
    import torch

    from starcnet.models.network import StarcNet

    torch.manual_seed(3)
    return StarcNet(width=8)


def _saved(network, meta, directory):
    from starcnet.models.weights import save_model

    path = os.path.join(directory, 'model.safetensors')
    assert save_model(network, path, meta) == path
    # written in one piece: the target and nothing else
    assert os.listdir(directory) == ['model.safetensors']
    return path


def _expected(meta, network):
    """`ModelInfo.to_metadata` of what was saved."""
    from starcnet.legus import CLASS_NAMES
    from starcnet.models.info import ModelInfo

    full = {'format': 'starcnet-weights', 'format_version': 1,
            'config': network.config, 'classes': dict(CLASS_NAMES), **meta}
    return ModelInfo.from_metadata(full, filename='x').to_metadata()


@given(meta=metadata())
@example(meta=BAD_HEADER_LENGTH)
def test_metadata_round_trip(network, meta):
    """What `save_model` writes, `read_metadata` and `get_model_info` give back."""
    from starcnet.models.info import ModelInfo
    from starcnet.models.weights import read_metadata
    from starcnet.normalization import Normalization

    with tempfile.TemporaryDirectory() as directory:
        path = _saved(network, meta, directory)
        stored = read_metadata(path)
        assert stored == _expected(meta, network)
        info = ModelInfo.from_metadata(stored, filename=path)
        for key, value in meta.items():
            got = getattr(info, key)
            if key == 'normalization':
                got = got.to_metadata()
                value = Normalization.from_metadata(value).to_metadata()
            elif key == 'classes':
                got = {str(k): v for k, v in got.items()}
            elif key == 'bands':
                got = list(got)
            assert got == value, key


@given(meta=metadata())
@example(meta=BAD_HEADER_LENGTH)
def test_save_load_round_trip(network, meta):
    """`load_model` of any file `save_model` wrote: the same weights and description."""
    import torch

    from starcnet.models import load_model
    from starcnet.models.weights import file_sha256

    with tempfile.TemporaryDirectory() as directory:
        path = _saved(network, meta, directory)
        model, info = load_model(path)
        assert info.sha256 == file_sha256(path)
        assert info.to_metadata() == _expected(meta, network)
        assert info.name == meta['name']
        loaded, saved = model.state_dict(), network.state_dict()
        assert loaded.keys() == saved.keys()
        for key, value in saved.items():
            assert torch.equal(loaded[key], value), key


#: The keys whose values test_bad_metadata_is_a_value_error replaces.
KEYS = ['name', 'description', 'bands', 'classes', 'normalization', 'temperature',
        'training', 'license', 'format_version']


@given(meta=metadata(), key=st.sampled_from(KEYS),
       junk=st.one_of(JSON_LEAF, st.lists(JSON_LEAF, max_size=6),
                      st.dictionaries(st.text(max_size=5), JSON_LEAF, max_size=4)))
def test_bad_metadata_is_a_value_error(network, meta, key, junk):
    """
    Any value of any key: the file is written and reads back, or
    `save_model` raises a ValueError and writes nothing.
    """
    from starcnet.models.weights import read_metadata, save_model

    meta = {**meta, key: junk}
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, 'model.safetensors')
        try:
            save_model(network, path, meta)
        except ValueError:
            assert os.listdir(directory) == []
            return
        assert os.listdir(directory) == ['model.safetensors']
        assert read_metadata(path)['format'] == 'starcnet-weights'


@pytest.mark.parametrize('config', [None, 5, 'width=8', [1, 2]])
def test_bad_config_is_a_value_error(network, tmp_path, config):
    """A "config" that is not a dict is a ValueError that names it."""
    from starcnet.models.weights import save_model

    meta = {**BAD_HEADER_LENGTH, 'config': config}
    with pytest.raises(ValueError, match='config'):
        save_model(network, tmp_path / 'model.safetensors', meta)
    assert list(tmp_path.iterdir()) == []
