"""Root pytest configuration for the engine's and the plugins' tests.

The suite runs as ``pytest -n 2`` on 2 cores: one intra-op thread per worker avoids oversubscription
(measured: the training tests take 13 s with 2 threads per worker and 4 s with 1 on a loaded 2-core box).
"""

import torch

torch.set_num_threads(1)
