import numpy as np
import pytest

import diffsci_microstructure.evaluation as evaluation
from diffsci_microstructure.evaluation import compare, describe


def _blobs(n, seed):
    import porespy as ps
    return np.stack([ps.generators.blobs((24, 24, 24), porosity=0.3, blobiness=1.5, seed=seed + i) for i in range(n)])


def test_a_failed_pore_network_loses_only_its_own_volume(monkeypatch):
    vols = _blobs(3, 0)
    calls = []

    def permeability(v, voxel_size):
        calls.append(1)
        if len(calls) == 2:                                    # porespy/openpnm raise bare Exceptions
            raise Exception("The selected overlapping thickness is not suitable for input image.")
        return {"per_axis": [100.0 * len(calls)] * 3, "coordination": 3.0}
    monkeypatch.setattr(evaluation, "permeability", permeability)
    with pytest.warns(RuntimeWarning, match="permeability of volume 1 .*left out"):
        st = describe(vols, voxel_size=5e-6, with_distributions=False)
    assert np.isnan(st.values["permeability_md"][1]) and np.isnan(st.values["coordination"][1])
    np.testing.assert_array_equal(st.values["coordination"][[0, 2]], [3.0, 3.0])
    np.testing.assert_allclose(st.values["permeability_md"][[0, 2]], [100.0, 300.0])
    # the comparison averages the volumes that have a value: real mean 200 +- 141, generated 200
    c = compare(st, st)
    assert c["permeability_md_rel_error"] == 0.0 and c["permeability_within_real_std"] == 1.0
