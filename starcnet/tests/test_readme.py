# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The README's set-up commands and CI must not drift apart.
"""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _readme_commands():
    text = (ROOT / 'README.rst').read_text()
    return re.findall(r'\.\. code-block:: bash\n\n    (.+)\n', text)


@pytest.mark.skipif(not (ROOT / '.ci' / 'run').exists(),
                    reason='not a source checkout')
def test_ci_runs_the_readme_test_command():
    commands = _readme_commands()
    assert len(commands) >= 2
    assert 'starcnet demo' in commands[0]
    assert 'pytest' in commands[1]
    ci = (ROOT / '.ci' / 'run').read_text().splitlines()
    assert commands[1] in ci
