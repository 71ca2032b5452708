"""Shared test fixtures."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings

from helpers import ROOT

# CI must be deterministic: the same generated cases every run, so a red run is a real
# change, not a lucky draw. HYPOTHESIS_PROFILE=explore draws new cases (and finds new bugs).
settings.register_profile("ci", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

ORIGINAL_DIR = ROOT / ".cache" / "original-micrograd-0.1.0"

# The GPT's numpy engine keeps its recorded plans (micrograd.compiler.gpt_cache) in a folder of this
# run's own, not the user's ~/.cache; set here so that the CLI's child processes inherit it too.
if "MICROGRAD_CACHE_DIR" not in os.environ:
    os.environ["MICROGRAD_CACHE_DIR"] = tempfile.mkdtemp(prefix="micrograd-test-cache-")


@pytest.fixture(scope="session")
def original_micrograd() -> Path:
    """A folder holding the original micrograd 0.1.0 from PyPI, importable via PYTHONPATH only.

    It cannot live in the test environment: both packages import as `micrograd`.
    `.ci/run` installs it; here we install it on first use, or skip when offline.
    """
    ORIGINAL_DIR.parent.mkdir(parents=True, exist_ok=True)
    # The suite runs in several worker processes (pytest-xdist): one installs, the others wait for it.
    with open(ORIGINAL_DIR.parent / "original-micrograd.lock", "w") as lock:
        _lock_exclusively(lock)
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


def _lock_exclusively(file: Any) -> None:
    """Hold an exclusive lock on ``file`` until it is closed (POSIX; elsewhere workers may race)."""
    try:
        import fcntl
    except ImportError:
        return
    fcntl.flock(file.fileno(), fcntl.LOCK_EX)


# ----------------------------------------------------------------------
# Chromium, for the tests that open the pages in a browser
# ----------------------------------------------------------------------

# Names the browser goes by on PATH: Debian's package, Ubuntu's, Google's builds.
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def find_chromium(playwright_chromium_path: str | None = None) -> Path | None:
    """A Chromium to drive: the first of CHROMIUM_NAMES on PATH, else the one Playwright
    downloaded (``playwright install chromium``) if that file exists, else None."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return Path(found)
    if playwright_chromium_path and Path(playwright_chromium_path).is_file():
        return Path(playwright_chromium_path)
    return None


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """A headless Chromium driven by Playwright, shared by the session; skips with the reason when there is none."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")
    with sync_api.sync_playwright() as playwright:
        try:
            bundled: str | None = playwright.chromium.executable_path
        except Exception:  # Playwright without its browser downloads has no path to give
            bundled = None
        executable = find_chromium(bundled)
        if executable is None:
            pytest.skip(
                f"no Chromium found: none of {', '.join(CHROMIUM_NAMES)} is on PATH and Playwright has not "
                "downloaded one (apt-get install chromium, or playwright install chromium)"
            )
        browser = playwright.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium: Any, tmp_path: Path) -> Iterator[Callable[[str], Any]]:
    """Open an HTML text from a file on disk, as a person would. A dialog (text of the page run as
    script) or an error of the page's own script fails the test."""
    pages: list[Any] = []
    dialogs: list[str] = []
    errors: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def open_html(text: str) -> Any:
        path = tmp_path / f"page{len(pages)}.html"
        path.write_text(text, encoding="utf-8")
        page = chromium.new_page(viewport={"width": 1300, "height": 800})
        page.on("dialog", on_dialog)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(path.as_uri())
        pages.append(page)
        return page

    yield open_html
    for page in pages:
        page.close()
    assert dialogs == [], "a dialog fired: text of the page ran as script"
    assert errors == [], "the page's own script failed"


@pytest.fixture
def fake_program() -> Callable[[Path, str], Path]:
    """Write an executable ``dot`` with the given script body into a folder (made if missing): a stand-in
    for a real Graphviz, or for the one pip installs, on a PATH the test builds."""

    def write(folder: Path, body: str) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "dot"
        path.write_text(body, encoding="utf-8")
        path.chmod(0o755)
        return path

    return write
