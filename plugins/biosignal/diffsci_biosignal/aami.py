"""AAMI beat classes (ANSI/AAMI EC57) from MIT-BIH annotation symbols.

The grouping used by de Chazal et al. (2004) and most inter-patient studies:

====  ===============================  =================================
AAMI  meaning                          MIT-BIH symbols
====  ===============================  =================================
N     normal and bundle-branch block   N, L, R, e (atrial escape), j (nodal escape)
S     supraventricular ectopic         A, a, J, S
V     ventricular ectopic              V, E
F     fusion of ventricular + normal   F
Q     paced / unclassifiable           /, f, Q
====  ===============================  =================================

Every other symbol (rhythm changes ``+``, noise ``~``, ``|``, ``"``, flutter waves ``!``, ``[``, ``]``,
non-conducted P waves ``x``, ...) is not a beat.

>>> aami_class("L"), aami_class("a"), aami_class("E"), aami_class("+")
('N', 'S', 'V', None)
>>> aami_labels(["N", "V", "~", "/"]).tolist()
[0, 2, -1, 4]
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

__all__ = ["AAMI_CLASSES", "AAMI_SYMBOLS", "aami_class", "aami_labels"]

AAMI_CLASSES = ("N", "S", "V", "F", "Q")

AAMI_SYMBOLS: dict[str, tuple[str, ...]] = {
    "N": ("N", "L", "R", "e", "j"),
    "S": ("A", "a", "J", "S"),
    "V": ("V", "E"),
    "F": ("F",),
    "Q": ("/", "f", "Q"),
}

_SYMBOL_TO_CLASS = {s: c for c, syms in AAMI_SYMBOLS.items() for s in syms}


def aami_class(symbol: str) -> str | None:
    """The AAMI class of one MIT-BIH beat symbol, or None if the symbol is not a beat."""
    return _SYMBOL_TO_CLASS.get(symbol)


def aami_labels(symbols: Iterable[str]) -> np.ndarray:
    """Class indices into :data:`AAMI_CLASSES` (N=0, S=1, V=2, F=3, Q=4); -1 for non-beat symbols."""
    index = {c: i for i, c in enumerate(AAMI_CLASSES)}
    return np.array([index[c] if (c := aami_class(s)) is not None else -1 for s in symbols], dtype=np.int64)
