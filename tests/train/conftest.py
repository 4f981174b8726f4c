"""Fixtures of the training tests: the tiny stand-in network, datasets and config of ``_tiny.py``."""

import importlib.util
from pathlib import Path

import pytest
import torch

_spec = importlib.util.spec_from_file_location("diffsci_tests_tiny", Path(__file__).with_name("_tiny.py"))
tiny = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny)


@pytest.fixture
def tinymod():
    return tiny

# Tiny networks on a shared 2-core machine: one intra-op thread is several times faster than two
# threads spinning against other jobs (measured: test_loop.py 13 s -> 4 s under load).
torch.set_num_threads(1)
