"""JavaScript-shell detection: does a fetched page need a browser to show its content?

:func:`needs_javascript` (and :func:`_needs_js`, which ``extract_page`` calls on trees it has
already parsed) look for empty application containers, loading placeholders, scripts that fetch
data and write the page, and ``<noscript>`` warnings next to little visible text. Pure: no network.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

from orchestration_project.research.extraction.dom import (
    class_tokens,
    clean_tree,
    el_text,
    iter_elements,
    parse_html,
    visible_text,
)
from orchestration_project.research.extraction.facts import norm_space

__all__ = ["needs_javascript"]

_APP_IDS = frozenset(
    {
        "app",
        "root",
        "__next",
        "__nuxt",
        "___gatsby",
        "svelte",
        "main-app",
        "application",
        "react-root",
        "app-root",
        "vue-app",
        "ember-app",
        "spa-root",
    }
)
_LOADING = re.compile(
    r"^(?:(?:loading|fetching|chargement|cargando|caricamento)(?: (?:the |more |all )?\w+){0,2}"
    r"|please wait|laden|wird geladen|(?:\w+ )?(?:are|is|werden|wird) (?:loading|geladen))"
    r"\W*$",
    re.I,
)
_NOSCRIPT_WARN = re.compile(
    r"enable javascript|javascript (?:is )?(?:disabled|required|must be enabled)|"
    r"requires? javascript|turn on javascript|need(?:s)? (?:to enable )?javascript|"
    r"without javascript|activate javascript",
    re.I,
)
_FETCH_JS = re.compile(
    r"\bfetch\s*\(|XMLHttpRequest|\$\.(?:get|getJSON|ajax|post)\s*\(|\baxios\b|\.json\s*\(\s*\)"
    r"|new\s+EventSource|graphql",
    re.I,
)
_DOM_WRITE_JS = re.compile(
    r"innerHTML|outerHTML|appendChild|insertAdjacentHTML|textContent\s*=|innerText\s*=|"
    r"createElement|\.append\s*\(|\.html\s*\(|\brender\s*\(|replaceChildren|hydrate",
    re.I,
)


def _needs_js(raw_root: HtmlElement, clean_root: HtmlElement, text: str) -> tuple[bool, str]:
    scripts = list(raw_root.iter("script"))
    code_scripts = [s for s in scripts if "json" not in (s.get("type") or "").lower()]
    inline = " ".join(s.text or "" for s in code_scripts)
    n_text = len(re.sub(r"\s+", " ", text).strip())
    body = raw_root.find("body")
    scope = body if body is not None else raw_root
    reasons: list[str] = []
    # empty application roots
    for el in iter_elements(scope):
        eid = (el.get("id") or "").lower()
        marker = eid in _APP_IDS or any(
            a in el.attrib for a in ("data-reactroot", "ng-app", "ng-version", "data-v-app")
        )
        if marker:
            inner = norm_space(el.text_content())
            if not inner or _LOADING.match(inner):
                reasons.append(f"empty application container #{eid or el.tag}")
                break
    loading = [
        el
        for el in iter_elements(scope)
        if _LOADING.match(norm_space(el.text_content()) or "-")
        or ({"spinner", "loader", "skeleton"} & set(class_tokens(el)) and not el_text(el))
    ]
    if loading:
        reasons.append("loading placeholder")
    if any(_NOSCRIPT_WARN.search(el_text(ns)) for ns in raw_root.iter("noscript")):
        reasons.append("<noscript> asks for JavaScript")
    fetches = bool(_FETCH_JS.search(inline)) and bool(_DOM_WRITE_JS.search(inline))
    json_call = bool(re.search(r"\(\s*['\"][^'\"]+\.json['\"]", inline))
    if fetches:
        reasons.append("script fetches data and writes the page")
    elif json_call:
        reasons.append("script loads a JSON document")
    referenced = set(
        re.findall(
            r"getElementById\(\s*['\"]([\w-]+)['\"]|querySelector(?:All)?\(\s*['\"]#([\w-]+)",
            inline,
        )
    )
    ref_ids = {a or b for a, b in referenced}
    ref_classes = set(re.findall(r"querySelector(?:All)?\(\s*['\"]\.([\w-]+)", inline))
    ref_classes |= set(re.findall(r"getElementsByClassName\(\s*['\"]([\w-]+)", inline))
    empty_slots = []
    for el in iter_elements(scope):
        eid = el.get("id")
        if not eid or el.tag in ("script", "img", "input", "br", "hr", "iframe", "canvas"):
            continue
        inner = norm_space(el.text_content())
        if (not inner or _LOADING.match(inner)) and len(el) == 0:
            empty_slots.append(eid)
    ref_empty = [e for e in empty_slots if e in ref_ids]
    # a slot the script finds by class ("<section class=reviews>Loading reviews…</section>")
    for el in iter_elements(scope):
        cls = set((el.get("class") or "").split())
        if cls & ref_classes and len(el) == 0:
            inner = norm_space(el.text_content())
            if not inner or _LOADING.match(inner):
                ref_empty.append("." + sorted(cls & ref_classes)[0])
                break
    if ref_empty:
        slot = ref_empty[0] if ref_empty[0].startswith(".") else f"#{ref_empty[0]}"
        reasons.append(f"script fills empty {slot}")
    has_scripts = bool(code_scripts)
    # Something must still be missing (an empty container or a placeholder): once a browser has
    # filled the page, the same scripts and <noscript> text no longer mean "needs JavaScript".
    empty = bool(ref_empty or loading or empty_slots)
    if has_scripts and n_text < 50:
        return True, f"almost no visible text ({n_text} chars) and scripts; " + "; ".join(reasons)
    if any(r.startswith("empty application container") for r in reasons):
        return True, "; ".join(reasons)
    if n_text < 300 and has_scripts and empty:
        if empty_slots and not ref_empty:
            reasons.append(f"empty containers ({', '.join(empty_slots[:3])})")
        return True, f"little visible text ({n_text} chars); " + "; ".join(reasons)
    if (fetches or json_call) and (ref_empty or loading):
        return True, "; ".join(reasons)
    if "<noscript> asks for JavaScript" in reasons and n_text < 600 and empty:
        return True, f"little visible text ({n_text} chars); " + "; ".join(reasons)
    return False, f"server-rendered: {n_text} chars of visible text"


def needs_javascript(html: str) -> tuple[bool, str]:
    """Whether a page's HTML is a shell that only JavaScript fills (route it to a browser).

    True for very little visible text next to scripts, an empty application container
    (``<div id="app"></div>``), "Loading…" placeholders with a data-fetching script, a script
    that fetches JSON and writes an empty element, or a ``<noscript>`` warning on a nearly empty
    page. False for ordinary server-rendered pages.

    Args:
        html: the HTML as fetched over plain HTTP.

    Returns:
        ``(needs_js, reason)``.
    """
    raw = parse_html(html)
    clean = clean_tree(raw)
    return _needs_js(raw, clean.root, visible_text(clean.root))
