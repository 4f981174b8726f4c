import pytest
import torch

from diffsci import Cond


def test_drop_cat_index_repeat():
    c = Cond(label=torch.tensor([0, 2]), scalars=torch.tensor([[0.1], [0.2]]))
    assert c.batch_size == 2 and c.dropped is None
    d = c.drop(torch.tensor([True, False]))
    assert d.dropped.tolist() == [True, False] and d.drop().dropped.tolist() == [True, True]
    both = Cond.cat([c, d])
    assert both.label.tolist() == [0, 2, 0, 2] and both.dropped.tolist() == [False, False, True, False]
    r = c.repeat_interleave(3)
    assert r.label.tolist() == [0, 0, 0, 2, 2, 2] and r.scalars.shape == (6, 1)
    assert c.index(slice(1, 2)).label.tolist() == [2]
    with pytest.raises(ValueError, match="only some have 'scalars'"):
        Cond.cat([c, Cond(label=torch.tensor([1]))])


def test_from_batch():
    assert Cond.from_batch({"x": torch.zeros(2, 1, 4)}) is None
    c = Cond.from_batch({"x": torch.zeros(2, 1, 4), "label": torch.tensor([1, 0])})
    assert c.label.tolist() == [1, 0] and c.scalars is None
