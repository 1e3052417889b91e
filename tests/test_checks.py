"""The shared argument checks: what each accepts, refuses and says."""

import math

import numpy as np
import pytest

from dilemmazoo.envs.checks import check_choice, check_int, check_non_negative, check_probability, check_real


def test_check_real_bounds_and_messages():
    assert check_real("x", 3) == 3.0 and isinstance(check_real("x", 3), float)
    assert check_real("x", np.float32(0.5), low=0.0, high=1.0) == 0.5
    assert check_real("x", 0.0, low=0.0) == 0.0
    with pytest.raises(ValueError, match=r"x must be a finite number in \(0, 1\], got 0"):
        check_real("x", 0, low=0.0, high=1.0, low_open=True)
    with pytest.raises(ValueError, match=r"x must be a finite number in \[1, inf\), got 0.5"):
        check_real("x", 0.5, low=1.0)
    with pytest.raises(ValueError, match=r"x must be a finite number in \(-inf, 2\], got 3"):
        check_real("x", 3, high=2.0)
    for bad in (True, "1", None, math.nan, math.inf):
        with pytest.raises(ValueError, match="x must be a finite number"):
            check_real("x", bad)


def test_check_choice_lists_the_choices():
    assert check_choice("mode", "a", ("a", "b")) == "a"
    assert check_choice("mode", "b", {"a": 1, "b": 2}) == "b"
    with pytest.raises(ValueError, match=r"mode must be one of \['a', 'b'\], got 'c'"):
        check_choice("mode", "c", ("a", "b"))
    with pytest.raises(ValueError, match="mode must be one of"):
        check_choice("mode", ["a"], {"a", "b"})  # unhashable: refused, not a TypeError


def test_int_probability_and_non_negative_refuse_bools_and_out_of_range():
    assert check_int("n", np.int64(3), 1, 5) == 3
    for bad in (True, 0, 6, 2.0):
        with pytest.raises(ValueError, match="n must be an integer from 1 to 5"):
            check_int("n", bad, 1, 5)
    assert check_probability("p", 1) == 1.0
    for bad in (True, -0.1, 1.1, math.nan):
        with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
            check_probability("p", bad)
    assert check_non_negative("c", 0) == 0.0
    for bad in (False, -1, math.inf):
        with pytest.raises(ValueError, match="c must be a finite number >= 0"):
            check_non_negative("c", bad)
