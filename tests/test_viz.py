"""Tests of minigan.viz: grid geometry, files written, figures labelled, bad input rejected."""
import matplotlib

matplotlib.use("Agg")  # tests only: the library itself never picks a backend

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from minigan import viz  # noqa: E402
from minigan.data import ring8  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _is_png(path):
    with open(path, "rb") as f:
        return f.read(8) == PNG_MAGIC


def _constant_images(n, c=1, h=3, w=2):
    """Image i is filled with value v_i, distinct values in (-1, 1)."""
    vals = np.linspace(-0.9, 0.9, n)
    return vals, np.broadcast_to(vals[:, None, None, None], (n, c, h, w)).astype(np.float32)


def test_image_grid_geometry_and_placement():
    vals, x = _constant_images(7)
    g = viz.image_grid(x, nrow=3, padding=1, pad_value=0.25)
    rows = 3                                                         # ceil(7 / 3)
    assert g.shape == (rows * 3 + rows + 1, 3 * 2 + 3 + 1)
    for i, v in enumerate(vals):
        r, c = divmod(i, 3)
        top, left = 1 + r * 4, 1 + c * 3
        np.testing.assert_allclose(g[top:top + 3, left:left + 2], (v + 1) / 2, atol=1e-6)
    assert g[0, 0] == 0.25 and g[4, 0] == 0.25                       # border and separator
    np.testing.assert_allclose(g[9:12, 4:6], 0.25)                   # empty cells 7, 8


def test_image_grid_orientation_inside_an_image():
    x = np.full((1, 1, 2, 3), -1.0)
    x[0, 0, 0, 2] = 1.0                                              # top-right pixel white
    g = viz.image_grid(x, padding=0)
    np.testing.assert_array_equal(g, [[0, 0, 1], [0, 0, 0]])


def test_image_grid_rgb_default_nrow_and_clipping():
    _, x = _constant_images(10, c=3, h=4, w=4)
    g = viz.image_grid(x)                                            # nrow = ceil(sqrt(10)) = 4
    assert g.shape == (3 * 4 + 4, 4 * 4 + 5, 3)
    g3 = viz.image_grid(np.array([[[5.0, -5.0]]]), padding=0)        # (N, H, W), clipped
    np.testing.assert_array_equal(g3, [[1.0, 0.0]])
    assert viz.image_grid(x[:2], nrow=8, padding=0).shape == (4, 8, 3)   # nrow > N


@pytest.mark.parametrize("images,kw", [
    (np.zeros((2, 2, 4, 4)), {}),         # 2 channels
    (np.zeros((4, 4)), {}),               # not a batch
    (np.zeros((0, 1, 4, 4)), {}),         # empty
    (np.zeros((2, 1, 4, 4)), {"nrow": 0}),
    (np.zeros((2, 1, 4, 4)), {"padding": -1}),
])
def test_image_grid_rejects_bad_input(images, kw):
    with pytest.raises(ValueError):
        viz.image_grid(images, **kw)


def test_save_image_grid_writes_a_png_of_the_grid(tmp_path):
    from matplotlib.image import imread

    _, x = _constant_images(6, h=8, w=8)
    path = tmp_path / "grid.png"
    g = viz.save_image_grid(x, path, nrow=3, scale=2)
    assert _is_png(path)
    assert g.shape == (2 * (2 * 8 + 3), 2 * (3 * 8 + 4))
    img = imread(path)
    assert img.shape[:2] == g.shape
    np.testing.assert_allclose(img[..., 0], g, atol=1 / 255 + 1e-6)  # grey: R = G = B = value
    with pytest.raises(ValueError, match="scale"):
        viz.save_image_grid(x, tmp_path / "bad.png", scale=0)


def test_plot_image_grid(tmp_path):
    _, x = _constant_images(4, c=3)
    fig = viz.plot_image_grid(x, title="four", path=tmp_path / "f.png")
    assert isinstance(fig, Figure) and fig.axes[0].get_title() == "four"
    assert _is_png(tmp_path / "f.png")


def test_plot_samples_2d(tmp_path):
    mix = ring8()
    fake = np.random.default_rng(0).normal(size=(200, 2)) * 0.1 + 3.0    # far from the ring
    fig = viz.plot_samples_2d(fake, mix, data=mix.sample(100, rng=0), path=tmp_path / "s.png")
    assert isinstance(fig, Figure) and _is_png(tmp_path / "s.png")
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_title()
    assert len(ax.collections) == 3                                  # data, samples, centres
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert x0 <= -1 and x1 >= 3 and y0 <= -1 and y1 >= 3              # ring and samples visible


def test_plot_samples_2d_into_given_axes_and_without_centres():
    fig = Figure()
    ax = fig.add_subplot(1, 2, 2)
    out = viz.plot_samples_2d(np.zeros((5, 2)), ax=ax, title="mine")
    assert out is fig and ax.get_title() == "mine" and len(ax.collections) == 1
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        viz.plot_samples_2d(np.zeros((5, 3)))


def test_plot_density_2d(tmp_path):
    mix = ring8()
    x = np.concatenate([mix.sample(500, rng=1), [[np.nan, 0.0]]])
    fig = viz.plot_density_2d(x, mix, bins=40, path=tmp_path / "d.png")
    assert isinstance(fig, Figure) and _is_png(tmp_path / "d.png")
    assert "log" in fig.axes[0].get_title().lower()
    mesh = fig.axes[0].collections[0]
    assert np.isclose(np.expm1(mesh.get_array()).sum(), 500)       # every finite sample counted


def test_plot_losses(tmp_path):
    hist = {"D loss": list(np.linspace(1.4, 0.6, 50)), "G loss": [0.7] * 50}
    fig = viz.plot_losses(hist, path=tmp_path / "l.png")
    assert _is_png(tmp_path / "l.png")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["D loss", "G loss"]
    assert ax.get_xlabel() == "step" and ax.get_ylabel() == "loss" and ax.get_title()
    np.testing.assert_allclose(ax.lines[0].get_ydata(), hist["D loss"])

    fig = viz.plot_losses(hist, smooth=10, steps=np.arange(50) * 100)
    xs, ys = fig.axes[0].lines[0].get_xdata(), fig.axes[0].lines[0].get_ydata()
    assert len(ys) == 41 and xs[0] == 900 and xs[-1] == 4900
    np.testing.assert_allclose(ys[0], np.mean(hist["D loss"][:10]))
    assert "moving average" in fig.axes[0].get_title()


@pytest.mark.parametrize("hist,kw", [({}, {}), ([1, 2], {}), ({"a": [1, 2]}, {"smooth": 0}),
                                      ({"a": [1, 2]}, {"steps": [1, 2, 3]})])
def test_plot_losses_rejects_bad_input(hist, kw):
    with pytest.raises(ValueError):
        viz.plot_losses(hist, **kw)


def test_plot_training_snapshots(tmp_path):
    mix = ring8()
    snaps = [np.zeros((50, 2)) + t for t in range(4)]
    fig = viz.plot_training_snapshots(snaps, [0, 100, 200, 300], mix, path=tmp_path / "t.png")
    assert _is_png(tmp_path / "t.png")
    assert [ax.get_title() for ax in fig.axes] == ["step 0", "step 100", "step 200", "step 300"]
    assert len({ax.get_xlim() for ax in fig.axes}) == 1              # shared limits
    assert fig.axes[0].get_xlim()[1] >= 3
    with pytest.raises(ValueError, match="as many steps"):
        viz.plot_training_snapshots(snaps, [0, 1], mix)


def test_library_opens_no_pyplot_figures():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    viz.plot_samples_2d(np.zeros((3, 2)))
    viz.plot_losses({"a": [1.0, 2.0]})
    assert plt.get_fignums() == before
