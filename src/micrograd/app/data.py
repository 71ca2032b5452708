"""Small toy datasets for training, as plain Python lists, plus a CSV loader and a train/test split.

Every ``make_*`` function returns ``(X, y)``: ``X`` a list of points (each a
list of floats), ``y`` a list of int class labels 0, 1, ... Each draws its
randomness from its own ``random.Random(seed)``, never from the global
``random`` module, so the same seed gives the same data on every run and
building a dataset does not change the draws of ``MLP`` initialisation.

For ``hinge_loss``, which wants labels -1/+1, use ``[2 * label - 1 for label in y]``.
"""

from __future__ import annotations

import csv
import io
import math
import numbers
import os
import random
from typing import Any

from micrograd._files import read_text

__all__ = [
    "load_csv",
    "make_blobs",
    "make_circles",
    "make_lecture",
    "make_moons",
    "make_spiral",
    "make_yinyang",
    "train_test_split",
]

Points = list[list[float]]
Labels = list[int]

# Upper bounds on sizes, checked before anything is allocated: a typo such as 10**12 must be
# refused at once, not fill the memory (or loop for hours) first. They are far above any toy
# dataset and still small enough to build in memory as Python lists.
MAX_SAMPLES = 10_000_000  # points per dataset: about 1.5 GB as lists of two floats
MAX_FEATURES = 10_000  # coordinates per point (make_blobs' n_features)
MAX_CLASSES = 10_000  # centers / classes / CSV labels: an MLP output per class is still buildable
# All coordinates of one dataset together: as many as the largest 2-D one, so that many
# features cannot get around MAX_SAMPLES (10,000,000 points of 10,000 features would be 10**11).
MAX_COORDINATES = 2 * MAX_SAMPLES


def make_moons(n_samples: int = 100, noise: float = 0.1, seed: int = 0) -> tuple[Points, Labels]:
    """Two interleaving half circles (label 0 on top, label 1 below), built as sklearn's make_moons."""
    _check_count("make_moons", "n_samples", n_samples, MAX_SAMPLES)
    _check_nonnegative("make_moons", "noise", noise)
    rng = _rng("make_moons", seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    outer = [[math.cos(t), math.sin(t)] for t in _evenly_spaced(0.0, math.pi, n_outer)]
    inner = [[1.0 - math.cos(t), 1.0 - math.sin(t) - 0.5] for t in _evenly_spaced(0.0, math.pi, n_inner)]
    X, y = _shuffled(rng, outer + inner, [0] * n_outer + [1] * n_inner)
    return _with_noise(rng, X, noise), y


def make_circles(n_samples: int = 100, noise: float = 0.0, factor: float = 0.8, seed: int = 0) -> tuple[Points, Labels]:
    """A small circle (label 1) inside a large one (label 0); factor is the ratio of their radii."""
    _check_count("make_circles", "n_samples", n_samples, MAX_SAMPLES)
    _check_nonnegative("make_circles", "noise", noise)
    if not 0.0 <= _real("make_circles", "factor", factor) < 1.0:  # `not` also refuses nan
        raise ValueError(f"make_circles: factor must be a number in [0, 1), got {factor!r}")
    rng = _rng("make_circles", seed)
    n_outer = n_samples // 2
    n_inner = n_samples - n_outer
    # endpoint excluded: the angle 2*pi is the same point as 0.
    outer = [[math.cos(t), math.sin(t)] for t in _evenly_spaced(0.0, 2 * math.pi, n_outer, endpoint=False)]
    inner = [
        [factor * math.cos(t), factor * math.sin(t)] for t in _evenly_spaced(0.0, 2 * math.pi, n_inner, endpoint=False)
    ]
    X, y = _shuffled(rng, outer + inner, [0] * n_outer + [1] * n_inner)
    return _with_noise(rng, X, noise), y


def make_blobs(
    n_samples: int = 100,
    centers: int | list[list[float]] = 3,
    cluster_std: float = 1.0,
    seed: int = 0,
    n_features: int = 2,
    center_box: tuple[float, float] = (-10.0, 10.0),
) -> tuple[Points, Labels]:
    """Gaussian clusters, one per center (label = index of the center), as sklearn's make_blobs.

    ``centers`` is either how many clusters to place at random in ``center_box``
    (each of ``n_features`` coordinates) or a list of center points.
    """
    _check_count("make_blobs", "n_samples", n_samples, MAX_SAMPLES)
    _check_nonnegative("make_blobs", "cluster_std", cluster_std)
    rng = _rng("make_blobs", seed)
    if isinstance(centers, bool) or not isinstance(centers, (int, list, tuple)):
        raise TypeError(f"make_blobs: centers must be an int or a list of points, got {type(centers).__name__}")
    if isinstance(centers, int):
        _check_count("make_blobs", "n_features", n_features, MAX_FEATURES)
        _check_count("make_blobs", "centers", centers, MAX_CLASSES)
        low, high = _check_center_box(center_box)
        _check_coordinates("make_blobs", "n_samples", n_samples, n_features)
        _check_coordinates("make_blobs", "centers", centers, n_features)  # the centers are points too
        points = [[rng.uniform(low, high) for _ in range(n_features)] for _ in range(centers)]
    else:
        points = _check_centers(centers)
        _check_coordinates("make_blobs", "n_samples", n_samples, len(points[0]))
    # Spread the samples as evenly as possible: the first n_samples % k clusters get one more.
    per_center = [n_samples // len(points) + (1 if i < n_samples % len(points) else 0) for i in range(len(points))]
    X: Points = []
    y: Labels = []
    for label, (center, count) in enumerate(zip(points, per_center, strict=True)):
        for _ in range(count):
            X.append([c + rng.gauss(0.0, cluster_std) for c in center])
            y.append(label)
    return _shuffled(rng, X, y)


def make_spiral(n_samples: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int = 0) -> tuple[Points, Labels]:
    """Interleaved spiral arms, one per class (the CS231n spiral); noise jitters the angle, in radians."""
    _check_count("make_spiral", "n_samples", n_samples, MAX_SAMPLES)
    _check_count("make_spiral", "n_classes", n_classes, MAX_CLASSES)
    _check_nonnegative("make_spiral", "noise", noise)
    rng = _rng("make_spiral", seed)
    X: Points = []
    y: Labels = []
    for label in range(n_classes):
        count = n_samples // n_classes + (1 if label < n_samples % n_classes else 0)
        radii = _evenly_spaced(0.0, 1.0, count)
        # Each arm turns through 4 radians, starting 4 radians after the previous one.
        angles = _evenly_spaced(4.0 * label, 4.0 * (label + 1), count)
        for r, t in zip(radii, angles, strict=True):
            t += rng.gauss(0.0, noise)
            X.append([r * math.sin(t), r * math.cos(t)])
            y.append(label)
    return _shuffled(rng, X, y)


def make_yinyang(n_samples: int = 1000, seed: int = 0, dot_radius: float = 0.2) -> tuple[Points, Labels]:
    """Points in the unit disk labelled by a yin-yang symbol: 0 yin, 1 yang, 2 the two dots; classes balanced.

    Yin is the upper half of the disk with the right small half-disk cut out and the
    left one added; the dots are disks of ``dot_radius`` at (-0.5, 0) and (0.5, 0).
    """
    _check_count("make_yinyang", "n_samples", n_samples, MAX_SAMPLES)
    if not 0.0 < _real("make_yinyang", "dot_radius", dot_radius) < 0.5:  # `not` also refuses nan
        raise ValueError(f"make_yinyang: dot_radius must be a number in (0, 0.5), got {dot_radius!r}")
    rng = _rng("make_yinyang", seed)
    X: Points = []
    y: Labels = []
    for i in range(n_samples):
        wanted = i % 3  # equal class sizes: draw until a point of the wanted class turns up
        while True:
            px, py = rng.uniform(-1.0, 1.0), rng.uniform(-1.0, 1.0)
            if px * px + py * py <= 1.0 and _yinyang_class(px, py, dot_radius) == wanted:
                break
        X.append([px, py])
        y.append(wanted)
    return _shuffled(rng, X, y)


def make_lecture() -> tuple[list[list[float]], list[float]]:
    """The four examples with targets +1/-1 that the micrograd lecture trains its first MLP on."""
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    return xs, ys


def load_csv(path: str | os.PathLike[str]) -> tuple[Points, Labels]:
    """Read numeric columns from a CSV file; the last column is the int label, a first header line is allowed.

    Blank lines are skipped; the first non-blank line is a header if any field in it is
    not a number. Every row needs the same number of columns (at least two) and finite
    numbers; a label is a class index 0, 1, ... (below ``MAX_CLASSES``), written ``1`` or ``1.0``.
    """
    # An int would be taken as a file descriptor: load_csv(0) would read standard input.
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_csv: path must be a str or a path-like object, got {type(path).__name__}")
    try:
        # -sig: tolerate the BOM some editors write. read_text refuses devices (/dev/zero never
        # ends) and files over the read limit, before they can fill the memory.
        text = read_text(path, f"load_csv: {os.fspath(path)!r}", newline="", encoding="utf-8-sig")
        reader = csv.reader(io.StringIO(text, newline=""))
        # line_num, not a row count: a quoted field may span lines.
        rows = [(reader.line_num, row) for row in reader]
    except FileNotFoundError:
        raise FileNotFoundError(f"load_csv: no such file: {os.fspath(path)!r}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"load_csv: {os.fspath(path)!r} is not UTF-8 text ({error.reason})") from None
    except csv.Error as error:
        raise ValueError(f"load_csv: {os.fspath(path)!r}: {error}") from None
    X: Points = []
    y: Labels = []
    n_columns = 0
    first_line = True
    for line_number, row in rows:
        if not any(field.strip() for field in row):
            continue
        where = f"load_csv: {os.fspath(path)!r} line {line_number}"
        if first_line and not all(parses_as_float(field) for field in row):
            first_line = False
            continue  # a header line: column names
        first_line = False
        if n_columns == 0:
            n_columns = len(row)
            if n_columns < 2:
                raise ValueError(f"{where}: need at least one feature column and a label column, got 1 column")
        elif len(row) != n_columns:
            raise ValueError(f"{where}: expected {n_columns} columns, got {len(row)}")
        features = [_parse_feature(where, column, field) for column, field in enumerate(row[:-1], start=1)]
        X.append(features)
        y.append(_parse_label(where, row[-1]))
    if not X:
        raise ValueError(f"load_csv: {os.fspath(path)!r} has no data rows")
    return X, y


def train_test_split(
    X: list[list[float]], y: list[Any], test_fraction: float = 0.2, seed: int = 0
) -> tuple[list[list[float]], list[list[float]], list[Any], list[Any]]:
    """Shuffle and split into ``(X_train, X_test, y_train, y_test)`` (sklearn's order); inputs are not changed.

    The test set gets ``ceil(test_fraction * n)`` examples (as sklearn); both parts must be non-empty.
    """
    if isinstance(X, (str, bytes)) or not isinstance(X, list) or not isinstance(y, list):
        raise TypeError("train_test_split: X and y must be lists")
    if len(X) != len(y):
        raise ValueError(f"train_test_split: X has {len(X)} examples but y has {len(y)}")
    if not 0.0 < _real("train_test_split", "test_fraction", test_fraction) < 1.0:  # `not` also refuses nan
        raise ValueError(f"train_test_split: test_fraction must be a number in (0, 1), got {test_fraction!r}")
    rng = _rng("train_test_split", seed)
    n_test = math.ceil(test_fraction * len(X))
    n_train = len(X) - n_test
    if n_train < 1 or n_test < 1:
        raise ValueError(
            f"train_test_split: {len(X)} examples with test_fraction={test_fraction} "
            f"leave {n_train} for training and {n_test} for testing; both need at least 1"
        )
    order = list(range(len(X)))
    rng.shuffle(order)
    test, train = order[:n_test], order[n_test:]
    return [list(X[i]) for i in train], [list(X[i]) for i in test], [y[i] for i in train], [y[i] for i in test]


# ----------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------


def _evenly_spaced(start: float, stop: float, count: int, endpoint: bool = True) -> list[float]:
    """``count`` numbers from start to stop (stop included if endpoint), as numpy.linspace."""
    if count <= 1:
        return [start] * count
    divisions = count - 1 if endpoint else count
    step = (stop - start) / divisions
    return [start + i * step for i in range(count)]


def _shuffled(rng: random.Random, X: Points, y: Labels) -> tuple[Points, Labels]:
    order = list(range(len(X)))
    rng.shuffle(order)  # otherwise every class would come in one block
    return [X[i] for i in order], [y[i] for i in order]


def _with_noise(rng: random.Random, X: Points, noise: float) -> Points:
    return [[coordinate + rng.gauss(0.0, noise) for coordinate in point] for point in X]


def _yinyang_class(x: float, y: float, dot_radius: float) -> int:
    to_left = math.hypot(x + 0.5, y)
    to_right = math.hypot(x - 0.5, y)
    if to_left < dot_radius or to_right < dot_radius:
        return 2
    # The S-shaped border is made of two half circles of radius 0.5 around the dots' centers.
    is_yin = to_left <= 0.5 or (y > 0.0 and to_right > 0.5)
    return 0 if is_yin else 1


def _rng(owner: str, seed: int) -> random.Random:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"{owner}: seed must be an int, got {type(seed).__name__}")
    return random.Random(seed)


def _is_number(x: object) -> bool:
    """A finite real number (not a bool); an int too large for a float is not one."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        return False
    try:
        return math.isfinite(float(x))
    except OverflowError:
        return False


def _real(owner: str, name: str, x: object) -> float:
    """``x`` as a float: TypeError unless a real number (a bool is not), ValueError if too large for a float."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"{owner}: {name} must be a number, got {type(x).__name__}")
    try:
        return float(x)
    except OverflowError:
        raise ValueError(f"{owner}: {name} is too large for a float") from None


def _check_count(owner: str, name: str, n: object, maximum: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{owner}: {name} must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"{owner}: {name} must be at least 1, got {n}")
    if n > maximum:
        raise ValueError(f"{owner}: {name} must be at most {maximum:,}, got {n}")


def _check_coordinates(owner: str, name: str, n_points: int, n_features: int) -> None:
    total = n_points * n_features
    if total > MAX_COORDINATES:
        raise ValueError(
            f"{owner}: {name}={n_points} points of {n_features} features are {total:,} coordinates; "
            f"the limit is {MAX_COORDINATES:,}"
        )


def _check_nonnegative(owner: str, name: str, x: object) -> None:
    value = _real(owner, name, x)
    if not (math.isfinite(value) and value >= 0.0):
        raise ValueError(f"{owner}: {name} must be a finite number >= 0, got {x!r}")


def _check_center_box(center_box: object) -> tuple[float, float]:
    if isinstance(center_box, (str, bytes)) or not isinstance(center_box, (tuple, list)):
        raise TypeError(f"make_blobs: center_box must be a pair (low, high), got {type(center_box).__name__}")
    if len(center_box) != 2:
        raise ValueError(f"make_blobs: center_box must be a pair (low, high), got {len(center_box)} values")
    low, high = (_real("make_blobs", f"center_box[{i}]", bound) for i, bound in enumerate(center_box))
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValueError(f"make_blobs: center_box must be (low, high) with low < high, got {center_box!r}")
    return low, high


def _check_centers(centers: list[Any] | tuple[Any, ...]) -> Points:
    if len(centers) == 0:
        raise ValueError(f"make_blobs: centers must be an int >= 1 or a non-empty list of points, got {centers!r}")
    if len(centers) > MAX_CLASSES:
        raise ValueError(f"make_blobs: centers must hold at most {MAX_CLASSES:,} points, got {len(centers):,}")
    points: Points = []
    for i, center in enumerate(centers):
        if not isinstance(center, (list, tuple)) or not center or not all(_is_number(c) for c in center):
            raise ValueError(f"make_blobs: centers[{i}] must be a non-empty list of finite numbers, got {center!r}")
        if points and len(center) != len(points[0]):
            raise ValueError(f"make_blobs: centers[{i}] has {len(center)} coordinates, centers[0] {len(points[0])}")
        points.append([float(c) for c in center])
    return points


def parses_as_float(field: str) -> bool:
    """Whether ``float(field)`` accepts the text (a CSV header cell does not; "-0.8" does)."""
    try:
        float(field)
    except ValueError:
        return False
    return True


def _parse_feature(where: str, column: int, field: str) -> float:
    try:
        value = float(field)
    except ValueError:
        raise ValueError(f"{where}, column {column}: {field!r} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{where}, column {column}: {field!r} is not a finite number")
    return value


def _parse_label(where: str, field: str) -> int:
    try:
        value = float(field)
    except ValueError:
        raise ValueError(f"{where}, last column: label {field!r} is not a number") from None
    if not value.is_integer():
        raise ValueError(f"{where}, last column: label {field!r} is not a whole number")
    # Labels are class indices: a negative one has no class, and a huge one (1e300) would make the
    # model an output per class up to it.
    if value < 0:
        raise ValueError(f"{where}, last column: label {field!r} is negative; labels are class indices 0, 1, ...")
    if value >= MAX_CLASSES:
        raise ValueError(
            f"{where}, last column: label {field!r} is too large; labels are class indices below {MAX_CLASSES:,}"
        )
    return int(value)
