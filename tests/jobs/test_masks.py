"""Masks drawn from the editor's shapes, at the image's own resolution."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from pydantic import TypeAdapter, ValidationError

from bot.jobs.masks import MAX_POINTS, BrushShape, LassoShape, RectShape, Shape, shapes_mask

SHAPES = TypeAdapter(list[Shape])


def _mask(size: tuple[int, int], shapes: list[Shape]) -> Image.Image:
    return Image.open(io.BytesIO(shapes_mask(size, shapes)))


def test_a_rectangle_is_white_inside_and_black_outside() -> None:
    mask = _mask((400, 200), [RectShape(kind="rect", x0=0.5, y0=0.0, x1=1.0, y1=1.0)])
    assert mask.size == (400, 200)
    assert mask.mode == "L"
    assert mask.getpixel((300, 100)) == 255
    assert mask.getpixel((100, 100)) == 0


def test_a_lasso_fills_its_polygon() -> None:
    triangle = LassoShape(kind="lasso", points=[(0.0, 0.0), (0.5, 0.0), (0.0, 0.5)])
    mask = _mask((200, 200), [triangle])
    assert mask.getpixel((10, 10)) == 255
    assert mask.getpixel((150, 150)) == 0


def test_a_brush_stroke_paints_its_width() -> None:
    stroke = BrushShape(kind="brush", size=0.1, points=[(0.1, 0.5), (0.9, 0.5)])
    mask = _mask((100, 100), [stroke])
    assert mask.getpixel((50, 50)) == 255
    assert mask.getpixel((50, 53)) == 255  # within the 10 px width
    assert mask.getpixel((50, 70)) == 0


def test_shapes_parse_from_the_page_json_and_bad_ones_are_refused() -> None:
    parsed = SHAPES.validate_python(
        [
            {"kind": "rect", "x0": 0, "y0": 0, "x1": 1, "y1": 1},
            {"kind": "brush", "size": 0.05, "points": [[0.2, 0.2]]},
        ]
    )
    assert [type(s) for s in parsed] == [RectShape, BrushShape]
    for bad in (
        [{"kind": "rect", "x0": -1, "y0": 0, "x1": 1, "y1": 1}],  # outside the image
        [{"kind": "lasso", "points": [[0, 0], [1, 1]]}],  # not a polygon
        [{"kind": "circle"}],
        [{"kind": "brush", "size": 0.05, "points": [[0.1, 0.1]] * (MAX_POINTS + 1)}],
    ):
        with pytest.raises(ValidationError):
            SHAPES.validate_python(bad)


def test_a_mask_larger_than_the_cap_is_refused() -> None:
    with pytest.raises(ValueError, match="larger"):
        shapes_mask((6000, 6000), [RectShape(kind="rect", x0=0, y0=0, x1=1, y1=1)])
