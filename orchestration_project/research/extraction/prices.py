"""Price parsing: amounts, ISO 4217 currencies and billing units found in free text.

Everything here is pure string processing. ``find_prices`` finds every price-looking mention in
a text and flags the ones that are not a current selling price (ranges, salary shorthands such
as ``$120k``, strike-through "was" prices, discount amounts, add-ons, thresholds such as "free
shipping over $50"); ``parse_price`` turns one snippet into a single :class:`Price`.

Why our own code: ``price-parser`` (``Price.fromstring``) gets amount and currency right on 13 of
the 14 strings of ``test_parse_price_formats`` (it reads "Was $49 now $39" as 49) and on 11/11 of
the saved price-list pages' prices, but it has no billing units (0 of the 4 "/mo", "per month",
"billed yearly" cases), returns currency symbols rather than ISO codes, and returns an amount for
5 of the 7 strings we must reject ("$120k", "$10-$20", "2024", a phone number...). It also parses
one snippet only: finding every price in a text with its context flags is ours either way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from orchestration_project.research.extraction.price_kinds import from_before, seat_after

__all__ = [
    "BAD_FLAGS",
    "Price",
    "PriceMatch",
    "find_prices",
    "normalize_currency",
    "parse_amount",
    "parse_price",
    "unit_after",
]


@dataclass(frozen=True)
class Price:
    """One price.

    Attributes:
        amount: the numeric amount (``1299.0`` for ``"$1,299.00"``).
        currency: ISO 4217 code (``"USD"``, ``"EUR"``...) or ``None`` when unknown.
        unit: billing period (``"month"``, ``"year"``, ``"week"``, ``"day"``, ``"hour"``) or
            ``None`` for a one-off price.
        raw: the source text of the price.
        kind: ``"fixed"``, or ``"from"`` for a starting price ("from $99"); see
            :mod:`.price_kinds` for every kind.
        per: what the price is charged per (``"user"``, ``"seat"``...), or None.
    """

    amount: float
    currency: str | None
    unit: str | None
    raw: str
    kind: str = "fixed"
    per: str | None = None


@dataclass(frozen=True)
class PriceMatch:
    """A price found in a longer text, with its position and context flags.

    Attributes:
        price: the parsed price.
        start: start offset of the match in the searched text.
        end: end offset (after the unit, when one was found).
        flags: context flags, a subset of ``{"range", "shorthand", "old", "discount", "addon",
            "threshold", "salary", "bare"}``; any flag in :data:`BAD_FLAGS` means the match is not
            a current selling price.
    """

    price: Price
    start: int
    end: int
    flags: frozenset[str] = field(default_factory=frozenset)

    @property
    def is_current(self) -> bool:
        """True when nothing in the context says this is not the current selling price."""
        return not (self.flags & BAD_FLAGS)


BAD_FLAGS = frozenset({"range", "shorthand", "old", "discount", "addon", "threshold", "salary"})

# Multi-character symbols first: the alternation is tried left to right.
_SYMBOLS: dict[str, str] = {
    "US$": "USD",
    "CA$": "CAD",
    "C$": "CAD",
    "AU$": "AUD",
    "A$": "AUD",
    "NZ$": "NZD",
    "HK$": "HKD",
    "S$": "SGD",
    "R$": "BRL",
    "MX$": "MXN",
    "$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "￥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "₺": "TRY",
    "₪": "ILS",
    "₫": "VND",
    "₱": "PHP",
    "₴": "UAH",
    "฿": "THB",
    "zł": "PLN",
    "Kč": "CZK",
    "Rs.": "INR",
    "Rs": "INR",
}
_CODES = [
    "USD",
    "EUR",
    "GBP",
    "JPY",
    "CHF",
    "CAD",
    "AUD",
    "NZD",
    "CNY",
    "RMB",
    "HKD",
    "SGD",
    "INR",
    "KRW",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "CZK",
    "HUF",
    "BRL",
    "MXN",
    "ZAR",
    "TRY",
    "RUB",
    "ILS",
    "AED",
    "SAR",
    "THB",
    "IDR",
    "MYR",
    "PHP",
    "VND",
    "UAH",
    "RON",
    "BGN",
    "ISK",
]
_WORDS: dict[str, str] = {
    "dollars": "USD",
    "dollar": "USD",
    "euros": "EUR",
    "euro": "EUR",
    "yen": "JPY",
    "francs": "CHF",
}
_DOLLAR_CURRENCIES = {"USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN"}

_SYM_RE = "|".join(
    (r"(?<![A-Za-z])" if len(s) > 1 and s[0].isalpha() else "") + re.escape(s)
    for s in sorted(_SYMBOLS, key=len, reverse=True)
)
_CODE_RE = r"(?<![A-Za-z])(?:" + "|".join(_CODES) + r")(?![A-Za-z])"
_WORD_RE = r"(?:" + "|".join(sorted(_WORDS, key=len, reverse=True)) + r")\b"
_CUR = rf"(?:{_SYM_RE}|{_CODE_RE})"
_SEP = r"[,.\u00a0\u202f\u2009' ]"
_NUM = (
    r"(?<![\w.,/:-])(?<!\d[,.] )"
    rf"(?:\d{{1,3}}(?:{_SEP}\d{{3}})+(?:[.,]\d{{1,2}})?|\d+(?:[.,]\d{{1,2}})?)"
    r"(?:[.,][-–])?"
    r"(?![\d%])(?![.,]\d)"
)
_MULT = r"(?:\s?(?:[kK]|[mM](?![a-zA-Z])|mn|bn|million|billion)(?![a-zA-Z]))"
_PRICE_RE = re.compile(
    rf"(?P<c1>{_CUR})\s?(?P<n1>{_NUM})(?P<m1>{_MULT})?"
    rf"|(?P<n2>{_NUM})(?P<m2>{_MULT})?\s?(?P<c2>{_CUR}|{_WORD_RE})",
)
_BARE_RE = re.compile(rf"(?P<n3>{_NUM})")

_TIME_UNITS: dict[str, str] = {
    "month": "month",
    "months": "month",
    "mo": "month",
    "mos": "month",
    "mth": "month",
    "monthly": "month",
    "m": "month",
    "year": "year",
    "years": "year",
    "yr": "year",
    "yrs": "year",
    "annum": "year",
    "annual": "year",
    "annually": "year",
    "yearly": "year",
    "y": "year",
    "week": "week",
    "wk": "week",
    "weekly": "week",
    "day": "day",
    "daily": "day",
    "hour": "hour",
    "hr": "hour",
    "hrs": "hour",
    "hourly": "hour",
    "h": "hour",
}
_SEAT = r"(?:user|seat|member|person|agent|editor|license|host|device|employee)s?"
# what a per-period price may be counted in besides seats: "per block/month", "per GB/month"
_QTY = (
    r"(?:user|seat|member|person|agent|editor|license|host|device|employee|block|pack|bundle|"
    r"unit|node|instance|server|project|workspace|site|domain|gb|tb|mb)s?"
)
_UNIT_RE = re.compile(
    r"^\s*(?:(?:/|per|a|an|each|every)\s*" + _QTY + r"\s*)?"
    r"(?:(?:/|per|a|an|every)\s*(?P<u1>months?|mos?|mth|years?|yrs?|annum|week|wk|day|hour|hrs?|m|y|h)\b"
    r"|(?:billed\s+|paid\s+)?(?P<u2>monthly|yearly|annually|weekly|daily|hourly)\b)",
    re.IGNORECASE,
)
_RANGE_AFTER = re.compile(rf"^\s*(?:-|–|—|to|bis|à|and)\s*(?:{_CUR}\s?)?\d", re.IGNORECASE)
_RANGE_BEFORE = re.compile(
    rf"\d(?:\s?{_MULT})?\s?(?:{_CUR})?\s*(?:-|–|—|to|bis|à)\s*(?:between\s*)?$", re.IGNORECASE
)
_BETWEEN = re.compile(r"\bbetween\s*$", re.IGNORECASE)
_OLD_BEFORE = re.compile(
    r"(?:\bwas|\bwere|\bold price|\bregular(?:ly)?(?: price)?|\blist price|\brrp|\bmsrp"
    r"|\boriginal(?:ly)?(?: price)?|\bbefore|\bpreviously|\bformerly|\bused to cost"
    r"|\busual(?:ly)?(?: price)?|\binstead of|\bnormally|\bcompare at|\bstatt|\bavant)"
    r"[\s:]*(?:only\s*|just\s*|at\s*|costs?\s*)?$",
    re.IGNORECASE,
)
_DISCOUNT_BEFORE = re.compile(
    r"(?:\bsave|\bsaving|\bsavings of|\byou save|\bdiscount(?: of)?|\bcoupon|\brebate"
    r"|\bcredit|\bcashback|\bcash back|\breduced by|\boff|\bless|-)[\s:]*(?:up to\s*)?$",
    re.IGNORECASE,
)
_DISCOUNT_AFTER = re.compile(
    r"^\s*(?:off\b|discount\b(?!\s*(?:of\s*)?\d)|cheaper\b|less\b|savings?\b|rebate\b|credit\b"
    r"|cash ?back\b|(?:gift\s*(?:card|voucher|certificate)|voucher|store\s+credit|reward)\b)",
    re.IGNORECASE,
)
_ADDON_BEFORE = re.compile(r"(?:^|\s)\+\s*$|\badd(?:itional|-on)?\s*(?:for\s*)?$", re.IGNORECASE)
_THRESHOLD_BEFORE = re.compile(
    r"(?:\bover|\babove|\bexceeding|\bover\s+of|\borders?(?: of)?(?: over| above)?"
    r"|\bspend(?: over)?|\bminimum(?: order)?(?: of)?|\bup to|\bmore than|\bless than|\bunder"
    r"|\bshipping|\bdelivery|\bfee of|\bdeposit(?: of)?|\bbudget(?: of)?|\braised|\bfunding"
    r"|\bvaluation|\brevenue|\bworth)[\s:]*$",
    re.IGNORECASE,
)
_THRESHOLD_AFTER = re.compile(
    r"^\s*(?:shipping|delivery|setup fee|deposit|in funding|funding|revenue|valuation"
    r"|or more|and up|minimum|min\.?|budget|raised)\b",
    re.IGNORECASE,
)
_SALARY_CONTEXT = re.compile(
    r"\b(?:salary|salaries|compensation|wage|wages|pay range|base pay|annual pay|ote|"
    r"per annum|p\.a\.|stipend|bonus|equity|hourly rate|gross pay|net pay|payroll)\b",
    re.IGNORECASE,
)


def normalize_currency(value: object, *, default: str | None = None) -> str | None:
    """Map a currency symbol, code or word to its ISO 4217 code.

    Args:
        value: ``"$"``, ``"usd"``, ``"€"``, ``"EUR"``, ``"euros"``...
        default: returned when ``value`` is empty or unknown; a dollar currency given as the
            default also resolves a bare ``"$"``.

    Returns:
        The ISO code, or ``default``.
    """
    if not isinstance(value, str):
        return default
    v = value.strip()
    if not v:
        return default
    if v == "$" and default in _DOLLAR_CURRENCIES:
        return default
    if v in _SYMBOLS:
        return _SYMBOLS[v]
    up = v.upper()
    if up == "RMB":
        return "CNY"
    if up in _CODES:
        return up
    low = v.lower()
    if low in _WORDS:
        return _WORDS[low]
    if re.fullmatch(r"[A-Z]{3}", up):
        return up
    return default


def parse_amount(value: object) -> float | None:
    """Parse a number written with any common thousands/decimal convention.

    ``"1,299.00"`` and ``"1.299,00"`` both give 1299.0; ``"249,00"`` gives 249.0; ``"1 299"``
    gives 1299.0. Numbers (int/float) are returned as floats.

    Args:
        value: a string or number.

    Returns:
        The amount, or ``None`` when it is not a clean number.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        return None
    s = value.strip().replace("\u00a0", "").replace("\u202f", "").replace("\u2009", "")
    s = s.replace("'", "").replace(" ", "")
    s = re.sub(r"[.,][-–]$", "", s)
    if not s or not re.fullmatch(r"\d[\d.,]*", s):
        return None
    if "," in s and "." in s:
        dec = "," if s.rfind(",") > s.rfind(".") else "."
        thou = "." if dec == "," else ","
        s = s.replace(thou, "").replace(dec, ".")
    elif "," in s or "." in s:
        sep = "," if "," in s else "."
        parts = s.split(sep)
        if len(parts) == 2 and 1 <= len(parts[1]) <= 2:
            s = parts[0] + "." + parts[1]
        elif len(parts) == 2 and parts[0] == "0":
            s = "0." + parts[1]
        elif all(len(p) == 3 for p in parts[1:]) and 1 <= len(parts[0]) <= 3:
            s = "".join(parts)
        else:
            return None
    try:
        return float(s)
    except ValueError:
        return None


def unit_after(text: str, pos: int) -> tuple[str | None, int]:
    """The billing unit written right after ``pos`` ("/mo", "per user per month", "yearly").

    Args:
        text: the text.
        pos: where the price ends.

    Returns:
        ``(unit or None, end offset of the unit)``.
    """
    m = _UNIT_RE.match(text[pos : pos + 40])
    if not m:
        return None, pos
    word = (m.group("u1") or m.group("u2") or "").lower()
    return _TIME_UNITS.get(word), pos + m.end()


def _context_flags(text: str, start: int, end: int, shorthand: bool) -> set[str]:
    flags: set[str] = set()
    before = text[max(0, start - 40) : start]
    after = text[end : end + 30]
    if shorthand:
        flags.add("shorthand")
    if _RANGE_AFTER.match(after) or _RANGE_BEFORE.search(before) or _BETWEEN.search(before):
        flags.add("range")
    if _OLD_BEFORE.search(before):
        flags.add("old")
    if _DISCOUNT_BEFORE.search(before) or _DISCOUNT_AFTER.match(after):
        flags.add("discount")
    if _ADDON_BEFORE.search(before):
        flags.add("addon")
    if _THRESHOLD_BEFORE.search(before) or _THRESHOLD_AFTER.match(after):
        flags.add("threshold")
    if _SALARY_CONTEXT.search(text[max(0, start - 80) : end + 60]):
        flags.add("salary")
    return flags


def _looks_like_non_price_number(text: str, start: int, end: int, amount: float) -> bool:
    """For bare numbers: years, dates, phone numbers, percentages, versions, measures."""
    raw = text[start:end]
    before = text[max(0, start - 3) : start]
    after = text[end : end + 12]
    if re.fullmatch(r"(?:19|20)\d\d", raw):
        return True
    if re.match(
        r"^\s*(?:%|percent|GB|MB|TB|GHz|MHz|kg|g|km|cm|mm|m|in|inch|\"|x|px|ms|s|"
        r"users?|seats?|items?|pcs|stars?|reviews?|ratings?)\b",
        after,
        re.IGNORECASE,
    ):
        return True
    if re.search(r"[+(#]\s*$", before) or re.match(r"^[\s)]*[-./]\s*\d", after):
        return True
    return amount <= 0 and raw.strip("0.,") == ""


def find_prices(
    text: str,
    *,
    default_currency: str | None = None,
    bare_numbers: bool = False,
) -> list[PriceMatch]:
    """Find every price mention in ``text``.

    Args:
        text: any text (whitespace is kept as is; offsets refer to it).
        default_currency: currency for a bare ``"$"`` (when it is a dollar currency) and for
            bare numbers.
        bare_numbers: also accept numbers without any currency marker (for cells under a
            "Price" header or elements whose class says price); years, dates, phone numbers,
            percentages and measures are still rejected.

    Returns:
        Matches in text order; check ``match.is_current`` / ``match.flags`` before using one as
        a selling price.
    """
    if not text:
        return []
    out: list[PriceMatch] = []
    taken: list[tuple[int, int]] = []
    for m in _PRICE_RE.finditer(text):
        num = m.group("n1") or m.group("n2")
        cur_raw = m.group("c1") or m.group("c2")
        mult = m.group("m1") or m.group("m2")
        start = m.start()
        if (
            m.group("n2")
            and " " in num
            and re.search(r"[^\W_]\s$", text[max(0, start - 2) : start])
        ):
            # "Therm 5 211,65 €": a plain space after a word is not a thousands separator
            head, num = num.split(" ", 1)
            start = m.start("n2") + len(head) + 1
        amount = parse_amount(num)
        if amount is None:
            continue
        currency = normalize_currency(cur_raw, default=default_currency)
        if cur_raw and cur_raw.strip() == "$" and default_currency in _DOLLAR_CURRENCIES:
            currency = default_currency
        unit, end = unit_after(text, m.end())
        flags = _context_flags(text, start, m.end(), shorthand=bool(mult))
        raw = text[start:end].strip()
        kind = "from" if from_before(text[max(0, start - 25) : start]) else "fixed"
        price = Price(amount, currency, unit, raw, kind, seat_after(text, m.end()))
        out.append(PriceMatch(price, start, end, frozenset(flags)))
        taken.append((start, m.end()))
    if bare_numbers:
        for m in _BARE_RE.finditer(text):
            if any(s <= m.start() < e or s < m.end() <= e for s, e in taken):
                continue
            amount = parse_amount(m.group("n3"))
            if amount is None or _looks_like_non_price_number(text, m.start(), m.end(), amount):
                continue
            unit, end = unit_after(text, m.end())
            flags = _context_flags(text, m.start(), m.end(), shorthand=False) | {"bare"}
            raw = text[m.start() : end].strip()
            out.append(
                PriceMatch(
                    Price(amount, default_currency, unit, raw), m.start(), end, frozenset(flags)
                )
            )
        out.sort(key=lambda pm: pm.start)
    # Two prices joined by a dash/"to" form one range: flag both ends.
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        gap = text[a.end : b.start]
        if re.fullmatch(r"\s*(?:-|–|—|to|through|bis|à|and)\s*", gap, re.IGNORECASE):
            out[i] = PriceMatch(a.price, a.start, a.end, a.flags | {"range"})
            out[i + 1] = PriceMatch(b.price, b.start, b.end, b.flags | {"range"})
    return out


def parse_price(text: str, *, default_currency: str | None = None) -> Price | None:
    """Parse one price from a short snippet.

    Handles ``"$1,299.00"``, ``"€249,00"``, ``"249,00 €"``, ``"1.299,00 EUR"``, ``"£199"``,
    ``"USD 59.99"``, ``"from $9/mo"``, ``"9.99 $/month"``. Returns ``None`` for ranges
    (``"$120,000 – $140,000"``), salary-like shorthands (``"$120k"``), years, percentages and
    phone numbers. A number without a currency marker is accepted only when
    ``default_currency`` is given. When the snippet has several prices, the first one that is not
    a "was"/discount amount is returned.

    Args:
        text: the snippet.
        default_currency: ISO code for bare numbers and a bare ``"$"``.

    Returns:
        The price, or ``None``.
    """
    if not text or not text.strip():
        return None
    matches = find_prices(
        text, default_currency=default_currency, bare_numbers=default_currency is not None
    )
    if not matches:
        return None
    if any("range" in m.flags or "shorthand" in m.flags for m in matches):
        return None
    marked = [m for m in matches if "bare" not in m.flags]
    pool = marked or matches
    if len(pool) > 1 and "bare" in pool[0].flags:
        return None
    for m in pool:
        if not (m.flags & {"old", "discount", "addon", "threshold"}):
            return m.price
    return pool[0].price
