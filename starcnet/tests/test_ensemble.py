# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Deep ensembles (issue 10): the network, its file, the inference path,
the classifier's columns, the command line and `fit_ensemble`.
"""

import numpy as np
import pytest
import torch

from starcnet import StarClusterClassifier, read_catalog
from starcnet.classifier import OUTPUT_COLUMNS, UNCERTAINTY_COLUMNS
from starcnet.cli import main
from starcnet.conftest import save_tiny_model, write_test_scene
from starcnet.models import StarcNet, StarcNetEnsemble, load_model
from starcnet.models.inference import Predictor, softmax
from starcnet.models.schema import check_config

NORM = {'kind': 'asinh', 'offset': [0.0] * 5, 'scale': [0.1] * 5}


@pytest.fixture(scope='module')
def ensemble_path(tmp_path_factory):
    path = tmp_path_factory.mktemp('ensemble') / 'ens.safetensors'
    return save_tiny_model(path, members=3, seed=10, name='tiny-ensemble')


@pytest.fixture(scope='module')
def batch():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 0.05, (40, 5, 32, 32)).astype(np.float32)
    x[:, :, 14:18, 14:18] += rng.uniform(0, 3, (40, 5, 1, 1)).astype(np.float32)
    return x


def _members(seed=10, n=3):
    nets = []
    with torch.random.fork_rng():
        for k in range(n):
            torch.manual_seed(seed + k)
            nets.append(StarcNet(width=8).eval())
    return nets


def test_one_pass_is_the_members(batch):
    nets = _members()
    ensemble = StarcNetEnsemble.from_networks(nets)
    assert ensemble.config == {**nets[0].config, 'members': 3}
    predictor = Predictor(ensemble, NORM, temperature=1.7, batch_size=16)
    members = predictor.member_logits(batch)
    alone = np.stack([Predictor(n, NORM, temperature=1.7).logits(batch) for n in nets])
    assert members.shape == (3, 40, 4)
    np.testing.assert_allclose(members, alone, rtol=1e-5, atol=1e-6)
    # the ensemble's probability is the mean of the members' (temperature
    # applied to each member), and its features are theirs side by side
    logits, features = predictor.logits(batch, return_features=True)
    np.testing.assert_allclose(softmax(logits), softmax(alone.reshape(-1, 4)).reshape(
        alone.shape).mean(axis=0), atol=1e-6)
    assert features.shape == (40, 3 * nets[0].n_features) == (40, predictor.n_features())
    # the members differ, so the mean is not any one of them
    assert np.abs(alone[0] - alone[1]).max() > 1e-3


def test_from_networks_checks():
    with pytest.raises(ValueError, match='same configuration'):
        StarcNetEnsemble.from_networks([StarcNet(width=8), StarcNet(width=12)])
    with pytest.raises(TypeError, match='one or more StarcNet'):
        StarcNetEnsemble.from_networks([])
    with pytest.raises(ValueError, match='members must be an integer from 1 to 16'):
        StarcNetEnsemble(members=0, width=8)


def test_config_members_checked():
    check_config({'width': 8, 'members': 3})
    for bad in (0, 17, 2.5, True):
        with pytest.raises(ValueError, match='members'):
            check_config({'width': 8, 'members': bad})


def test_file_round_trip(ensemble_path, batch):
    network, info = load_model(ensemble_path)
    assert isinstance(network, StarcNetEnsemble)
    assert info.config['members'] == 3 and network.n_members == 3
    nets = _members()
    expected = Predictor.combine_members(
        np.stack([Predictor(n, NORM).logits(batch) for n in nets]))
    np.testing.assert_allclose(Predictor(network, NORM).logits(batch), expected,
                               rtol=1e-5, atol=1e-6)


def test_mc_dropout_of_an_ensemble(ensemble_path, batch):
    # each sample is the members' mean with dropout on in every member
    predictor = Predictor.from_model(ensemble_path)
    samples = predictor.sample_logits(batch, n_samples=4, seed=1)
    assert samples.shape == (4, 40, 4)
    assert np.abs(samples[0] - samples[1]).max() > 1e-4
    with torch.random.fork_rng():
        ensemble, _ = load_model(ensemble_path)
        for member in ensemble.members:
            member.branches['full'].dropout.p = 0.0
            member.branches['middle'].dropout.p = 0.0
            member.branches['small'].dropout.p = 1e-12
    quiet = Predictor(ensemble, NORM)
    # negligible dropout: every sample is the ensemble's plain output
    np.testing.assert_allclose(quiet.sample_logits(batch, n_samples=2)[1],
                               quiet.logits(batch), rtol=1e-4, atol=1e-5)
    clf = StarClusterClassifier(ensemble_path, uncertainty='mc_dropout', n_samples=3)
    assert clf.uncertainty == 'mc_dropout' and clf.n_samples == 3


def test_ensemble_needs_an_ensemble(tiny_model_path):
    with pytest.raises(ValueError, match="needs a deep ensemble model"):
        StarClusterClassifier(tiny_model_path, uncertainty='ensemble')


def test_classifier_columns_from_the_members(ensemble_path, scene):
    bands, sources = scene
    clf = StarClusterClassifier(ensemble_path, device='cpu', batch_size=5)
    assert clf.uncertainty == 'ensemble' and clf.n_samples == 3
    cat = clf(bands, sources)
    assert cat.colnames == ['x', 'y', *OUTPUT_COLUMNS, *UNCERTAINTY_COLUMNS]
    assert cat.meta['starcnet']['uncertainty']['method'] == 'ensemble'
    assert 'ensemble members' in cat['class_quality'].info.description
    # class_quality is the fraction of members whose own class is the
    # catalog's class, worked out here from the members themselves
    from starcnet.cutouts import extract_cutouts
    cutouts, _ = extract_cutouts([bands[b] for b in clf.bands], np.asarray(sources["x"]),
                                 np.asarray(sources['y']))
    members = Predictor.from_model(ensemble_path).member_logits(cutouts)
    own = members.argmax(axis=2) + 1
    expected = (own == np.asarray(cat['cluster_class'])[None]).mean(axis=0)
    np.testing.assert_allclose(cat['class_quality'], expected)
    proba = softmax(members.reshape(-1, 4)).reshape(members.shape)
    np.testing.assert_allclose(cat['prob_std_class2'], proba[..., 1].std(axis=0),
                               atol=1e-6)
    np.testing.assert_allclose(cat['prob_class3'], proba[..., 2].mean(axis=0), atol=1e-6)
    # not constant: the members disagree on some sources
    assert np.ptp(np.asarray(cat['mutual_information'])) > 0


def test_cli_ensemble(ensemble_path, tiny_model_path, tmp_path, capsys):
    tiny = tiny_model_path
    args, catalog, _ = write_test_scene(tmp_path)
    out = tmp_path / 'out.ecsv'
    assert main(['classify', *args, '--catalog', str(catalog),
                 '--model', str(ensemble_path), '--output', str(out)]) == 0
    cat = read_catalog(out)
    assert set(UNCERTAINTY_COLUMNS) <= set(cat.colnames)
    printed = capsys.readouterr().out
    assert 'confident:' in printed and 'run with --uncertainty' not in printed
    # --uncertainty ensemble with a single network: a clear error, no file
    assert main(['classify', *args, '--catalog', str(catalog),
                 '--model', str(tiny), '--output', str(tmp_path / 'o2.ecsv'),
                 '--uncertainty', 'ensemble']) != 0
    assert 'needs a deep ensemble model' in capsys.readouterr().err
    assert not (tmp_path / 'o2.ecsv').exists()


def test_fit_ensemble(tmp_path):
    from starcnet.simulation import simulate_candidates
    from starcnet.training import fit_ensemble, fit_temperature, save_trained

    x, y = simulate_candidates(16, seed=1)
    val = simulate_candidates(8, seed=2)
    result = fit_ensemble(x, y, validation=val, n_members=2, width=8, epochs=1,
                          batch_size=32, seed=5)
    training = result.metadata['training']
    assert [m['seed'] for m in training['members']] == [5, 6]
    assert result.metadata['config']['members'] == 2
    predictor = Predictor(result.module, result.metadata['normalization'])
    members = predictor.member_logits(val[0])
    assert result.metadata['temperature'] == pytest.approx(fit_temperature(members, val[1]))
    assert result.metadata['ood']['kind'] == 'combined'
    assert len(result.metadata['ood']['features']['means'][0]) == predictor.n_features()
    path = save_trained(result, tmp_path / 'ens.safetensors', name='ens')
    clf = StarClusterClassifier(path)
    assert clf.uncertainty == 'ensemble' and clf.temperature == result.metadata['temperature']
    # the members were trained from different seeds: they differ
    assert np.abs(members[0] - members[1]).max() > 1e-3
    # its first member as a model of its own, calibrated alone
    from starcnet.training import member_of
    first = member_of(result, 0, val)
    assert 'members' not in first.metadata['config']
    assert first.metadata['training']['seed'] == 5
    alone = Predictor(first.module, first.metadata['normalization']).logits(val[0])
    np.testing.assert_allclose(alone, members[0], rtol=1e-5, atol=1e-5)
    assert first.metadata['temperature'] == pytest.approx(fit_temperature(alone, val[1]))
    assert first.metadata['ood']['kind'] == 'combined'
    with pytest.raises(ValueError, match='has no member 2'):
        member_of(result, 2, val)
    with pytest.raises(ValueError, match='fixed validation set'):
        fit_ensemble(x, y, validation=None, n_members=2, width=8, epochs=1)
    with pytest.raises(ValueError, match='n_members must be an integer from 2'):
        fit_ensemble(x, y, validation=val, n_members=1, width=8, epochs=1)


def test_fit_temperature_of_members():
    from starcnet.training import fit_temperature

    rng = np.random.default_rng(1)
    y = rng.integers(1, 5, 2000)
    z = rng.normal(size=(2000, 4))
    z[np.arange(2000), y - 1] += 1.5
    z *= 3
    # one member is a single network; identical members change nothing
    single = fit_temperature(z, y)
    assert fit_temperature(z[None], y) == pytest.approx(single)
    assert fit_temperature(np.stack([z, z]), y) == pytest.approx(single)
    # disagreeing members: the mean is already softer, but still over-
    # confident here; the temperature is that of the mean, not of a member
    other = z + 3 * rng.normal(size=z.shape)
    t = fit_temperature(np.stack([z, other]), y)

    def nll(temperature):
        logits = Predictor.combine_members(np.stack([z, other]) / temperature)
        lp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
        return -lp[np.arange(2000), y - 1].mean()

    assert nll(t) <= min(nll(t * 0.9), nll(t * 1.1), nll(single))


def test_no_energy_score_for_an_ensemble(batch, caplog):
    # the ensemble's logits are log mean probabilities: their energy
    # (-logsumexp) is 0 for every cutout, so it cannot be an OOD score
    from starcnet.models.uncertainty import energy_score, fit_ood
    from starcnet.training.loop import _fit_ood

    predictor = Predictor(StarcNetEnsemble.from_networks(_members()), NORM)
    np.testing.assert_allclose(energy_score(predictor.logits(batch)), 0, atol=1e-5)
    with pytest.raises(ValueError, match="kind='energy' does not apply to a deep ensemble"):
        fit_ood(predictor, batch, kind='energy')
    assert fit_ood(predictor, batch, kind='input_statistics')['kind'] == 'input_statistics'
    # too few cutouts for the Mahalanobis score: no entry, rather than a
    # constant energy threshold
    with caplog.at_level('INFO', logger='starcnet'):
        assert _fit_ood(predictor, batch[:6], np.arange(6) % 4 + 1, 1.0) is None
    assert 'no energy score for an ensemble' in caplog.text
    # a single network still gets its energy threshold there
    single = Predictor(_members(n=1)[0], NORM)
    assert _fit_ood(single, batch[:6], np.arange(6) % 4 + 1, 1.0)['kind'] == 'energy'
