# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Many galaxies and mosaic tiles through dask.distributed give the
results of a serial run.
"""

import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from starcnet import StarClusterClassifier, read_catalog, write_catalog
from starcnet.conftest import make_test_scene

pytest.importorskip('distributed')

from starcnet.distributed import (classify_galaxies, classify_tiles,  # noqa: E402
                                  dask_client, read_galaxy_list)


def _galaxy(directory, seed):
    directory.mkdir()
    bands, sources = make_test_scene(shape=(160, 200), n=9, seed=seed)
    paths = {}
    for band, data in bands.items():
        paths[band] = str(directory / f'{band.lower()}.fits')
        fits.PrimaryHDU(data).writeto(paths[band])
    write_catalog(sources, directory / 'candidates.ecsv')
    return bands, sources, paths


def _same(a, b):
    assert a.colnames == b.colnames
    np.testing.assert_array_equal(a['cluster_class'], b['cluster_class'])
    np.testing.assert_array_equal(a['starcnet_flags'], b['starcnet_flags'])
    for k in range(1, 5):
        assert np.abs(np.asarray(a[f'prob_class{k}'])
                      - np.asarray(b[f'prob_class{k}'])).max() <= 1e-4


@pytest.fixture(scope='module')
def client():
    with dask_client(n_workers=2, threads_per_worker=1, processes=False) as client:
        yield client


def test_galaxy_list_json_and_ecsv(tmp_path, tiny_model_path, client):
    galaxies = {name: _galaxy(tmp_path / name, seed)
                for seed, name in enumerate(['ngc0001', 'ngc0002', 'ngc0003'])}
    entries = [{'name': name, 'catalog': f'{name}/candidates.ecsv',
                'bands': {b: p.replace(str(tmp_path) + '/', '') for b, p in g[2].items()},
                'output': f'out/{name}.ecsv' if name != 'ngc0003' else None}
               for name, g in galaxies.items()]
    (tmp_path / 'out').mkdir()
    (tmp_path / 'galaxies.json').write_text(json.dumps(entries))
    table = Table({'name': [e['name'] for e in entries],
                   'catalog': [e['catalog'] for e in entries]})
    for band in entries[0]['bands']:
        table[band] = [e['bands'][band] for e in entries]
    table.write(tmp_path / 'galaxies.ecsv')
    from_ecsv = read_galaxy_list(tmp_path / 'galaxies.ecsv')
    from_json = read_galaxy_list(tmp_path / 'galaxies.json')
    assert [g['bands'] for g in from_ecsv] == [g['bands'] for g in from_json]
    assert from_ecsv[0]['output'] is None

    results = classify_galaxies(tmp_path / 'galaxies.json', model=tiny_model_path,
                                scheduler=client)
    assert results[:2] == [str(tmp_path / 'out' / 'ngc0001.ecsv'),
                           str(tmp_path / 'out' / 'ngc0002.ecsv')]
    serial = StarClusterClassifier(tiny_model_path, device='cpu')
    for name, result in zip(galaxies, results):
        bands, sources, _ = galaxies[name]
        expected = serial(bands, sources)
        got = result if name == 'ngc0003' else read_catalog(result)
        _same(got, expected)
        assert got.meta['starcnet']['galaxy'] == name
    with pytest.raises(FileExistsError, match='already exist'):
        classify_galaxies(from_json, model=tiny_model_path, scheduler=client)


def test_tiles_match_serial(tmp_path, tiny_model_path, client):
    bands, sources, paths = _galaxy(tmp_path / 'mosaic', 7)
    tiled = classify_tiles(paths, sources, tile_size=64, model=tiny_model_path,
                           scheduler=client)
    _same(tiled, StarClusterClassifier(tiny_model_path, device='cpu')(bands, sources))
    np.testing.assert_array_equal(tiled['x'], sources['x'])


def test_bad_galaxy_lists(tmp_path):
    (tmp_path / 'a.json').write_text(json.dumps([{'name': 'x', 'bands': {}}]))
    with pytest.raises(ValueError, match='needs "bands"'):
        read_galaxy_list(tmp_path / 'a.json')
    (tmp_path / 'b.json').write_text(json.dumps([{'name': 'x', 'colour': 1}]))
    with pytest.raises(ValueError, match='unknown keys'):
        read_galaxy_list(tmp_path / 'b.json')
    Table({'name': ['x']}).write(tmp_path / 'c.ecsv')
    with pytest.raises(ValueError, match='catalog missing'):
        read_galaxy_list(tmp_path / 'c.ecsv')


def test_in_process_workers_leave_this_process_alone(tmp_path, tiny_model_path,
                                                     client, monkeypatch):
    # the in-process workers of the fixture run in this process, which
    # starcnet does not own: no torch threads set, no allocator settings
    import torch

    from starcnet.utils import _allocator

    seen = []
    monkeypatch.setattr(torch, 'set_num_threads', lambda n: seen.append(('threads', n)))
    original = _allocator.large_cpu_buffers

    def spy(enabled=None):
        seen.append(('tune', enabled))
        return original(False)

    monkeypatch.setattr(_allocator, 'large_cpu_buffers', spy)
    monkeypatch.setattr('starcnet.utils.large_cpu_buffers', spy)
    _, sources, paths = _galaxy(tmp_path / 'mosaic', 5)
    classify_tiles(paths, sources, tile_size=128, model=tiny_model_path, scheduler=client)
    assert seen and all(entry == ('tune', False) for entry in seen)
    seen.clear()
    classify_tiles(paths, sources, tile_size=128, model=tiny_model_path, scheduler=client,
                   tune_malloc=True, torch_threads=torch.get_num_threads() + 1)
    assert ('tune', True) in seen
    assert ('threads', torch.get_num_threads() + 1) in seen


@pytest.mark.parametrize('scheduler, processes, threads, tune', [
    (None, True, (2, None), (True, None)),     # the LocalCluster starcnet starts
    (None, False, (None, None), (False, None)),  # workers in this process
    ('tcp://x:1', True, (None, None), (False, None)),  # the user's deployment
    ('tcp://x:1', True, (3, 3), (True, True)),  # ... asked explicitly
])
def test_worker_options(scheduler, processes, threads, tune):
    from starcnet import conf
    from starcnet.distributed import _worker_options

    (expected_threads, given_threads), (expected_tune, given_tune) = threads, tune
    assert _worker_options(scheduler, processes, 2, given_threads, given_tune) == (
        expected_threads, expected_tune)
    with conf.set_temp('tune_malloc', False):
        assert _worker_options(scheduler, processes, 2, given_threads, given_tune)[1] is (
            given_tune is True)


def test_classifier_cache_is_bounded(tiny_model_path, monkeypatch):
    from starcnet import distributed

    monkeypatch.setattr(distributed, '_CLASSIFIERS', type(distributed._CLASSIFIERS)())
    first = distributed._classifier(tiny_model_path, 'cpu', 8, 'float32')
    assert distributed._classifier(tiny_model_path, 'cpu', 8, 'float32') is first
    for batch_size in range(9, 9 + distributed.CLASSIFIER_CACHE_SIZE):
        distributed._classifier(tiny_model_path, 'cpu', batch_size, 'float32')
    assert len(distributed._CLASSIFIERS) == distributed.CLASSIFIER_CACHE_SIZE
    # the least recently used one went first
    assert distributed._classifier(tiny_model_path, 'cpu', 8, 'float32') is not first
    assert (str(tiny_model_path), 'cpu', 9, 'float32', None, 16, 0) \
        not in distributed._CLASSIFIERS
    assert (str(tiny_model_path), 'cpu', 10, 'float32', None, 16, 0) in distributed._CLASSIFIERS
    # uncertainty settings are part of the key
    mc = distributed._classifier(tiny_model_path, 'cpu', 8, 'float32', 'mc_dropout', 3, 1)
    assert (mc.uncertainty, mc.n_samples, mc.seed) == ('mc_dropout', 3, 1)
    assert distributed._classifier(tiny_model_path, 'cpu', 8, 'float32', 'mc_dropout',
                                   3, 2).seed == 2


def _uncertainty_equal(a, b):
    from starcnet.classifier import UNCERTAINTY_COLUMNS

    for name in (*UNCERTAINTY_COLUMNS, 'review_priority'):
        np.testing.assert_array_equal(a[name], b[name])


def test_galaxies_with_uncertainty(tmp_path, tiny_model_path, client):
    galaxies = {name: _galaxy(tmp_path / name, seed)
                for seed, name in enumerate(['ngc0001', 'ngc0002'])}
    entries = [{'name': name, 'catalog': str(tmp_path / name / 'candidates.ecsv'),
                'bands': g[2], 'output': None} for name, g in galaxies.items()]
    results = classify_galaxies(entries, model=tiny_model_path, scheduler=client,
                                uncertainty='mc_dropout', n_samples=3, seed=5)
    serial = StarClusterClassifier(tiny_model_path, device='cpu', uncertainty='mc_dropout',
                                   n_samples=3, seed=5)
    for (bands, sources, _), got in zip(galaxies.values(), results):
        expected = serial(bands, sources)
        _same(got, expected)
        _uncertainty_equal(got, expected)
        assert got.meta['starcnet']['uncertainty'] == {'method': 'mc_dropout',
                                                       'n_samples': 3, 'seed': 5}
    other = classify_galaxies(entries, model=tiny_model_path, scheduler=client,
                              uncertainty='mc_dropout', n_samples=3, seed=6)
    assert not np.array_equal(other[0]['mutual_information'], results[0]['mutual_information'])
    plain = classify_galaxies(entries[:1], model=tiny_model_path, scheduler=client)[0]
    assert 'mutual_information' not in plain.colnames
    # bad options fail on the client, before any task
    for kwargs, error in (({'uncertainty': 'bootstrap'}, ValueError),
                          ({'uncertainty': 'mc_dropout', 'n_samples': 1}, ValueError),
                          ({'uncertainty': 'mc_dropout', 'seed': 1.5}, TypeError)):
        with pytest.raises(error, match='uncertainty|n_samples|seed'):
            classify_galaxies(entries, model=tiny_model_path, scheduler='tcp://nowhere:1',
                              **kwargs)


def test_tiles_with_uncertainty(tmp_path, tiny_model_path, client):
    bands, sources, paths = _galaxy(tmp_path / 'mosaic', 8)
    options = dict(uncertainty='mc_dropout', n_samples=3, seed=5)
    serial = StarClusterClassifier(tiny_model_path, device='cpu', **options)(bands, sources)
    # one tile: the serial run exactly
    whole = classify_tiles(paths, sources, tile_size=4096, model=tiny_model_path,
                           scheduler=client, **options)
    _same(whole, serial)
    _uncertainty_equal(whole, serial)
    assert whole.meta['starcnet']['uncertainty'] == {'method': 'mc_dropout',
                                                     'n_samples': 3, 'seed': 5}
    # several tiles: the samples are each tile's own, from the seed, and
    # the same again on a rerun
    tiled = classify_tiles(paths, sources, tile_size=64, model=tiny_model_path,
                           scheduler=client, **options)
    assert tiled.colnames == serial.colnames
    np.testing.assert_array_equal(tiled['starcnet_flags'], serial['starcnet_flags'])
    assert np.isfinite(tiled['mutual_information']).all()
    assert not np.array_equal(tiled['mutual_information'], serial['mutual_information'])
    again = classify_tiles(paths, sources, tile_size=64, model=tiny_model_path,
                           scheduler=client, **options)
    _uncertainty_equal(tiled, again)
    with pytest.raises(ValueError, match='n_samples'):
        classify_tiles(paths, sources, model=tiny_model_path, scheduler='tcp://nowhere:1',
                       uncertainty='mc_dropout', n_samples=1)


def test_cli_classify_many_with_uncertainty(tmp_path, tiny_model_path, client, capsys):
    from starcnet.cli import main

    bands, sources, paths = _galaxy(tmp_path / 'ngc0001', 3)
    (tmp_path / 'galaxies.json').write_text(json.dumps([
        {'name': 'ngc0001', 'catalog': 'ngc0001/candidates.ecsv', 'bands': paths}]))
    assert main(['classify-many', str(tmp_path / 'galaxies.json'), '-o', str(tmp_path / 'out'),
                 '--model', str(tiny_model_path), '--scheduler', client.scheduler.address,
                 '--uncertainty', 'mc_dropout', '--n-samples', '4', '--seed', '9']) == 0
    assert '1 galaxies classified' in capsys.readouterr().out
    got = read_catalog(tmp_path / 'out' / 'ngc0001_starcnet.ecsv')
    expected = StarClusterClassifier(tiny_model_path, device='cpu', uncertainty='mc_dropout',
                                     n_samples=4, seed=9)(bands, sources)
    _same(got, expected)
    _uncertainty_equal(got, expected)
    assert got.meta['starcnet']['uncertainty']['seed'] == 9
