"""Datasets: shapes, labels, geometry (checked against numpy), determinism, CSV loading, train/test split."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from micrograd.app.data import (
    load_csv,
    make_blobs,
    make_circles,
    make_lecture,
    make_moons,
    make_spiral,
    make_yinyang,
    train_test_split,
)

GENERATORS: list[tuple[Callable[..., Any], int]] = [
    (make_moons, 2),
    (make_circles, 2),
    (make_blobs, 3),
    (make_spiral, 3),
    (make_yinyang, 3),
]


@pytest.mark.parametrize(("make", "n_classes"), GENERATORS, ids=lambda g: getattr(g, "__name__", ""))
@pytest.mark.parametrize("n_samples", [1, 2, 7, 150])
def test_shapes_and_labels(make: Callable[..., Any], n_classes: int, n_samples: int) -> None:
    X, y = make(n_samples=n_samples, seed=1)
    assert len(X) == len(y) == n_samples
    assert all(type(row) is list and len(row) == 2 and all(type(v) is float for v in row) for row in X)
    assert all(type(label) is int for label in y)
    counts = Counter(y)
    assert set(counts) <= set(range(n_classes))
    # Classes as equal in size as n_samples allows.
    sizes = [counts.get(c, 0) for c in range(n_classes)]
    assert max(sizes) - min(sizes) <= 1 and sum(sizes) == n_samples


@pytest.mark.parametrize(("make", "n_classes"), GENERATORS, ids=lambda g: getattr(g, "__name__", ""))
def test_same_seed_same_data_other_seed_other_data_global_random_untouched(
    make: Callable[..., Any], n_classes: int
) -> None:
    random.seed(7)
    state = random.getstate()
    first = make(n_samples=60, seed=3)
    assert random.getstate() == state
    assert make(n_samples=60, seed=3) == first
    assert make(n_samples=60, seed=4) != first


def test_the_default_seed_is_fixed() -> None:
    assert make_moons() == make_moons()


def test_moons_without_noise_lie_on_the_two_half_circles_at_numpys_linspace_angles() -> None:
    X, y = make_moons(n_samples=41, noise=0.0, seed=0)
    outer = [p for p, label in zip(X, y, strict=True) if label == 0]
    inner = [p for p, label in zip(X, y, strict=True) if label == 1]
    assert (len(outer), len(inner)) == (20, 21)  # sklearn: the outer moon gets n // 2
    outer_angles = sorted(math.atan2(py, px) for px, py in outer)
    inner_angles = sorted(math.atan2(0.5 - py, 1.0 - px) for px, py in inner)  # (1 - cos t, 0.5 - sin t)
    assert np.allclose(outer_angles, np.linspace(0, np.pi, 20), atol=1e-12)
    assert np.allclose(inner_angles, np.linspace(0, np.pi, 21), atol=1e-12)
    assert all(abs(math.hypot(px, py) - 1.0) < 1e-12 for px, py in outer)
    assert all(abs(math.hypot(px - 1.0, py - 0.5) - 1.0) < 1e-12 for px, py in inner)


def test_moons_noise_has_the_requested_spread() -> None:
    clean, _ = make_moons(n_samples=2000, noise=0.0, seed=5)
    noisy, _ = make_moons(n_samples=2000, noise=0.3, seed=5)
    # Same seed: the same shuffle, then noise on top, so the differences are the noise itself.
    offsets = np.array(noisy) - np.array(clean)
    assert abs(offsets.std() - 0.3) < 0.02 and abs(offsets.mean()) < 0.02


def test_circles_without_noise_lie_on_two_circles_at_numpys_angles() -> None:
    X, y = make_circles(n_samples=30, noise=0.0, factor=0.4, seed=0)
    for label, radius in ((0, 1.0), (1, 0.4)):
        points = [p for p, c in zip(X, y, strict=True) if c == label]
        assert all(abs(math.hypot(*p) - radius) < 1e-12 for p in points)
        angles = sorted(math.atan2(py, px) % (2 * math.pi) for px, py in points)
        expected = np.linspace(0, 2 * np.pi, 15, endpoint=False)
        assert np.allclose(angles, expected, atol=1e-9)


def test_blobs_at_given_centers() -> None:
    centers = [[0.0, 0.0, 1.0], [5.0, 5.0, -1.0]]
    X, y = make_blobs(n_samples=7, centers=centers, cluster_std=0.0, seed=0)
    assert Counter(y) == {0: 4, 1: 3}
    assert all(x == centers[label] for x, label in zip(X, y, strict=True))
    X, y = make_blobs(n_samples=4000, centers=centers, cluster_std=0.5, seed=0)
    for label, center in enumerate(centers):
        points = np.array([x for x, c in zip(X, y, strict=True) if c == label])
        assert np.allclose(points.mean(axis=0), center, atol=0.05)
        assert np.allclose(points.std(axis=0), 0.5, atol=0.05)


def test_random_blob_centers_lie_in_the_center_box() -> None:
    X, y = make_blobs(n_samples=50, centers=4, cluster_std=0.0, seed=2, n_features=3, center_box=(-2.0, 3.0))
    assert len(set(map(tuple, X))) == 4 and set(y) == {0, 1, 2, 3}
    assert all(len(x) == 3 and all(-2.0 <= v <= 3.0 for v in x) for x in X)


def test_spiral_radius_grows_along_each_arm() -> None:
    X, y = make_spiral(n_samples=200, n_classes=4, noise=0.0, seed=0)
    assert set(y) == {0, 1, 2, 3}
    for label in range(4):
        radii = sorted(math.hypot(*p) for p, c in zip(X, y, strict=True) if c == label)
        assert np.allclose(radii, np.linspace(0.0, 1.0, 50), atol=1e-12)


def test_yinyang_geometry() -> None:
    X, y = make_yinyang(n_samples=900, seed=0)
    assert all(math.hypot(*p) <= 1.0 for p in X)
    for (px, py), label in zip(X, y, strict=True):
        near_dot = min(math.hypot(px + 0.5, py), math.hypot(px - 0.5, py)) < 0.2
        assert (label == 2) == near_dot
        if label != 2 and abs(px) > 0.05 and math.hypot(abs(px) - 0.5, py) > 0.55:
            # Away from the small circles the border is the horizontal diameter: yin above.
            assert (label == 0) == (py > 0)
    # Yin is the upper part of the symbol.
    yin = np.array([p for p, c in zip(X, y, strict=True) if c == 0])
    assert yin[:, 1].mean() > 0.2


def test_lecture_set() -> None:
    xs, ys = make_lecture()
    assert xs == [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    assert ys == [1.0, -1.0, -1.0, 1.0]
    xs[0][0] = 99.0
    assert make_lecture()[0][0][0] == 2.0  # a fresh copy each call


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: make_moons(n_samples=0), ValueError, "make_moons: n_samples must be at least 1, got 0"),
        (lambda: make_moons(n_samples=2.5), TypeError, "make_moons: n_samples must be an int, got float"),  # type: ignore[arg-type]
        (lambda: make_moons(n_samples=True), TypeError, "n_samples must be an int, got bool"),
        (lambda: make_moons(noise=-0.1), ValueError, "make_moons: noise must be a finite number >= 0"),
        (lambda: make_moons(noise=float("nan")), ValueError, "noise must be a finite number >= 0"),
        (lambda: make_moons(seed="1"), TypeError, "make_moons: seed must be an int, got str"),  # type: ignore[arg-type]
        (lambda: make_circles(factor=1.0), ValueError, "make_circles: factor must be a number in [0, 1)"),
        (lambda: make_blobs(centers=0), ValueError, "make_blobs: centers must be at least 1"),
        (lambda: make_blobs(centers=[[0.0], [1.0, 2.0]]), ValueError, "centers[1] has 2 coordinates"),
        (lambda: make_blobs(cluster_std=-1.0), ValueError, "make_blobs: cluster_std must be a finite number >= 0"),
        (lambda: make_spiral(n_classes=0), ValueError, "make_spiral: n_classes must be at least 1"),
        (lambda: make_yinyang(n_samples=-5), ValueError, "make_yinyang: n_samples must be at least 1, got -5"),
        (lambda: make_yinyang(dot_radius=0.5), ValueError, "make_yinyang: dot_radius must be a number in (0, 0.5)"),
    ],
)
def test_bad_options_are_refused(call: Callable[[], Any], error: type, message: str) -> None:
    with pytest.raises(error) as raised:
        call()
    assert message in str(raised.value)


# ----------------------------------------------------------------------
# CSV
# ----------------------------------------------------------------------


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


def test_csv_round_trip_of_a_generated_dataset(tmp_path: Path) -> None:
    X, y = make_moons(n_samples=25, seed=9)
    lines = ["x0,x1,label"] + [f"{a!r},{b!r},{label}" for (a, b), label in zip(X, y, strict=True)]
    assert load_csv(write(tmp_path, "\n".join(lines) + "\n")) == (X, y)


def test_csv_without_header_with_blank_lines_whole_float_labels_and_a_bom(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xef\xbb\xbf\n1, 2.5 ,0\n\n-3e2,4,1.0\n 5,6,2\n")
    assert load_csv(path) == ([[1.0, 2.5], [-300.0, 4.0], [5.0, 6.0]], [0, 1, 2])
    assert load_csv(str(path)) == load_csv(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,label\n1,2,0\n1,2\n", "line 3: expected 3 columns, got 2"),
        ("1,2,0\n1,x,1\n", "line 2, column 2: 'x' is not a number"),
        ("1,2,0\n\n\n1,2,1.5\n", "line 4, last column: label '1.5' is not a whole number"),
        ("1,2,0\n1,2,yes\n", "line 2, last column: label 'yes' is not a number"),
        ("1,nan,0\n", "line 1, column 2: 'nan' is not a finite number"),
        ("1,2,0\nx,y,label\n", "line 2, column 1: 'x' is not a number"),
        ("5\n6\n", "line 1: need at least one feature column and a label column"),
        ("", "has no data rows"),
        ("x,y,label\n", "has no data rows"),
    ],
)
def test_bad_csv_names_the_line_and_the_problem(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ValueError) as raised:
        load_csv(path)
    assert message in str(raised.value) and str(path) in str(raised.value)


def test_csv_that_is_not_text(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(b"\xff\xfe\x00\x01binary")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        load_csv(path)


def test_missing_csv_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.csv"
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        load_csv(path)


# ----------------------------------------------------------------------
# Train/test split
# ----------------------------------------------------------------------


def test_split_is_a_seeded_partition_and_leaves_the_inputs_alone() -> None:
    X = [[float(i), -float(i)] for i in range(23)]
    y = list(range(23))
    X_copy, y_copy = [list(r) for r in X], list(y)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_fraction=0.25, seed=1)
    assert (X, y) == (X_copy, y_copy)
    assert len(X_test) == len(y_test) == math.ceil(0.25 * 23) and len(X_train) == len(y_train) == 23 - 6
    assert sorted(y_train + y_test) == y  # every example exactly once
    assert all(
        row == [float(label), -float(label)] for row, label in zip(X_train + X_test, y_train + y_test, strict=True)
    )
    assert train_test_split(X, y, test_fraction=0.25, seed=1) == (X_train, X_test, y_train, y_test)
    assert train_test_split(X, y, test_fraction=0.25, seed=2) != (X_train, X_test, y_train, y_test)
    X_train[0][0] = 1000.0
    assert 1000.0 not in (row[0] for row in X)  # rows are copies


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (([[1.0]] * 3, [0, 1]), "X has 3 examples but y has 2"),
        (([[1.0]] * 3, [0, 1, 1], 0.0), "test_fraction must be a number in (0, 1)"),
        (([[1.0]] * 3, [0, 1, 1], 1.0), "test_fraction must be a number in (0, 1)"),
        (([[1.0]], [0], 0.5), "leave 0 for training and 1 for testing"),
    ],
)
def test_bad_splits_are_refused(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        train_test_split(*args)
    assert message in str(raised.value)


def test_a_program_raises_the_read_limit_for_a_block(tmp_path: Path) -> None:
    # 120,000 rows of 10 bytes: over a 1 MiB limit, under a 2 MiB one.
    from micrograd._files import InputFileError, reading_limit

    path = tmp_path / "big.csv"
    path.write_text("0.5,0.5,1\n" * 120_000, encoding="utf-8")
    with reading_limit(2**20), pytest.raises(InputFileError, match="over the limit of 1,048,576"):
        load_csv(path)
    with reading_limit(2 * 2**20):
        X, y = load_csv(path)
    assert len(X) == 120_000 and X[0] == [0.5, 0.5] and set(y) == {1}
