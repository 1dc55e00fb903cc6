# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Human review of classified catalogs: the label journal (every label on
disk at once, resumable, one file per reviewer), the labels written as
catalog columns, several reviewers merged with their agreement, and
the review web page (`ReviewServer`, ``starcnet review``; needs Flask:
``pip install starcnet[review]``) that writes into them.  `review_labels`
and `ReviewOracle` hand the labels of chosen rows to the active-learning
loop (`starcnet.training.ActiveLearner`).
"""

from .journal import (CLASS_LABELS, JOURNAL_VERSION, LABELS, CatalogMismatchError,
                      JournalError, LabelJournal, TornLineWarning, catalog_checksum,
                      read_journal)
from .labels import LABEL_COLUMNS, labelled_catalog, write_labels
from .merge import MergedReviews, cohen_kappa, merge_reviews
from .oracle import ReviewOracle, review_labels
from .queues import QUEUES, review_order
from .server import ReviewServer, default_paths, serve_review

__all__ = ['LABELS', 'CLASS_LABELS', 'JOURNAL_VERSION', 'LABEL_COLUMNS',
           'JournalError', 'CatalogMismatchError', 'TornLineWarning',
           'LabelJournal', 'read_journal', 'catalog_checksum', 'labelled_catalog',
           'write_labels', 'merge_reviews', 'MergedReviews', 'cohen_kappa',
           'QUEUES', 'review_order', 'ReviewServer', 'serve_review', 'default_paths',
           'review_labels', 'ReviewOracle']
