import pytest

from diffsci.figures import pyplot, save


def test_save_writes_a_png_with_the_title_and_closes_the_figure(tmp_path):
    plt = pyplot()
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    out = save(fig, tmp_path / "a" / "b.png", title="my title", dpi=50)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig._suptitle.get_text() == "my title" and not plt.fignum_exists(fig.number)


def test_save_closes_the_figure_when_writing_fails(tmp_path):
    plt = pyplot()
    (tmp_path / "file").write_text("not a folder")
    fig, _ = plt.subplots()
    with pytest.raises(OSError):
        save(fig, tmp_path / "file" / "f.png")
    assert not plt.fignum_exists(fig.number)
