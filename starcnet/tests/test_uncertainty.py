# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Per-source uncertainty and the out-of-distribution flag through the
classifier, the ECSV and DS9 writers, the command line and the training
loop (issue 10).
"""

import numpy as np
import pytest
from astropy.table import QTable

from starcnet import CutoutFlag, StarClusterClassifier, read_catalog, write_catalog
from starcnet.classifier import OOD_COLUMNS, OUTPUT_COLUMNS, UNCERTAINTY_COLUMNS
from starcnet.cli import main
from starcnet.conftest import save_tiny_model, write_test_scene
from starcnet.images import STARCNET_BANDS
from starcnet.io.ds9 import UNCERTAIN_QUALITY, catalog_to_regions, uncertain_sources
from starcnet.models import uncertainty as unc


def _save_tiny(path, *, dropout=0.5, ood=None, seed=0):
    return save_tiny_model(path, dropout=dropout, seed=seed, name='tiny-ood', ood=ood)


@pytest.fixture
def scene_with_outside(scene):
    bands, sources = scene
    sources = QTable(sources)
    sources.add_row({'x': -50.0, 'y': -50.0})       # outside: not classified
    return bands, sources


def test_off_by_default(tiny_model_path, scene):
    bands, sources = scene
    cat = StarClusterClassifier(tiny_model_path, device='cpu')(bands, sources)
    assert cat.colnames == ['x', 'y', *OUTPUT_COLUMNS]
    assert 'uncertainty' not in cat.meta['starcnet']


def test_mc_dropout_columns(tiny_model_path, scene_with_outside):
    bands, sources = scene_with_outside
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=5,
                                uncertainty='mc_dropout', n_samples=6, seed=2)
    assert "uncertainty='mc_dropout', n_samples=6, seed=2" in repr(clf)
    cat = clf(bands, sources)
    assert cat.colnames == ['x', 'y', *OUTPUT_COLUMNS, *UNCERTAINTY_COLUMNS]
    for name in UNCERTAINTY_COLUMNS:
        assert cat[name].dtype == np.float32
        assert cat[name].info.description
        assert cat[name].unit is None                 # unit-less numbers
        assert cat[name].mask[-1] and not cat[name].mask[:-1].any()
    assert cat['cluster_class'].mask[-1]
    probs = np.column_stack([cat[f'prob_class{k}'].filled(np.nan) for k in range(1, 5)])
    good = ~cat['cluster_class'].mask
    np.testing.assert_allclose(probs[good].sum(axis=1), 1, rtol=1e-5)
    np.testing.assert_array_equal(cat['cluster_class'][good], probs[good].argmax(1) + 1)
    quality = cat['class_quality'][good]
    assert np.all((quality >= 0) & (quality <= 1))
    # the samples differ: dropout is on
    assert cat['prob_std_class1'][good].max() > 0
    assert np.all(cat['mutual_information'][good] >= 0)
    assert np.all(cat['entropy'][good] <= np.log(4) + 1e-6)
    assert cat.meta['starcnet']['uncertainty'] == {'method': 'mc_dropout',
                                                   'n_samples': 6, 'seed': 2}
    # one seed: the same catalog; another seed: other numbers
    again = clf(bands, sources)
    np.testing.assert_array_equal(again['mutual_information'], cat['mutual_information'])
    clf.seed = 3
    other = clf(bands, sources)
    assert not np.array_equal(other['mutual_information'][good],
                              cat['mutual_information'][good])


def test_mc_dropout_arguments(tiny_model_path, tmp_path):
    with pytest.raises(ValueError, match='uncertainty must be None or one of'):
        StarClusterClassifier(tiny_model_path, uncertainty='bootstrap')
    with pytest.raises(ValueError, match='n_samples must be an integer >= 2'):
        StarClusterClassifier(tiny_model_path, uncertainty='mc_dropout', n_samples=1)
    path = _save_tiny(tmp_path / 'nodrop.safetensors', dropout=0.0)
    with pytest.raises(ValueError, match='needs a network with dropout'):
        StarClusterClassifier(path, uncertainty='mc_dropout')
    StarClusterClassifier(path)                       # fine without uncertainty


def test_ood_column_and_flag(tmp_path, scene_with_outside):
    bands, sources = scene_with_outside
    plain = StarClusterClassifier(_save_tiny(tmp_path / 'plain.safetensors'))
    cat = plain(bands, sources)
    assert 'ood_score' not in cat.colnames               # no threshold, no score
    # a threshold in the middle of the scene's scores: some flagged, some not
    from starcnet.cutouts import extract_cutouts

    cutouts, _ = extract_cutouts([bands[b] for b in STARCNET_BANDS], sources['x'][:-1],
                                 sources['y'][:-1])
    scores = unc.energy_score(plain.predict_logits(cutouts))
    ood = unc.fit_ood_threshold(plain, cutouts, quantile=0.5, fitted_on='the scene')
    clf = StarClusterClassifier(_save_tiny(tmp_path / 'ood.safetensors', ood=ood))
    assert clf.model_info.ood == ood
    cat = clf(bands, sources)
    assert cat.colnames == ['x', 'y', *OUTPUT_COLUMNS, *OOD_COLUMNS]
    np.testing.assert_allclose(cat['ood_score'][:-1], scores, rtol=1e-5)
    assert cat['ood_score'].mask[-1]
    flagged = (np.asarray(cat['starcnet_flags']) & CutoutFlag.OUT_OF_DISTRIBUTION) != 0
    np.testing.assert_array_equal(flagged[:-1], scores > ood['threshold'])
    assert 0 < flagged.sum() < len(scores)
    assert not flagged[-1]
    # a warning flag: flagged sources keep their class
    assert not cat['cluster_class'].mask[:-1].any()
    assert cat.meta['starcnet']['ood'] == ood
    assert 'OUT_OF_DISTRIBUTION' in cat['starcnet_flags'].info.description


def test_combined_ood_column_and_flag(tmp_path, scene_with_outside):
    from starcnet.cutouts import extract_cutouts
    from starcnet.simulation import simulate_candidates

    bands, sources = scene_with_outside
    plain = StarClusterClassifier(_save_tiny(tmp_path / 'plain.safetensors'))
    x, labels = simulate_candidates(8, seed=3)
    fitted = unc.fit_ood(plain, x, labels, kind='combined', fitted_on='simulated')
    cutouts, _, missing = extract_cutouts([bands[b] for b in STARCNET_BANDS],
                                          sources['x'][:-1], sources['y'][:-1],
                                          return_missing=True)
    logits, features = plain.predictor.logits(cutouts, missing, return_features=True)
    scores = unc.ood_score(fitted, logits=logits, features=features, cutouts=cutouts,
                           missing=missing)
    assert np.ptp(scores) > 0
    # a threshold in the middle of the scene's scores: some flagged, some not
    ood = {**fitted, 'threshold': float(np.median(scores))}
    clf = StarClusterClassifier(_save_tiny(tmp_path / 'ood.safetensors', ood=ood))
    clf.batch_size = 4                                   # several batches
    cat = clf(bands, sources)
    np.testing.assert_allclose(cat['ood_score'][:-1], scores, rtol=1e-4)
    assert cat['ood_score'].mask[-1]
    flagged = (np.asarray(cat['starcnet_flags']) & CutoutFlag.OUT_OF_DISTRIBUTION) != 0
    np.testing.assert_array_equal(flagged[:-1], np.asarray(cat['ood_score'][:-1])
                                  > ood['threshold'])
    assert 0 < flagged.sum() < len(scores)
    assert not flagged[-1]
    # the catalog records the entry without its matrices
    assert cat.meta['starcnet']['ood'] == unc.ood_summary(ood)
    assert 'features' not in cat.meta['starcnet']['ood']
    assert 'Mahalanobis' in cat['ood_score'].info.description


def test_flag_value():
    assert CutoutFlag.OUT_OF_DISTRIBUTION == 128
    assert CutoutFlag.OUT_OF_DISTRIBUTION not in CutoutFlag.UNCLASSIFIED
    assert CutoutFlag.OFF_CENTRE == 256
    assert CutoutFlag.OFF_CENTRE not in CutoutFlag.UNCLASSIFIED


def test_off_centre_flag(tmp_path, scene_with_outside, capsys):
    from starcnet.cutouts import extract_cutouts
    from starcnet.simulation import simulate_candidates

    bands, sources = scene_with_outside
    n = len(sources) - 1
    # the scene's sources, the same 4 px to the side, and one outside
    shifted = QTable(sources[:-1])
    shifted['x'] = shifted['x'] + 4.0
    both = QTable(sources[:-1])
    for row in shifted:
        both.add_row(row)
    both.add_row(sources[-1])
    plain = StarClusterClassifier(_save_tiny(tmp_path / 'plain.safetensors'))
    x, labels = simulate_candidates(16, seed=3)
    # the 0.9 quantile: of 32 held-out candidates, the 0.99 one is their
    # largest rise, a candidate beside a much brighter star
    ood = unc.fit_ood(plain, x, labels, kind='combined', quantile=0.9,
                      fitted_on='simulated')
    path = _save_tiny(tmp_path / 'ood.safetensors', ood=ood)
    clf = StarClusterClassifier(path)
    clf.batch_size = 5                                   # several batches
    cat = clf(bands, both)
    cutouts, _, missing = extract_cutouts([bands[b] for b in STARCNET_BANDS],
                                          both['x'][:-1], both['y'][:-1],
                                          return_missing=True)
    rise = unc.centre_rise(cutouts, missing)
    flags = np.asarray(cat['starcnet_flags'])
    off = (flags & CutoutFlag.OFF_CENTRE) != 0
    np.testing.assert_array_equal(off[:-1], rise > ood['centre']['threshold'])
    assert not off[-1]                                   # not classified
    # most of the sources at their position are not flagged, most beside it are
    assert off[:n].mean() < 0.3 and off[n:-1].mean() > 0.6
    # the class is kept, and the source goes up the review list
    assert not np.ma.getmaskarray(cat['cluster_class'])[:-1].any()
    plain_priority = unc.review_priority(_probs(cat)[:-1], flags[:-1] & ~CutoutFlag.OFF_CENTRE)
    np.testing.assert_allclose(np.asarray(cat['review_priority'][:-1])[off[:-1]],
                               1 - (1 - plain_priority[off[:-1]]) * 0.5, rtol=1e-5, atol=1e-6)
    assert cat.meta['starcnet']['ood']['centre_threshold'] == ood['centre']['threshold']
    assert 'OFF_CENTRE' in cat['starcnet_flags'].info.description
    # the command line counts them
    args, catalog, _ = write_test_scene(tmp_path)
    assert main(['classify', *args, '--catalog', str(catalog), '--model', str(path),
                 '--output', str(tmp_path / 'o.ecsv')]) == 0
    written = read_catalog(tmp_path / 'o.ecsv')
    n_off = int(np.count_nonzero(np.asarray(written['starcnet_flags'])
                                 & CutoutFlag.OFF_CENTRE))
    assert f'no source at the position (OFF_CENTRE flag): {n_off}' in capsys.readouterr().out
    # an entry without a centre threshold flags nothing and prints no line
    plain_ood = {k: v for k, v in ood.items() if k != 'centre'}
    cat = StarClusterClassifier(_save_tiny(tmp_path / 'old.safetensors', ood=plain_ood))(
        bands, both)
    assert not (np.asarray(cat['starcnet_flags']) & CutoutFlag.OFF_CENTRE).any()


def test_ecsv_round_trip(tiny_model_path, scene_with_outside, tmp_path):
    bands, sources = scene_with_outside
    clf = StarClusterClassifier(tiny_model_path, uncertainty='mc_dropout', n_samples=3)
    cat = clf(bands, sources)
    path = tmp_path / 'c.ecsv'
    write_catalog(cat, path)
    back = read_catalog(path)
    for name in UNCERTAIN_COLUMNS_AND_PROBS:
        assert back[name].info.description == cat[name].info.description
        np.testing.assert_array_equal(back[name].mask, cat[name].mask)
        np.testing.assert_allclose(back[name].filled(0), cat[name].filled(0))
    assert back.meta['starcnet']['uncertainty']['n_samples'] == 3


UNCERTAIN_COLUMNS_AND_PROBS = (*UNCERTAINTY_COLUMNS, 'prob_class1')


def test_ds9_uncertain_sources_dashed(tiny_model_path, scene, tmp_path):
    bands, sources = scene
    cat = StarClusterClassifier(tiny_model_path)(bands, sources)
    assert uncertain_sources(cat) is None
    assert 'dash=1' not in catalog_to_regions(cat).serialize(format='ds9')
    quality = np.linspace(0.2, 1.0, len(cat))
    cat['class_quality'] = np.ma.MaskedArray(quality, mask=np.zeros(len(cat), bool))
    cat['class_quality'].mask[0] = True        # not classified: not "uncertain"
    uncertain = uncertain_sources(cat)
    np.testing.assert_array_equal(uncertain[1:], quality[1:] < UNCERTAIN_QUALITY)
    assert not uncertain[0]
    from starcnet import write_regions

    path = tmp_path / 'r.reg'
    write_regions(catalog_to_regions(cat), path)
    shapes = [line for line in path.read_text().splitlines()
              if line.startswith('circle')]
    assert len(shapes) == len(cat)
    np.testing.assert_array_equal(['dash=1' in line for line in shapes], uncertain)
    assert 0 < uncertain.sum() < len(cat)
    assert 'dash=1' not in catalog_to_regions(cat, dash_uncertain=False).serialize(
        format='ds9')


def test_cli_uncertainty_summary(tmp_path, capsys):
    args, catalog, sources = write_test_scene(tmp_path)
    model = _save_tiny(tmp_path / 'm.safetensors',
                       ood={'kind': 'energy', 'threshold': -1e9, 'quantile': 0.99,
                            'fitted_on': 'nothing: every source is flagged'})
    out = tmp_path / 'out.ecsv'
    regions = tmp_path / 'out.reg'
    assert main(['classify', *args, '--catalog', str(catalog), '--model', str(model),
                 '--output', str(out), '--regions', str(regions),
                 '--uncertainty', 'mc_dropout', '--n-samples', '4']) == 0
    text = capsys.readouterr().out
    cat = read_catalog(out)
    n_uncertain = int(np.count_nonzero(cat['class_quality'] < UNCERTAIN_QUALITY))
    assert f'uncertain (class_quality < 0.6): {n_uncertain}' in text
    assert f'out of distribution (OUT_OF_DISTRIBUTION flag): {len(sources)}' in text
    assert 'confident: 0' in text
    assert cat.meta['starcnet']['uncertainty']['n_samples'] == 4
    assert main(['classify', *args, '--catalog', str(catalog), '--model', str(model),
                 '--output', str(out), '--overwrite', '--n-samples', '1',
                 '--uncertainty', 'mc_dropout']) == 1
    assert 'n_samples must be an integer >= 2' in capsys.readouterr().err


def test_cli_without_uncertainty_prints_no_trust_lines(tmp_path, tiny_model_path, capsys):
    args, catalog, sources = write_test_scene(tmp_path)
    assert main(['classify', *args, '--catalog', str(catalog), '--model',
                 str(tiny_model_path), '--output', str(tmp_path / 'o.ecsv')]) == 0
    assert 'confident' not in capsys.readouterr().out
    # a model with an OOD entry but no sampling: the OOD count, and no
    # claim that the unflagged sources are confident
    model = _save_tiny(tmp_path / 'm.safetensors',
                       ood={'kind': 'energy', 'threshold': -1e9, 'quantile': 0.99,
                            'fitted_on': 'nothing: every source is flagged'})
    assert main(['classify', *args, '--catalog', str(catalog), '--model', str(model),
                 '--output', str(tmp_path / 'p.ecsv')]) == 0
    text = capsys.readouterr().out
    assert f'out of distribution (OUT_OF_DISTRIBUTION flag): {len(sources)}' in text
    assert 'confident:' not in text and 'uncertain (' not in text
    assert 'run with --uncertainty mc_dropout' in text


def test_fit_stores_an_ood_threshold():
    # a validation set of 12: too small for the Mahalanobis score, so the
    # energy threshold is stored
    from starcnet.training import fit

    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, (48, 5, 32, 32)).astype(np.float32)
    labels = np.tile([1, 2, 3, 4], 12)
    norm = {'kind': 'affine', 'offset': [0] * 5, 'scale': [1] * 5}
    result = fit(x, labels, width=8, normalization=norm, epochs=1, batch_size=16,
                 val_fraction=0.25, seed=1)
    ood = result.metadata['ood']
    assert ood['kind'] == 'energy' and ood['quantile'] == 0.99
    assert ood['n_cutouts'] == result.history['n_val']
    # the threshold is the quantile of the calibrated validation scores
    from starcnet.models import Predictor

    predictor = Predictor(result.module, norm,
                          temperature=result.metadata['temperature'])
    val = np.asarray(result.history['val_index'])
    expected = np.quantile(unc.energy_score(predictor.logits(x[val])), 0.99)
    assert ood['threshold'] == pytest.approx(expected, rel=1e-4, abs=1e-4)
    # without a validation set there is none
    assert 'ood' not in fit(x, labels, width=8, normalization=norm, epochs=1,
                            batch_size=16, val_fraction=0, seed=1).metadata


def test_fit_stores_the_combined_score(tmp_path):
    from starcnet.models import Predictor, load_model
    from starcnet.models.schema import check_ood
    from starcnet.training import fit, save_trained

    rng = np.random.default_rng(0)
    x = (0.1 + 0.02 * rng.normal(size=(120, 5, 32, 32))).astype(np.float32)
    x[:, :, 14:18, 14:18] += rng.uniform(0.05, 0.5, (120, 5, 1, 1)).astype(np.float32)
    labels = np.tile([1, 2, 3, 4], 30)
    result = fit(x, labels, width=8, normalization={'kind': 'local'}, epochs=1,
                 batch_size=16, val_fraction=0.5, seed=1)
    ood = result.metadata['ood']
    assert ood['kind'] == 'combined' and ood['quantile'] == 0.99
    assert ood == check_ood(ood, config=result.metadata['config'])
    assert ood['n_cutouts'] == result.history['n_val'] == 60
    # the threshold is the quantile of the held-out half of the validation set
    predictor = Predictor(result.module, {'kind': 'local'})
    val = np.asarray(result.history['val_index'])[1::2]
    logits, features = predictor.logits(x[val], return_features=True)
    score = unc.ood_score(ood, logits=logits, features=features, cutouts=x[val])
    assert ood['threshold'] == pytest.approx(np.quantile(score, 0.99), rel=1e-5)
    # stored with the model and read back
    path = tmp_path / 'trained.safetensors'
    save_trained(result, path)
    assert load_model(path)[1].ood == ood
    # and it sees pixel values in counts
    counts = x[val] * 1000.0
    logits, features = predictor.logits(counts, return_features=True)
    assert unc.ood_flags(unc.ood_score(ood, logits=logits, features=features,
                                       cutouts=counts), ood).all()


# -- the numbers mean something (bundled model, simulated candidates) -------------

@pytest.fixture(scope='module')
def bundled():
    return StarClusterClassifier('sim-small-v2', device='cpu')


def test_mc_dropout_not_constant_nor_random(bundled):
    from starcnet.simulation import simulate_candidates

    x, _ = simulate_candidates(8, seed=11)
    predictor = bundled.predictor
    samples = predictor.sample_proba(x, n_samples=8, seed=0)
    summary = unc.uncertainty_summary(samples)
    # the mean of the samples gives mostly the deterministic class
    agree = summary['mean'].argmax(1) == predictor.proba(x).argmax(1)
    assert agree.mean() >= 0.8
    # pure sky noise, at the level of the candidates' background: the
    # model's own doubt (mutual information) is higher on average
    background = np.median(x, axis=(2, 3))
    sigma = 1.48 * np.median(np.abs(x - background[..., None, None]), axis=(2, 3))
    rng = np.random.default_rng(1)
    noise = (background.mean(0)[None, :, None, None]
             + rng.normal(size=x.shape) * sigma.mean(0)[None, :, None, None])
    noisy = unc.uncertainty_summary(predictor.sample_proba(noise.astype(np.float32),
                                                           n_samples=8, seed=0))
    assert noisy['mutual_information'].mean() > summary['mutual_information'].mean()
    # not constant
    assert np.ptp(summary['mutual_information']) > 0
    assert summary['class_quality'].min() < 1 <= summary['class_quality'].max()


# --- review_priority column ------------------------------------------------------

def _probs(cat):
    return np.column_stack([cat[f'prob_class{k}'].filled(np.nan) for k in range(1, 5)])


@pytest.mark.parametrize('uncertainty', [None, 'mc_dropout'])
def test_review_priority_column(tiny_model_path, scene_with_outside, uncertainty):
    bands, sources = scene_with_outside
    clf = StarClusterClassifier(tiny_model_path, device='cpu', uncertainty=uncertainty,
                                n_samples=4)
    cat = clf(bands, sources)
    column = cat['review_priority']
    assert column.dtype == np.float32 and column.unit is None
    assert 'OUT_OF_DISTRIBUTION' in column.info.description
    assert column.mask[-1] and not column.mask[:-1].any()     # as the class columns
    good = ~column.mask
    flags = np.asarray(cat['starcnet_flags'])
    # of the written probabilities (the MC means with uncertainty on) and flags
    np.testing.assert_allclose(column[good],
                               unc.review_priority(_probs(cat)[good], flags[good]),
                               rtol=1e-5, atol=1e-6)
    assert np.all((column[good] >= 0) & (column[good] <= 1))


def test_review_priority_column_with_ood_flag(tmp_path, scene_with_outside):
    from starcnet.cutouts import extract_cutouts

    bands, sources = scene_with_outside
    plain = StarClusterClassifier(_save_tiny(tmp_path / 'plain.safetensors'))
    cutouts, _ = extract_cutouts([bands[b] for b in STARCNET_BANDS], sources['x'][:-1],
                                 sources['y'][:-1])
    ood = unc.fit_ood_threshold(plain, cutouts, quantile=0.5, fitted_on='the scene')
    cat = StarClusterClassifier(_save_tiny(tmp_path / 'ood.safetensors', ood=ood))(
        bands, sources)
    flags = np.asarray(cat['starcnet_flags'])[:-1]
    flagged = (flags & CutoutFlag.OUT_OF_DISTRIBUTION) != 0
    assert 0 < flagged.sum() < flagged.size
    priority = np.asarray(cat['review_priority'][:-1])
    unflagged = unc.review_priority(_probs(cat)[:-1], flags & ~CutoutFlag.OUT_OF_DISTRIBUTION)
    np.testing.assert_allclose(priority[~flagged], unflagged[~flagged], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(priority[flagged], 1 - (1 - unflagged[flagged]) * 0.5,
                               rtol=1e-5, atol=1e-6)
    assert np.all(priority[flagged] >= 0.5)


def test_input_review_priority_renamed(tiny_model_path, scene):
    from starcnet.exceptions import StarcnetWarning

    bands, sources = scene
    sources = QTable(sources)
    sources['review_priority'] = 1.0
    with pytest.warns(StarcnetWarning, match="'review_priority' -> 'input_review_priority'"):
        cat = StarClusterClassifier(tiny_model_path, device='cpu')(bands, sources)
    assert np.all(cat['input_review_priority'] == 1.0)
    assert not np.all(cat['review_priority'] == 1.0)


def test_bundled_model_ships_a_combined_ood_entry(bundled):
    from starcnet.models import get_model_info
    from starcnet.simulation import simulate_candidates

    ood = get_model_info('sim-small-v2').ood
    assert ood is not None and ood['kind'] == 'combined'
    assert bundled.model_info.ood == ood
    assert len(ood['features']['means'][0]) == bundled.predictor.n_features() == 48
    x, _ = simulate_candidates(8, seed=21)
    predictor = bundled.predictor

    def score(cutouts):
        logits, features = predictor.logits(cutouts, return_features=True)
        return unc.ood_score(ood, logits=logits, features=features, cutouts=cutouts)

    # fresh candidates of the training simulator: few flagged (1% expected)
    assert unc.ood_flags(score(x), ood).sum() <= 3
    # the same in counts (x 1000 s): nearly all; with their bands reversed:
    # scores clearly higher (about half above the threshold)
    assert unc.ood_flags(score(x * 1000.0), ood).mean() >= 0.9
    from starcnet.metrics import auroc
    assert auroc(score(x), score(x[:, ::-1].copy())) > 0.85
