# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Tests of `starcnet.models.ModelInfo` and its round trip to the metadata
of a weights file.
"""

import dataclasses
import json

import numpy as np
import pytest

from starcnet.models import (
    ModelInfo,
    StarcNet,
    get_model_info,
    get_model_path,
    list_models,
    load_model,
    read_weights,
    registry,
    save_model,
)

from .helpers import METADATA


def test_model_info_validation():
    with pytest.raises(ValueError, match='kind'):
        ModelInfo(name='x', description='', kind='cloud')
    with pytest.raises(ValueError, match='URL'):
        ModelInfo(name='x', description='', kind='remote')
    with pytest.raises(ValueError, match='format'):
        ModelInfo(name='x', description='', kind='remote', url='http://x',
                  format='onnx')


_NOT_STORED = ('kind', 'filename', 'url', 'sha256', 'size', 'format', 'reference')


def not_stored(info):
    """The fields of ``info`` that a weights file does not store."""
    return {key: getattr(info, key) for key in _NOT_STORED}


def test_stored_fields():
    names = {field.name for field in dataclasses.fields(ModelInfo)}
    assert set(ModelInfo.STORED_FIELDS) | set(_NOT_STORED) == names
    assert not set(ModelInfo.STORED_FIELDS) & set(_NOT_STORED)


@pytest.mark.parametrize('name', list_models())
def test_round_trip_registered(name):
    info = get_model_info(name)
    meta = info.to_metadata()
    assert meta['format'] == 'starcnet-weights' and meta['format_version'] == 1
    assert ModelInfo.from_metadata(meta, **not_stored(info)) == info
    # JSON as a file holds it, and back
    meta = json.loads(json.dumps(meta))
    assert ModelInfo.from_metadata(meta, **not_stored(info)) == info


def test_round_trip_bundled_file():
    # What the bundled file stores is what its ModelInfo says.
    model, info = load_model('sim-small-v2')
    path = get_model_path('sim-small-v2')
    stored = read_weights(path)[1]
    assert {key: stored.get(key) for key in ('config', 'bands', 'normalization',
                                             'temperature', 'training')} == {
        key: info.to_metadata()[key] for key in ('config', 'bands', 'normalization',
                                                 'temperature', 'training')}


def test_round_trip_save_model(tmp_path):
    path = tmp_path / 'model.safetensors'
    training = {**METADATA['training'], 'confusion': np.array([[1, 2], [3, 4]]),
                'accuracy': np.float32(0.5)}
    save_model(StarcNet(width=8), path, {**METADATA, 'temperature': 1.5,
                                         'training': training})
    _, info = load_model(path)
    stored = read_weights(path)[1]
    # the file's metadata is exactly what to_metadata gives ...
    assert stored == info.to_metadata()
    # ... and from_metadata gives the ModelInfo back
    assert ModelInfo.from_metadata(stored, **not_stored(info)) == info
    assert info.training['confusion'] == [[1, 2], [3, 4]]
    assert info.temperature == 1.5


def test_save_model_of_a_model_info(tmp_path):
    model = StarcNet(width=8)
    first = save_model(model, tmp_path / 'a.safetensors', METADATA)
    _, info = load_model(first)
    changed = dataclasses.replace(info, name='renamed', temperature=2.0)
    second = save_model(model, tmp_path / 'b.safetensors', changed)
    _, loaded = load_model(second)
    for key in ModelInfo.STORED_FIELDS:
        assert getattr(loaded, key) == getattr(changed, key), key
    assert loaded.name == 'renamed' and loaded.temperature == 2.0
    # a ModelInfo whose config differs from the network's is refused
    with pytest.raises(ValueError, match='differs from the module config'):
        save_model(StarcNet(width=16), tmp_path / 'c.safetensors', changed)


def test_to_metadata_needs_the_file_fields():
    entry = registry._REGISTRY['sim-small-v1']
    assert entry.config is None
    with pytest.raises(ValueError, match='get_model_info'):
        entry.to_metadata()


def test_from_metadata_errors():
    meta = get_model_info('legus-2021').to_metadata()
    with pytest.raises(TypeError, match='bands'):
        ModelInfo.from_metadata(meta, bands=('a',) * 5)
    with pytest.raises(TypeError, match='colour'):
        ModelInfo.from_metadata(meta, colour='red')
    with pytest.raises(ValueError, match='in memory: unknown metadata keys'):
        ModelInfo.from_metadata({**meta, 'colour': 'red'}, source='in memory')
    with pytest.raises(ValueError, match='"classes" values'):
        ModelInfo.from_metadata({**meta, 'classes': {'1': 1, '2': 2, '3': 3, '4': 4}})
    with pytest.raises(ValueError, match='StarcNet does not take'):
        ModelInfo.from_metadata({**meta, 'config': {'width': 8, 'depth': 3}})
    with pytest.raises(ValueError, match='needs a filename'):
        ModelInfo.from_metadata(meta)  # kind 'file' by default
    info = ModelInfo.from_metadata(meta, filename='copy.safetensors')
    assert info.kind == 'file' and info.format == 'safetensors'
    assert info.name == 'legus-2021' and info.filename == 'copy.safetensors'


def test_model_info_normalises_fields():
    info = ModelInfo(name='x', description='', kind='file', filename='x.safetensors',
                     classes={'1': 'a', '2': 'b'}, bands=['F275W'],
                     sha256='AB' * 32, training={'loss': np.float64(0.25)})
    assert info.classes == {1: 'a', 2: 'b'}
    assert info.bands == ('F275W',)
    assert info.sha256 == 'ab' * 32
    assert info.training == {'loss': 0.25} and type(info.training['loss']) is float
    with pytest.raises(ValueError, match='64 hexadecimal'):
        ModelInfo(name='x', description='', kind='file', filename='x', sha256='abc')
    with pytest.raises(ValueError, match='filename'):
        ModelInfo(name='x', description='', kind='file')
    with pytest.raises(ValueError, match='non-empty'):
        ModelInfo(name=' ', description='', kind='remote', url='http://x')
    with pytest.raises(ValueError, match='JSON'):
        ModelInfo(name='x', description='', kind='remote', url='http://x',
                  training={'when': object()})
