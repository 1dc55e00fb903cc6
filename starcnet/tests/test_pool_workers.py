# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The process pool of ``scripts/_pool.py`` (only from a source checkout)
leaves no orphaned workers: they exit when the script is killed with
``kill -9``, and Ctrl-C in the script terminates them at once.
"""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / 'scripts'
pytestmark = [
    pytest.mark.skipif(not (SCRIPTS / '_pool.py').exists(), reason='needs the source checkout'),
    pytest.mark.skipif(not Path('/proc').is_dir(), reason='reads /proc'),
]

#: A script whose two workers sleep for a minute; it prints their pids.
SCRIPT = textwrap.dedent('''
    import multiprocessing, os, signal, sys, time
    sys.path.insert(0, {scripts!r})
    import _pool

    if __name__ == '__main__':
        # as in a terminal, also when the test runs in the background
        # (where a shell starts its children with SIGINT ignored)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with _pool.worker_pool(2) as pool:
            started = [pool.submit(time.sleep, 60) for _ in range(2)]
            while len(multiprocessing.active_children()) < 2:
                time.sleep(0.05)
            print(*[p.pid for p in multiprocessing.active_children()], flush=True)
            if {interrupt!r}:
                time.sleep(0.5)
                os.kill(os.getpid(), signal.SIGINT)
            time.sleep(60)
''')


def _alive(pid):
    """Whether process ``pid`` runs (a zombie, dead but not reaped, does not)."""
    try:
        with open(f'/proc/{pid}/stat') as handle:
            return handle.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except FileNotFoundError:
        return False


def _start(tmp_path, interrupt):
    script = tmp_path / 'pool_script.py'
    script.write_text(SCRIPT.format(scripts=str(SCRIPTS), interrupt=interrupt))
    env = {**os.environ, 'PYTHONPATH': os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get('PYTHONPATH', '')])}
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    workers = [int(pid) for pid in parent.stdout.readline().split()]
    assert len(workers) == 2, parent.stderr.read()
    assert all(map(_alive, workers))
    return parent, workers


def _gone_within(pids, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(map(_alive, pids)):
            return True
        time.sleep(0.05)
    return False


def _cleanup(parent, workers):
    if parent.poll() is None:
        parent.kill()
    parent.wait(timeout=10)
    parent.stdout.close()
    parent.stderr.close()
    for pid in workers:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def test_workers_exit_when_parent_killed(tmp_path):
    parent, workers = _start(tmp_path, interrupt=False)
    try:
        parent.kill()    # SIGKILL: no cleanup in the parent at all
        parent.wait(timeout=10)
        assert _gone_within(workers, 5), f'orphaned workers {workers} still run'
    finally:
        _cleanup(parent, workers)


def test_ctrl_c_terminates_workers(tmp_path):
    parent, workers = _start(tmp_path, interrupt=True)
    try:
        parent.wait(timeout=15)
        assert 'KeyboardInterrupt' in parent.stderr.read()
        assert _gone_within(workers, 5), f'workers {workers} still run'
    finally:
        _cleanup(parent, workers)
