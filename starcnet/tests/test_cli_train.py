# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of ``starcnet train``."""

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import QTable

from starcnet import StarClusterClassifier
from starcnet.cli import main
from starcnet.models.registry import load_model, read_weights
from starcnet.simulation import BANDS, make_scene


@pytest.fixture(scope='module')
def labelled_scene(tmp_path_factory):
    torch.set_num_threads(2)
    images, truth = make_scene((160, 160), 24, n_field_stars=20,
                               min_separation=10, seed=4)
    folder = tmp_path_factory.mktemp('scene')
    bands = []
    for band in BANDS:
        header = fits.Header()
        header['FILTER'] = band
        header['BUNIT'] = 'ELECTRONS/S'
        path = folder / f'{band.lower()}.fits'
        fits.PrimaryHDU(images[band], header=header).writeto(path)
        bands.append(f'{band}={path}')
    catalog = QTable(truth)
    catalog['human_class'] = np.ma.MaskedArray(catalog['true_class'])
    catalog['human_class'].mask = np.arange(len(catalog)) % 6 == 0  # unlabelled rows
    catalog['human_class'][1] = 0                                    # not inspected
    path = folder / 'labels.ecsv'
    catalog.write(path)
    return bands, path, catalog


def test_train_from_scratch(labelled_scene, tmp_path, capsys):
    bands, catalog_path, catalog = labelled_scene
    out = tmp_path / 'model.safetensors'
    status = main(['-q', 'train', *bands, '--catalog', str(catalog_path),
                   '--width', '8', '--epochs', '2', '--batch-size', '8',
                   '--val-fraction', '0.25', '--seed', '1', '-o', str(out)])
    text = capsys.readouterr().out
    assert status == 0
    assert 'validation accuracy' in text and str(out) in text
    n_unlabelled = int(np.count_nonzero(np.ma.getmaskarray(catalog['human_class']))) + 1
    assert f'unlabelled {n_unlabelled}' in text
    module, info = load_model(out)
    assert module.config['width'] == 8
    training = read_weights(out)[1]['training']
    assert training['base_model'] is None
    assert training['n_train'] + training['n_val'] == len(catalog) - n_unlabelled
    assert training['class_column'] == 'human_class'
    # the classifier loads it
    clf = StarClusterClassifier(model=str(out), device='cpu')
    assert clf.bands == tuple(BANDS)
    # an existing file is not replaced without --overwrite
    assert main(['-q', 'train', *bands, '--catalog', str(catalog_path),
                 '--epochs', '1', '-o', str(out)]) == 1
    assert 'already exists' in capsys.readouterr().err


def test_finetune_cli(labelled_scene, tmp_path, capsys):
    bands, catalog_path, _ = labelled_scene
    out = tmp_path / 'tuned.safetensors'
    status = main(['-q', 'train', *bands, '--catalog', str(catalog_path),
                   '--class-column', 'true_class', '--base-model', 'sim-small-v1',
                   '--epochs', '1', '--batch-size', '8', '--freeze', 'convs',
                   '--freeze', 'full,middle', '-o', str(out)])
    text = capsys.readouterr().out
    assert status == 0, text
    assert 'base model: sim-small-v1' in text
    module, info = load_model(out)
    base, base_info = load_model('sim-small-v1')
    assert info.normalization == base_info.normalization
    training = read_weights(out)[1]['training']
    assert training['base_model'] == 'sim-small-v1'
    assert training['base_model_sha256'] == base_info.sha256
    assert training['frozen'] == ['convs', 'full', 'middle']
    assert torch.equal(module.state_dict()['branches.full.fc.weight'],
                       base.state_dict()['branches.full.fc.weight'])


def test_train_cli_errors(labelled_scene, tmp_path, capsys):
    bands, catalog_path, _ = labelled_scene
    out = tmp_path / 'm.safetensors'
    assert main(['-q', 'train', *bands, '--catalog', str(catalog_path),
                 '--class-column', 'nope', '-o', str(out)]) == 1
    assert "no class column 'nope'" in capsys.readouterr().err
    assert main(['-q', 'train', *bands, '--catalog', str(tmp_path / 'missing.ecsv'),
                 '-o', str(out)]) == 1
    assert 'cannot read the catalog' in capsys.readouterr().err
    assert not out.exists()
