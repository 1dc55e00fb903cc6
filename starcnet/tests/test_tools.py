# Licensed under a 3-clause BSD style license - see LICENSE.rst

import pytest

from starcnet.tests._tools import require_module, require_tool

ABSENT = 'starcnet-no-such-program-xyz'


def test_present_tool_is_found():
    assert require_tool('sh').endswith('sh')


def test_absent_tool_skips_outside_ci(monkeypatch):
    monkeypatch.setenv('CI', 'false')
    with pytest.raises(pytest.skip.Exception, match=f'{ABSENT} is not installed: '
                       f'install {ABSENT}'):
        require_tool(ABSENT)
    monkeypatch.setenv('PATH', '')
    with pytest.raises(pytest.skip.Exception, match='STILTS is not installed: '
                       'apt-get install stilts'):
        require_tool('stilts')


def test_absent_tool_fails_in_ci(monkeypatch):
    monkeypatch.setenv('CI', 'true')
    with pytest.raises(pytest.fail.Exception, match='CI=true, so this test must not'):
        require_tool(ABSENT)
    with pytest.raises(pytest.fail.Exception, match='pip install starcnet_no_such'):
        require_module('starcnet_no_such')


def test_absent_module_skips(monkeypatch):
    monkeypatch.delenv('CI', raising=False)
    with pytest.raises(pytest.skip.Exception, match='starcnet_no_such is not installed'):
        require_module('starcnet_no_such')
