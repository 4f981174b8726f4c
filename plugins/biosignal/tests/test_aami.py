"""AAMI classes from MIT-BIH symbols (ANSI/AAMI EC57, as de Chazal et al. 2004)."""

import numpy as np
import pytest

from diffsci_biosignal.aami import AAMI_CLASSES, AAMI_SYMBOLS, aami_class, aami_labels


@pytest.mark.parametrize("symbols, cls", [("NLRej", "N"), ("AaJS", "S"), ("VE", "V"), ("F", "F"), ("/fQ", "Q")])
def test_every_beat_symbol_maps_to_its_class(symbols, cls):
    assert all(aami_class(s) == cls for s in symbols)


def test_non_beat_annotations_are_not_beats():
    for s in ["+", "~", "|", '"', "!", "[", "]", "x", "(", ")", "p", "t", "u", "?"]:
        assert aami_class(s) is None
    assert aami_labels(["+", "N", "x", "V"]).tolist() == [-1, 0, -1, 2]


def test_symbol_table_is_a_partition():
    all_symbols = [s for syms in AAMI_SYMBOLS.values() for s in syms]
    assert len(all_symbols) == len(set(all_symbols)) == 15
    assert list(AAMI_SYMBOLS) == list(AAMI_CLASSES)
    labels = aami_labels(all_symbols)
    assert np.bincount(labels).tolist() == [5, 4, 2, 1, 3]
