"""The package import stays light: no harness, demo, figures, porespy, openpnm, matplotlib or scikit-image."""

import subprocess
import sys

HEAVY = ("porespy", "openpnm", "matplotlib", "skimage", "diffsci_microstructure.harness",
         "diffsci_microstructure.demo", "diffsci_microstructure.figures", "diffsci_microstructure.evaluation")


def test_import_is_light():
    code = ("import sys, diffsci_microstructure as m; d = m.domain; "
            f"print(sorted(k for k in sys.modules if k.split('.')[0] in {HEAVY!r} or k in {HEAVY!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_lazy_entries_reach_the_harness():
    import argparse

    from diffsci_microstructure import domain
    p = argparse.ArgumentParser()
    domain.add_harness_args("generation", p)
    assert p.parse_args(["--n", "3", "--targets", "0.1,0.2"]).n == 3
    assert set(domain.harnesses) == {"generation", "reconstruction", "sample"} and callable(domain.demo)
