"""Old import path of ``micrograd.app.data`` (the datasets), kept so that existing imports still work."""

from micrograd.app.data import (
    MAX_CLASSES,
    MAX_COORDINATES,
    MAX_FEATURES,
    MAX_SAMPLES,
    load_csv,
    make_blobs,
    make_circles,
    make_lecture,
    make_moons,
    make_spiral,
    make_yinyang,
    train_test_split,
)

__all__ = [
    "MAX_CLASSES", "MAX_COORDINATES", "MAX_FEATURES", "MAX_SAMPLES", "load_csv", "make_blobs", "make_circles",
    "make_lecture", "make_moons", "make_spiral", "make_yinyang", "train_test_split"
]
