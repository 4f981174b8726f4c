"""``diffsci evaluate``'s harness parser: the common options, and a task that opts out of --data/--quick."""

import pytest

from diffsci.cli.evaluate import harness_parser
from diffsci.domains import Domain


def _domain(without=None) -> Domain:
    def task(args):
        return {"rows": []}
    if without is not None:
        task.without_options = without
    return Domain(name="toy", spatial_dims=(1,), harnesses={"t": task})


def test_common_options_are_there_by_default():
    a = harness_parser(_domain(), "t").parse_args(["--out", "o", "--data", "d", "--quick", "--seed", "3"])
    assert (a.out, a.data, a.quick, a.seed) == ("o", "d", True, 3)


@pytest.mark.parametrize("flag", [["--data", "d"], ["--quick"]])
def test_a_task_without_data_or_quick_refuses_the_flag_and_keeps_the_default(flag, capsys):
    p = harness_parser(_domain(("data", "quick")), "t")
    a = p.parse_args(["--out", "o"])
    assert a.data is None and a.quick is False                  # code reading them still works
    with pytest.raises(SystemExit):
        p.parse_args(["--out", "o", *flag])
    assert f"unrecognized arguments: {flag[0]}" in capsys.readouterr().err
    assert flag[0] not in p.format_help()


def test_the_plugins_record_and_sample_tasks_opt_out():
    from diffsci.domains import get_domain
    micro, bio = get_domain("microstructure"), get_domain("biosignal")
    assert micro.harnesses["sample"].without_options == ("data", "quick")
    assert bio.harnesses["denoise-record"].without_options == ("data",)
    assert "--quick" in harness_parser(bio, "denoise-record").format_help()
    assert not hasattr(micro.harnesses["generation"], "without_options")
