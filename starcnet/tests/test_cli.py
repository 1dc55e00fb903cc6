# Licensed under a 3-clause BSD style license - see LICENSE.rst

import numpy as np
import pytest
from astropy.table import QTable
from regions import Regions

from starcnet.cli import main
from starcnet.conftest import write_test_scene
from starcnet.io import read_catalog


@pytest.fixture
def band_files(tmp_path):
    return write_test_scene(tmp_path)


def test_classify_with_catalog(band_files, tiny_model_path, tmp_path, capsys):
    args, catalog, sources = band_files
    out, reg = tmp_path / 'out.ecsv', tmp_path / 'out.reg'
    argv = ['classify', *args, '--catalog', str(catalog), '--model',
            str(tiny_model_path), '-o', str(out), '-r', str(reg)]
    assert main(argv) == 0
    assert f'{len(sources)} sources classified with model tiny-test' in capsys.readouterr().out
    table = read_catalog(out)
    assert len(table) == len(sources)
    assert 'sky_centroid' in table.colnames
    assert len(Regions.read(reg, format='ds9')) == len(sources)
    # existing outputs are kept without --overwrite
    before = out.read_bytes()
    assert main(argv) == 1
    assert 'already exists; add --overwrite' in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main([*argv, '--overwrite']) == 0


def test_classify_votable_and_samp(band_files, tiny_model_path, tmp_path, capsys,
                                   samp_hub):
    from starcnet.tests._samp import Receiver

    server, receivers = samp_hub
    topcat = Receiver(server, 'topcat', 'table.load.votable')
    ds9 = Receiver(server, 'ds9', 'ds9.set')
    receivers += [topcat, ds9]
    args, catalog, sources = band_files
    out, reg = tmp_path / 'out.vot', tmp_path / 'out.reg'
    assert main(['classify', *args, '--catalog', str(catalog), '--model',
                 str(tiny_model_path), '-o', str(out), '-r', str(reg), '--samp']) == 0
    assert ('sent the catalog over SAMP to 1 application(s), the regions to 1 DS9(s)'
            in capsys.readouterr().out)
    assert out.read_bytes().lstrip().startswith(b'<?xml')
    written = read_catalog(out)
    (params, table), = topcat.received
    assert len(table) == len(written) == len(sources)
    assert table.colnames == written.colnames
    for name in ('cluster_class', 'prob_class1', 'starcnet_flags'):
        assert table[name].info.description == written[name].info.description
    assert table['sky_centroid'].ra.unit == 'deg'
    assert table.meta['starcnet']['model'] == 'tiny-test'
    (params, text), = ds9.received
    assert text == reg.read_text()


def test_classify_samp_without_hub(band_files, tiny_model_path, tmp_path, capsys,
                                   monkeypatch):
    pytest.importorskip('pyvo')
    monkeypatch.setenv('SAMP_HUB', f'std-lockurl:{(tmp_path / "none").as_uri()}')
    args, catalog, _ = band_files
    out = tmp_path / 'out.ecsv'
    assert main(['classify', *args, '--catalog', str(catalog), '--model',
                 str(tiny_model_path), '-o', str(out), '--samp']) == 1
    assert 'no SAMP hub is running' in capsys.readouterr().err
    assert len(read_catalog(out)) == 12    # written before sending


def test_classify_catalog_formats(band_files, tiny_model_path, tmp_path, capsys):
    args, _, sources = band_files
    csv = tmp_path / 'sources.csv'
    sources.write(csv, format='ascii.csv')
    out = tmp_path / 'out.dat'
    assert main(['-q', 'classify', *args, '--catalog', str(csv), '--catalog-format',
                 'ascii.csv', '--model', str(tiny_model_path), '-o', str(out),
                 '--format', 'votable']) == 0
    assert len(read_catalog(out, format='votable')) == len(sources)
    assert main(['classify', *args, '--catalog', str(csv), '--catalog-format',
                 'legus', '--model', str(tiny_model_path), '-o',
                 str(tmp_path / 'x.ecsv')]) == 1
    assert f'cannot read the catalog {csv}' in capsys.readouterr().err


def test_classify_detect(band_files, tiny_model_path, tmp_path):
    args, _, sources = band_files
    out = tmp_path / 'det.ecsv'
    assert main(['-q', 'classify', *args, '--detect', '--fwhm', '2.5',
                 '--model', str(tiny_model_path), '-o', str(out)]) == 0
    table = QTable.read(out)
    assert abs(len(table) - len(sources)) <= 1
    assert 'x_centroid' in table.colnames


def test_classify_errors(band_files, tiny_model_path, tmp_path, capsys):
    args, catalog, _ = band_files
    out = str(tmp_path / 'x.ecsv')
    assert main(['classify', *args, '-o', out]) == 1
    assert 'give a source catalog with --catalog, or --detect' in capsys.readouterr().err
    assert main(['classify', *args[:4], '--detect', '--model',
                 str(tiny_model_path), '-o', out]) == 1
    assert 'lacks band(s) F814W' in capsys.readouterr().err
    assert main(['classify', 'F555W', '--detect', '-o', out]) == 1
    assert 'bands are given as BAND=FILE' in capsys.readouterr().err
    bad = tmp_path / 'bad.fits'
    bad.write_text('not a FITS file')
    assert main(['classify', *args[:4], f'F814W={bad}', '--catalog', str(catalog),
                 '-o', out]) == 1
    assert 'cannot read' in capsys.readouterr().err
    assert main(['classify', *args, '--catalog', str(catalog), '--model',
                 'no-such-model', '-o', out]) == 1
    assert 'no-such-model' in capsys.readouterr().err
    assert not (tmp_path / 'x.ecsv').exists()


def test_models_list_and_show(capsys):
    assert main(['models', 'list']) == 0
    out = capsys.readouterr().out
    assert 'sim-small-v1' in out and 'legus-2021' in out and '(default)' in out
    assert main(['models', 'show', 'legus-2021']) == 0
    out = capsys.readouterr().out
    assert '5fb81eef6f103af9bd386ec888f043e0494a2f6b35f2588193eb222e0cb26127' in out
    assert main(['models', 'show']) == 1


def test_help(capsys):
    for sub in ([], ['classify'], ['demo'], ['models'], ['plot'], ['train'],
                ['classify-many']):
        with pytest.raises(SystemExit) as exc:
            main([*sub, '--help'])
        assert exc.value.code == 0
        assert 'usage: starcnet' in capsys.readouterr().out


def test_demo(tmp_path, capsys):
    outdir = tmp_path / 'demo'
    assert main(['demo', '--output-dir', str(outdir), '--size', '256']) == 0
    out = capsys.readouterr().out
    assert 'sources classified with model sim-small-v5' in out
    assert 'agreement with the simulated truth' in out
    table = read_catalog(outdir / 'demo_starcnet.ecsv')
    assert 'sky_centroid' in table.colnames
    assert len(table) > 0
    assert table.meta['starcnet']['model'] == 'sim-small-v5'
    regions = Regions.read(outdir / 'demo_starcnet.reg', format='ds9')
    assert len(regions) == len(table)
    classes = np.ma.asarray(table['cluster_class']).compressed()
    assert set(classes) <= {1, 2, 3, 4}
    assert main(['demo', '--output-dir', str(outdir), '--size', '256']) == 1


def test_classify_output_path_clashes(band_files, tiny_model_path, tmp_path, capsys):
    """One file for two outputs, or an output that is an input: refused first."""
    args, catalog, _ = band_files
    base = ['classify', *args, '--catalog', str(catalog), '--model', str(tiny_model_path)]
    out = tmp_path / 'out.ecsv'
    assert main([*base, '-o', str(out), '-r', str(out), '--overwrite']) == 1
    assert '--output and --regions name the same file' in capsys.readouterr().err
    assert not out.exists()
    # the same file under another spelling, or through a link
    (tmp_path / 'sub').mkdir()
    other = tmp_path / 'sub' / '..' / 'out.ecsv'
    assert main([*base, '-o', str(out), '-r', str(other), '--overwrite']) == 1
    assert 'name the same file' in capsys.readouterr().err
    out.write_text('keep me')
    (tmp_path / 'link.reg').symlink_to(out)
    assert main([*base, '-o', str(out), '-r', str(tmp_path / 'link.reg'),
                 '--overwrite']) == 1
    assert 'name the same file' in capsys.readouterr().err
    assert out.read_text() == 'keep me'
    # an output that is the input catalog or a band image
    before = catalog.read_bytes()
    assert main([*base, '-o', str(catalog), '--overwrite']) == 1
    assert 'is the input --catalog' in capsys.readouterr().err
    assert catalog.read_bytes() == before
    band_file = args[2].partition('=')[2]
    assert main([*base, '-o', str(tmp_path / 'ok.ecsv'), '-r', band_file,
                 '--overwrite']) == 1
    assert 'is the input band' in capsys.readouterr().err
    assert not (tmp_path / 'ok.ecsv').exists()


def test_train_output_is_an_input(band_files, tmp_path, capsys):
    args, catalog, _ = band_files
    before = catalog.read_bytes()
    assert main(['train', *args, '--catalog', str(catalog), '-o', str(catalog),
                 '--overwrite']) == 1
    assert 'is the input --catalog' in capsys.readouterr().err
    assert catalog.read_bytes() == before
