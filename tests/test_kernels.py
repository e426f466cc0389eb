"""Presets and the kernel parser: numbers, shapes and every error names the cell."""

import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from kernels_playground import number_grids
from kernels_playground.convolve import apply_kernel
from kernels_playground.kernels import (
    DESCRIPTIONS,
    MAX_KERNEL_SIDE,
    MAX_KERNEL_WEIGHT,
    PRESETS,
    format_kernel,
    parse_kernel,
    validate_kernel,
)
from kernels_playground.render import render_feature_map
from menny_base import numbers
from menny_base.numbers import (
    MAX_EXPONENT,
    MAX_NUMBER_CHARS,
    MIN_EXPONENT,
    NumberError,
    parse_number,
)


def test_presets_are_float32_2d_and_described():
    assert set(PRESETS) == set(DESCRIPTIONS)
    for name, kernel in PRESETS.items():
        assert kernel.dtype == np.float32 and kernel.ndim == 2, name
        assert DESCRIPTIONS[name] and "\n" not in DESCRIPTIONS[name]
    for name in ["box blur 3x3", "box blur 5x5", "Gaussian blur 3x3", "Gaussian blur 5x5"]:
        assert PRESETS[name].sum() == pytest.approx(1.0, abs=1e-6), name
    for name in ["Sobel x", "Sobel y", "Prewitt x", "Prewitt y", "outline"]:
        assert PRESETS[name].sum() == 0, name
    assert PRESETS["Gaussian blur 5x5"][2, 2] == pytest.approx(36 / 256)
    np.testing.assert_array_equal(
        PRESETS["Laplacian (4-neighbour)"], [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
    )
    np.testing.assert_array_equal(PRESETS["outline"], [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
    np.testing.assert_array_equal(
        PRESETS["horizontal edges (chapter)"], [[1, 1, 1], [0, 0, 0], [-1, -1, -1]]
    )
    np.testing.assert_array_equal(PRESETS["vertical edges (chapter)"], [[1, 0, -1]] * 3)
    # Sobel x is positive where the image gets brighter to the right (no flip).
    ramp = np.arange(3, dtype=np.float32)[None, :].repeat(3, axis=0)
    assert (PRESETS["Sobel x"] * ramp).sum() == 8


@pytest.mark.parametrize(
    "text",
    [
        "1 0 -1\n2 0 -2\n1 0 -1",
        "1, 0, -1\n2, 0, -2\n1, 0, -1\n\n",
        "1,0,-1; 2,0,-2; 1,0,-1",
        "[[1, 0, -1], [2, 0, -2], [1, 0, -1]]",
        "  1\t0  \u22121\n2 0 -2\n1.0 0 -1e0",
    ],
)
def test_text_forms(text):
    np.testing.assert_array_equal(parse_kernel(text), [[1, 0, -1], [2, 0, -2], [1, 0, -1]])


def test_fractions_and_decimals():
    kernel = parse_kernel("1/9 1/9\n-0.5 .25")
    assert kernel.dtype == np.float32
    np.testing.assert_allclose(kernel, [[1 / 9, 1 / 9], [-0.5, 0.25]], rtol=1e-7)


def test_dataframe_rows_with_blank_trailing_cells():
    grid = [
        ["1", 2, "-1/2", None, ""],
        [0, "0", 0.0, "", None],
        [None, "", None, None, None],
        [float("nan"), None, "", "", ""],
    ]
    np.testing.assert_array_equal(parse_kernel(grid), [[1, 2, -0.5], [0, 0, 0]])


def test_pandas_like_and_arrays():
    class Frame:  # what gr.Dataframe hands over: has to_numpy
        def to_numpy(self, dtype=None):
            return np.array([["1", "2"], ["3", None]], dtype=object)

    with pytest.raises(ValueError, match="rectangular: row 2 has 1 numbers, row 1 has 2"):
        parse_kernel(Frame())
    np.testing.assert_array_equal(parse_kernel(np.eye(2)), np.eye(2))


@pytest.mark.parametrize(
    "grid,message",
    [
        ("1 0 -1\n2 0 abc", "row 2, column 3: 'abc' is not a number"),
        ("1 0 -1\n2 0", "the kernel must be rectangular: row 2 has 2 numbers, row 1 has 3"),
        ("", "empty kernel"),
        ("  \n , \n", "empty kernel"),
        ([[None, ""]], "empty kernel"),
        ([[1, None, 2]], "row 1, column 2 is empty"),
        ("1 nan", "row 1, column 2: 'nan' is not a finite number"),
        ("inf", "not a finite number"),
        ("1/0", "'1/0' is not a number"),
        ([[1, True]], "row 1, column 2: True is not a number"),
        ("\n".join(["1 2 3"] * 17), "kernel is 17x3; the largest allowed is 15x15"),
    ],
)
def test_errors_name_the_cell(grid, message):
    with pytest.raises(ValueError) as error:
        parse_kernel(grid)
    assert message in str(error.value)


def test_validate_kernel():
    assert validate_kernel([[1, 2]]).dtype == np.float32
    with pytest.raises(ValueError, match="2-D"):
        validate_kernel(np.ones((3, 3, 3)))
    with pytest.raises(ValueError, match=r"^row 2, column 1: inf is not a finite number"):
        validate_kernel([[1.0], [np.inf]])
    with pytest.raises(ValueError, match=f"largest allowed is {MAX_KERNEL_SIDE}x"):
        validate_kernel(np.ones((1, 16)))
    with pytest.raises(ValueError, match="empty kernel"):
        validate_kernel(np.ones((0, 3)))
    with pytest.raises(TypeError, match="grid of numbers"):
        validate_kernel([["a"]])
    with pytest.raises(TypeError):
        parse_kernel(42)


@pytest.mark.parametrize("name", list(PRESETS))
def test_format_kernel_round_trips_every_preset(name):
    text = format_kernel(PRESETS[name])
    assert len(text.splitlines()) == PRESETS[name].shape[0]
    np.testing.assert_allclose(parse_kernel(text), PRESETS[name], rtol=0, atol=1e-6)


def test_format_kernel_writes_fractions_and_falls_back_to_decimals():
    assert format_kernel(PRESETS["box blur 3x3"]) == "\n".join(["1/9  1/9  1/9"] * 3)
    assert format_kernel(PRESETS["Gaussian blur 5x5"]).splitlines()[2].split()[2] == "9/64"
    assert format_kernel(PRESETS["Sobel x"]).splitlines()[1] == "-2  0  2"
    # Not a fraction with a denominator up to 256: 6 significant digits instead.
    assert format_kernel([[0.5**0.5, -2.5]]) == "0.707107  -5/2"


def test_kernel_weights_are_bounded_so_feature_maps_stay_finite():
    with pytest.raises(ValueError) as huge:
        validate_kernel([[1e38, 0], [0, 0]])  # finite in float32, but overflows any sum
    assert str(huge.value) == (
        "kernel weights must be between -1,000,000 and 1,000,000, got 1e+38 at row 1, column 1"
    )
    with pytest.raises(ValueError, match=r"got -1e\+39 at row 2, column 1$"):
        validate_kernel([[1.0], [-1e39]])  # would overflow float32 itself
    assert MAX_KERNEL_WEIGHT == 1e6
    assert max(float(np.abs(kernel).max()) for kernel in PRESETS.values()) <= MAX_KERNEL_WEIGHT
    # The worst allowed case stays finite: 15x15 weights of 1e6 over 4 channels of 65535.
    worst = np.full((MAX_KERNEL_SIDE, MAX_KERNEL_SIDE), MAX_KERNEL_WEIGHT)
    image = np.full((20, 20, 4), 65535, np.uint16)
    feature = apply_kernel(image, -worst, mode="per_channel")
    assert np.isfinite(feature).all()
    assert feature.min() == pytest.approx(-225 * 1e6 * 65535, rel=1e-6)
    assert render_feature_map(feature).note.startswith("4 channels shown as RGB of |value| ")


def test_a_16x16_grid_is_refused_by_naming_the_15x15_limit():
    assert parse_kernel("\n".join(["1 " * 15] * 15)).shape == (15, 15)
    with pytest.raises(ValueError) as caught:
        parse_kernel("\n".join(["1 " * 16] * 16))
    assert str(caught.value) == "kernel is 16x16; the largest allowed is 15x15"


# -- hostile text: bounded work, one sentence ------------------------------------

# Each is at most a few dozen characters, yet read naively costs seconds to minutes
# (Fraction builds 10**exponent) or raises OverflowError instead of a sentence.
HOSTILE = [
    ("1e-10000000", "'1e-10000000' has the exponent -10000000; exponents must be between -45"),
    ("1e400", "'1e400' has the exponent 400; exponents must be between -45 and 38"),
    ("-1E39", "has the exponent 39"),
    ("2.5e-46", "has the exponent -46"),
    ("1e" + "9" * 30, "exponents must be between -45 and 38 (what float32 can hold)"),
    (".5e-" + "9" * 28, "exponents must be between -45 and 38"),
    ("1/" + "9" * 40, "is 42 characters long; write a number of at most 32 characters"),
    ("9" * 33, "is 33 characters long"),
    ("1" * 100_000, "is 100,000 characters long"),
]


@pytest.fixture
def fraction_calls(monkeypatch):
    """Every argument Fraction receives while parsing text (the costly, exact step)."""
    calls = []

    def spy(*args):
        calls.append(args)
        return Fraction(*args)

    monkeypatch.setattr(numbers, "Fraction", spy)
    return calls


@pytest.mark.parametrize("token,message", HOSTILE)
def test_hostile_numbers_are_refused_before_any_arithmetic(token, message, fraction_calls):
    grid = "\n".join([" ".join([token] * MAX_KERNEL_SIDE)] * MAX_KERNEL_SIDE)  # worst case
    with pytest.raises(ValueError) as caught:
        parse_kernel(grid)
    assert str(caught.value).startswith("row 1, column 1: ")
    assert message in str(caught.value)
    assert len(str(caught.value)) < 200  # a sentence, never the whole token echoed back
    with pytest.raises(NumberError, match=re.escape(message)):
        parse_number(token)
    assert fraction_calls == []  # refused by reading characters only: 10**N was never built


def test_the_largest_accepted_numbers_stay_cheap_and_exact(fraction_calls):
    longest = ["-123456789012345678901.23456e-45", "-123456789012345/123456789012345"]
    assert [len(token) for token in longest] == [MAX_NUMBER_CHARS] * 2
    assert parse_number(longest[0]) == float(Fraction(longest[0]))
    assert parse_number(longest[1]) == -1.0
    row = " ".join(longest[i % 2] for i in range(MAX_KERNEL_SIDE))
    kernel = parse_kernel("\n".join([row] * MAX_KERNEL_SIDE))
    assert kernel.shape == (MAX_KERNEL_SIDE, MAX_KERNEL_SIDE)
    # Fraction only ever sees "a/b" with at most 31 digits in all: never a power of ten.
    assert {args for args in fraction_calls} == {(longest[1],)}


def test_a_huge_grid_is_refused_before_its_cells_are_read(monkeypatch):
    read = []
    monkeypatch.setattr(number_grids, "parse_number", lambda text: read.append(text) or 1.0)
    with pytest.raises(ValueError, match=r"^kernel is 1000x1000; the largest allowed is 15x15$"):
        parse_kernel("\n".join(["1e-10000000 " * 1000] * 1000))
    with pytest.raises(ValueError, match=r"^kernel is 2x200; the largest"):
        parse_kernel([["1"] * 200, ["1"]])
    assert read == []


def test_huge_integers_from_a_table_or_an_array_are_sentences():
    with pytest.raises(ValueError, match=r"^row 1, column 2: the integer is too large; kernel"):
        parse_kernel([[1, 10**400]])
    with pytest.raises(ValueError, match="got an integer too large for a float"):
        validate_kernel([[10**400]])


@pytest.mark.parametrize(
    "token,expected",
    [("7", 7.0), ("-0.5", -0.5), (".25", 0.25), ("2e-3", 0.002), ("1/9", 1 / 9), ("+3.", 3.0)],
)
def test_parse_number_reads_what_learners_type(token, expected):
    assert parse_number(f" {token} ") == expected
    assert parse_number(token.replace("-", "\u2212")) == expected


@given(
    st.decimals(allow_nan=False, allow_infinity=False).filter(
        lambda d: len(str(d)) <= MAX_NUMBER_CHARS
    )
)
def test_parse_number_rounds_like_an_exact_fraction(number):
    text = str(number)  # "-0.0012", "1.5E+7", "3E-80": Python's own decimal spellings
    if "E" in text and not MIN_EXPONENT <= int(text.split("E")[1]) <= MAX_EXPONENT:
        with pytest.raises(NumberError, match="exponents must be between"):
            parse_number(text)
    else:
        assert parse_number(text) == float(Fraction(text))  # the exact oracle, bounded here
