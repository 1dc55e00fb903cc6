# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""The label journal: durable appends, torn lines, resuming, its catalog."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from astropy.table import QTable, Table

import starcnet
from starcnet.io import read_catalog, write_catalog
from starcnet.review import (CatalogMismatchError, JournalError, LabelJournal,
                             TornLineWarning, catalog_checksum, read_journal,
                             write_labels)


def make_catalog(n=6, ids=True):
    rng = np.random.default_rng(n)
    table = QTable()
    if ids:
        table['id'] = np.arange(100, 100 + n)
    table['x'] = rng.uniform(0, 500, n)
    table['y'] = rng.uniform(0, 500, n)
    return table


@pytest.fixture
def catalog_file(tmp_path):
    path = tmp_path / 'catalog.ecsv'
    write_catalog(make_catalog(), path)
    return path


def test_append_writes_a_line_at_once(tmp_path, catalog_file):
    path = tmp_path / 'ana.jsonl'
    journal = LabelJournal(path, 'ana', catalog_file)
    record = journal.append(3, 2, note='compact')
    # on disk already, while the journal is still open
    lines = path.read_bytes().splitlines()
    assert len(lines) == 2
    header, last = json.loads(lines[0]), json.loads(lines[1])
    assert header['starcnet_label_journal'] == 1
    assert header['reviewer'] == 'ana'
    assert header['catalog']['path'] == str(catalog_file)
    assert header['catalog']['n_rows'] == 6
    assert header['catalog']['checksum_of'] == 'id'
    assert last == record
    assert last['row'] == 3 and last['id'] == 103 and last['label'] == 2
    assert last['reviewer'] == 'ana' and last['note'] == 'compact'
    assert last['time'].endswith('+00:00')
    journal.close()


def test_later_labels_supersede_and_reopen_resumes(tmp_path):
    catalog = make_catalog()
    path = tmp_path / 'ana.jsonl'
    with LabelJournal(path, 'ana', catalog) as journal:
        journal.append(0, 1)
        journal.append(2, 'skip')
        journal.append(0, 4)
        assert journal.current() == {0: 4, 2: 'skip'}
        assert journal.next_unlabelled() == 1
    order = [2, 0, 5, 1, 4, 3]
    with LabelJournal(path, 'ana', catalog) as journal:
        assert len(journal) == 3
        assert journal.current() == {0: 4, 2: 'skip'}
        assert journal.unlabelled(order).tolist() == [5, 1, 4, 3]
        assert journal.next_unlabelled(order) == 5
        for row in journal.unlabelled(order):
            journal.append(row, 'unsure')
        assert journal.next_unlabelled(order) is None
    assert len(read_journal(path)) == 7


def test_sigkill_loses_no_acknowledged_label(tmp_path, catalog_file):
    """A writer killed with SIGKILL mid-stream: every label it had
    acknowledged (append returned) is in the journal."""
    path = tmp_path / 'ana.jsonl'
    script = textwrap.dedent(f"""
        import sys
        from starcnet.review import LabelJournal
        journal = LabelJournal({str(path)!r}, 'ana', {str(catalog_file)!r})
        i = 0
        while True:
            journal.append(i % 6, 1 + i % 4, note=str(i))
            sys.stdout.write(f'{{i}}\\n')
            sys.stdout.flush()
            i += 1
    """)
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(starcnet.__file__)))
    env['PYTHONPATH'] = os.pathsep.join([root, *filter(None, [env.get('PYTHONPATH')])])
    child = subprocess.Popen([sys.executable, '-c', script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env, text=True)
    acknowledged = []
    try:
        for line in child.stdout:
            acknowledged.append(int(line))
            if len(acknowledged) == 200:
                break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=60)
        child.stdout.close()
        stderr = child.stderr.read()
        child.stderr.close()
    assert child.returncode == -signal.SIGKILL, stderr
    assert len(acknowledged) == 200, stderr
    with warnings.catch_warnings():
        # the kill may tear the last line, which had not been acknowledged
        warnings.simplefilter('ignore', TornLineWarning)
        labels = read_journal(path)
    notes = set(int(n) for n in labels['note'])
    assert set(acknowledged) <= notes
    assert notes == set(range(len(notes)))          # nothing in between lost
    # and the journal reopens and takes more labels
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', TornLineWarning)
        journal = LabelJournal(path, 'ana', catalog_file)
    journal.append(0, 3)
    journal.close()


def test_torn_last_line_is_ignored_with_a_warning(tmp_path):
    catalog = make_catalog()
    path = tmp_path / 'ana.jsonl'
    with LabelJournal(path, 'ana', catalog) as journal:
        journal.append(0, 1)
        journal.append(1, 2)
    whole = path.read_bytes()
    torn = b'{"row": 2, "id": 102, "lab'
    path.write_bytes(whole + torn)
    # reading does not change the file
    with pytest.warns(TornLineWarning, match='last line is torn.*ignored'):
        labels = read_journal(path)
    assert labels['row'].tolist() == [0, 1]
    assert path.read_bytes() == whole + torn
    # opening for writing cuts the torn line off, then appends after it
    with pytest.warns(TornLineWarning, match='cut off'):
        journal = LabelJournal(path, 'ana', catalog)
    assert journal.current() == {0: 1, 1: 2}
    journal.append(2, 3)
    journal.close()
    assert path.read_bytes().startswith(whole)
    assert read_journal(path)['row'].tolist() == [0, 1, 2]


def test_complete_last_record_without_newline_is_kept(tmp_path):
    catalog = make_catalog()
    path = tmp_path / 'ana.jsonl'
    with LabelJournal(path, 'ana', catalog) as journal:
        journal.append(0, 1)
    path.write_bytes(path.read_bytes().rstrip(b'\n'))
    assert read_journal(path)['row'].tolist() == [0]
    with LabelJournal(path, 'ana', catalog) as journal:
        journal.append(1, 4)
    assert read_journal(path)['label'].tolist() == ['1', '4']


def test_damage_before_the_last_line_is_an_error(tmp_path):
    catalog = make_catalog()
    path = tmp_path / 'ana.jsonl'
    with LabelJournal(path, 'ana', catalog) as journal:
        journal.append(0, 1)
        journal.append(1, 2)
    lines = path.read_bytes().split(b'\n')
    lines[1] = lines[1][:10]
    path.write_bytes(b'\n'.join(lines))
    with pytest.raises(JournalError, match='line 2: not JSON'):
        read_journal(path)
    with pytest.raises(JournalError, match='line 2'):
        LabelJournal(path, 'ana', catalog)


def test_not_a_journal(tmp_path, catalog_file):
    with pytest.raises(JournalError, match='not a starcnet label journal'):
        LabelJournal(catalog_file, 'ana', catalog_file)


def test_wrong_catalog_is_refused(tmp_path, catalog_file):
    path = tmp_path / 'ana.jsonl'
    LabelJournal(path, 'ana', catalog_file).close()
    other = make_catalog()
    other['id'][2] = 7
    with pytest.raises(CatalogMismatchError, match='belongs to another catalog'):
        LabelJournal(path, 'ana', other)
    with pytest.raises(CatalogMismatchError, match='6 rows.*7 rows'):
        LabelJournal(path, 'ana', make_catalog(7))
    # without ids, the positions are checked
    nameless = make_catalog(ids=False)
    path2 = tmp_path / 'bob.jsonl'
    LabelJournal(path2, 'bob', nameless).close()
    moved = nameless.copy()
    moved['x'][0] += 0.5
    with pytest.raises(CatalogMismatchError):
        LabelJournal(path2, 'bob', moved)
    with pytest.raises(CatalogMismatchError):
        write_labels(moved, path2, tmp_path / 'out.ecsv')
    # the same catalog, moved to another file, is the same catalog
    copy = tmp_path / 'copy.ecsv'
    write_catalog(read_catalog(catalog_file), copy)
    LabelJournal(path, 'ana', copy).close()


def test_checksum_ignores_added_columns():
    catalog = make_catalog()
    labelled = catalog.copy()
    labelled['cluster_class'] = 1
    assert catalog_checksum(catalog) == catalog_checksum(labelled)
    assert catalog_checksum(catalog, id_column=None)[1] == 'positions'


def test_one_reviewer_per_journal_and_one_writer(tmp_path):
    catalog = make_catalog()
    path = tmp_path / 'ana.jsonl'
    journal = LabelJournal(path, 'ana', catalog)
    if os.name != 'nt':
        with pytest.raises(JournalError, match='open in another'):
            LabelJournal(path, 'ana', catalog)
    journal.close()
    with pytest.raises(JournalError, match="is reviewer 'ana'.*each reviewer"):
        LabelJournal(path, 'bob', catalog)
    with pytest.raises(ValueError, match='closed'):
        journal.append(0, 1)


@pytest.mark.parametrize('label', [0, 5, True, 'Skip', '1', 2.0, None, b'skip'])
def test_bad_labels_are_refused(tmp_path, label):
    with LabelJournal(tmp_path / 'ana.jsonl', 'ana', make_catalog()) as journal:
        with pytest.raises((TypeError, ValueError), match='a label is a class 1-4'):
            journal.append(0, label)
        assert len(journal) == 0


def test_bad_rows_and_reviewers(tmp_path):
    with LabelJournal(tmp_path / 'ana.jsonl', 'ana', make_catalog()) as journal:
        with pytest.raises(ValueError, match='outside the catalog'):
            journal.append(6, 1)
        with pytest.raises(TypeError, match='row must be an integer'):
            journal.append(1.0, 1)
        with pytest.raises(ValueError, match='outside the catalog'):
            journal.unlabelled([0, 9])
        assert journal.next_unlabelled() == 0
        assert journal.unlabelled([]).tolist() == []
        assert journal.next_unlabelled([]) is None
        with pytest.raises(TypeError, match='order must be'):
            journal.unlabelled([0.0, 1.0])
        journal.append(np.int64(5), np.int32(3))
        assert journal.current() == {5: 3}
    for reviewer in ['', ' ana', 'a\nb']:
        with pytest.raises(ValueError, match='not a usable name'):
            LabelJournal(tmp_path / 'x.jsonl', reviewer, make_catalog())
    with pytest.raises(TypeError, match='reviewer must be a name'):
        LabelJournal(tmp_path / 'x.jsonl', None, make_catalog())
    assert not (tmp_path / 'x.jsonl').exists()


def test_write_labels_round_trip(tmp_path, catalog_file):
    path = tmp_path / 'ana.jsonl'
    with LabelJournal(path, 'ana', catalog_file) as journal:
        journal.append(0, 1)
        journal.append(1, 'skip')
        journal.append(2, 'unsure', note='two peaks')
        journal.append(0, 3)
        out = tmp_path / 'labelled.ecsv'
        write_labels(catalog_file, journal, out)
        with pytest.raises(FileExistsError):
            write_labels(catalog_file, journal, out)
        journal.append(4, 4)
        write_labels(catalog_file, journal, out, overwrite=True)
    back = read_catalog(out)
    assert back['id'].tolist() == list(range(100, 106))
    assert back['human_class'].mask.tolist() == [False, True, True, True, False, True]
    assert back['human_class'][0] == 3 and back['human_class'][4] == 4
    assert back['human_label'].mask.tolist() == [False, False, False, True, False, True]
    assert back['human_label'][:3].tolist() == ['3', 'skip', 'unsure']
    assert back['human_reviewer'][0] == 'ana'
    assert back['human_reviewer'].mask.tolist() == back['human_label'].mask.tolist()
    assert back['human_time'].mask.tolist() == back['human_label'].mask.tolist()
    assert back['human_note'].mask.tolist() == [True, True, False, True, True, True]
    assert back['human_note'][2] == 'two peaks'
    assert back['human_class'].info.description.startswith('LEGUS class 1-4')
    assert back.meta['starcnet_review']['reviewer'] == 'ana'
    assert back.meta['starcnet_review']['n_labelled'] == 4
    # from the journal file too, and again on the labelled catalog
    again = write_labels(back, path, tmp_path / 'again.ecsv')
    assert again['human_class'].tolist() == back['human_class'].tolist()
    assert isinstance(back, Table)


@pytest.mark.skipif(os.name == 'nt', reason='no flock on Windows')
def test_file_system_without_locks(tmp_path, monkeypatch):
    import errno

    from starcnet.review import journal as journal_module

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, 'No locks available')
    monkeypatch.setattr(journal_module.fcntl, 'flock', no_locks)
    with LabelJournal(tmp_path / 'ana.jsonl', 'ana', make_catalog()) as journal:
        journal.append(0, 1)
    assert read_journal(tmp_path / 'ana.jsonl')['label'].tolist() == ['1']

    def broken(fd, operation):
        raise OSError(errno.EIO, 'I/O error')
    monkeypatch.setattr(journal_module.fcntl, 'flock', broken)
    with pytest.raises(OSError, match='I/O error'):
        LabelJournal(tmp_path / 'ana.jsonl', 'ana', make_catalog())
