# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
The architecture page's layer table matches the code: every module is in
one layer, and imports only go to its own package or to lower layers.
"""

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1]
PAGE = PACKAGE.parent / 'docs' / 'architecture.rst'

pytestmark = pytest.mark.skipif(not PAGE.exists(), reason='not a source checkout')


def documented_layers():
    """``{top-level module: layer}`` from the page's layer table."""
    text = PAGE.read_text()
    block = text.split('\nLayers\n------\n', 1)[1]
    layers = {}
    for number, names in re.findall(r'^    (\d)  (.+)$', block, flags=re.M):
        for name in names.split(','):
            layers[name.strip()] = int(number)
    return layers


def top_level(parts):
    """The top-level module (below ``starcnet``) of dotted ``parts``."""
    return parts[1] if len(parts) > 1 else None


def _is_module(parts):
    where = PACKAGE.parent.joinpath(*parts)
    return where.with_suffix('.py').exists() or where.is_dir()


def imports(path):
    """Top-level starcnet modules imported by the file at ``path``."""
    rel = path.relative_to(PACKAGE.parent).with_suffix('').parts
    package = rel if path.name == '__init__.py' else rel[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(package[:len(package) - node.level + 1])
                target = base + (node.module.split('.') if node.module else [])
                if not node.module:
                    # ``from . import x``: x is a module, or a name (conf)
                    target = [base + [a.name] if _is_module(base + [a.name]) else base
                              for a in node.names]
            else:
                target = (node.module or '').split('.')
            targets = target if target and isinstance(target[0], list) else [target]
        elif isinstance(node, ast.Import):
            targets = [a.name.split('.') for a in node.names]
        else:
            continue
        for t in targets:
            if t and t[0] == 'starcnet':
                found.add(top_level(t))
    return found


def modules():
    for path in sorted(PACKAGE.rglob('*.py')):
        rel = path.relative_to(PACKAGE)
        top = len(rel.parts) == 1 and rel.name in ('conftest.py', '__init__.py')
        if 'tests' in rel.parts or top:
            continue
        yield path, rel.parts[0].removesuffix('.py')


def test_every_module_has_a_layer():
    layers = documented_layers()
    missing = {name for _, name in modules()} - set(layers)
    assert not missing, f'add these modules to the layer table of {PAGE.name}: {missing}'
    stale = set(layers) - {name for _, name in modules()}
    assert not stale, f'{PAGE.name} lists modules that do not exist: {stale}'


def test_imports_go_down():
    layers = documented_layers()
    wrong = []
    for path, name in modules():
        for target in imports(path):
            if target is None or target == name:
                continue        # the package itself (conf, version) or its own package
            if layers[target] >= layers[name]:
                wrong.append(f'{path.relative_to(PACKAGE.parent)} (layer {layers[name]}) '
                             f'imports {target} (layer {layers[target]})')
    assert not wrong, '\n'.join(wrong)


def test_the_check_can_fail(tmp_path, monkeypatch):
    # the parser finds relative, absolute and function-level imports
    module = PACKAGE / 'cutouts.py'
    assert {'legus', 'normalization'} <= imports(module)
    source = tmp_path / 'starcnet' / 'models' / 'x.py'
    source.parent.mkdir(parents=True)
    (tmp_path / 'starcnet' / 'legus.py').write_text('')
    source.write_text('def f():\n    from ..classifier import StarClusterClassifier\n'
                      'from .. import legus, conf\nimport starcnet.cli\n')
    monkeypatch.setattr(f'{__name__}.PACKAGE', tmp_path / 'starcnet')
    assert imports(source) == {'classifier', 'legus', 'cli', None}
