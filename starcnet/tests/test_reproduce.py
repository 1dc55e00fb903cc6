# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Reproducing the published StarcNet run on NGC 1566: every piece offline,
and the real run (download of the mosaics and weights) as remote_data.
"""

import os
import tarfile

import numpy as np
import pytest
import torch
from astropy.io import fits
from astropy.table import Table
from astropy.utils.data import get_pkg_data_filename

from starcnet.catalogs import LEGUS_BANDS, read_legus
from starcnet.cutouts import cutout_origin
from starcnet.models.legacy import to_published_state_dict
from starcnet.models.network import StarcNet
from starcnet.models.registry import get_model_info
from starcnet.models.weights import save_model
from starcnet.reproduce import (NGC1566_MOSAICS_URL, legus_band_files,
                                published_logits, read_legus_mosaics)

EXCERPT = get_pkg_data_filename(
    'data/hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor_excerpt.tab')
#: 0-based rows of the full catalog held in the excerpt (see data/README.rst).
EXCERPT_ROWS = [0, 1, 2, 3, 4, 5, 6, 10, 11, 19]
SCORES = get_pkg_data_filename('data/ngc1566_output_scores.npy')
HUMAN = get_pkg_data_filename('data/ngc1566_human_class.ecsv')
#: int(X), int(Y) of the published output_predictions.csv for those rows.
PUBLISHED_XY = {1: (3006, 5901), 2: (2797, 5852), 3: (2794, 5830)}
#: The per-band means of the published model (mean.npy).
PUBLISHED_MEANS = [0.02376737, 0.13796899, 0.14457473, 0.2542926, 0.39018805]

TARBALL_NAMES = ['hlsp_legus_hst_acs_ngc1566_f435w_v1_drc.fits',
                 'hlsp_legus_hst_acs_ngc1566_f435w_v1_exp-drc.fits',
                 'hlsp_legus_hst_wfc3_ngc1566_f275w_v1_drc.fits',
                 'hlsp_legus_hst_wfc3_ngc1566_f336w_v1_drc.fits',
                 'hlsp_legus_hst_wfc3_ngc1566_f438w_v1_drc.fits',
                 'hlsp_legus_hst_wfc3_ngc1566_f555w_v1_drc.fits',
                 'hlsp_legus_hst_wfc3_ngc1566_f814w_v1_drc.fits',
                 'README.txt']


def test_legus_band_files(tmp_path):
    for name in TARBALL_NAMES:
        (tmp_path / name).write_bytes(b'')
    files = legus_band_files(tmp_path)
    assert list(files) == ['F275W', 'F336W', 'F438W', 'F555W', 'F814W']
    names = {band: os.path.basename(path) for band, path in files.items()}
    # first in sorted name order: the ACS F435W file sorts before WFC3 F438W
    assert names['F438W'] == 'hlsp_legus_hst_acs_ngc1566_f435w_v1_drc.fits'
    assert names['F275W'] == 'hlsp_legus_hst_wfc3_ngc1566_f275w_v1_drc.fits'
    assert names['F814W'] == 'hlsp_legus_hst_wfc3_ngc1566_f814w_v1_drc.fits'
    (tmp_path / TARBALL_NAMES[-2]).unlink()
    with pytest.raises(FileNotFoundError, match='F814W'):
        legus_band_files(tmp_path)


def test_catalog_rows_and_cutout_indices():
    catalog = read_legus(EXCERPT)
    human = Table.read(HUMAN)
    scores = np.load(SCORES)
    assert scores.shape == (len(human), 4) == (2752, 4)
    # the excerpt rows are those rows of the full catalog (same ids)
    assert list(catalog['id']) == list(np.asarray(human['id'])[EXCERPT_ROWS])
    ix, iy = cutout_origin(catalog['x'], catalog['y'])
    X = np.asarray(catalog['x_catalog'])
    Y = np.asarray(catalog['y_catalog'])
    assert np.array_equal(ix, X.astype(int) - 16)
    assert np.array_equal(iy, Y.astype(int) - 16)
    for k, (xi, yi) in PUBLISHED_XY.items():
        row = list(catalog['id']).index(k)
        assert (ix[row] + 16, iy[row] + 16) == (xi, yi)


def test_published_normalisation_and_bands():
    info = get_model_info('legus-2021')
    assert info.bands == ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
    assert info.normalization.kind == 'affine'
    np.testing.assert_allclose(info.normalization.offset, PUBLISHED_MEANS, rtol=1e-6)
    assert list(info.normalization.scale) == [1.0] * 5
    assert info.config['width'] == 128 and info.config['groups'] == 8


def _fake_checkpoint(path, width=32):
    torch.manual_seed(3)
    module = StarcNet(width=width).eval()
    torch.save(to_published_state_dict(module.state_dict()), path)
    return module


def test_offline_pipeline(tmp_path):
    """Fake published-format weights, a synthetic mosaic folder with the
    real catalog positions shifted into a small image: our pipeline gives
    the logits of the published recipe, written out by hand here."""
    catalog = read_legus(EXCERPT)
    shift_x = int(np.floor(catalog['x_catalog'].min())) - 40
    shift_y = int(np.floor(catalog['y_catalog'].min())) - 40
    catalog['x'] -= shift_x
    catalog['y'] -= shift_y
    X = np.asarray(catalog['x_catalog']) - shift_x
    Y = np.asarray(catalog['y_catalog']) - shift_y
    ny, nx = int(Y.max()) + 40, int(X.max()) + 40
    rng = np.random.default_rng(0)
    folder = tmp_path / 'ngc1566'
    folder.mkdir()
    data = {}
    for name, level in zip(TARBALL_NAMES[2:7], PUBLISHED_MEANS):
        data[name] = rng.gamma(2.0, level, (ny, nx)).astype(np.float32)
        fits.PrimaryHDU(data[name]).writeto(folder / name)
    weights = tmp_path / 'starcnet.pth'
    module = _fake_checkpoint(weights)

    image = read_legus_mosaics(folder)
    logits, flags = published_logits(image, catalog, model=weights)
    assert not flags.any()

    # the published recipe: sorted files, primary HDU, int(Y)-16 slices, minus means
    cutouts = np.stack([
        np.stack([data[name][int(y) - 16:int(y) + 16, int(x) - 16:int(x) + 16]
                  for name in TARBALL_NAMES[2:7]])
        for x, y in zip(X, Y)])
    cutouts = cutouts - np.asarray(PUBLISHED_MEANS, np.float32)[:, None, None]
    with torch.no_grad():
        expected = module(torch.from_numpy(cutouts.astype(np.float32))).numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    assert np.array_equal(logits.argmax(1), expected.argmax(1))

    # the published logits are raw: a temperature stored with the model
    # (legus-2021 has one) is not applied
    hot = tmp_path / 'hot.safetensors'
    save_model(module, hot, {'bands': list(LEGUS_BANDS), 'temperature': 3.0,
                             'normalization': get_model_info('legus-2021').normalization})
    again, _ = published_logits(image, catalog, model=hot)
    np.testing.assert_allclose(again, expected, atol=1e-4)


@pytest.mark.remote_data
def test_reproduce_ngc1566_published_scores(tmp_path):
    from astropy.utils.data import download_file

    tarball = download_file(NGC1566_MOSAICS_URL, cache=True, pkgname='starcnet')
    with tarfile.open(tarball) as archive:
        archive.extractall(tmp_path, filter='data')
    folders = {os.path.dirname(os.path.join(root, f))
               for root, _, files in os.walk(tmp_path) for f in files
               if f.lower().endswith('.fits')}
    assert len(folders) == 1
    image = read_legus_mosaics(folders.pop())
    # The catalog positions (1-based, as published) ship with the tests,
    # in catalog order, so only the mosaics and the weights are fetched.
    positions = Table.read(HUMAN)
    catalog = Table({'id': positions['id'], 'x': positions['x_catalog'] - 1,
                     'y': positions['y_catalog'] - 1})
    reference = np.load(SCORES)
    assert len(catalog) == len(reference)
    logits, flags = published_logits(image, catalog, model='legus-2021')
    done = np.isfinite(logits).all(axis=1)
    assert done.mean() > 0.95
    np.testing.assert_allclose(logits[done], reference[done], atol=1e-3)
    assert np.mean(logits[done].argmax(1) == reference[done].argmax(1)) == 1.0


def test_shipped_positions_match_the_catalog():
    # the positions the remote test uses are the catalog's, row for row
    positions = Table.read(HUMAN)
    excerpt = read_legus(EXCERPT)
    rows = positions[EXCERPT_ROWS]
    np.testing.assert_array_equal(rows['id'], excerpt['id'])
    np.testing.assert_allclose(rows['x_catalog'], excerpt['x_catalog'])
    np.testing.assert_allclose(rows['y_catalog'], excerpt['y_catalog'])
    assert len(positions) == len(np.load(SCORES))


def test_nonfinite_output_flagged(tmp_path):
    """Weights with a NaN: the rows are NaN and flagged, never a class."""
    from astropy.table import Table

    from starcnet.cutouts import CutoutFlag

    torch.manual_seed(4)
    module = StarcNet(width=32).eval()
    state = to_published_state_dict(module.state_dict())
    key = next(k for k, v in state.items() if v.dtype.is_floating_point and v.ndim > 1)
    state[key][0].fill_(float('nan'))
    weights = tmp_path / 'nan.pth'
    torch.save(state, weights)
    rng = np.random.default_rng(1)
    image = [rng.normal(0.0, 1.0, (80, 80)).astype(np.float32) for _ in range(5)]
    catalog = Table({'x': [40.0, 2.0], 'y': [40.0, 40.0]})
    logits, flags = published_logits(image, catalog, model=weights)
    assert np.isnan(logits).all()
    assert flags[0] & CutoutFlag.NONFINITE_OUTPUT
    assert flags[0] & CutoutFlag.UNCLASSIFIED
    assert not flags[1] & CutoutFlag.NONFINITE_OUTPUT      # an edge source, not run
