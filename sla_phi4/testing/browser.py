"""Headless Chromium for browser tests: Debian's `chromium` and `chromium-driver` (installed by `.ci/run`), driven
through selenium, offline, with a fresh profile."""

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Headless as root on a machine without a display or a network: no sandbox, no GPU, no /dev/shm, no calls home.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars")


def missing_browser() -> str | None:
    """What is missing to run Chromium here, or None."""
    missing = [path for path in (CHROMIUM, CHROMEDRIVER) if shutil.which(path) is None]
    return f"{' and '.join(missing)} not installed (apt-get install chromium chromium-driver)" if missing else None


@contextmanager
def headless_chromium(width: int = 1400, height: int = 1600, timeout: float = 60) -> Iterator[webdriver.Chrome]:
    """A headless Chromium window of `width` x `height` CSS pixels with a new empty profile, closed on exit;
    `timeout` bounds each page load and script."""
    profile = tempfile.mkdtemp(prefix="sla-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(timeout)
    driver.set_script_timeout(timeout)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def save_small_png(source, destination, width: int = 1000, colours: int = 128) -> None:
    """`source` (a PNG screenshot) scaled to `width` pixels and reduced to a palette of `colours`, as `destination`:
    small enough to commit beside the docs."""
    from PIL import Image

    with Image.open(source) as image:
        height = round(image.height * width / image.width)
        small = image.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
    destination.parent.mkdir(parents=True, exist_ok=True)
    small.quantize(colors=colours, method=Image.Quantize.MEDIANCUT).save(destination, optimize=True)
