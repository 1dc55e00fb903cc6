# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
atomic_write: exclusive creation without overwrite (also against a
writer in another process) and the cleaning of stale temporary files.
"""

import errno
import multiprocessing
import os
import time

import pytest

from starcnet.io import _atomic
from starcnet.io._atomic import STALE_SECONDS, atomic_write

ROUNDS = 10
SIZE = 200_000


def _text(content):
    def write(tmp):
        with open(tmp, 'w') as fh:
            fh.write(content)
    return write


def _racer(folder, letter, barrier, results):
    """One of two writers of the same new files, round after round."""
    for k in range(ROUNDS):
        path = os.path.join(folder, f'race{k}.txt')

        def write(tmp):
            # both writers have passed the existence check before either
            # moves its output into place
            barrier.wait(timeout=60)
            time.sleep(0.05)
            with open(tmp, 'w') as fh:
                fh.write(letter * SIZE)

        try:
            atomic_write(path, write)
            results.put((k, letter, 'ok'))
        except FileExistsError as exc:
            results.put((k, letter, f'exists: {exc}'))
        barrier.wait(timeout=60)


def test_two_processes_one_winner(tmp_path):
    context = multiprocessing.get_context('spawn')
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [context.Process(target=_racer, args=(str(tmp_path), letter, barrier, results))
               for letter in 'AB']
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=300) for _ in range(2 * ROUNDS)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0
    for k in range(ROUNDS):
        rounds = sorted((letter, status) for j, letter, status in outcomes if j == k)
        winners = [letter for letter, status in rounds if status == 'ok']
        assert len(winners) == 1, rounds
        loser = [status for letter, status in rounds if status != 'ok'][0]
        assert 'already exists' in loser and 'overwrite=True' in loser
        with open(tmp_path / f'race{k}.txt') as fh:
            assert fh.read() == winners[0] * SIZE
    # no temporary file left behind
    assert sorted(os.listdir(tmp_path)) == sorted(f'race{k}.txt' for k in range(ROUNDS))


def test_target_appearing_while_writing(tmp_path):
    path = tmp_path / 'out.txt'

    def write(tmp):
        with open(tmp, 'w') as fh:
            fh.write('mine')
        path.write_text('theirs')

    with pytest.raises(FileExistsError, match='already exists'):
        atomic_write(path, write)
    assert path.read_text() == 'theirs'
    assert os.listdir(tmp_path) == ['out.txt']


def test_overwrite_replaces(tmp_path):
    path = tmp_path / 'out.txt'
    path.write_text('old')
    atomic_write(path, _text('new'), overwrite=True)
    assert path.read_text() == 'new'


@pytest.mark.parametrize('error', [errno.EPERM, errno.EOPNOTSUPP])
def test_no_hard_links(tmp_path, monkeypatch, error):
    """Where os.link is refused, the target is created with O_EXCL."""
    def no_link(src, dst):
        raise OSError(error, 'no hard links here')

    monkeypatch.setattr(_atomic.os, 'link', no_link)
    path = tmp_path / 'out.txt'
    atomic_write(path, _text('first'))
    assert path.read_text() == 'first'

    def write(tmp):
        with open(tmp, 'w') as fh:
            fh.write('second')
        path.write_text('theirs')

    path.unlink()
    with pytest.raises(FileExistsError, match='already exists'):
        atomic_write(path, write)
    assert path.read_text() == 'theirs'
    assert os.listdir(tmp_path) == ['out.txt']


def _dead_pid():
    """The id of a process that has exited."""
    context = multiprocessing.get_context('spawn')
    process = context.Process(target=os.getpid)
    process.start()
    process.join()
    pid = process.pid
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return pid
    pytest.skip('could not find a pid that is not in use')


def _temp(folder, pid, tail, age, random='abcd1234'):
    path = folder / f'.starcnet-{pid}-{random}-{tail}'
    path.write_text('partial')
    old = time.time() - age
    os.utime(path, (old, old))
    return path


@pytest.mark.skipif(os.name == 'nt', reason='no pid checks on Windows')
def test_stale_temp_files_removed(tmp_path):
    dead = _dead_pid()
    stale = _temp(tmp_path, dead, 'out.ecsv', 2 * STALE_SECONDS)
    # kept: a running writer's (this process, the parent), a recent one
    # of a dead writer, another target's, a file that only looks similar
    live = _temp(tmp_path, os.getpid(), 'out.ecsv', 2 * STALE_SECONDS)
    parent = _temp(tmp_path, os.getppid(), 'out.ecsv', 2 * STALE_SECONDS)
    recent = _temp(tmp_path, dead, 'out.ecsv', 1, random='efgh5678')
    other = _temp(tmp_path, dead, 'other.ecsv', 2 * STALE_SECONDS)
    unrelated = tmp_path / '.starcnet-notes'
    unrelated.write_text('mine')
    atomic_write(tmp_path / 'out.ecsv', _text('x'))
    assert not stale.exists()
    for path in live, parent, recent, other, unrelated:
        assert path.exists(), path.name
    assert (tmp_path / 'out.ecsv').read_text() == 'x'


def test_temp_file_names_the_target(tmp_path):
    seen = []
    atomic_write(tmp_path / 'cat.vot', seen.append, suffix='.vot')
    name = os.path.basename(seen[0])
    assert _atomic._TEMP_NAME.match(name).group(2) == 'cat.vot.vot'
    assert name.startswith(f'.starcnet-{os.getpid()}-') and name.endswith('.vot')


def _killed_writer(path, started):
    """Write half of a file through atomic_write, then wait to be killed."""
    def write(tmp):
        with open(tmp, 'w') as fh:
            fh.write('half of a catalog\n' * 1000)
            fh.flush()
            started.set()
            time.sleep(120)

    atomic_write(path, write)


def test_write_killed_leaves_no_target_and_is_cleaned(tmp_path):
    """
    ``kill -9`` during a write: nothing at the target, only a temporary
    file, which the next write of that target removes once stale.
    """
    target = tmp_path / 'catalog.ecsv'
    context = multiprocessing.get_context('spawn')
    started = context.Event()
    writer = context.Process(target=_killed_writer, args=(str(target), started))
    writer.start()
    try:
        assert started.wait(timeout=120)
        writer.kill()
    finally:
        writer.join(timeout=60)
    assert writer.exitcode == -9
    assert not target.exists()
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith('.starcnet-')]
    assert len(leftovers) == 1 and leftovers[0].name.startswith(f'.starcnet-{writer.pid}-')
    old = time.time() - STALE_SECONDS - 60
    os.utime(leftovers[0], (old, old))
    atomic_write(target, _text('whole\n'))
    assert target.read_text() == 'whole\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['catalog.ecsv']
