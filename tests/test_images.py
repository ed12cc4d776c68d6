"""Tests for dashboard/images.py: enlarging tiny images and laying a path's frames side by side."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from dashboard.images import enlarge, path_strip
from inn_core.errors import InputError


def test_enlarge_and_path_strip():
    gray = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)  # (k=2, h=2, w=3)
    strip = path_strip(gray, gap=1)
    assert strip.shape == (2, 7)
    assert_array_equal(strip[:, :3], gray[0])
    assert_array_equal(strip[:, 3], [255, 255])
    assert_array_equal(strip[:, 4:], gray[1])
    big = enlarge(strip, 3)
    assert big.shape == (6, 21)
    assert_array_equal(big[::3, ::3], strip)
    colour = np.zeros((3, 2, 2, 3), dtype=np.uint8)
    assert path_strip(colour, gap=2).shape == (2, 10, 3)
    assert enlarge(colour[0], 4).shape == (8, 8, 3)
    with pytest.raises(InputError, match="positive integer"):
        enlarge(strip, 0)
