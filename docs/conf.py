# Licensed under a 3-clause BSD style license - see LICENSE.rst
#
# Sphinx configuration of the starcnet documentation.  Build offline with
#   sphinx-build -W -b html -D disable_intersphinx=1 docs docs/_build/html
import datetime
import tomllib
from importlib import metadata
from pathlib import Path

from sphinx_astropy.conf.v3 import *  # noqa: F401, F403
from sphinx_astropy.conf.v3 import exclude_patterns, extensions, intersphinx_mapping

with (Path(__file__).parents[1] / 'pyproject.toml').open('rb') as f:
    project_meta = tomllib.load(f)['project']

project = project_meta['name']
author = project_meta['authors'][0]['name']
copyright = f'{datetime.date.today().year}, {author}'
release = metadata.version(project)
version = '.'.join(release.split('.')[:2])

extensions += ['sphinx.ext.doctest']
exclude_patterns += ['_build', '_templates']

intersphinx_mapping.update({
    'photutils': ('https://photutils.readthedocs.io/en/stable/', None),
    'regions': ('https://astropy-regions.readthedocs.io/en/stable/', None),
    'torch': ('https://docs.pytorch.org/docs/stable/', None),
})

html_theme_options = {
    'github_url': 'https://github.com/starcnet/starcnet',
}
html_title = f'{project} v{release}'
htmlhelp_basename = project + 'doc'
nitpicky = False
