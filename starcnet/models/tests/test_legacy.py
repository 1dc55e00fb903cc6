# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""Tests of the published-checkpoint key mapping."""

import pytest
import torch

from starcnet.models import StarcNet, convert_published_state_dict, to_published_state_dict

from .test_network import make_published_state_dict


@pytest.fixture(scope='module')
def published():
    return make_published_state_dict(width=16, seed=3)


def test_key_mapping_examples(published):
    ours = convert_published_state_dict(published)
    assert len(ours) == len(published) == 98
    assert ours['branches.small.convs.4.weight'] is published['aaconv8.weight']
    assert ours['branches.middle.norms.3.bias'] is published['abn7.bias']
    assert ours['branches.full.convs.6.weight'] is published['conv12.weight']
    assert ours['branches.full.fc.weight'] is published['fc1.weight']
    assert ours['branches.small.fc_norm.weight'] is published['aabn13.weight']
    assert ours['head.bias'] is published['fc2.bias']
    assert list(ours) == list(StarcNet(width=16).state_dict())


def test_round_trip(published):
    ours = convert_published_state_dict(published)
    back = to_published_state_dict(ours)
    assert set(back) == set(published)
    assert all(back[key] is published[key] for key in published)
    model = StarcNet(width=16)
    again = convert_published_state_dict(to_published_state_dict(model.state_dict()))
    model.load_state_dict(again, strict=True)


@pytest.mark.parametrize('wrap', ['state_dict', 'module', 'both'])
def test_wrapper_and_module_prefix(published, wrap):
    state = published
    if wrap in ('module', 'both'):
        state = {f'module.{key}': value for key, value in state.items()}
    if wrap in ('state_dict', 'both'):
        state = {'state_dict': state, 'epoch': 12}
    ours = convert_published_state_dict(state)
    assert ours['branches.small.convs.4.weight'] is published['aaconv8.weight']


def test_missing_key(published):
    state = dict(published)
    del state['aaconv8.weight']
    with pytest.raises(ValueError, match=r'missing keys: aaconv8\.weight'):
        convert_published_state_dict(state)


def test_unexpected_key(published):
    state = dict(published, **{'abn2.weight': torch.ones(16),
                               'bn1.running_mean': torch.zeros(16)})
    with pytest.raises(ValueError, match='unexpected keys') as excinfo:
        convert_published_state_dict(state)
    assert 'abn2.weight' in str(excinfo.value)
    assert 'bn1.running_mean' in str(excinfo.value)


def test_wrong_shape(published):
    state = dict(published, **{'afc1.bias': torch.zeros(17)})
    with pytest.raises(ValueError, match=r'mis-shaped keys: afc1\.bias') as excinfo:
        convert_published_state_dict(state)
    assert '(17,)' in str(excinfo.value)


def test_all_problems_listed_together(published):
    state = dict(published)
    del state['fc2.bias']
    state['aaaconv1.weight'] = torch.zeros(1)
    state['bn13.weight'] = torch.zeros(3)
    with pytest.raises(ValueError) as excinfo:
        convert_published_state_dict(state)
    message = str(excinfo.value)
    for key in ('fc2.bias', 'aaaconv1.weight', 'bn13.weight'):
        assert key in message


def test_not_a_mapping():
    with pytest.raises(ValueError, match='mapping'):
        convert_published_state_dict([1, 2, 3])


def test_to_published_rejects_unknown_keys():
    state = StarcNet(width=8).state_dict()
    state['branches.full.extra.weight'] = torch.zeros(1)
    with pytest.raises(ValueError, match='branches.full.extra.weight'):
        to_published_state_dict(state)
