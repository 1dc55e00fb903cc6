# Licensed under a 3-clause BSD style license - see LICENSE.rst
"""
Helpers of the model tests: a local HTTP server (downloads are tested
against 127.0.0.1, never the internet), metadata of a test model, and a
temporary remote registry entry.
"""

import functools
import hashlib
import http.server
import socket
import threading

from starcnet.legus import CLASS_NAMES
from starcnet.models import ModelInfo, registry

METADATA = {
    'name': 'test-model',
    'description': 'a tiny test model',
    'bands': ['F275W', 'F336W', 'F438W', 'F555W', 'F814W'],
    'normalization': {'kind': 'asinh', 'offset': [0.1, 0.2, 0.3, 0.4, 0.5],
                      'scale': [1.0, 2.0, 3.0, 4.0, 5.0]},
    'license': 'BSD-3-Clause',
    'citation': 'nobody 2026',
    'training': {'epochs': 3, 'seed': 42, 'confusion': [[1, 2], [3, 4]],
                 'accuracy': 0.5},
}


def sha256_of(path):
    with open(path, 'rb') as handle:
        return hashlib.sha256(handle.read()).hexdigest()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):
        pass


class LocalServer:
    """A static-file HTTP server on 127.0.0.1, in a thread."""

    def __init__(self, directory):
        handler = functools.partial(_QuietHandler, directory=str(directory))
        self.httpd = http.server.HTTPServer(('127.0.0.1', 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={'poll_interval': 0.05})
        self.thread.start()
        self.running = True

    def url(self, name):
        return f'http://127.0.0.1:{self.port}/{name}'

    def stop(self):
        if self.running:
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()
            self.running = False


def closed_port_url():
    """A URL on 127.0.0.1 where nothing listens."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    return f'http://127.0.0.1:{port}/starcnet.pth'


def register(monkeypatch, **kwargs):
    """Register a temporary remote model for one test."""
    fields = {'name': 'test-remote', 'description': 'test', 'kind': 'remote',
              'format': 'published',
              'config': {'width': 32, 'n_bands': 5, 'n_classes': 4, 'size': 32,
                         'groups': 8, 'dropout': 0.5},
              'bands': ('F275W', 'F336W', 'F438W', 'F555W', 'F814W'),
              'normalization': {'kind': 'affine', 'offset': [0.0] * 5,
                                'scale': [1.0] * 5},
              'classes': dict(CLASS_NAMES)}
    fields.update(kwargs)
    info = ModelInfo(**fields)
    monkeypatch.setitem(registry._REGISTRY, info.name, info)
    return info
