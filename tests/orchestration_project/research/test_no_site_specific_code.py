"""The product code must not know the evaluation sites.

A benchmark result only means something if the code was not written for the benchmark's pages.
This test scans the product code (``orchestration_project/`` except ``demo_world/``,
``resources/``, ``assets/``; not tests or benchmarks; Python files and text resources such as
templates) for:

* the evaluation sites' names and hosts: the slugs of ``benchmarks/realsites/*`` and
  ``benchmarks/realsites_holdout/*`` and the hosts
  (and their registrable names) of the products' ``source_url``, ``testingground``,
  ``webscraper``, ``amiibo``, the ``pricelist_testingground`` site id, and the demo world's
  brand names (which only ``demo_world/`` may use). Matched case-insensitively as whole words
  anywhere in the text (comments included). ``pricelist`` on its own is an ordinary word (a
  price list page, next to "preisliste" in the URL vocabularies), so only the site id made of it
  (``pricelist_testingground``, ``pricelist-testing…``) counts;
* selectors only one site would use: the CSS class names that occur in the HTML of exactly one
  evaluation site and nowhere in the demo world's pages, found inside a string literal of the
  code (docstrings excepted), e.g. ``"a.product--title"``. Only class names with structure
  (a ``-``, ``_``, digit or inner capital) are used, and state classes of the common naming
  conventions (``is-active``, ``has--border``, ``no-js``), tag names used as classes (``h1``) and
  the CSS frameworks' display utilities (``d-none``, ``sr-only``) are left out: a plain word such as
  ``price`` or ``content`` is vocabulary any generic extractor uses, not a site's selector.

The test proves it fails: the same scan finds such strings in a temporary file.
"""

from __future__ import annotations

import ast
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

REPO_ROOT = Path(__file__).resolve().parents[3]
BENCH = Path(
    os.environ.get("BENCHMARKS_DIR") or (REPO_ROOT / ".." / "shared" / "benchmarks")
).resolve()
REALSITES = REPO_ROOT / "benchmarks" / "realsites"
HOLDOUT = REPO_ROOT / "benchmarks" / "realsites_holdout"
PRODUCT_DIRS = ("orchestration_project", "resources", "assets")
TEXT_SUFFIXES = {".py", ".j2", ".html", ".yaml", ".yml", ".json", ".toml", ".sql", ".md", ".txt"}
EXCLUDED_PARTS = {"demo_world", "tests", "benchmarks", "__pycache__"}
FIXED_NAMES = ("testingground", "testing-ground", "webscraper", "amiibo", "lightpanda")
# "pricelist" only as a site id: followed by a separator and more of the name, or camel-cased.
SITE_ID_PATTERNS = (r"pricelist[_\-.]?testing", r"pricelist_\w+", r"pricelist-\w+")

_CLASS_ATTR = re.compile(r"""\bclass\s*=\s*(?:"([^"]*)"|'([^']*)')""", re.IGNORECASE)
_CSS_IDENT = re.compile(r"-?[_a-zA-Z][_a-zA-Z0-9-]*")
_STRUCTURED = re.compile(r"[-_0-9]|[a-z][A-Z]")
_STATE_CLASS = re.compile(r"^(?:is|has|no)-{1,2}[a-z]+$")
# Class names that are HTML tag names ("h1" styled as a heading) and the display utilities of the
# common CSS frameworks ("d-none", "sr-only"): vocabulary of thousands of sites, not one site's
_SHARED_VOCABULARY = re.compile(
    r"^(?:h[1-6]|d-(?:none|block|flex|inline|inline-block|grid)|sr-only|visually-hidden)$"
)


# -- what to look for ----------------------------------------------------------------------------
def html_classes(text: str) -> set[str]:
    """Every class name in the ``class`` attributes of an HTML text."""
    out: set[str] = set()
    for m in _CLASS_ATTR.finditer(text):
        out.update((m.group(1) or m.group(2) or "").split())
    return out


def evaluation_site_folders() -> dict[str, Path]:
    """The ``site/`` folder of every evaluation site: the shared websites and the realsites."""
    out: dict[str, Path] = {}
    for parent in (BENCH / "websites", REALSITES, HOLDOUT):
        if parent.is_dir():
            for d in sorted(parent.iterdir()):
                if (d / "site").is_dir():
                    out[d.name] = d / "site"
    return out


def _site_pages(folder: Path) -> Iterable[str]:
    for f in folder.rglob("*"):
        if f.is_file() and f.suffix.lower() in (".html", ".htm"):
            yield f.read_text(encoding="utf-8", errors="replace")


@cache
def demo_world_classes() -> frozenset[str]:
    """Class names used anywhere in the demo world's pages."""
    from orchestration_project.demo_world.sites import render_all

    out: set[str] = set()
    for bundle in render_all().values():
        for page in bundle.normal.values():
            out |= html_classes(str(page))
    return frozenset(out)


@cache
def site_specific_classes() -> frozenset[str]:
    """Structured class names found in exactly one evaluation site and not in the demo world."""
    per_site = {
        slug: set().union(*map(html_classes, _site_pages(folder)), set())
        for slug, folder in evaluation_site_folders().items()
    }
    counts = Counter(c for classes in per_site.values() for c in classes)
    demo = demo_world_classes()
    return frozenset(
        c
        for c, n in counts.items()
        if n == 1
        and c not in demo
        and _STRUCTURED.search(c)
        and not _STATE_CLASS.match(c)
        and not _SHARED_VOCABULARY.match(c)
    )


def _registrable_label(host: str) -> str:
    """``www.example.co.uk`` -> ``example`` (good enough for the hosts at hand)."""
    labels = [x for x in host.lower().split(".") if x and x != "www"]
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in {"co", "com", "org", "net"}:
        return labels[-3]
    return labels[-2] if len(labels) >= 2 else (labels[0] if labels else "")


@cache
def forbidden_names() -> frozenset[str]:
    """Site names and hosts (lower case) the product code must not contain."""
    names: set[str] = set(FIXED_NAMES)
    folders = [d for root in (REALSITES, HOLDOUT) if root.is_dir() for d in root.iterdir()]
    for d in folders:
        if not (d / "site").is_dir():
            continue
        names.add(d.name.lower())
        truth = d / "ground_truth" / "products.json"
        if truth.is_file():
            for p in json.loads(truth.read_text(encoding="utf-8")):
                for key in ("source_url", "url"):
                    host = urlsplit(str(p.get(key) or "")).hostname
                    if host:
                        names.add(host)
                        label = _registrable_label(host)
                        if len(label) >= 4:
                            names.add(label)
    from orchestration_project.demo_world.data import SITES

    for s in SITES:
        names.add(s.brand.lower())
        names.update(w.lower() for w in s.brand.split() if len(w) >= 5 and w[0].isupper())
    # Ordinary words that happen to be in a brand ("Home", "Climate") are not names.
    return frozenset(n for n in names if n not in {"home", "climate"})


# -- the scan ------------------------------------------------------------------------------------
def product_files(root: Path = REPO_ROOT) -> list[Path]:
    """The product code's files: Python and its text resources (templates, configuration)."""
    out = []
    for top in PRODUCT_DIRS:
        for f in sorted((root / top).rglob("*")):
            if (
                f.is_file()
                and f.suffix in TEXT_SUFFIXES
                and not EXCLUDED_PARTS & set(f.relative_to(root).parts)
            ):
                out.append(f)
    return out


def _string_literals(tree: ast.AST) -> Iterable[tuple[int, str]]:
    docstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                docstrings.add(id(body[0].value))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in docstrings
        ):
            yield node.lineno, node.value


def scan(
    files: Iterable[Path], names: Iterable[str], classes: Iterable[str]
) -> list[tuple[str, int, str, str]]:
    """Find site names (anywhere in the text) and site-specific class names (in the string
    literals of Python files) in ``files``.

    Returns:
        (file, line, "name" | "class", what) for every finding.
    """
    name_patterns = [
        re.compile(rf"(?<![a-z0-9]){re.escape(n)}(?![a-z0-9])", re.IGNORECASE) for n in names
    ]
    name_patterns += [re.compile(p, re.IGNORECASE) for p in SITE_ID_PATTERNS]
    class_set = set(classes)
    found: list[tuple[str, int, str, str]] = []
    for f in files:
        text = f.read_text(encoding="utf-8")
        for lineno, line in enumerate(text.splitlines(), 1):
            for pat in name_patterns:
                m = pat.search(line)
                if m:
                    found.append((str(f), lineno, "name", m.group(0)))
        if f.suffix != ".py":
            continue
        for lineno, value in _string_literals(ast.parse(text)):
            for token in sorted(set(_CSS_IDENT.findall(value)) & class_set):
                found.append((str(f), lineno, "class", token))
    return found


# -- tests ---------------------------------------------------------------------------------------
def test_the_evaluation_sites_are_there() -> None:
    sites = evaluation_site_folders()
    assert "pricelist_testingground" in sites, f"no benchmark data in {BENCH}"
    assert any(p.parent.parent == REALSITES for p in sites.values())
    assert len(site_specific_classes()) > 50  # the scan has something to look for
    assert {"adac", "ebrosia", "nestwell", "amiibo"} <= forbidden_names()


def test_the_product_code_names_no_evaluation_site() -> None:
    files = product_files()
    assert len(files) > 20
    findings = [f for f in scan(files, forbidden_names(), ()) if f[2] == "name"]
    assert findings == [], "site names in product code:\n" + "\n".join(map(str, findings))


def test_the_product_code_uses_no_selector_of_a_single_evaluation_site() -> None:
    findings = scan(product_files(), (), site_specific_classes())
    assert findings == [], "site-specific selectors in product code:\n" + "\n".join(
        map(str, findings)
    )


def test_the_scan_catches_a_site_name_and_a_site_selector(tmp_path: Path) -> None:
    selector = sorted(site_specific_classes())[0]
    name = sorted(forbidden_names())[0]
    bad = tmp_path / "bad.py"
    bad.write_text(
        '"""Docstring mentioning nothing."""\n'
        f"PRICE = 'div.{selector} > span'\n"
        f"# tuned for {name}\n"
        "HOST = 'http://pricelist_testingground/prices1.html'\n",
        encoding="utf-8",
    )
    good = tmp_path / "good.py"
    good.write_text(
        '"""Generic words: price, content, pricelist pages, is-active."""\n'
        "WORDS = 'pricing prices pricelist plans preisliste'\n"
        "STATE = ['is-active', 'price', 'content', 'name']\n",
        encoding="utf-8",
    )
    findings = scan([bad, good], forbidden_names(), site_specific_classes())
    kinds = {(Path(f).name, line, kind) for f, line, kind, _ in findings}
    assert ("bad.py", 2, "class") in kinds
    assert ("bad.py", 3, "name") in kinds
    assert ("bad.py", 4, "name") in kinds
    assert not [f for f in findings if Path(f[0]).name == "good.py"]
