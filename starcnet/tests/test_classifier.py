# Licensed under a 3-clause BSD style license - see LICENSE.rst

import os
import stat

import numpy as np
import pytest
from astropy.coordinates import SkyCoord
from astropy.nddata import NDData
from astropy.table import QTable, Table
from regions import Regions

from starcnet import (CutoutFlag, MultiBandImage, StarClusterClassifier,
                      read_catalog, write_catalog, write_regions)
from starcnet.classifier import OUTPUT_COLUMNS
from starcnet.tests.test_images import make_wcs


@pytest.fixture
def clf(tiny_model_path):
    return StarClusterClassifier(tiny_model_path, device='cpu', batch_size=5)


def test_repr(clf):
    assert repr(clf) == ("<StarClusterClassifier(model='tiny-test', device='cpu', "
                         'batch_size=5, max_bad_fraction=0.5, '
                         "precision='float32', compile=False)>")


def test_output_columns_and_meta(clf, scene):
    bands, sources = scene
    sources['id'] = np.arange(len(sources)) + 1
    cat = clf(bands, sources)
    assert isinstance(cat, QTable)
    assert cat.colnames == ['x', 'y', 'id', *OUTPUT_COLUMNS]
    assert len(cat) == len(sources)
    np.testing.assert_array_equal(cat['id'], sources['id'])
    for k in range(1, 5):
        assert cat[f'prob_class{k}'].dtype == np.float32
    probs = np.column_stack([cat[f'prob_class{k}'].filled(np.nan)
                             for k in range(1, 5)])
    np.testing.assert_allclose(probs.sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(cat['cluster_class'], probs.argmax(axis=1) + 1)
    np.testing.assert_allclose(cat['prob_cluster'], probs[:, 0] + probs[:, 1])
    names = dict(enumerate(cat.meta['starcnet']['class_names'], start=1))
    assert [names[c] for c in cat['cluster_class']] == list(cat['cluster_class_name'])
    assert 'sky_centroid' not in cat.colnames
    meta = cat.meta['starcnet']
    assert meta['model'] == 'tiny-test'
    assert len(meta['model_sha256']) == 64
    for key in ('starcnet_version', 'torch_version', 'astropy_version', 'date'):
        assert meta[key]
    # the input table is not modified
    assert 'cluster_class' not in sources.colnames


def test_matches_predict_proba_on_cutouts(clf, scene):
    from starcnet.cutouts import extract_cutouts
    from starcnet.images import STARCNET_BANDS

    bands, sources = scene
    cat = clf(bands, sources)
    cutouts, _ = extract_cutouts([bands[b] for b in STARCNET_BANDS],
                                 sources['x'], sources['y'])
    np.testing.assert_allclose(clf.predict_proba(cutouts),
                               np.column_stack([cat[f'prob_class{k}'].filled(np.nan)
                                                for k in range(1, 5)]), atol=1e-6)


def test_batch_size_does_not_change_results(tiny_model_path, scene):
    bands, sources = scene
    a = StarClusterClassifier(tiny_model_path, batch_size=1)(bands, sources)
    b = StarClusterClassifier(tiny_model_path, batch_size=1000)(bands, sources)
    np.testing.assert_allclose(a['prob_class3'], b['prob_class3'], atol=1e-6)


def test_temperature_override(tiny_model_path, scene):
    """A given temperature replaces the model's: same classes, logits
    scaled by the ratio, recorded in the catalog's metadata."""
    bands, sources = scene
    base = StarClusterClassifier(tiny_model_path)
    hot = StarClusterClassifier(tiny_model_path, temperature=4.0 * base.temperature)
    assert hot.temperature == pytest.approx(4.0 * base.temperature)
    a, b = base(bands, sources), hot(bands, sources)
    assert np.array_equal(a['cluster_class'], b['cluster_class'])
    pa = np.column_stack([a[f'prob_class{k}'].filled(np.nan) for k in range(1, 5)])
    pb = np.column_stack([b[f'prob_class{k}'].filled(np.nan) for k in range(1, 5)])
    ok = np.isfinite(pa[:, 0])
    assert ok.sum() > 5 and np.array_equal(ok, np.isfinite(pb[:, 0]))
    assert np.all(pb[ok].max(axis=1) < pa[ok].max(axis=1))    # hotter: less confident
    assert b.meta['starcnet']['temperature'] == pytest.approx(hot.temperature)
    with pytest.raises(ValueError, match='temperature'):
        StarClusterClassifier(tiny_model_path, temperature=0)


@pytest.mark.parametrize('names', [('x_centroid', 'y_centroid'),
                                   ('xcentroid', 'ycentroid')])
def test_photutils_column_names(clf, scene, names):
    bands, sources = scene
    ref = clf(bands, sources)
    renamed = Table({names[0]: sources['x'], names[1]: sources['y']})
    cat = clf(bands, renamed)
    np.testing.assert_array_equal(cat['prob_class1'], ref['prob_class1'])
    assert names[0] in cat.colnames


def test_daostarfinder_table(clf, scene):
    from starcnet import find_candidates

    bands, sources = scene
    image = MultiBandImage(bands)
    found = find_candidates(image, 'F555W', fwhm=2.5)
    assert len(found) >= len(sources) - 1
    cat = clf(image, found)
    assert 'x_centroid' in cat.colnames and len(cat) == len(found)


def test_array_positions(clf, scene):
    bands, sources = scene
    ref = clf(bands, sources)
    cat = clf(bands, np.column_stack([sources['x'], sources['y']]))
    np.testing.assert_array_equal(cat['prob_class2'], ref['prob_class2'])


def test_skycoord_positions_need_wcs(clf, scene):
    bands, sources = scene
    wcs = make_wcs()
    image = MultiBandImage({b: NDData(d, wcs=wcs) for b, d in bands.items()})
    ref = clf(image, sources)
    assert isinstance(ref['sky_centroid'], SkyCoord)
    cat = clf(image, ref['sky_centroid'])
    np.testing.assert_allclose(cat['x'], sources['x'], atol=1e-6)
    np.testing.assert_allclose(cat['prob_class1'], ref['prob_class1'], atol=1e-6)
    with pytest.raises(ValueError, match='sources are sky coordinates, but the image has no WCS'):
        clf(bands, ref['sky_centroid'])


def test_missing_position_columns(clf, scene):
    bands, _ = scene
    with pytest.raises(ValueError, match='no position columns.*it has ra, dec'):
        clf(bands, Table({'ra': [1.0], 'dec': [2.0]}))
    with pytest.raises(ValueError, match=r'an \(N, 2\) array'):
        clf(bands, np.zeros((3, 3)))


def test_nonfinite_positions(clf, scene):
    bands, sources = scene
    sources['x'][3] = np.nan
    sources['y'][5] = np.inf
    with pytest.raises(ValueError, match=r'2 source position\(s\) are not finite \(rows 3, 5\)'):
        clf(bands, sources)


def test_empty_sources_give_all_columns(clf, scene):
    bands, _ = scene
    for empty in (Table({'x': [], 'y': []}), None):
        cat = clf(bands, empty)
        assert len(cat) == 0
        assert set(OUTPUT_COLUMNS) <= set(cat.colnames)


def test_nan_source_is_flagged_not_class_1(clf, scene):
    bands, sources = scene
    bands = {b: d.copy() for b, d in bands.items()}
    x0, y0 = int(sources['x'][0]), int(sources['y'][0])
    # NaN over the core, data elsewhere in the cutout: not classified
    # (a band with no data at all over the cutout is MISSING_BAND instead,
    # see test_missing_bands.py)
    bands['F336W'][y0 - 6:y0 + 6, x0 - 6:x0 + 6] = np.nan
    cat = clf(bands, sources)
    assert cat['starcnet_flags'][0] & CutoutFlag.UNCLASSIFIED
    assert not cat['starcnet_flags'][0] & CutoutFlag.MISSING_BAND
    assert cat['starcnet_flags'][0] & CutoutFlag.NONFINITE
    assert cat['cluster_class'].mask[0]
    assert cat['prob_class1'].mask[0] and cat['prob_cluster'].mask[0]
    assert not cat['cluster_class'].mask[1:].any()


def test_edge_source_flagged(clf, scene):
    bands, sources = scene
    sources['x'][0] = 9.2        # padded but classified
    sources['x'][1] = 2.0        # too close: not classified
    sources['x'][2] = 500.0      # outside
    cat = clf(bands, sources)
    assert cat['starcnet_flags'][0] == CutoutFlag.EDGE
    assert not cat['cluster_class'].mask[0]
    assert cat['starcnet_flags'][1] == CutoutFlag.EDGE | CutoutFlag.UNCLASSIFIED
    assert cat['starcnet_flags'][2] & CutoutFlag.OUTSIDE
    assert cat['cluster_class'].mask[1] and cat['cluster_class'].mask[2]


def test_masked_pixels(clf, scene):
    bands, sources = scene
    mask = np.zeros(next(iter(bands.values())).shape, bool)
    x0, y0 = int(sources['x'][4]), int(sources['y'][4])
    mask[y0 + 8, x0 + 8] = True
    cat = clf(MultiBandImage(bands, mask=mask), sources)
    assert cat['starcnet_flags'][4] & CutoutFlag.MASKED
    assert not cat['cluster_class'].mask[4]


def test_bad_arguments(tiny_model_path):
    with pytest.raises(ValueError, match='batch_size must be a positive integer'):
        StarClusterClassifier(tiny_model_path, batch_size=0)
    with pytest.raises(ValueError, match="device must be 'auto'"):
        StarClusterClassifier(tiny_model_path, device='tpu')
    with pytest.raises(ValueError, match='not-a-model'):
        StarClusterClassifier('not-a-model')


def test_cuda_requested_without_gpu(tiny_model_path):
    import torch
    if torch.cuda.is_available():
        pytest.skip('a GPU is present')
    with pytest.raises(RuntimeError, match='torch sees no CUDA GPU'):
        StarClusterClassifier(tiny_model_path, device='cuda')


def test_wrong_cutout_shape(clf):
    with pytest.raises(ValueError, match=r'cutouts must have shape \(N, 5, 32, 32\)'):
        clf.predict_proba(np.zeros((2, 4, 32, 32)))


def test_ecsv_and_regions_round_trip(clf, scene, tmp_path):
    bands, sources = scene
    wcs = make_wcs()
    image = MultiBandImage({b: NDData(d, wcs=wcs) for b, d in bands.items()})
    sources['x'][0] = 2.0   # unclassified row survives the round trip
    cat = clf(image, sources)
    path = tmp_path / 'cat.ecsv'
    write_catalog(cat, path)
    back = read_catalog(path)
    assert back.colnames == cat.colnames
    assert back.meta['starcnet'] == cat.meta['starcnet']
    assert back['cluster_class'].mask[0] and not back['cluster_class'].mask[1:].any()
    np.testing.assert_allclose(back['prob_class4'][1:], cat['prob_class4'][1:])
    assert isinstance(back['sky_centroid'], SkyCoord)
    assert back['sky_centroid'].separation(cat['sky_centroid']).max().arcsec < 1e-6
    # plain astropy reads it too, with the sky position as two columns,
    # and there are no astropy-specific YAML tags that other readers refuse
    plain = QTable.read(path)
    assert 'sky_centroid_ra' in plain.colnames and plain['sky_centroid_dec'].unit == 'deg'
    assert 'SerializedColumn' not in path.read_text()

    for coord in ('pixel', 'sky'):
        reg_path = tmp_path / f'{coord}.reg'
        write_regions(clf.to_regions(cat, coord=coord), reg_path)
        regs = Regions.read(reg_path, format='ds9')
        assert len(regs) == len(cat)
        assert regs[0].visual['edgecolor'] == 'magenta'
        assert regs[0].meta['text'] == '?'
        cls = int(cat['cluster_class'][1])
        assert regs[1].meta['text'].startswith(f'{cls} (')
    # pixel regions are written 1-based
    assert f'circle({cat["x"][1] + 1:.8f}' in (tmp_path / 'pixel.reg').read_text()


def test_outputs_never_overwritten_or_half_written(clf, scene, tmp_path):
    bands, sources = scene
    cat = clf(bands, sources)
    path = tmp_path / 'cat.ecsv'
    path.write_text('precious')
    with pytest.raises(FileExistsError, match='overwrite=True'):
        write_catalog(cat, path)
    assert path.read_text() == 'precious'
    write_catalog(cat, path, overwrite=True)
    assert len(QTable.read(path)) == len(sources)
    # the usual permissions of a new file, not the temporary file's 0600
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o666 & ~umask
    # a writer that fails leaves neither a partial file nor a temporary one
    bad = cat.copy()
    bad.meta['starcnet']['unserialisable'] = object()
    target = tmp_path / 'bad.ecsv'
    import yaml
    with pytest.raises(yaml.YAMLError):
        write_catalog(bad, target)
    assert not target.exists()
    assert sorted(os.listdir(tmp_path)) == ['cat.ecsv']


def test_electrons_are_converted_to_rate(clf, scene):
    from astropy import units as u

    bands, sources = scene
    electrons = MultiBandImage({b: NDData(d * 300, unit=u.electron, meta={'EXPTIME': 300})
                                for b, d in bands.items()})
    ref = clf(bands, sources)
    cat = clf(electrons, sources)
    np.testing.assert_allclose(cat['prob_class1'], ref['prob_class1'], rtol=1e-4, atol=1e-6)
    assert 'EXPTIME' in cat.meta['starcnet']['pixel_units']['F555W']
    # the same numbers taken as e-/s give another answer
    wrong = clf({b: d * 300 for b, d in bands.items()}, sources)
    assert np.abs(wrong['prob_class1'] - ref['prob_class1']).max() > 1e-3
