"""Offline reveal.js slide decks of the lecture notebooks.

``python -m lecture_lib.slides [NOTEBOOKS...] --out build/slides [--no-execute]``

Each notebook is executed (its figures are outputs), converted with nbconvert's
``SlidesExporter`` and written as ``NN_name.slides.html`` next to an ``assets/``
folder holding reveal.js, MathJax, require.js, jQuery and the widget renderer. The
decks load nothing from the network at view time, so the folder can be zipped and
presented from ``file://`` on a machine without a connection.

The JavaScript comes from the package registries: MathJax 2.7 (the version whose
``MathJax.Hub`` API nbconvert's template calls) from the ``jupyter-server-mathjax``
wheel, the rest from npm tarballs pinned by version and sha512, downloaded once
into a cache folder.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import re
import shutil
import sys
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser
from importlib import resources
from pathlib import Path

import ipykernel.kernelspec
import nbformat
from jinja2 import DictLoader
from jupyter_client import KernelManager
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from nbclient import NotebookClient
from nbconvert import SlidesExporter

from lecture_lib import validation

ASSETS = "assets"
REGISTRY = "https://registry.npmjs.org"
# The other reveal.js themes @import their fonts from Google; white's are in the tarball.
REVEAL_THEME = "white"


@dataclass(frozen=True)
class NpmPackage:
    """A tarball on the npm registry and the parts of it a deck needs.

    Attributes:
      name: the npm name, scoped names included (``@jupyter-widgets/html-manager``).
      version: the exact version.
      integrity: the registry's ``dist.integrity`` (``sha512-<base64>``), pinned here
        so that a tarball that differs from the one reviewed fails the build.
      paths: files or folders inside the tarball (below its ``package/`` root) to copy.
      excluded: files below ``paths`` that no deck loads, left out to keep the folder small.
    """

    name: str
    version: str
    integrity: str
    paths: tuple[str, ...]
    excluded: tuple[str, ...] = ()

    @property
    def tarball_url(self) -> str:
        return f"{REGISTRY}/{self.name}/-/{self.name.split('/')[-1]}-{self.version}.tgz"

    @property
    def folder(self) -> str:
        """Where the package lands inside ``assets/``."""
        return self.name.split("/")[-1]


REVEAL = NpmPackage(
    "reveal.js",
    "5.2.1",
    "sha512-r7//6mIM5p34hFiDMvYfXgyjXqGRta+/psd9YtytsgRlrpRzFv4RbH76TXd2qD+7ZPZEbpBDhdRhJaFgfQ7zNQ==",
    (
        "dist/reveal.js",
        "dist/reveal.css",
        f"dist/theme/{REVEAL_THEME}.css",
        "dist/theme/fonts/source-sans-pro",
        "plugin/notes",
    ),
)
REQUIREJS = NpmPackage(
    "requirejs",
    "2.3.8",
    "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
    ("require.js",),
)
JQUERY = NpmPackage(
    "jquery",
    "3.7.1",
    "sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg==",
    ("dist/jquery.min.js",),
)
# The renderer of stored widget state (sliders show their first output); the
# version line that matches ipywidgets 8.
HTML_MANAGER = NpmPackage(
    "@jupyter-widgets/html-manager",
    "1.0.15",
    "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
    ("dist",),
    excluded=("dist/embed.js", "dist/libembed-amd.js"),
)
NPM_PACKAGES = (REVEAL, REQUIREJS, JQUERY, HTML_MANAGER)

# Relative to the deck, so the folder stays self-contained wherever it is copied.
ASSET_URLS = {
    "reveal_url_prefix": f"{ASSETS}/{REVEAL.folder}",
    "require_js_url": f"{ASSETS}/{REQUIREJS.folder}/require.js",
    "jquery_url": f"{ASSETS}/{JQUERY.folder}/dist/jquery.min.js",
    "widget_renderer_url": f"{ASSETS}/{HTML_MANAGER.folder}/dist/embed-amd.js",
    # The wheel ships this combined configuration, not the template's TeX-AMS_CHTML-full.
    "mathjax_url": f"{ASSETS}/mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe",
}

# Mermaid is an ES-module bundle of hundreds of chunks; no lecture draws a diagram,
# so the loader is left out and a notebook that needs it is refused (see export_deck).
# The MathJax of jupyter-server-mathjax ships the STIX-Web fonts only, not MathJax's
# default TeX fonts: without this configuration every display equation fails.
OFFLINE_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
{{ super() }}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({
    "HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}
});
</script>
{%- endblock html_head_js_mathjax -%}
"""

_QUOTED_REMOTE_URL = re.compile(r"""["'`]((?:https?:)?//[^"'`\s]+)["'`]""")
_CSS_REMOTE_URL = re.compile(
    r"""(?:url\(\s*["']?|@import\s+["'])((?:https?:)?//[^"')\s]+)""", re.IGNORECASE
)
_REMOTE = re.compile(r"^\s*(?:https?:)?//", re.IGNORECASE)


class _AssetCollector(HTMLParser):
    """Remote URLs a browser would fetch to show the page (not links a reader may follow)."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.urls: list[str] = []
        self._open_tag = ""

    def handle_starttag(self, tag, attrs):
        self._open_tag = tag
        for name, value in attrs:
            fetched = name in {"src", "poster", "data"} or (name == "href" and tag == "link")
            if fetched and value and _REMOTE.match(value):
                self.urls.append(value.strip())
            if name == "style" and value:
                self.urls.extend(_CSS_REMOTE_URL.findall(value))

    def handle_endtag(self, tag):
        self._open_tag = ""

    def handle_data(self, data):
        # Only string literals count in scripts: a URL in a JavaScript comment is not fetched.
        if self._open_tag == "script":
            self.urls.extend(_QUOTED_REMOTE_URL.findall(data))
        elif self._open_tag == "style":
            self.urls.extend(_CSS_REMOTE_URL.findall(data))


def remote_asset_urls(html: str) -> list[str]:
    """The http(s) and protocol-relative URLs that ``html`` would load as assets.

    Counted: ``src`` (and ``poster``, ``data``) of any element, ``href`` of
    ``<link>``, quoted URLs inside ``<script>``, and ``url(...)``/``@import`` in
    styles. Hyperlinks (``<a href>``) are prose, not assets, and are not counted.
    """
    if not isinstance(html, str):
        raise ValueError(f"html must be a str, got {type(html).__name__}")
    collector = _AssetCollector()
    collector.feed(html)
    collector.close()
    return collector.urls


def check_integrity(data: bytes, integrity: str, source: str) -> None:
    """Raise RuntimeError unless ``data`` has the npm ``sha512-<base64>`` ``integrity``."""
    if not isinstance(data, bytes):
        raise ValueError(f"data must be bytes, got {type(data).__name__}")
    if not (isinstance(integrity, str) and integrity.startswith("sha512-")):
        raise ValueError(f"integrity must be a 'sha512-<base64>' string, got {integrity!r}")
    found = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if found != integrity:
        raise RuntimeError(f"{source} has integrity {found}, expected the pinned {integrity}")


def npm_tarball(package: NpmPackage, cache_dir: Path) -> bytes:
    """The verified tarball of ``package``, from ``cache_dir`` or else downloaded into it."""
    if not isinstance(package, NpmPackage):
        raise ValueError(f"package must be an NpmPackage, got {type(package).__name__}")
    cache_dir = Path(cache_dir)
    cached = cache_dir / f"{package.folder}-{package.version}.tgz"
    if cached.is_file():
        data = cached.read_bytes()
        try:
            check_integrity(data, package.integrity, str(cached))
            return data
        except RuntimeError:
            print(f"{cached} does not match its pin; downloading it again", file=sys.stderr)
    with urllib.request.urlopen(package.tarball_url, timeout=120) as response:
        data = response.read()
    check_integrity(data, package.integrity, package.tarball_url)
    cache_dir.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".partial")
    partial.write_bytes(data)
    partial.replace(cached)
    return data


def _extract(package: NpmPackage, tarball: bytes, destination: Path) -> None:
    """Copy ``package.paths`` (source maps left out) from ``tarball`` into ``destination``."""
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        members = []
        for member in archive.getmembers():
            path = member.name.removeprefix("package/")
            wanted = any(path == p or path.startswith(p + "/") for p in package.paths)
            unused = path.endswith(".map") or path in package.excluded
            if member.isfile() and wanted and not unused:
                member.name = path
                members.append(member)
        archive.extractall(destination, members=members, filter="data")


def mathjax_folder() -> Path:
    """MathJax 2.7 as shipped in the ``jupyter-server-mathjax`` wheel (the ``dev`` extra)."""
    try:
        folder = resources.files("jupyter_server_mathjax") / "static"
    except ModuleNotFoundError:
        raise RuntimeError(
            "jupyter-server-mathjax is not installed: `pip install -e '.[dev]'` (make install)"
        ) from None
    return Path(str(folder))


def vendor_assets(out_dir: Path, cache_dir: Path) -> Path:
    """Write every asset the decks load into ``out_dir/assets``; returns that folder."""
    out_dir, cache_dir = Path(out_dir), Path(cache_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"out_dir must be a folder, got the file {out_dir}")
    assets = out_dir / ASSETS
    shutil.rmtree(assets, ignore_errors=True)
    for package in NPM_PACKAGES:
        _extract(package, npm_tarball(package, cache_dir), assets / package.folder)
    shutil.copytree(mathjax_folder(), assets / "mathjax")
    for stylesheet in sorted(assets.rglob("*.css")):
        remote = _CSS_REMOTE_URL.findall(stylesheet.read_text(encoding="utf-8", errors="replace"))
        if remote:
            raise RuntimeError(f"{stylesheet} would load remote assets: {', '.join(remote)}")
    return assets


class _ThisPython(KernelSpecManager):
    """Whatever kernels are registered, hand out the one of the Python that builds the decks."""

    def get_kernel_spec(self, kernel_name):
        return KernelSpec(
            resource_dir=ipykernel.kernelspec.RESOURCES, **ipykernel.kernelspec.get_kernel_dict()
        )


def execute_notebook(notebook, working_dir: Path, cell_timeout: int) -> None:
    """Run every cell of the nbformat ``notebook`` in place, in a new kernel in ``working_dir``."""
    working_dir = Path(working_dir)
    if not working_dir.is_dir():
        raise ValueError(f"working_dir must be an existing folder, got {str(working_dir)!r}")
    cell_timeout = validation.positive_int("cell_timeout", cell_timeout)
    kernel = KernelManager(kernel_name="python3", kernel_spec_manager=_ThisPython())
    client = NotebookClient(
        notebook,
        km=kernel,
        timeout=cell_timeout,
        startup_timeout=300,
        resources={"metadata": {"path": str(working_dir)}},
    )
    # A client given its kernel manager leaves the kernel running; one kernel at a time.
    try:
        client.execute()
    finally:
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)


def export_deck(notebook, name: str) -> str:
    """The reveal.js HTML of an (executed) nbformat ``notebook``, loading only local assets."""
    if not (isinstance(name, str) and name):
        raise ValueError(f"name must be a non-empty str (the deck's title), got {name!r}")
    exporter = SlidesExporter(
        extra_loaders=[DictLoader({"offline_reveal.html.j2": OFFLINE_TEMPLATE})],
        template_file="offline_reveal.html.j2",
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        # Slides with a figure under their code overflow the screen; scrolling beats cropping.
        reveal_scroll=True,
        reveal_theme=REVEAL_THEME,
        **ASSET_URLS,
    )
    html, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": name}})
    if 'class="mermaid"' in html:
        raise RuntimeError(f"{name} draws a Mermaid diagram; offline decks do not bundle Mermaid")
    remote = remote_asset_urls(html)
    if remote:
        raise RuntimeError(f"{name} would load remote assets at view time: {', '.join(remote)}")
    return html


def build_deck(notebook_path: Path, out_dir: Path, *, execute: bool = True, cell_timeout=600):
    """Write ``out_dir/<stem>.slides.html`` from ``notebook_path``; returns its path.

    The assets are expected in ``out_dir/assets`` (``vendor_assets``); ``build_slides``
    does both.
    """
    notebook_path = _notebook_path(notebook_path)
    cell_timeout = validation.positive_int("cell_timeout", cell_timeout)
    notebook = nbformat.read(notebook_path, as_version=4)
    if execute:
        execute_notebook(notebook, notebook_path.parent, cell_timeout)
    deck = Path(out_dir) / f"{notebook_path.stem}.slides.html"
    deck.parent.mkdir(parents=True, exist_ok=True)
    deck.write_text(export_deck(notebook, notebook_path.stem), encoding="utf-8")
    return deck


def _notebook_path(path) -> Path:
    path = Path(path)
    if path.suffix != ".ipynb" or not path.is_file():
        raise ValueError(f"notebook must be an existing .ipynb file, got {str(path)!r}")
    return path


def build_slides(
    notebooks, out_dir, *, cache_dir, execute: bool = True, cell_timeout=600
) -> list[Path]:
    """Build one offline deck per notebook into ``out_dir``, assets included.

    Notebooks run one at a time (one kernel), each in its own folder as working
    directory, with ``cell_timeout`` seconds allowed per cell.
    """
    notebooks = [_notebook_path(path) for path in notebooks]
    if not notebooks:
        raise ValueError("notebooks must name at least one .ipynb file, got none")
    validation.positive_int("cell_timeout", cell_timeout)
    out_dir = Path(out_dir)
    vendor_assets(out_dir, cache_dir)
    decks = []
    for notebook in notebooks:
        started = time.perf_counter()
        decks.append(build_deck(notebook, out_dir, execute=execute, cell_timeout=cell_timeout))
        print(f"{decks[-1]}  ({time.perf_counter() - started:.0f} s)", flush=True)
    return decks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lecture_lib.slides",
        description="Execute lecture notebooks and write offline reveal.js slide decks.",
    )
    parser.add_argument("notebooks", nargs="+", type=Path, help="the .ipynb files to convert")
    parser.add_argument("--out", type=Path, default=Path("build/slides"), help="output folder")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("build/cache/npm"),
        help="where downloaded npm tarballs are kept between builds",
    )
    parser.add_argument("--no-execute", action="store_true", help="convert the notebooks as stored")
    parser.add_argument(
        "--cell-timeout", type=int, default=600, help="seconds allowed to each cell"
    )
    args = parser.parse_args(argv)
    build_slides(
        args.notebooks,
        args.out,
        cache_dir=args.cache,
        execute=not args.no_execute,
        cell_timeout=args.cell_timeout,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
