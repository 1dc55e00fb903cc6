# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The Mahalanobis out-of-distribution scores: penultimate features of the
Predictor, input statistics, the distances, `fit_ood`, the schema of the
``ood`` entry and its round trip through weights files and the registry.
"""

import dataclasses

import numpy as np
import pytest
import torch

from starcnet.legus import CLASS_NAMES
from starcnet.models import ModelInfo, Predictor, StarcNet
from starcnet.models import uncertainty as unc
from starcnet.models.schema import MAX_OOD_FEATURES, check_ood, validate_metadata

BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')


def _predictor(width=8, seed=0, **kwargs):
    torch.manual_seed(seed)
    network = StarcNet(width=width).eval()
    return Predictor(network, {'kind': 'local'}, **kwargs)


def _sky(n, seed=0, sigma=0.01, level=0.1):
    rng = np.random.default_rng(seed)
    return (level + sigma * rng.standard_normal((n, 5, 32, 32))).astype(np.float32)


def _with_source(cutouts, x=15.5, y=15.5, flux=5.0, fwhm=2.0):
    yy, xx = np.mgrid[:32, :32]
    s = fwhm / 2.355
    star = np.exp(-0.5 * ((xx - x) ** 2 + (yy - y) ** 2) / s ** 2)
    return (cutouts + flux * star / star.sum()).astype(np.float32)


# -- features of the Predictor ---------------------------------------------------

def test_features_from_the_same_pass():
    predictor = _predictor(temperature=2.0, batch_size=5)
    x = _with_source(_sky(13))
    logits, features = predictor.logits(x, return_features=True)
    assert features.shape == (13, predictor.n_features()) == (13, 24)
    np.testing.assert_array_equal(logits, predictor.logits(x))
    with torch.no_grad():
        head = predictor.network.head(torch.from_numpy(features)).numpy()
    np.testing.assert_allclose(head / 2.0, logits, rtol=1e-5, atol=1e-6)
    # batch size does not change them
    other = _predictor(temperature=2.0, batch_size=64)
    np.testing.assert_allclose(other.logits(x, return_features=True)[1], features,
                               rtol=1e-4, atol=1e-4)
    # zero cutouts
    empty = predictor.logits(np.zeros((0, 5, 32, 32), np.float32), return_features=True)
    assert empty[0].shape == (0, 4) and empty[1].shape == (0, 24)


def test_features_need_a_starcnet():
    predictor = Predictor(torch.nn.Sequential(), {'kind': 'local'})
    with pytest.raises(TypeError, match='StarcNet'):
        predictor.n_features()


# -- input statistics ------------------------------------------------------------

def test_input_statistics_measure_what_they_say():
    names = unc.statistics_names()
    assert len(names) == 13 and names[-3:] == ['centre_ratio', 'concentration',
                                               'log_plateau']
    sky = _sky(40, sigma=0.02)
    stats = unc.input_statistics(sky)
    noise = stats[:, :5]
    np.testing.assert_allclose(noise, np.log10(0.02), atol=0.1)
    assert np.mean(noise) == pytest.approx(np.log10(0.02), abs=0.01)
    # blank sky: S/N about N(0, 1); a source: large
    assert np.abs(stats[:, 5:10]).mean() < 1.5
    bright = unc.input_statistics(_with_source(sky, flux=20.0))
    assert (bright[:, 5:10] > 5).all()
    np.testing.assert_allclose(bright[:, 10], 1.0, atol=0.05)   # at the centre
    shifted = unc.input_statistics(_with_source(sky, x=19.5, flux=20.0))
    assert (shifted[:, 10] < 0.3).all()                          # 4 px off
    wide = unc.input_statistics(_with_source(sky, flux=20.0, fwhm=4.0))
    assert (wide[:, 11] < bright[:, 11]).all()            # less concentrated
    np.testing.assert_array_equal(bright[:, 12], 0.0)     # a unique peak
    # a saturated plateau with a bleed column
    sat = _with_source(sky, flux=200.0)
    sat[:, :, 5:27, 15] = 3.0                              # the bleed column
    sat = np.minimum(sat, 3.0)
    plateau = unc.input_statistics(sat)[:, 12]
    assert (plateau > np.log(20)).all()
    # counts instead of e-/s: the noise statistics move by log10(exptime)
    counts = unc.input_statistics(sky * 1000.0)
    np.testing.assert_allclose(counts[:, :5] - stats[:, :5], 3.0, atol=1e-5)
    np.testing.assert_allclose(counts[:, 5:], stats[:, 5:], atol=1e-4)


def test_input_statistics_missing_and_constant_bands():
    sky = _with_source(_sky(4), flux=20.0)
    missing = np.zeros((4, 5), bool)
    missing[0, 1] = True
    sky[2, 3] = 0.0                                   # outside a footprint
    stats = unc.input_statistics(sky, missing)
    assert np.isnan(stats[0, [1, 6]]).all() and np.isfinite(stats[0, [0, 2, 5, 7]]).all()
    assert np.isnan(stats[2, [3, 8]]).all()
    assert np.isfinite(stats[:, 10:]).all()
    allgone = unc.input_statistics(sky[:1], np.ones((1, 5), bool))
    assert np.isnan(allgone).all()
    with pytest.raises(ValueError, match='shape'):
        unc.input_statistics(sky[:, :, :16])
    with pytest.raises(ValueError, match='missing'):
        unc.input_statistics(sky, missing[:2])


def test_centre_rise_sees_a_cutout_centred_beside_a_source():
    sky = _sky(30, sigma=0.02)
    centred = unc.centre_rise(_with_source(sky, flux=20.0))
    assert (centred < 0).all()                       # a local maximum at the centre
    beside = unc.centre_rise(_with_source(sky, x=19.5, flux=20.0))
    assert (beside > 3).all()                        # the light only rises outwards
    # brighter sources rise more steeply
    brighter = unc.centre_rise(_with_source(sky, x=19.5, flux=80.0))
    assert (brighter > beside).all()
    # a faint candidate at the centre beside a star 5 px away, 16 times
    # brighter, still has its own peak: not off-centre (the centre ratio
    # of input_statistics calls it so)
    pair = _with_source(_with_source(sky, flux=5.0), x=20.5, flux=80.0)
    assert (unc.centre_rise(pair) < 0.1).all()
    assert (unc.input_statistics(pair)[:, 10] < 0.3).all()
    # missing bands are left out; none at all gives NaN
    missing = np.zeros((30, 5), bool)
    missing[:, :2] = True
    noisy = _with_source(sky, x=19.5, flux=20.0)
    noisy[:, :2] = np.nan
    assert (unc.centre_rise(noisy, missing) > 3).all()
    assert np.isnan(unc.centre_rise(sky[:2], np.ones((2, 5), bool))).all()
    with pytest.raises(ValueError, match='shape'):
        unc.centre_rise(sky[0])


def test_tail_log_probability():
    q, grid = unc.EVIDENCE_QUANTILES, np.arange(1.0, 9.0)
    v = np.array([-5.0, 1.0, 3.5, 8.0, 9.0, 12.0, np.nan])
    linear = unc.tail_log_probability(v, q, grid)
    halfway = (-np.log(1 - 0.7) - np.log(1 - 0.8)) / 2      # 3.5: between 3 and 4
    np.testing.assert_allclose(linear[:4], [np.log(2), np.log(2), halfway, -np.log(0.01)])
    assert np.isnan(linear[-1])
    assert np.all(np.diff(linear[1:-1]) > 0)
    # beyond the grid: through the 0.9 and 0.99 points (5 and 8), linear in v
    # or in v**2
    slope = np.log(10) / 3
    np.testing.assert_allclose(linear[4:6], -np.log(0.01) + slope * np.array([1, 4]))
    quadratic = unc.tail_log_probability(v, q, grid, tail='quadratic')
    np.testing.assert_allclose(quadratic[:4], linear[:4])
    slope2 = np.log(10) / (64 - 25)
    np.testing.assert_allclose(quadratic[4:6],
                               -np.log(0.01) + slope2 * np.array([81 - 64, 144 - 64]))
    with pytest.raises(ValueError, match='tail'):
        unc.tail_log_probability(v, q, grid, tail='cubic')


# -- the distances ----------------------------------------------------------------

def test_mahalanobis_features_is_the_minimum_over_classes():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(6, 6))
    precision = a @ a.T + np.eye(6)
    means = rng.normal(size=(3, 6))
    f = rng.normal(size=(20, 6))
    f[4] = np.nan
    d = unc.mahalanobis_features(f, means, precision)
    for i in range(20):
        if i == 4:
            assert np.isnan(d[i])
            continue
        brute = min(np.sqrt((f[i] - m) @ precision @ (f[i] - m)) for m in means)
        assert d[i] == pytest.approx(brute, rel=1e-9)
    assert unc.mahalanobis_features(means[1:2], means, precision)[0] == pytest.approx(
        0.0, abs=1e-6)
    with pytest.raises(ValueError, match='do not match'):
        unc.mahalanobis_features(f[:, :5], means, precision)


def test_mahalanobis_statistics_marginalises_missing_entries():
    rng = np.random.default_rng(3)
    a = rng.normal(size=(5, 5))
    cov = a @ a.T + np.eye(5)
    mean = rng.normal(size=5)
    s = rng.normal(size=(10, 5))
    s[2, 1] = np.nan
    s[3, [0, 4]] = np.nan
    s[5] = np.nan
    d = unc.mahalanobis_statistics(s, mean, cov)
    for i in range(10):
        keep = np.isfinite(s[i])
        if not keep.any():
            assert np.isnan(d[i])
            continue
        delta = s[i, keep] - mean[keep]
        brute = np.sqrt(delta @ np.linalg.inv(cov[np.ix_(keep, keep)]) @ delta)
        assert d[i] == pytest.approx(brute, rel=1e-9)


# -- fit_ood ---------------------------------------------------------------------

@pytest.fixture(scope='module')
def fixture_sets():
    """In-distribution: sky with a source at the centre; and shifted sets."""
    rng = np.random.default_rng(5)
    n = 120
    sky = _sky(n, seed=6, sigma=0.02)
    x = np.stack([_with_source(sky[i:i + 1], x=15 + rng.uniform(0, 1),
                               y=15 + rng.uniform(0, 1), flux=rng.uniform(5, 20))[0]
                  for i in range(n)])
    labels = rng.integers(1, 5, n)
    return x, labels


def test_fit_ood_entries_and_their_thresholds(fixture_sets):
    x, labels = fixture_sets
    predictor = _predictor()
    for kind in ('mahalanobis', 'input_statistics', 'combined'):
        ood = unc.fit_ood(predictor, x, labels, kind=kind, quantile=0.9,
                          fitted_on='fixture')
        assert ood == check_ood(ood, config=predictor.network.config)
        assert ood['kind'] == kind and ood['n_cutouts'] == len(x)
        logits, features = predictor.logits(x, return_features=True)
        score = unc.ood_score(ood, logits=logits, features=features, cutouts=x)
        # the threshold is the quantile of the held-out (odd-numbered) cutouts
        assert ood['threshold'] == pytest.approx(np.quantile(score[1::2], 0.9), rel=1e-6)
        assert np.mean(unc.ood_flags(score[1::2], ood)) == pytest.approx(0.1, abs=0.02)
    assert len(ood['features']['means']) == 4
    assert ood['inputs']['statistics'] == unc.statistics_names()
    assert ood['features']['scale'] > 0 and ood['inputs']['scale'] > 0
    # without labels: the model's own classes
    own = unc.fit_ood(predictor, x, kind='mahalanobis')
    classes = np.unique(predictor.logits(x)[0::2].argmax(1))
    assert len(own['features']['means']) == len(classes)


def test_centre_threshold_flags_cutouts_off_their_source(fixture_sets):
    from starcnet.metrics import auroc

    x, labels = fixture_sets
    predictor = _predictor()
    ood = unc.fit_ood(predictor, x, labels, kind='combined', quantile=0.9)
    # the quantile of all the cutouts' rise (no moments to hold out from)
    rise = unc.centre_rise(x)
    assert ood['centre']['threshold'] == pytest.approx(np.quantile(rise, 0.9), rel=1e-6)
    logits, features = predictor.logits(x, return_features=True)
    score, same = unc.ood_score(ood, logits=logits, features=features, cutouts=x,
                                return_rise=True)
    np.testing.assert_array_equal(same, rise)
    np.testing.assert_array_equal(
        score, unc.ood_score(ood, logits=logits, features=features, cutouts=x))
    assert np.mean(unc.off_centre_flags(rise, ood)) == pytest.approx(0.1, abs=0.01)
    # the same sources 4 px off the centre: flagged, the centred ones mostly not
    off = np.roll(x, 4, axis=3)
    rise_off = unc.centre_rise(off)
    assert auroc(rise, rise_off) > 0.95
    assert np.mean(unc.off_centre_flags(rise_off, ood)) > 0.8
    # NaN (no usable band) is not flagged, nor is anything without a centre entry
    assert not unc.off_centre_flags([np.nan], ood).any()
    plain = {k: v for k, v in ood.items() if k != 'centre'}
    assert not unc.off_centre_flags(rise_off, plain).any()
    assert unc.ood_summary(ood)['centre_threshold'] == ood['centre']['threshold']
    # only the combined kind has one
    assert 'centre' not in unc.fit_ood(predictor, x, labels, kind='input_statistics')
    with pytest.raises(ValueError, match="needs \\['cutouts'\\]"):
        unc.ood_score(ood, logits=logits, features=features, return_rise=True)


def test_combined_score_rises_for_shifted_inputs(fixture_sets):
    from starcnet.metrics import auroc

    x, labels = fixture_sets
    predictor = _predictor()
    ood = unc.fit_ood(predictor, x[:80], labels[:80], kind='combined')
    test = x[80:]

    def score(cutouts):
        logits, features = predictor.logits(cutouts, return_features=True)
        return unc.ood_score(ood, logits=logits, features=features, cutouts=cutouts)

    s_in = score(test)
    for shifted in (test * 1000.0,                      # counts
                    _sky(40, seed=9, sigma=0.02),       # blank sky
                    np.roll(test, 5, axis=3)):          # off-centre
        s_out = score(shifted)
        assert auroc(s_in, s_out) > 0.9
        assert np.median(s_out) > ood['threshold'] > np.median(s_in)


@pytest.mark.parametrize('rule', unc.EVIDENCE_RULES)
def test_evidence_score_joins_the_tail_log_probabilities(fixture_sets, rule):
    x, labels = fixture_sets
    predictor = _predictor()
    ood = unc.fit_ood(predictor, x[:80], labels[:80], kind='combined', evidence=rule)
    largest = unc.fit_ood(predictor, x[:80], labels[:80], kind='combined')
    assert 'evidence' not in largest
    assert {k: v for k, v in ood.items() if k not in ('evidence', 'threshold')} == {
        k: v for k, v in largest.items() if k != 'threshold'}
    evidence = ood['evidence']
    assert evidence['rule'] == rule
    assert evidence['quantiles'] == list(unc.EVIDENCE_QUANTILES)
    test = x[80:]
    logits, features = predictor.logits(test, return_features=True)
    parts = {'features': unc.mahalanobis_features(features, ood['features']['means'],
                                                  ood['features']['precision']),
             'inputs': unc.mahalanobis_statistics(unc.input_statistics(test),
                                                  ood['inputs']['mean'],
                                                  ood['inputs']['covariance']),
             'centre_rise': unc.centre_rise(test)}
    each = [unc.tail_log_probability(parts[p], evidence['quantiles'], evidence[p],
                                     unc.EVIDENCE_TAILS[p]) for p in parts]
    joined = np.maximum.reduce(each) if rule == 'rarest' else sum(each)
    score = unc.ood_score(ood, logits=logits, features=features, cutouts=test)
    np.testing.assert_allclose(score, joined / evidence['scale'])
    # the scale is the quantile of the held-out (odd-numbered) cutouts' joined
    # evidence, so the threshold of the score is about 1
    assert 0.5 < ood['threshold'] < 2
    # without evidence: the larger part
    old = unc.ood_score(largest, logits=logits, features=features, cutouts=test)
    np.testing.assert_allclose(old, np.maximum(parts['features'] / largest['features']['scale'],
                                               parts['inputs'] / largest['inputs']['scale']))
    # a non-finite row stays NaN
    logits[0] = np.nan
    features[0] = np.nan
    assert np.isnan(unc.ood_score(ood, logits=logits, features=features, cutouts=test)[0])
    summary = unc.ood_summary(ood)
    assert (summary['evidence_rule'], summary['evidence_scale']) == (rule, evidence['scale'])


def test_fit_ood_errors(fixture_sets):
    x, labels = fixture_sets
    predictor = _predictor()
    with pytest.raises(ValueError, match='kind'):
        unc.fit_ood(predictor, x, kind='knn')
    with pytest.raises(ValueError, match='quantile'):
        unc.fit_ood(predictor, x, quantile=0)
    with pytest.raises(ValueError, match="evidence='rarest' needs kind='combined'"):
        unc.fit_ood(predictor, x, kind='mahalanobis', evidence='rarest')
    with pytest.raises(ValueError, match="evidence must be None or one of"):
        unc.fit_ood(predictor, x, evidence=True)
    with pytest.raises(ValueError, match='at least 4'):
        unc.fit_ood(predictor, x[:3], kind='mahalanobis')
    with pytest.raises(ValueError, match='more than 13'):
        unc.fit_ood(predictor, x[:20], kind='input_statistics')
    with pytest.raises(ValueError, match='one class per cutout'):
        unc.fit_ood(predictor, x, labels[:5])
    with pytest.raises(TypeError, match='Predictor'):
        unc.fit_ood(object(), x)
    with pytest.raises(ValueError, match='needs'):
        unc.ood_score({'kind': 'combined'}, logits=np.zeros((1, 4)))
    # energy is still there, and a missing kind reads as energy
    energy = unc.fit_ood(predictor, x, kind='energy', quantile=0.5)
    assert energy == unc.fit_ood_threshold(predictor, x, quantile=0.5)
    plain = {k: v for k, v in energy.items() if k != 'kind'}
    assert check_ood(plain)['kind'] == 'energy'
    logits = predictor.logits(x)
    np.testing.assert_array_equal(unc.ood_score(plain, logits=logits),
                                  unc.energy_score(logits))


# -- the metadata entry -------------------------------------------------------------

@pytest.fixture(scope='module')
def combined(fixture_sets):
    x, labels = fixture_sets
    return unc.fit_ood(_predictor(), x, labels, kind='combined', fitted_on='fixture',
                       evidence='rarest')


def _info(**kwargs):
    fields = dict(name='m', description='d', kind='file', filename='m.safetensors',
                  config=dict(StarcNet(width=8).config), bands=BANDS,
                  normalization={'kind': 'local'}, classes=dict(CLASS_NAMES))
    fields.update(kwargs)
    return ModelInfo(**fields)


def test_bad_entries_are_refused_clearly(combined):
    config = StarcNet(width=8).config
    evidence = combined['evidence']
    late = (0.6, 0.7, 0.8, 0.9, 0.95, 0.97, 0.98, 0.99)      # not from the median
    features, inputs = combined['features'], combined['inputs']
    asymmetric = np.array(features['precision'])
    asymmetric[0, 1] += 1.0
    negative = -np.eye(24)
    cases = [
        ({**combined, 'features': {**features, 'precision': asymmetric.tolist()}},
         'symmetric'),
        ({**combined, 'features': {**features, 'precision': negative.tolist()}},
         'positive definite'),
        ({**combined, 'features': {**features, 'means': [[0.0] * 24] * 5}}, 'at most 4'),
        ({**combined, 'features': {**features, 'means': [[0.0] * 23]}}, '24'),
        ({**combined, 'features': {**features, 'means': [[float('nan')] * 24]}},
         'finite numbers'),
        ({**combined, 'features': {k: v for k, v in features.items() if k != 'scale'}},
         'scale'),
        ({**combined, 'features': {**features, 'scale': 0}}, 'scale'),
        ({**combined, 'inputs': {**inputs, 'statistics': ['a'] * 13}}, 'input statistics'),
        ({**combined, 'inputs': {**inputs, 'mean': inputs['mean'][:5]}}, 'mean'),
        ({**combined, 'inputs': 'x'}, 'must be a dict'),
        ({k: v for k, v in combined.items() if k != 'inputs'}, "lacks \\['inputs'\\]"),
        ({**combined, 'kind': 'mahalanobis'},
         "unknown keys \\['centre', 'evidence', 'inputs'\\]"),
        ({**combined, 'centre': {'threshold': float('nan')}}, 'centre threshold'),
        ({**combined, 'centre': {'threshold': 1.0, 'quantile': 0.99}},
         "centre must be a dict {'threshold': float}"),
        ({**combined, 'centre': 2.0}, 'centre must be a dict'),
        ({**combined, 'evidence': {**evidence, 'scale': -1.0}}, 'evidence scale'),
        ({**combined, 'evidence': {**evidence, 'quantiles': list(late)}}, 'from 0.5'),
        ({**combined, 'evidence': {**evidence, 'inputs': evidence['inputs'][::-1]}},
         'inputs must rise'),
        ({**combined, 'evidence': {**evidence, 'features': [-1.0] + evidence['features'][1:]}},
         'from above 0'),
        ({**combined, 'evidence': {**evidence, 'centre_rise': evidence['centre_rise'][:3]}},
         'centre_rise must be a 8'),
        ({**combined, 'evidence': {k: v for k, v in evidence.items() if k != 'scale'}},
         'keys'),
        ({**combined, 'evidence': {**evidence, 'rule': 'mean'}}, "rule must be one of"),
    ]
    for bad, match in cases:
        with pytest.raises(ValueError, match=match):
            check_ood(bad, 'here', config=config)
    # the network size bounds the entry
    big = StarcNet(width=176, groups=8).config          # 528 features
    assert 3 * big['width'] > MAX_OOD_FEATURES
    huge = {'means': [[0.0] * 528], 'precision': np.eye(528).tolist()}
    with pytest.raises(ValueError, match=f'at most {MAX_OOD_FEATURES}'):
        check_ood({'kind': 'mahalanobis', 'threshold': 1.0, 'quantile': 0.99,
                   'fitted_on': '', 'features': huge}, 'here', config=big)
    # checked against the network of the model
    # (the width-8 entry's 24 features, where the width-16 network has 48)
    with pytest.raises(ValueError, match="ModelInfo 'm'.* x 48 list.*of shape 4 x 24$"):
        _info(config=dict(StarcNet(width=16).config), ood=combined)


def test_entry_saved_and_loaded(tmp_path, combined, fixture_sets):
    from starcnet.models import load_model, save_model

    torch.manual_seed(0)
    module = StarcNet(width=8).eval()
    path = tmp_path / 'm.safetensors'
    save_model(module, path, _info(ood=combined).to_metadata())
    network, info = load_model(path)
    assert info.ood == combined
    x = fixture_sets[0][:10]
    before = Predictor(module, {'kind': 'local'}).logits(x, return_features=True)
    after = Predictor(network, {'kind': 'local'}).logits(x, return_features=True)
    np.testing.assert_array_equal(
        unc.ood_score(combined, logits=before[0], features=before[1], cutouts=x),
        unc.ood_score(info.ood, logits=after[0], features=after[1], cutouts=x))
    meta = _info().to_metadata()
    with pytest.raises(ValueError, match='metadata "ood" features'):
        validate_metadata({**meta, 'ood': {**combined, 'features': {}}}, 'f')


def test_registry_entry_supplies_ood_of_a_bundled_file(tmp_path, combined):
    from starcnet.models import registry, save_model

    torch.manual_seed(0)
    module = StarcNet(width=8).eval()
    path = tmp_path / 'b.safetensors'
    save_model(module, path, _info().to_metadata())          # no ood in the file
    entry = ModelInfo(name='b', description='bundled', kind='bundled',
                      filename='b.safetensors', ood=combined)
    from starcnet.models.weights import read_metadata
    info = registry._from_file(entry, read_metadata(path), source=str(path),
                               sha256=None, size=None)
    assert info.ood == combined
    # the file's own entry wins
    energy = {'kind': 'energy', 'threshold': -1.0, 'quantile': 0.99, 'fitted_on': 'x'}
    save_model(module, path, _info(ood=energy).to_metadata(), overwrite=True)
    info = registry._from_file(entry, read_metadata(path), source=str(path),
                               sha256=None, size=None)
    assert info.ood == energy
    # an entry that does not fit the file's network
    wide = dataclasses.replace(entry, ood={**combined, 'features': {
        **combined['features'], 'means': [[0.0] * 48],
        'precision': np.eye(48).tolist()}})
    save_model(module, path, _info().to_metadata(), overwrite=True)
    with pytest.raises(ValueError, match="registry entry of 'b' does not fit"):
        registry._from_file(wide, read_metadata(path), source=str(path),
                            sha256=None, size=None)
