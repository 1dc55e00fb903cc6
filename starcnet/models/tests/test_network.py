# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Tests of the StarcNet module, including the acceptance test: published
weights, converted and loaded into `StarcNet`, give the logits of an
independent plain-functional implementation of the published network.
"""

import pytest
import torch
import torch.nn.functional as F

from starcnet.models import StarcNet, convert_published_state_dict, load_model

#: Branch prefixes of the published checkpoint, in concatenation order.
PREFIXES = ('', 'a', 'aa')
#: Published convolution and norm numbers, in layer order.
CONVS = (1, 3, 4, 7, 8, 11, 12)
NORMS = (1, 3, 4, 7, 8, 11, 12)
#: Rows/columns of the three views of a 32x32 cutout.
CROPS = (slice(0, 32), slice(6, 26), slice(11, 22))


def make_published_state_dict(width=128, seed=0, n_bands=5, n_classes=4):
    """Random weights under the published key names and shapes."""
    gen = torch.Generator().manual_seed(seed)

    def randn(*shape, scale=1.0):
        return torch.randn(*shape, generator=gen) * scale

    state = {}
    for prefix in PREFIXES:
        n_in = n_bands
        for conv, norm in zip(CONVS, NORMS):
            fan_in = n_in * 9
            state[f'{prefix}conv{conv}.weight'] = randn(width, n_in, 3, 3,
                                                        scale=fan_in ** -0.5)
            state[f'{prefix}conv{conv}.bias'] = randn(width, scale=0.1)
            state[f'{prefix}bn{norm}.weight'] = 1 + randn(width, scale=0.1)
            state[f'{prefix}bn{norm}.bias'] = randn(width, scale=0.1)
            n_in = width
        n_flat = width * 16 * 16
        state[f'{prefix}fc1.weight'] = randn(width, n_flat, scale=n_flat ** -0.5)
        state[f'{prefix}fc1.bias'] = randn(width, scale=0.1)
        state[f'{prefix}bn13.weight'] = 1 + randn(width, scale=0.1)
        state[f'{prefix}bn13.bias'] = randn(width, scale=0.1)
    state['fc2.weight'] = randn(n_classes, 3 * width, scale=(3 * width) ** -0.5)
    state['fc2.bias'] = randn(n_classes, scale=0.1)
    return state


def reference_forward(state, x, groups=8):
    """
    The published StarcNet forward pass (eval mode), written with
    `torch.nn.functional` only, on a dict with the published key names.
    Computed in float64 and returned as float32.
    """
    state = {key: value.double() for key, value in state.items()}
    x = x.double()
    features = []
    for prefix, crop in zip(PREFIXES, CROPS):
        view = x[:, :, crop, crop]
        if view.shape[-1] != 32:
            view = F.interpolate(view, size=(32, 32), mode='nearest')
        h = view
        for conv, norm in zip(CONVS, NORMS):
            h = F.conv2d(h, state[f'{prefix}conv{conv}.weight'],
                         state[f'{prefix}conv{conv}.bias'], padding=1)
            h = F.group_norm(h, groups, state[f'{prefix}bn{norm}.weight'],
                             state[f'{prefix}bn{norm}.bias'])
            h = F.leaky_relu(h, 0.01)
            if conv == 7:
                h = F.max_pool2d(h, 2)
        h = h.reshape(h.shape[0], -1)
        h = F.linear(h, state[f'{prefix}fc1.weight'], state[f'{prefix}fc1.bias'])
        h = F.group_norm(h, groups, state[f'{prefix}bn13.weight'],
                         state[f'{prefix}bn13.bias'])
        features.append(F.leaky_relu(h, 0.01))  # dropout: identity in eval
    logits = F.linear(torch.cat(features, dim=1), state['fc2.weight'],
                      state['fc2.bias'])
    return logits.float()


def make_cutouts(n=4, seed=1):
    """O(1) random 5-band cutouts with a bright centre, like real sources."""
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing='ij')
    blob = torch.exp(-((yy - 15.5) ** 2 + (xx - 15.5) ** 2) / 8)
    noise = torch.randn(n, 5, 32, 32, generator=gen)
    amplitude = 3 * torch.rand(n, 5, 1, 1, generator=gen)
    return 0.3 * noise + amplitude * blob


def test_parameter_count():
    model = StarcNet(width=128)
    assert sum(p.numel() for p in model.parameters()) == 15_265_156


def test_output_shape_and_config():
    model = StarcNet(width=32, n_classes=3).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, 5, 32, 32))
    assert out.shape == (2, 3)
    assert model.config == {'width': 32, 'n_bands': 5, 'n_classes': 3,
                            'size': 32, 'groups': 8, 'dropout': 0.5}


def test_config_validation():
    with pytest.raises(ValueError, match='32x32'):
        StarcNet(width=16, size=64)
    with pytest.raises(ValueError, match='multiple of the number of GroupNorm'):
        StarcNet(width=20, groups=8)


@pytest.mark.parametrize('width', [32, 128])
def test_matches_independent_implementation(width):
    published = make_published_state_dict(width=width, seed=width)
    x = make_cutouts()
    with torch.no_grad():
        expected = reference_forward(published, x)
        model = StarcNet(width=width, groups=8)
        model.load_state_dict(convert_published_state_dict(published), strict=True)
        model.eval()
        got = model(x)
    assert got.shape == (4, 4)
    # The logits must depend on the input, so the test can tell a mix-up.
    assert expected.std(dim=0).min() > 1e-2
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_published_checkpoint_file_matches_independent_implementation(tmp_path):
    """A published-format checkpoint loaded from a file reproduces the
    independent implementation (acceptance test)."""
    published = make_published_state_dict(width=128, seed=2021)
    path = tmp_path / 'starcnet.pth'
    torch.save(published, path)
    x = make_cutouts(n=3, seed=7)
    model, info = load_model(path)
    assert not model.training
    assert info.format == 'published'
    assert info.config['width'] == 128
    assert info.bands == ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
    assert len(info.sha256) == 64
    with torch.no_grad():
        expected = reference_forward(published, x)
        got = model(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)
