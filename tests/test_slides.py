"""Offline slide decks: the build of a sample notebook, then the deck in headless Chromium."""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.image
import nbformat
import pytest

from lecture_lib import slides

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = Path(__file__).with_name("slides_sample.ipynb")
# Shared with `make slides`, so the pinned tarballs are downloaded once per checkout.
NPM_CACHE = ROOT / "build" / "cache" / "npm"
CHROMIUM = shutil.which("chromium")
# sha512 of the empty string, as npm writes integrity (FIPS 180-2 test vector).
EMPTY_SHA512 = (
    "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XY"
    "XysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg=="
)


def slide_types(notebook_path):
    cells = json.loads(notebook_path.read_text())["cells"]
    return [cell["metadata"].get("slideshow", {}).get("slide_type", "-") for cell in cells]


class SlideOutline(HTMLParser):
    """What a reader sees of a deck: its text (scripts and styles left out) and its slides,
    counted as reveal.js does: top-level <section>s and the innermost ones."""

    def __init__(self):
        super().__init__()
        self.depth = 0
        self.top_level = 0
        self.innermost = 0
        self.text = []
        self._last_opened_depth = 0
        self._in_code = False

    def handle_starttag(self, tag, attrs):
        self._in_code = tag in {"script", "style"}
        if tag == "section":
            self.depth += 1
            self.top_level += self.depth == 1
            self._last_opened_depth = self.depth

    def handle_endtag(self, tag):
        self._in_code = False
        if tag == "section":
            self.innermost += self._last_opened_depth == self.depth
            self._last_opened_depth = 0
            self.depth -= 1

    def handle_data(self, data):
        if not self._in_code:
            self.text.append(data)


def outline(html):
    parsed = SlideOutline()
    parsed.feed(html)
    return parsed


@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    out = tmp_path_factory.mktemp("slides")
    [built] = slides.build_slides([SAMPLE], out, cache_dir=NPM_CACHE)
    return built


def test_sample_has_the_slide_kinds_the_tests_rely_on():
    kinds = slide_types(SAMPLE)
    assert kinds[0] == "slide"
    assert {"slide", "subslide", "fragment", "skip", "-"} <= set(kinds)
    assert "jax" not in SAMPLE.read_text()


def test_deck_loads_only_assets_that_are_in_its_folder(deck):
    html = deck.read_text()
    assert slides.remote_asset_urls(html) == []
    local = set(re.findall(r"""["'](assets/[^"'?]+)""", html))
    assert {
        "assets/reveal.js/dist/reveal.js",
        "assets/reveal.js/dist/reveal.css",
        "assets/reveal.js/plugin/notes/notes.js",
        "assets/mathjax/MathJax.js",
        "assets/requirejs/require.js",
    } <= local
    missing = [path for path in local if not (deck.parent / path).is_file()]
    assert not missing, f"the deck loads files that were not vendored: {missing}"


def test_deck_has_a_section_per_slide_and_leaves_out_skipped_cells(deck):
    html = deck.read_text()
    kinds = slide_types(SAMPLE)
    sections = outline(html)
    assert sections.top_level == kinds.count("slide")
    assert sections.innermost == kinds.count("slide") + kinds.count("subslide")
    assert html.count('<div class="fragment"') == kinds.count("fragment")
    assert "np.allclose" not in html
    assert "data:image/png;base64," in html, "the figure cell was not executed"


def test_remote_asset_urls_flags_what_a_browser_fetches_and_not_hyperlinks():
    html = """
    <link rel="stylesheet" href="https://cdn.example/reveal.css">
    <script src="//cdn.example/require.js"></script>
    <script>require(["https://unpkg.example/reveal.js"]); // see https://docs.example</script>
    <style>@import url(https://fonts.example/css);</style>
    <img src="data:image/png;base64,AAAA"><script src="assets/local.js"></script>
    <p>Read <a href="https://arxiv.org/abs/1412.6980">Adam</a>.</p>
    """
    assert sorted(slides.remote_asset_urls(html)) == [
        "//cdn.example/require.js",
        "https://cdn.example/reveal.css",
        "https://fonts.example/css",
        "https://unpkg.example/reveal.js",
    ]


def test_a_mermaid_diagram_is_refused_rather_than_left_blank():
    diagram = nbformat.v4.new_markdown_cell("```mermaid\ngraph TD; A-->B\n```")
    with pytest.raises(RuntimeError, match="Mermaid"):
        slides.export_deck(nbformat.v4.new_notebook(cells=[diagram]), "diagram")


def test_integrity_is_checked_against_the_pin():
    slides.check_integrity(b"", EMPTY_SHA512, "the empty tarball")
    with pytest.raises(RuntimeError, match="expected the pinned"):
        slides.check_integrity(b"tampered", EMPTY_SHA512, "a tampered tarball")


def test_arguments_are_checked_before_any_work(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="notebook must be an existing .ipynb"):
        slides.build_slides([tmp_path / "missing.ipynb"], out, cache_dir=NPM_CACHE)
    with pytest.raises(ValueError, match="notebook must be an existing .ipynb"):
        slides.build_slides([ROOT / "pyproject.toml"], out, cache_dir=NPM_CACHE)
    with pytest.raises(ValueError, match="notebooks must name at least one"):
        slides.build_slides([], out, cache_dir=NPM_CACHE)
    with pytest.raises(ValueError, match="cell_timeout must be an integer >= 1"):
        slides.build_slides([SAMPLE], out, cache_dir=NPM_CACHE, cell_timeout=0)
    with pytest.raises(ValueError, match="name must be a non-empty str"):
        slides.export_deck(nbformat.v4.new_notebook(), "")
    with pytest.raises(ValueError, match="html must be a str"):
        slides.remote_asset_urls(b"<html></html>")
    with pytest.raises(ValueError, match="integrity must be a 'sha512-<base64>'"):
        slides.check_integrity(b"", "md5-0", "a tarball")
    assert not out.exists()


def chromium_offline(url, tmp_path, screenshot=None):
    """The DOM of ``url`` after 20 s of page time in headless Chromium with no network."""
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        # Every request goes to a closed port and no host name resolves: offline.
        "--proxy-server=127.0.0.1:9",
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--window-size=1280,800",
        "--virtual-time-budget=20000",
        "--dump-dom",
        url,
    ]
    if screenshot is not None:
        command.insert(-2, f"--screenshot={screenshot}")
    done = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def require_chromium():
    if CHROMIUM is None:
        pytest.skip(
            "chromium not installed: the offline rendering of a deck is not checked "
            "(apt-get install chromium; .ci/run does)"
        )


def test_chromium_is_really_offline(tmp_path):
    require_chromium()
    probe = tmp_path / "probe.html"
    probe.write_text(
        "<script>fetch('https://registry.npmjs.org/')"
        ".then(() => { document.body.dataset.network = 'online'; })"
        ".catch(() => { document.body.dataset.network = 'offline'; });</script>"
    )
    assert 'data-network="offline"' in chromium_offline(probe.as_uri(), tmp_path)


def test_deck_typesets_math_offline_in_headless_chromium(deck, tmp_path):
    require_chromium()
    screenshot = tmp_path / "display_math_slide.png"
    # #/0/1 is the subslide with the display equation.
    dom = chromium_offline(deck.as_uri() + "#/0/1", tmp_path, screenshot)
    assert 'class="MathJax_Display"' in dom, "MathJax typeset no display equation"
    assert 'class="MathJax_Error"' not in dom
    kinds = slide_types(SAMPLE)
    sections = outline(dom)
    assert "$$" not in "".join(sections.text), "raw TeX delimiters were left on a slide"
    assert sections.top_level == kinds.count("slide")
    assert sections.innermost == kinds.count("slide") + kinds.count("subslide")
    pixels = matplotlib.image.imread(screenshot)
    assert pixels.shape[:2] == (800, 1280)
    assert pixels[..., :3].min() < 0.5, "the screenshot is blank"
