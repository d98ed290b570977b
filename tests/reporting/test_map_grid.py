"""The shared map-grid renderer (reporting/map_grid.py): layout, colour scales, shapes."""

from __future__ import annotations

import numpy as np
import pytest

from attrbench.errors import AttrbenchError
from attrbench.reporting.map_grid import SIGNED_CMAP, UNSIGNED_CMAP, Panel, map_grid


def test_grid_layout_titles_labels_and_missing_cells():
    image = np.linspace(0, 1, 3 * 4 * 5).reshape(3, 4, 5)
    signed = np.arange(20.0).reshape(4, 5) - 8.0
    cells = [[Panel(image, "image"), Panel(signed), None],
             [Panel(image[:1], "image"), Panel(np.abs(signed), "unsigned"), Panel(-signed)]]
    fig = map_grid(cells, column_titles=["image", "IG", "VG"], row_labels=["a", "b"],
                   title="T")
    assert len(fig.axes) == 6  # row-major, one axes per cell
    assert [ax.get_title() for ax in fig.axes[:3]] == ["image", "IG", "VG"]
    assert [fig.axes[0].get_ylabel(), fig.axes[3].get_ylabel()] == ["a", "b"]
    assert fig.get_suptitle() == "T"
    assert not fig.axes[2].images and fig.axes[2].texts[0].get_text() == "not stored"
    for ax in fig.axes:
        assert list(ax.get_xticks()) == [] and list(ax.get_yticks()) == []
    # RGB image drawn as (H, W, 3); a 1-channel image as grey (H, W) on [0, 1]
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), image.transpose(1, 2, 0))
    grey = fig.axes[3].images[0]
    assert grey.get_cmap().name == "gray" and grey.get_clim() == (0.0, 1.0)
    np.testing.assert_allclose(grey.get_array(), image[0])


def test_colour_scales_follow_the_panel_kind():
    m = np.array([[-2.0, 0.5], [1.0, np.nan]])
    fig = map_grid([[Panel(m), Panel(m, vmax=4.0), Panel(np.abs(m), "unsigned"),
                     Panel(np.zeros((2, 2)))]])
    own, common, unsigned, zero = (ax.images[0] for ax in fig.axes)
    assert own.get_cmap().name == SIGNED_CMAP and own.get_clim() == (-2.0, 2.0)  # max |m|
    assert common.get_clim() == (-4.0, 4.0)
    assert unsigned.get_cmap().name == UNSIGNED_CMAP and unsigned.get_clim() == (0.0, 2.0)
    assert zero.get_clim() == (-1.0, 1.0)  # an all-zero map still has a valid scale
    assert own.get_array()[1, 1] == 0.0  # NaN drawn as 0
    clipped = map_grid([[Panel(np.full((1, 2, 2), 1.5), "image")]]).axes[0].images[0]
    np.testing.assert_array_equal(clipped.get_array(), np.ones((2, 2)))


def test_shapes_and_counts_are_checked():
    with pytest.raises(AttrbenchError, match=r"\(C, H, W\) with C = 1 or 3"):
        Panel(np.zeros((2, 4, 4)), "image")
    with pytest.raises(AttrbenchError, match=r"signed map panel needs shape \(H, W\)"):
        Panel(np.zeros((1, 4, 4)))
    with pytest.raises(AttrbenchError, match="Unknown panel kind 'rgb'"):
        Panel(np.zeros((4, 4)), "rgb")  # type: ignore[arg-type]
    with pytest.raises(AttrbenchError, match="vmax must be > 0"):
        Panel(np.zeros((4, 4)), vmax=0.0)
    p = Panel(np.zeros((4, 4)))
    with pytest.raises(AttrbenchError, match="at least one row"):
        map_grid([])
    with pytest.raises(AttrbenchError, match="needs 2 panels"):
        map_grid([[p, p], [p]])
    with pytest.raises(AttrbenchError, match="1 column titles for 2 columns"):
        map_grid([[p, p]], column_titles=["x"])
    with pytest.raises(AttrbenchError, match="2 row labels for 1 rows"):
        map_grid([[p]], row_labels=["a", "b"])


def test_panel_titles_and_blank_cells_wrap_the_explain_grid():
    import io

    from PIL import Image

    from attrbench.cli.explain import render_grid

    cells = [[Panel(np.zeros((1, 6, 6)), "image", title="a"), None]]
    fig = map_grid(cells, missing="")
    assert fig.axes[0].get_title() == "a" and not fig.axes[1].axison

    def size(n: int) -> tuple[int, int]:
        rng = np.random.default_rng(n)
        png = render_grid(rng.random((n, 3, 6, 6)), rng.normal(size=(n, 6, 6)),
                          [f"#{i}" for i in range(n)], "IG")
        return Image.open(io.BytesIO(png)).size

    # 1.6-inch cells at dpi 110, 0.85 in for heading + titles, 0.1 in margins: 8 images = one
    # block (image row, map row); 10 wrap into two, with 0.3 cells between rows for the titles
    assert size(8) == (int(110 * (8 * 1.6 + 0.2)), int(110 * (1.6 * 2 + 0.95)))
    assert size(10) == (int(110 * (8 * 1.6 + 0.2)), int(110 * (1.6 * 4.9 + 0.95)))
    assert size(3)[0] == int(110 * (3 * 1.6 + 0.2))
