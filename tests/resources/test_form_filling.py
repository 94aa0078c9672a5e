"""The browser form filler against the real demo CRM in real Chromium, checked in the CRM's own
database; and the form-mapping loader it is driven by.

One CRM (its own SQLite file) serves the whole module; each test uses its own customers (sample
records of a seed no other test uses), so the tests do not depend on each other's accounts.
"""

from __future__ import annotations

import http.server
import itertools
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from orchestration_project.customer_onboarding.mapping import (
    FormMapping,
    MappingError,
    RecordError,
    load_mapping,
    parse_mapping,
    record_values,
)
from orchestration_project.customer_onboarding.samples import (
    ADDONS,
    BILLING_CYCLES,
    COUNTRIES,
    INDUSTRIES,
    LANGUAGES,
    PLANS,
    contract_pdf,
    sample_customers,
)
from orchestration_project.demo_world import crm as demo_crm
from orchestration_project.demo_world.crm import CrmServer, start_crm
from resources.form_filling import BrowserFormFiller
from tests.conftest import ROOT_DIR, free_base_port

MAPPING_FILE = ROOT_DIR / "orchestration_project/customer_onboarding/mappings/demo_crm.yaml"
_seeds = itertools.count(100)


@pytest.fixture(scope="module")
def mapping() -> FormMapping:
    """The packaged demo CRM mapping."""
    return load_mapping("demo_crm")


@pytest.fixture(scope="module")
def crm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CrmServer]:
    """One CRM for the module, on a free loopback port, with its own database."""
    db = tmp_path_factory.mktemp("crm") / "crm.sqlite"
    server = start_crm("127.0.0.1", free_base_port(1), db)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_faults_after(request: pytest.FixtureRequest) -> Iterator[None]:
    """Tests that use the CRM start and end without faults (and with the CRM up)."""
    if "crm" not in request.fixturenames:
        yield
        return
    crm: CrmServer = request.getfixturevalue("crm")
    crm.clear_faults()
    yield
    crm.clear_faults()


@pytest.fixture(scope="module")
def contracts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the sample customers' contract PDFs go."""
    return tmp_path_factory.mktemp("contracts")


@pytest.fixture(scope="module")
def browser(crm: CrmServer) -> Callable[..., BrowserFormFiller]:
    """Form fillers (each ``onboard`` drives its own Chromium) for the module's CRM, allowed
    on its port only, with test-sized time limits. Named ``browser``: the tests that use it
    are marked ``browser``."""

    def make(**overrides: Any) -> BrowserFormFiller:
        settings: dict[str, Any] = {
            "crm_url": crm.url,
            "username": crm.username,
            "password": crm.password,
            "api_token": crm.api_token,
            "allowed_domains": [f"127.0.0.1:{crm.port}"],
            "allow_private_hosts": ["127.0.0.1"],
            "contexts": 2,
            "timeout_s": 5.0,
            "backoff_s": 0.05,
        }
        return BrowserFormFiller(**{**settings, **overrides})

    return make


def customers(n: int, contracts: Path, **overrides: Any) -> list[dict[str, Any]]:
    """``n`` valid customers no other test uses."""
    records = sample_customers(n, next(_seeds), contract_dir=contracts, prefix="T")
    for r in records:
        r.update(overrides)
    return records


def sessions_since(crm: CrmServer, t0: float) -> int:
    """Sign-ins (sessions created) in the CRM's database since ``t0``."""
    with sqlite3.connect(crm.db_path) as db:
        row = db.execute("SELECT COUNT(*) FROM sessions WHERE created_at >= ?", (t0,)).fetchone()
    return int(row[0])


# -- in Chromium, against the CRM ----------------------------------------------------------------


def test_a_batch_is_created_once_and_a_rerun_finds_every_account(
    crm: CrmServer, browser: Callable[..., BrowserFormFiller], contracts: Path, mapping: FormMapping
) -> None:
    records = customers(6, contracts)
    before, t0 = crm.count_accounts(), time.time()
    results = browser(contexts=3).onboard(records, mapping)

    assert [r.external_ref for r in results] == [r["external_ref"] for r in records]
    assert [r.status for r in results] == ["created"] * 6, [r.errors for r in results]
    assert crm.count_accounts() == before + 6
    assert sessions_since(crm, t0) == 3  # three contexts, each signed in once
    for record, result in zip(records, results, strict=True):
        account = crm.account(external_ref=record["external_ref"])
        assert account is not None and account["account_id"] == result.account_id
        assert account["email"] == record["email"] and account["plan"] == record["plan"]
        assert account["language"] == record["language"] and account["seats"] == record["seats"]
        assert account["addons"] == [a for a in ADDONS if a in record["addons"]]
        assert account["start_date"] == record["start_date"]
        assert account["phone"].startswith("+") and " " not in account["phone"]  # E.164
        assert account["contract"]["filename"] == "signed-contract.pdf"
        assert account["contract"]["size"] == Path(record["contract_path"]).stat().st_size

    again = browser(contexts=3).onboard(records, mapping)
    assert [r.status for r in again] == ["exists"] * 6
    assert [r.account_id for r in again] == [r.account_id for r in results]
    assert crm.count_accounts() == before + 6


@pytest.mark.parametrize("fill_mode", ["batched", "locators"])
def test_the_redesign_is_filled_with_the_same_mapping(
    crm: CrmServer,
    browser: Callable[..., BrowserFormFiller],
    contracts: Path,
    mapping: FormMapping,
    fill_mode: str,
) -> None:
    # Regression guard for selector-free mappings: the redesign changes every id, class, field
    # name and the order of the fields; labels, roles and button names stay.
    crm.set_faults(redesign=True)
    records = customers(2, contracts)
    results = browser(fill_mode=fill_mode).onboard(records, mapping)
    assert [r.status for r in results] == ["created", "created"], [r.errors for r in results]
    for record in records:
        account = crm.account(external_ref=record["external_ref"])
        assert account is not None and account["company"] == record["company"]


def test_validation_errors_are_read_back_per_customer_and_the_others_succeed(
    crm: CrmServer,
    browser: Callable[..., BrowserFormFiller],
    contracts: Path,
    mapping: FormMapping,
    tmp_path: Path,
) -> None:
    good, phone, email, seats, good2, missing = customers(6, contracts)
    phone["phone"] = "12345"
    email["email"] = "Anna.Keller@bluefin-logistics.example"  # a seeded customer has it
    seats.update(plan="starter", seats=50, addons=[])
    del missing["email"]
    repeated = dict(good2)
    records = [good, phone, email, seats, good2, missing, repeated]
    before = crm.count_accounts()
    results = browser(screenshot_dir=str(tmp_path / "shots")).onboard(records, mapping)

    statuses = [r.status for r in results]
    assert statuses == ["created", "rejected", "rejected", "rejected", "created"] + ["skipped"] * 2
    assert crm.count_accounts() == before + 2
    assert "international format" in results[1].field_errors["phone"]
    assert "already exists (ACC-000101)" in results[2].field_errors["email"]
    assert "Starter plan allows up to 10 seats" in results[3].field_errors["plan"]
    assert results[3].errors == [f"plan: {results[3].field_errors['plan']}"]
    assert "missing required field 'email'" in results[5].errors[0]
    assert "repeats record 4" in results[6].errors[0]
    for rejected in records[1:4]:
        assert crm.account(external_ref=rejected["external_ref"]) is None
    shots = [r.screenshot for r in results[:5]]
    assert all(s and Path(s).stat().st_size > 0 for s in shots)
    assert shots[1].endswith("-rejected.png")


def test_transient_503s_are_retried_without_duplicates(
    crm: CrmServer, browser: Callable[..., BrowserFormFiller], contracts: Path, mapping: FormMapping
) -> None:
    crm.set_faults(error_rate=0.25, seed=3)  # a quarter of all form posts answer 503
    records = customers(4, contracts)
    # one browser context: the CRM draws its faults in the order posts arrive, so with two
    # contexts which customer meets them depended on timing (under load, one customer once met
    # enough to exhaust its sign-ins); one context makes the sequence the same on every run
    results = browser(max_attempts=10, contexts=1).onboard(records, mapping)
    assert [r.status for r in results] == ["created"] * 4, [r.errors for r in results]
    assert sum(r.attempts for r in results) > 4
    assert any("503" in note for r in results for note in r.notes)
    for record in records:
        assert crm.count_accounts(external_ref=record["external_ref"]) == 1


def test_a_session_that_expires_mid_batch_is_renewed(
    crm: CrmServer, browser: Callable[..., BrowserFormFiller], contracts: Path, mapping: FormMapping
) -> None:
    crm.set_faults(session_max_requests=7)  # a session ends every seventh page
    records = customers(4, contracts)
    results = browser().onboard(records, mapping)
    assert [r.status for r in results] == ["created"] * 4, [r.errors for r in results]
    assert all(r.attempts == 1 for r in results)
    assert any("signed in again" in note for r in results for note in r.notes)


def test_a_lost_confirmation_is_found_by_the_lookup_and_not_created_twice(
    crm: CrmServer, browser: Callable[..., BrowserFormFiller], contracts: Path, mapping: FormMapping
) -> None:
    crm.set_faults(lost_confirmation_rate=1.0)  # every account is created, no answer comes
    records = customers(2, contracts)
    results = browser().onboard(records, mapping)
    assert [r.status for r in results] == ["created", "created"], [r.errors for r in results]
    for record, result in zip(records, results, strict=True):
        assert crm.count_accounts(external_ref=record["external_ref"]) == 1
        assert crm.account(external_ref=record["external_ref"])["account_id"] == result.account_id
        assert "the lookup found the account" in result.notes[-1]


KILLED_RUN = """
import json, sys
from resources.form_filling import BrowserFormFiller
settings, records = json.loads(sys.argv[1]), json.loads(sys.argv[2])
BrowserFormFiller(**settings).onboard(records, "demo_crm")
"""


def test_a_run_killed_between_submit_and_confirmation_is_not_created_twice(
    crm: CrmServer, browser: Callable[..., BrowserFormFiller], contracts: Path, mapping: FormMapping
) -> None:
    crm.set_faults(submit_delay_s=1.0)  # the submit lands a second after it arrives
    (record,) = customers(1, contracts)
    submitted = threading.Event()
    handle = crm.app.handle

    def watch(req: Any) -> Any:
        if req.method == "POST" and req.path.endswith("/review"):
            submitted.set()
        return handle(req)

    crm.app.handle = watch  # type: ignore[method-assign]
    settings = browser().model_dump()
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, json.dumps(settings), json.dumps([record])],
        cwd=ROOT_DIR,
        start_new_session=True,  # its own process group: Chromium dies with it
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert submitted.wait(60), "the killed run never submitted"
        os.killpg(proc.pid, signal.SIGKILL)  # killed before the confirmation came
        proc.wait(10)
    finally:
        crm.app.handle = handle  # type: ignore[method-assign]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    crm.set_faults()

    (rerun,) = browser().onboard([record], mapping)  # while the killed submit may still land
    time.sleep(1.5)  # any submit still in the CRM has landed (or met the other) by now
    # whichever submit landed first created the account; the other found it
    assert rerun.status in ("exists", "created"), rerun.errors
    assert crm.count_accounts(external_ref=record["external_ref"]) == 1
    assert crm.account(external_ref=record["external_ref"])["account_id"] == rerun.account_id


def test_a_crm_that_is_down_fails_every_customer_with_the_reason(
    crm: CrmServer, browser: Callable[..., BrowserFormFiller], contracts: Path, mapping: FormMapping
) -> None:
    crm.take_down()
    records = customers(6, contracts)
    started = time.perf_counter()
    results = browser().onboard(records, mapping)
    assert time.perf_counter() - started < 20  # the first failures open the circuit
    assert [r.status for r in results] == ["failed"] * 6
    assert all("connection refused" in r.errors[0] for r in results)
    assert sum("not attempted" in r.errors[0] for r in results) >= 3


def test_a_crm_going_down_mid_batch_loses_no_record(
    crm: CrmServer, browser: Callable[..., BrowserFormFiller], contracts: Path, mapping: FormMapping
) -> None:
    records = customers(8, contracts)
    before = crm.count_accounts()

    def take_down_after_two() -> None:
        deadline = time.time() + 60
        while crm.count_accounts() < before + 2 and time.time() < deadline:
            time.sleep(0.02)
        crm.take_down()

    watcher = threading.Thread(target=take_down_after_two, daemon=True)
    watcher.start()
    results = browser().onboard(records, mapping)
    watcher.join(5)
    assert len(results) == 8 and {r.status for r in results} <= {"created", "failed"}
    created = [r for r in results if r.status == "created"]
    failed = [r for r in results if r.status == "failed"]
    assert failed  # (accounts whose confirmation was in flight land unconfirmed: "failed")
    reasons = [r.errors[0] for r in failed]
    assert all("connection refused" in e or "without an answer" in e for e in reasons), reasons
    crm.bring_up()
    for result in created:
        assert crm.account(external_ref=result.external_ref)["account_id"] == result.account_id
    # a submit in flight when the CRM went down may have landed: the re-run finds it
    again = browser().onboard(
        [r for r in records if r["external_ref"] in {f.external_ref for f in failed}], mapping
    )
    assert {r.status for r in again} <= {"created", "exists"}, [r.errors for r in again]
    assert crm.count_accounts() == before + 8
    for record in records:
        assert crm.count_accounts(external_ref=record["external_ref"]) == 1


def test_a_crm_off_the_allow_list_is_refused_before_any_request(
    crm: CrmServer, browser: Callable[..., BrowserFormFiller], contracts: Path, mapping: FormMapping
) -> None:
    records = customers(2, contracts)
    t0 = time.time()
    results = browser(allowed_domains=["crm.example.com"]).onboard(records, mapping)
    assert [r.status for r in results] == ["failed", "failed"]
    assert (
        "host 127.0.0.1:" in results[0].errors[0]
        and "not on the allow-list" in results[0].errors[0]
    )
    assert sessions_since(crm, t0) == 0


class _Site(http.server.BaseHTTPRequestHandler):
    """A hostile "CRM": its start page loads things from another host, and its start button
    redirects there. ``other`` is set per test."""

    other = ""
    hits: list[str] = []

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Stay quiet."""

    def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802
        """The start page, or the lookup API's 404."""
        _Site.hits.append(self.path)
        if self.path.startswith("/api/"):
            self._send(404, b'{"error": "none"}', "application/json")
            return
        page = (
            f'<!DOCTYPE html><title>Accounts</title><link rel="stylesheet" href="{self.other}/s.css">'
            f'<script src="{self.other}/x.js"></script><h1>Accounts</h1>'
            '<form method="post" action="/onboarding"><button>New customer</button></form>'
        )
        self._send(200, page.encode(), "text/html")

    def do_POST(self) -> None:  # noqa: N802
        """The start button: a redirect off the allow-list."""
        _Site.hits.append(self.path)
        self._send(303, b"", "text/html", {"Location": f"{self.other}/onboarding/steal"})


def test_requests_to_a_host_off_the_allow_list_are_refused_and_reported(
    browser: Callable[..., BrowserFormFiller], contracts: Path, mapping: FormMapping
) -> None:
    servers = [http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site) for _ in range(2)]
    for s in servers:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    site, other = (f"127.0.0.1:{s.server_address[1]}" for s in servers)
    _Site.other, _Site.hits = f"http://{other}", []
    try:
        (result,) = browser(
            crm_url=f"http://{site}", allowed_domains=[site], max_attempts=1
        ).onboard(customers(1, contracts), mapping)
    finally:
        for s in servers:
            s.shutdown()
            s.server_close()
    assert result.status == "failed"
    assert "not on the allow-list" in result.errors[0] and other in result.errors[0]
    refused = " ".join(result.blocked_requests)
    for path in ("/x.js", "/s.css", "/onboarding/steal"):
        assert f"{other}{path}" in refused
    assert "/onboarding" in _Site.hits  # the site itself was reached
    assert all(not h.startswith(("/x.js", "/s.css", "/onboarding/steal")) for h in _Site.hits)


def test_the_policy_proxy_checks_every_request_on_a_kept_alive_connection() -> None:
    # Regression: a proxy that checked only a connection's first request would let a second
    # request on the same kept-alive connection reach any host.
    import asyncio

    from resources.form_filling import PolicyProxy
    from resources.url_policy import BlockedUrlError, UrlPolicy

    allowed = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=allowed.serve_forever, daemon=True).start()
    host = f"127.0.0.1:{allowed.server_address[1]}"
    policy = UrlPolicy((host,), ("127.0.0.1",))

    async def verdict(url: str) -> str | None:
        try:
            policy.check(url)
        except BlockedUrlError as exc:
            return str(exc)
        return None

    async def exchange() -> tuple[bytes, bytes, bytes, list[str]]:
        proxy = PolicyProxy(verdict, timeout_s=5)
        await proxy.start()
        port = int(proxy.url.rsplit(":", 1)[1])
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(f"GET http://{host}/accounts HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        first = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"Content-Length: (\d+)", first, re.I).group(1))
        await reader.readexactly(length)
        writer.write(b"GET http://127.0.0.1:9/steal HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
        second = await reader.read()
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n")
        tunnel = await r2.read()
        for w in (writer, w2):
            w.close()
        await proxy.close()
        return first, second, tunnel, proxy.refused

    _Site.other, _Site.hits = "http://127.0.0.1:9", []
    try:
        first, second, tunnel, refused = asyncio.run(exchange())
    finally:
        allowed.shutdown()
        allowed.server_close()
    assert first.startswith(b"HTTP/1.1 200") and b"keep-alive" in first.lower()
    assert second.startswith(b"HTTP/1.1 403") and b"X-Url-Policy: Refused" in second
    assert tunnel.startswith(b"HTTP/1.1 403")
    assert len(refused) == 2 and "127.0.0.1:9" in refused[0] and "evil.example" in refused[1]
    assert _Site.hits == ["/accounts"]


# -- the mapping, without a browser --------------------------------------------------------------


def test_the_demo_mapping_finds_every_field_by_label_or_role_not_by_css(
    mapping: FormMapping,
) -> None:
    fields = [f for p in mapping.pages for f in p.fields]
    assert fields and all(f.selector is None for f in fields)
    assert all(f.label or (f.role and f.name) for f in fields)
    assert "selector:" not in MAPPING_FILE.read_text()
    sources = {f.source for f in fields}
    assert {"external_ref", "company", "email", "addons", "contract_path"} <= sources


def _demo_mapping_data() -> dict[str, Any]:
    return yaml.safe_load(MAPPING_FILE.read_text())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["pages"][0]["fields"][0].update(transforms=["uper"]), "unknown transform"),
        (lambda d: d["pages"][0]["fields"][0].pop("label"), "say how to find it"),
        (lambda d: d["pages"][0]["fields"][0].update(kind="textbox"), "pages[0].fields[0].kind"),
        (lambda d: d["pages"][0]["fields"][0].update(colour="red"), "unknown key (a typo?)"),
        (lambda d: d["pages"][1]["fields"][0].update(value="x"), "exactly one of 'from'"),
        (lambda d: d["pages"][1].update(heading=d["pages"][0]["heading"]), "its own heading"),
        (lambda d: d["confirmation"].pop("created_heading"), "required key missing"),
        (lambda d: d["confirmation"].update(account_id_pattern="ACC-("), "regular expression"),
        (
            lambda d: d["pages"][2]["fields"][0].update(role=None, name=None, selector="#plan"),
            "not by a selector alone",
        ),
        (lambda d: d["pages"][0]["fields"].pop(4), "key field 'external_ref'"),
        (lambda d: d["pages"][1]["fields"][3]["transforms"].append({"map": {}}), "non-empty"),
    ],
)
def test_a_malformed_mapping_gives_a_clear_error(change: Callable, message: str) -> None:
    data = _demo_mapping_data()
    change(data)
    with pytest.raises(MappingError, match="bad.yaml: invalid form mapping") as err:
        parse_mapping(data, source="bad.yaml")
    assert message in str(err.value)


def test_an_unreadable_mapping_file_gives_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="cannot read the form mapping"):
        load_mapping(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("pages: [unclosed\n")
    with pytest.raises(MappingError, match="not valid YAML"):
        load_mapping(tmp_path / "bad.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(MappingError, match="a form mapping is a YAML mapping"):
        load_mapping(tmp_path / "list.yaml")


def test_a_record_becomes_form_values_with_transforms(
    mapping: FormMapping, contracts: Path
) -> None:
    (record,) = sample_customers(1, 7, contract_dir=contracts)
    record.update(
        country="gb",
        phone="020 7946 0958",  # national: the country makes it E.164
        language="NL",
        addons="audit_log, sso",
        start_date="2027-03-01",
        email="  Sanne@Quillon.Example ",
    )
    values = {
        fv.field.key: fv.value
        for page in record_values(record, mapping).pages.values()
        for fv in page
    }
    assert values["country"] == "GB" and values["phone"] == "+442079460958"
    assert values["language"] == "Dutch" and values["email"] == "sanne@quillon.example"
    assert values["addons"] == ["Audit log", "Single sign-on (SSO)"]
    assert values["start_date"] == "2027-03-01" and values["seats"] == str(record["seats"])
    assert values["terms_accepted"] is True  # not in the record: the default
    record["phone"] = "12345"  # not a phone number: passed on for the CRM to judge
    (contact,) = [p for n, p in record_values(record, mapping).pages.items() if n == "contact"]
    assert [fv.value for fv in contact if fv.field.key == "phone"] == ["12345"]


def test_a_record_that_cannot_be_mapped_names_every_problem(
    mapping: FormMapping, contracts: Path
) -> None:
    (record,) = sample_customers(1, 8, contract_dir=contracts)
    record.update(plan="platinum", start_date="next week", contract_path="/nowhere/c.pdf")
    del record["email"]
    with pytest.raises(RecordError) as err:
        record_values(record, mapping)
    assert set(err.value.problems) == {"plan", "start_date", "contract_path", "email"}
    assert "'platinum' is not one of starter, team, business, enterprise" in str(err.value)
    assert "missing required field 'email'" in str(err.value)
    assert "no file at '/nowhere/c.pdf'" in str(err.value)


def test_yaml_1_2_booleans_keep_country_codes_as_text(tmp_path: Path) -> None:
    data = _demo_mapping_data()
    data["pages"][0]["fields"][2]["transforms"] = [{"map": {"NO": "Norway", "ON": "Ontario"}}]
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data).replace("'NO'", "NO").replace("'ON'", "ON"))
    country = load_mapping(path).pages[0].fields[2]
    assert country.transforms[0].arg == {"NO": "Norway", "ON": "Ontario"}


def test_sample_customers_fit_the_crms_catalogue(mapping: FormMapping, contracts: Path) -> None:
    def codes(options: Any) -> set[str]:
        return {code for code, _ in options}

    assert set(COUNTRIES) == codes(demo_crm.COUNTRIES)
    assert set(INDUSTRIES) == codes(demo_crm.INDUSTRIES)
    assert set(LANGUAGES) == codes(demo_crm.LANGUAGES)
    assert set(BILLING_CYCLES) == codes(demo_crm.BILLING_CYCLES)
    assert set(ADDONS) == codes(demo_crm.ADDONS)
    assert {p.code: (p.max_seats, p.annual_only, p.sso) for p in demo_crm.PLANS} == PLANS
    records = sample_customers(50, 1, contract_dir=contracts)
    assert records == sample_customers(50, 1, contract_dir=contracts)  # deterministic
    assert len({r["external_ref"] for r in records}) == len({r["email"] for r in records}) == 50
    for r in records:
        record_values(r, mapping)
        max_seats, annual_only, sso = PLANS[r["plan"]]
        assert 1 <= r["seats"] <= max_seats and (sso or "sso" not in r["addons"])
        assert not annual_only or r["billing_cycle"] == "annual"
    assert contract_pdf().startswith(b"%PDF-") and contract_pdf().rstrip().endswith(b"%%EOF")
