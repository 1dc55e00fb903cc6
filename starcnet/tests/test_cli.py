# Licensed under a 3-clause BSD style license - see LICENSE.rst

import numpy as np
import pytest
from astropy.table import QTable
from regions import Regions

from starcnet.cli import main
from starcnet.io import read_catalog
from starcnet.conftest import write_test_scene


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
    assert 'sources classified with model sim-small-v2' in out
    assert 'agreement with the simulated truth' in out
    table = read_catalog(outdir / 'demo_starcnet.ecsv')
    assert 'sky_centroid' in table.colnames
    assert len(table) > 0
    assert table.meta['starcnet']['model'] == 'sim-small-v2'
    regions = Regions.read(outdir / 'demo_starcnet.reg', format='ds9')
    assert len(regions) == len(table)
    classes = np.ma.asarray(table['cluster_class']).compressed()
    assert set(classes) <= {1, 2, 3, 4}
    assert main(['demo', '--output-dir', str(outdir), '--size', '256']) == 1
