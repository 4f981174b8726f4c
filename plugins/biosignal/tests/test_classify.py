"""The downstream beat classifier and its metrics."""

import numpy as np
import pytest
import torch

from diffsci_biosignal.classify import jitter, macro_f1, per_class_recall, predict, train_classifier


def test_metrics_by_hand():
    y = np.array([0, 0, 0, 1, 1, 2])
    p = np.array([0, 0, 1, 1, 2, 2])
    # F1: class 0: 2*2/(4+0+1) = 0.8; class 1: 2/(2+1+1) = 0.5; class 2: 2/(2+1+0) = 2/3
    assert macro_f1(y, p, [0, 1, 2]) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert per_class_recall(y, p, [0, 1, 2]) == pytest.approx({0: 2 / 3, 1: 0.5, 2: 1.0})


def test_cnn_learns_separable_beats():
    rng = np.random.default_rng(0)
    t = np.linspace(-1, 1, 64)
    narrow, wide = np.exp(-t ** 2 / 0.002), -np.exp(-t ** 2 / 0.05)
    x = np.concatenate([narrow + 0.05 * rng.standard_normal((60, 64)), wide + 0.05 * rng.standard_normal((20, 64))])
    y = np.array([0] * 60 + [1] * 20)
    net = train_classifier(x[:, None].astype(np.float32), y, 2, seed=0, epochs=6, batch_size=16)
    assert macro_f1(y, predict(net, x[:, None].astype(np.float32)), [0, 1]) == 1.0


def test_jitter_keeps_shape_and_changes_values():
    x = np.ones((4, 1, 32), np.float32)
    j = jitter(x, np.random.default_rng(0))
    assert j.shape == x.shape and not np.allclose(j, x)


def test_steps_sets_the_optimiser_budget_whatever_the_set_size(monkeypatch):
    # OneCycleLR raises when stepped past total_steps, so the loop must stop exactly at the budget
    seen = []
    one_cycle = torch.optim.lr_scheduler.OneCycleLR

    def spy(opt, max_lr, total_steps):
        seen.append(total_steps)
        return one_cycle(opt, max_lr=max_lr, total_steps=total_steps)

    monkeypatch.setattr(torch.optim.lr_scheduler, "OneCycleLR", spy)
    x = np.random.default_rng(0).standard_normal((40, 1, 32)).astype(np.float32)
    y = np.arange(40) % 2
    train_classifier(x, y, 2, epochs=3, batch_size=8)                  # 3 epochs x 5 batches
    train_classifier(x, y, 2, epochs=3, batch_size=8, steps=7)         # less than one pass more: the budget
    train_classifier(x, y, 2, epochs=3, batch_size=8, steps=12)        # two passes and a bit
    assert seen == [15, 7, 12]
