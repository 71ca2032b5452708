"""Shared test fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI must be deterministic: the same generated cases every run, so a red run is a real
# change, not a lucky draw. HYPOTHESIS_PROFILE=explore draws new cases (and finds new bugs).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL_DIR = ROOT / ".cache" / "original-micrograd-0.1.0"


@pytest.fixture(scope="session")
def original_micrograd() -> Path:
    """A folder holding the original micrograd 0.1.0 from PyPI, importable via PYTHONPATH only.

    It cannot live in the test environment: both packages import as `micrograd`.
    `.ci/run` installs it; here we install it on first use, or skip when offline.
    """
    if not (ORIGINAL_DIR / "micrograd" / "engine.py").exists():
        result = subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps",
             "--target", str(ORIGINAL_DIR), "micrograd==0.1.0"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.skip(f"could not install micrograd==0.1.0: {result.stderr.strip()[-200:]}")
    return ORIGINAL_DIR
