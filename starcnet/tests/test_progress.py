# Licensed under a 3-clause BSD style license - see LICENSE.rst

import argparse
import io
import sys

import numpy as np
import pytest

from starcnet import StarClusterClassifier
from starcnet.cli import _show_progress, main
from starcnet.conftest import make_test_scene, write_test_scene
from starcnet.utils import _optional_deps
from starcnet.utils._progress import add_progress_bar


class FakeTerminal(io.StringIO):
    """A standard error stream that says it is a terminal."""

    def isatty(self):
        return True


def test_optional_deps_flags():
    assert _optional_deps.HAS_TQDM in (True, False)
    assert _optional_deps.HAS_MATPLOTLIB in (True, False)
    assert 'HAS_TQDM' in _optional_deps.__all__
    with pytest.raises(AttributeError, match='HAS_NOTHING'):
        _optional_deps.HAS_NOTHING  # noqa: B018


def test_no_progress_bar_returns_the_iterable():
    items = range(5)
    assert add_progress_bar(items) is items
    assert add_progress_bar(items, desc='x', progress_bar=False) is items


def test_progress_bar(capsys):
    pytest.importorskip('tqdm')
    bar = add_progress_bar(range(0, 10, 3), desc='batches', progress_bar=True,
                           unit='batch')
    assert list(bar) == [0, 3, 6, 9]
    err = capsys.readouterr().err
    assert 'batches' in err
    assert '4/4' in err


def test_progress_bar_without_tqdm(monkeypatch):
    monkeypatch.setattr(_optional_deps, 'HAS_TQDM', False)
    with pytest.raises(ImportError, match='pip install tqdm'):
        add_progress_bar(range(3), progress_bar=True)
    # nothing asked, nothing needed
    assert list(add_progress_bar(range(3))) == [0, 1, 2]


def test_classifier_progress_bar(tiny_model_path, capsys):
    pytest.importorskip('tqdm')
    bands, sources = make_test_scene()
    clf = StarClusterClassifier(tiny_model_path, device='cpu', batch_size=5)
    plain = clf(bands, sources)
    assert capsys.readouterr().err == ''
    with_bar = clf(bands, sources, progress_bar=True)
    err = capsys.readouterr().err
    assert f'StarcNet: {len(sources)} sources' in err
    assert '3/3' in err
    for name in ('prob_class1', 'prob_class4', 'cluster_class'):
        np.testing.assert_array_equal(plain[name], with_bar[name])


def test_classifier_progress_bar_without_tqdm(tiny_model_path, monkeypatch):
    monkeypatch.setattr(_optional_deps, 'HAS_TQDM', False)
    bands, sources = make_test_scene()
    clf = StarClusterClassifier(tiny_model_path, device='cpu')
    with pytest.raises(ImportError, match='pip install tqdm'):
        clf(bands, sources, progress_bar=True)


def test_cli_shows_progress_only_on_a_terminal(monkeypatch):
    args = argparse.Namespace(quiet=False)
    monkeypatch.setattr(sys, 'stderr', io.StringIO())
    assert not _show_progress(args)
    monkeypatch.setattr(sys, 'stderr', FakeTerminal())
    assert _show_progress(args) == _optional_deps.HAS_TQDM
    assert not _show_progress(argparse.Namespace(quiet=True))
    monkeypatch.setattr(_optional_deps, 'HAS_TQDM', False)
    assert not _show_progress(args)


@pytest.fixture
def band_args(tmp_path):
    args, catalog, _ = write_test_scene(tmp_path)
    return [*args, '--catalog', str(catalog)]


@pytest.mark.parametrize('quiet', [False, True])
def test_cli_classify_progress(band_args, tiny_model_path, tmp_path, monkeypatch,
                               quiet):
    pytest.importorskip('tqdm')
    terminal = FakeTerminal()
    monkeypatch.setattr(sys, 'stderr', terminal)
    argv = ['classify', *band_args, '--model', str(tiny_model_path), '--batch-size',
            '4', '-o', str(tmp_path / 'out.ecsv')]
    assert main(['-q', *argv] if quiet else argv) == 0
    err = terminal.getvalue()
    if quiet:
        assert err == ''
    else:
        assert '3/3' in err
        assert 'wrote' in err


def test_cli_no_progress_when_piped(band_args, tiny_model_path, tmp_path, capsys):
    argv = ['classify', *band_args, '--model', str(tiny_model_path), '--batch-size',
            '4', '-o', str(tmp_path / 'out.ecsv')]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert 'wrote' in err
    assert '3/3' not in err
    assert '%|' not in err
