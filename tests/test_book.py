"""The course book and slides (``make book``), opened in a real headless Chromium.

Every page of the book and every slide deck, served from build/book on localhost: it loads, its
mathematics is rendered by MathJax (no TeX error, no raw ``$...$`` or ``\\(...\\)`` left in the
text), every image loads, every internal link and anchor points at something that exists,
nothing is fetched from outside (the book reads offline), and the chapters are linked in order
from the landing page. Screenshots of the landing page, one chapter and one slide are saved in
build/book-screenshots/.

Run by ``make book-test`` (CI's .ci/run), after ``make book``. Without a built book, Chromium,
chromedriver or selenium these tests skip, unless MINIGAN_BOOK_TEST=1 (set by ``make
book-test``), where a missing piece fails: CI cannot pass by skipping them.
"""
from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import unquote, urljoin, urlparse

import pytest

pytestmark = pytest.mark.book

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "build" / "book"
SHOTS = ROOT / "build" / "book-screenshots"
REQUIRED = os.environ.get("MINIGAN_BOOK_TEST") == "1"
CHAPTERS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _missing(why):
    if REQUIRED:
        pytest.fail(f"MINIGAN_BOOK_TEST=1 but {why}")
    pytest.skip(why)


@pytest.fixture(scope="module")
def server():
    if not (BOOK / "index.html").exists():
        _missing("the book is not built (make book)")
    handler = functools.partial(_QuietHandler, directory=str(BOOK))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        _missing("selenium is not installed (pip install -e '.[book]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        _missing("Chromium and chromedriver are not installed (apt-get install chromium "
                 "chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--no-first-run", "--window-size=1280,900",
                f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# --- what a page must satisfy ---------------------------------------------------------------
WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const t0 = Date.now();
(function poll() {
  const mj = window.MathJax;
  if (mj && mj.startup && mj.startup.promise) {
    mj.startup.promise.then(() => done('typeset'), e => done('error: ' + e));
  } else if (Date.now() - t0 > (document.querySelector('script[src*="mathjax"]') ? 20000 : 500)) {
    done('no MathJax');
  } else {
    setTimeout(poll, 50);
  }
})();
"""

PAGE_FACTS = """
const text = [];
const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT, {
  acceptNode: n => n.parentElement.closest('pre, code, script, style, mjx-container, .highlight')
                   ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT});
while (walker.nextNode()) text.push(walker.currentNode.nodeValue);
let mathErrors = 0;                 // TeX errors, and undefined macros (drawn in red by MathJax)
const mj = window.MathJax;
if (mj && mj.startup && mj.startup.document && mj.startup.toMML) {
  for (const item of mj.startup.document.math) {
    const mml = mj.startup.toMML(item.root);
    if (mml.includes('<merror') || mml.includes('mathcolor="red"')) mathErrors++;
  }
}
return {
  title: document.title,
  text: text.join(' '),
  math: document.querySelectorAll('mjx-container').length,
  mathErrors: mathErrors + document.querySelectorAll('mjx-merror').length,
  images: Array.from(document.images).map(i => [i.getAttribute('src'), i.complete && i.naturalWidth > 0]),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.getAttribute('href')),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id),
  resources: performance.getEntriesByType('resource').map(r => r.name),
};
"""

RAW_MATH = re.compile(r"\$[^$\s][^$]{0,200}?\$|\\\(|\\\[|\\begin\{")


def _visit(browser, url):
    browser.get(url)
    state = browser.execute_async_script(WAIT_FOR_MATHJAX)
    return state, browser.execute_script(PAGE_FACTS)


def _local(url, base):
    return urlparse(url).netloc == urlparse(base).netloc


def _check_page(browser, base, page, *, expect_math=True):
    url = urljoin(base, page)
    state, facts = _visit(browser, url)
    assert state == "typeset" or (state == "no MathJax" and not expect_math), \
        f"{page}: MathJax did not finish ({state})"
    assert facts["title"] and "404" not in facts["title"], f"{page}: {facts['title']!r}"
    if expect_math:
        assert facts["math"] > 0, f"{page}: no rendered mathematics"
    assert facts["mathErrors"] == 0, f"{page}: {facts['mathErrors']} TeX errors"
    raw = RAW_MATH.findall(facts["text"])
    assert not raw, f"{page}: raw TeX left in the text: {raw[:5]}"
    broken = [src for src, ok in facts["images"] if not ok]
    assert facts["images"] is not None and not broken, f"{page}: images that did not load: {broken}"
    outside = [r for r in facts["resources"] if not _local(r, base) and not r.startswith("data:")]
    assert not outside, f"{page}: fetched from outside (not offline): {outside[:5]}"
    return url, facts


def _check_links(url, facts, base, ids_of):
    bad = []
    for href in facts["links"]:
        target = urljoin(url, href)
        if not _local(target, base) or href.startswith(("mailto:", "javascript:")):
            continue
        parsed = urlparse(target)
        path = BOOK / unquote(parsed.path).lstrip("/")
        if path.is_dir():
            path = path / "index.html"
        if not path.exists():
            bad.append(href)
        elif parsed.fragment and path.suffix == ".html" and not parsed.fragment.startswith("/"):
            # ("#/3" is a reveal.js route to a slide, not an anchor)
            if parsed.fragment not in ids_of(path):
                bad.append(href)
    return bad


@functools.lru_cache(maxsize=None)
def _ids(path: Path):
    return frozenset(re.findall(r'\bid="([^"]+)"', path.read_text(errors="replace")))


# --- the tests ------------------------------------------------------------------------------
def test_the_landing_page_maps_every_chapter_in_order(browser, server):
    url, facts = _check_page(browser, server, "index.html", expect_math=False)
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / "landing.png"))
    pages = [h.split("#")[0] for h in facts["links"] if re.match(r"\d\d_\w+\.html", h)]
    order = list(dict.fromkeys(pages))
    assert order == [c + ".html" for c in CHAPTERS], order
    decks = [h for h in facts["links"] if h.startswith("slides/")]
    assert decks == [f"slides/{c}.slides.html" for c in CHAPTERS], decks
    pictures = [src for src, _ in facts["images"] if "images/" in src]
    assert len(pictures) >= 10, pictures
    assert not _check_links(url, facts, server, _ids)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_chapter_page(browser, server, chapter):
    url, facts = _check_page(browser, server, f"{chapter}.html")
    assert facts["math"] >= 5, f"{chapter}: only {facts['math']} formulas rendered"
    assert sum(ok for _, ok in facts["images"]) >= 1, f"{chapter}: no figure"
    bad = _check_links(url, facts, server, _ids)
    assert not bad, f"{chapter}: broken internal links {bad}"
    i = CHAPTERS.index(chapter)
    if i + 1 < len(CHAPTERS):               # the book reads on: a link to the next chapter
        assert CHAPTERS[i + 1] + ".html" in facts["links"], f"{chapter}: no link to the next"
    if chapter.startswith("07"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / f"{chapter}.png"))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_slide_deck(browser, server, chapter):
    page = f"slides/{chapter}.slides.html"
    url, facts = _check_page(browser, server, page)
    slides = browser.execute_script(
        "return window.Reveal && Reveal.isReady() ? Reveal.getTotalSlides() : -1")
    assert slides >= 5, f"{page}: reveal.js did not start or has {slides} slides"
    figures = sum(ok for _, ok in facts["images"])
    assert figures >= 1, f"{page}: no figure"
    assert not _check_links(url, facts, server, _ids)
    if chapter.startswith("07"):
        browser.execute_script("Reveal.slide(3)")
        SHOTS.mkdir(parents=True, exist_ok=True)
        browser.save_screenshot(str(SHOTS / f"{chapter}.slides.png"))


def test_the_checks_can_fail(browser, server, tmp_path):
    """A page with a TeX error, a raw formula, a missing picture, a broken link and an outside
    fetch fails each check (served from the same site, then removed)."""
    bad = BOOK / "_broken_test_page.html"
    bad.write_text(
        "<html><head><title>broken</title>"
        '<script src="_static/mathjax/tex-chtml.js"></script></head><body>'
        "<p>\\(\\frac{1}{\\undefinedmacro}\\)</p><p>raw $x^2$ left</p>"
        '<img src="missing.png"><a href="nowhere.html">x</a>'
        '<a href="index.html#no-such-anchor">y</a></body></html>')
    try:
        with pytest.raises(AssertionError, match="TeX errors|raw TeX|images"):
            _check_page(browser, server, bad.name)
        url = urljoin(server, bad.name)
        state, facts = _visit(browser, url)
        assert state == "typeset" and facts["mathErrors"] == 1
        assert RAW_MATH.findall(facts["text"])
        assert [s for s, ok in facts["images"] if not ok] == ["missing.png"]
        assert _check_links(url, facts, server, _ids) == ["nowhere.html", "index.html#no-such-anchor"]
    finally:
        bad.unlink()
