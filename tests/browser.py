"""Real-browser measurements of built pages: which image candidate Chromium picks, and what it downloads.

Headless Chromium (the system one, e.g. Debian's `chromium`) driven by Python Playwright. Playwright's own
browser download is never used: `playwright install` needs the internet, and the distribution's browser is
what CI installs anyway.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")

# The networking flags stop Chromium's own background traffic (updates, sync, field trials, QUIC probes):
# on a closed network those connections are refused and show up as noise or slow the start.
# --disable-dev-shm-usage because containers often have a 64 MB /dev/shm, too small for the renderer; Debian's
# launcher script adds it only when its check of /dev/shm works, which it does not on every machine.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--disable-dev-shm-usage",
)
VIEWPORT_HEIGHT = 900
TIMEOUT_MS = 15_000
IMAGE_EXTENSIONS = (".avif", ".webp", ".jpg", ".jpeg", ".png", ".gif", ".svg", ".jxl", ".bmp", ".ico")
# Not every Python knows these, and a wrong type would make Chromium refuse or sniff the image.
IMAGE_TYPES = {".avif": "image/avif", ".webp": "image/webp", ".svg": "image/svg+xml", ".jxl": "image/jxl"}


@dataclass(frozen=True)
class ImageState:
    """One <img> as the browser sees it after loading: the candidate it chose and what it decoded.

    natural_width/height are the DOM's naturalWidth/Height: for a srcset `w` candidate these are CSS px (the
    file's pixels divided by the density the browser gave it, rounded down), not the file's pixels; 0 when the
    image is broken. client_width is the laid-out width in CSS px.
    """

    current_src: str
    complete: bool
    natural_width: int
    natural_height: int
    client_width: int


@dataclass(frozen=True)
class PageMeasure:
    """A page loaded at one viewport width and pixel ratio, with every image (lazy ones too) loaded."""

    url: str
    width: int
    dpr: float
    images: tuple[ImageState, ...]  # document order
    image_urls: tuple[str, ...]  # every image request, in the order the resource timing entries list them
    image_bytes: int  # what went over the wire, headers included (Chromium: +300 per response)
    image_body_bytes: int  # the bodies alone: for files served as they are, the sum of their sizes
    console_errors: tuple[str, ...]


def _skip_or_fail(message: str) -> None:
    # The same rule as conftest.require_program: CI requires end-to-end tests, elsewhere they are optional.
    if os.environ.get("GALLERY_REQUIRE_E2E") == "1":
        pytest.fail(f"GALLERY_REQUIRE_E2E=1 but {message}")
    pytest.skip(message)


def find_chromium() -> str | None:
    """Path of the first Chromium-like browser on PATH."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path is not None:
            return path
    return None


def require_chromium() -> str:
    """Path of Chromium, with Playwright importable; skip without them, or fail when CI requires end-to-end tests."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _skip_or_fail("playwright is not importable (pip install -e '.[test]' brings it)")
    path = find_chromium()
    if path is None:
        _skip_or_fail(f"no Chromium on PATH (tried {', '.join(CHROMIUM_NAMES)}; apt-get install chromium)")
    return path


class _QuietHandler(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, **IMAGE_TYPES}

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would drown the test output


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Browsers drop connections they no longer need (a candidate replaced, a page closed); that is no error.
        pass


@contextlib.contextmanager
def serve(folder: Path) -> Iterator[str]:
    """Serve `folder` over HTTP on 127.0.0.1 for the duration; yields the base URL, ending in '/'."""
    handler = functools.partial(_QuietHandler, directory=str(folder))
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name=f"serve {folder}", daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host}:{port}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


class _SharedBrowser:
    """One Chromium for the whole test run: starting it costs far more than a page load."""

    def __init__(self) -> None:
        self.playwright: Playwright | None = None
        self.browser: Browser | None = None

    def get(self) -> Browser:
        if self.browser is not None and self.browser.is_connected():
            return self.browser
        executable = require_chromium()
        from playwright.sync_api import sync_playwright

        if self.playwright is None:
            self.playwright = sync_playwright().start()
            atexit.register(self.close)
        self.browser = self.playwright.chromium.launch(
            executable_path=executable, headless=True, args=list(LAUNCH_ARGS)
        )
        return self.browser

    def close(self) -> None:
        if self.browser is not None:
            with contextlib.suppress(Exception):  # already gone with a crashed browser
                self.browser.close()
        if self.playwright is not None:
            self.playwright.stop()
        self.browser = self.playwright = None


_shared = _SharedBrowser()


def shared_browser() -> Browser:
    """The test run's one Chromium (started on first use; skips or fails as require_chromium does)."""
    return _shared.get()


def _load_every_image(page: Page) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    # Lazy images start loading only near the viewport, so bring each into view and let it finish before
    # moving on: scrolling past one before the browser noticed it would leave it unloaded. Hidden ones cannot be
    # scrolled to (and a hidden lazy image never loads, in any browser: the wait below then names it).
    images = page.locator("img")
    for index in range(images.count()):
        image = images.nth(index)
        if image.is_visible():
            image.scroll_into_view_if_needed(timeout=TIMEOUT_MS)
            image.evaluate(_SETTLED_JS)
    try:
        page.wait_for_function("() => [...document.images].every(img => img.complete)", timeout=TIMEOUT_MS)
    except PlaywrightTimeout:
        pending = page.evaluate("() => [...document.images].filter(img => !img.complete).map(img => img.outerHTML)")
        raise AssertionError(f"images still loading after {TIMEOUT_MS} ms: {pending}") from None
    # Sizes are read from resource timing entries, which Chromium's network process reports asynchronously:
    # make sure every shown image has its entry rather than rely on it landing before the load event.
    page.wait_for_function(_TIMED_JS, timeout=TIMEOUT_MS)


_SETTLED_JS = """
img => img.complete || new Promise(done => {
    img.addEventListener('load', done, {once: true});
    img.addEventListener('error', done, {once: true});
})
"""

_TIMED_JS = """
() => {
    const timed = new Set(performance.getEntriesByType('resource').map(entry => entry.name));
    return [...document.images].every(img => !img.currentSrc.startsWith('http') || timed.has(img.currentSrc));
}
"""

_IMAGE_STATES_JS = """
() => [...document.images].map(img => ({
    current_src: img.currentSrc,
    complete: img.complete,
    natural_width: img.naturalWidth,
    natural_height: img.naturalHeight,
    client_width: img.clientWidth,
}))
"""

# Resource timing sizes of every image request: a request an <img> started, or one whose URL names an image
# (CSS backgrounds, preloads). Chromium reports transferSize as encodedBodySize + 300, a fixed stand-in for the
# headers, and 0 for a response from the cache, where encodedBodySize still counts the bytes.
# Favicons are left out: the browser, not the page, fetches them, once per origin per browser run, so they
# would make the first measure of a site differ from the next.
_IMAGE_RESOURCES_JS = """
extensions => {
    const icons = new Set([...document.querySelectorAll('link[rel~="icon"]')].map(link => link.href));
    icons.add(new URL('/favicon.ico', location.href).href);
    return performance.getEntriesByType('resource')
        .filter(entry => !(entry.initiatorType === 'other' && icons.has(entry.name)))
        .filter(entry => entry.initiatorType === 'img'
            || extensions.some(ext => new URL(entry.name).pathname.toLowerCase().endsWith(ext)))
        .map(entry => ({
            url: entry.name,
            bytes: entry.transferSize || entry.encodedBodySize,
            body: entry.encodedBodySize,
        }));
}
"""
# Resource timing keeps 250 entries unless told otherwise; a gallery page can hold more images than that.
_TIMING_BUFFER_JS = "performance.setResourceTimingBufferSize(100000)"


def _describe(message: ConsoleMessage) -> str:
    # "Failed to load resource" does not name the resource; its location does.
    where = message.location.get("url", "")
    return f"{message.text} ({where})" if where else message.text


def _is_favicon(error: str, base: str) -> bool:
    return error.endswith(f"({urljoin(base, '/favicon.ico')})")


def measure(url: str, width: int, dpr: float, *, height: int = VIEWPORT_HEIGHT) -> PageMeasure:
    """Load `url` in a fresh context (empty cache) at `width` x `height` CSS px and pixel ratio `dpr`."""
    context = _shared.get().new_context(viewport={"width": width, "height": height}, device_scale_factor=dpr)
    try:
        context.add_init_script(_TIMING_BUFFER_JS)
        page = context.new_page()
        errors: list[str] = []
        page.on("console", lambda message: errors.append(_describe(message)) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
        page.goto(url, wait_until="load", timeout=TIMEOUT_MS)
        _load_every_image(page)
        images = tuple(ImageState(**state) for state in page.evaluate(_IMAGE_STATES_JS))
        resources = page.evaluate(_IMAGE_RESOURCES_JS, list(IMAGE_EXTENSIONS))
        return PageMeasure(
            url=url,
            width=width,
            dpr=dpr,
            images=images,
            image_urls=tuple(resource["url"] for resource in resources),
            image_bytes=sum(resource["bytes"] for resource in resources),
            image_body_bytes=sum(resource["body"] for resource in resources),
            console_errors=tuple(error for error in errors if not _is_favicon(error, url)),
        )
    finally:
        context.close()
