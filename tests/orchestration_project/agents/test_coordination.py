"""The message bus, the shared context and conflict resolution, on real SQLite files (and on
PostgreSQL when COORDINATION_TEST_PG_URL names a server, as in CI)."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration_project.agents.coordination import (
    Claim,
    ConflictResolver,
    CoordinationStore,
    MessageBus,
    SharedContext,
    VersionConflict,
)
from tests.backends import backends, pg_url

BACKENDS = backends()


def _pg_url_with_fresh_schema() -> str:
    """A PostgreSQL URL whose search_path is a new, empty schema (tests don't interfere)."""
    PG_URL = pg_url()
    schema = "t_" + uuid.uuid4().hex[:10]
    eng = sa.create_engine(PG_URL)
    with eng.begin() as c:
        c.exec_driver_sql(f"CREATE SCHEMA {schema}")
    eng.dispose()
    sep = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{sep}options=-csearch_path%3D{schema}"


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'coord.db'}"
    return _pg_url_with_fresh_schema()


results = sa.Table(
    "test_results",
    sa.MetaData(),
    sa.Column("message_id", sa.String(64), primary_key=False),
    sa.Column("n", sa.Integer),
)


def test_messages_keep_their_order_and_publishing_is_idempotent(url: str) -> None:
    bus = MessageBus(CoordinationStore(url))
    for i in range(5):
        bus.publish("t", "k1", {"i": i}, message_id=f"m{i}")
    assert bus.publish("t", "k1", {"i": 0}, message_id="m0") is None
    assert (
        bus.publish_many(
            [
                {"topic": "t", "key": "k2", "payload": {"i": 9}, "message_id": "m1"},
                {"topic": "t", "key": "k2", "payload": {"i": 9}},
            ]
        )
        == 1
    )
    seen: list[int] = []
    assert bus.consume("g", "t", lambda m: seen.append(m.payload["i"])) == 6
    assert seen == [0, 1, 2, 3, 4, 9]
    assert bus.lag("g", "t") == 0
    assert bus.consume("g", "t", lambda m: seen.append(-1)) == 0


def test_a_failing_handler_leaves_its_message_for_the_next_attempt(url: str) -> None:
    bus = MessageBus(CoordinationStore(url))
    bus.publish_many([{"topic": "t", "key": "k", "payload": {"i": i}} for i in range(3)])

    def handler(m):  # noqa: ANN001, ANN202
        if m.payload["i"] == 1:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        bus.consume("g", "t", handler)
    assert bus.lag("g", "t") == 2  # the first is committed, the failing one is not
    assert bus.consume("g", "t", lambda m: None) == 2


def test_a_poison_message_is_dead_lettered_after_max_attempts(url: str) -> None:
    bus = MessageBus(CoordinationStore(url))
    bus.publish_many([{"topic": "t", "key": "k", "payload": {"i": i}} for i in range(3)])
    seen: list[int] = []

    def handler(m):  # noqa: ANN001, ANN202
        if m.payload["i"] == 0:
            raise ValueError("cannot parse")
        seen.append(m.payload["i"])

    for _ in range(2):
        with pytest.raises(ValueError):
            bus.consume("g", "t", handler, max_attempts=3)
    bus.consume("g", "t", handler, max_attempts=3)
    assert seen == [1, 2]
    dead = bus.dead_letters("g")
    assert len(dead) == 1 and "cannot parse" in dead[0]["error"] and dead[0]["attempts"] == 3


def test_consume_batch_commits_effects_and_offset_together(url: str) -> None:
    store = CoordinationStore(url)
    store.create_tables(results.metadata)
    bus = MessageBus(store)
    bus.publish_many([{"topic": "t", "key": "k", "payload": {"i": i}} for i in range(4)])

    def failing(batch, conn):  # noqa: ANN001, ANN202
        conn.execute(results.insert(), [{"message_id": m.message_id, "n": 1} for m in batch])
        bus.publish("out", "k", {"x": 1}, conn=conn)
        raise RuntimeError("crash after writing")

    with pytest.raises(RuntimeError):
        bus.consume_batch("g", "t", failing, batch_size=2)
    with store.engine.connect() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(results)).scalar() == 0
    assert bus.messages("out") == [] and bus.lag("g", "t") == 4

    def ok(batch, conn):  # noqa: ANN001, ANN202
        conn.execute(results.insert(), [{"message_id": m.message_id, "n": 1} for m in batch])

    assert bus.consume_batch("g", "t", ok, batch_size=3) == 3
    assert bus.consume_batch("g", "t", ok, batch_size=3) == 1
    assert bus.consume_batch("g", "t", ok, batch_size=3) == 0


def _slow_batch_consumer(url: str) -> None:
    store = CoordinationStore(url)
    store.create_tables(results.metadata)
    bus = MessageBus(store)

    def handler(batch, conn):  # noqa: ANN001, ANN202
        conn.execute(results.insert(), [{"message_id": m.message_id, "n": 1} for m in batch])
        time.sleep(0.15)

    while bus.consume_batch("g", "work", handler, batch_size=5):
        pass


def test_a_consumer_killed_mid_stream_resumes_without_loss_or_duplicates(url: str) -> None:
    store = CoordinationStore(url)
    store.create_tables(results.metadata)
    bus = MessageBus(store)
    bus.publish_many([{"topic": "work", "key": "k", "payload": {"i": i}} for i in range(100)])
    proc = mp.get_context("spawn").Process(target=_slow_batch_consumer, args=(url,))
    proc.start()
    deadline = time.time() + 60
    while bus.lag("g", "work") > 60 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    left = bus.lag("g", "work")
    assert 0 < left < 100, "the kill must land mid-stream"
    _slow_batch_consumer(url)  # the restart finishes the stream
    with store.engine.connect() as c:
        rows = c.execute(sa.select(results.c.message_id)).all()
    ids = [r[0] for r in rows]
    assert len(ids) == 100 and len(set(ids)) == 100
    assert {m.message_id for m in bus.messages("work")} == set(ids)


def _producer(url: str, name: str, n: int) -> None:
    bus = MessageBus(CoordinationStore(url))
    for i in range(n):
        bus.publish("p", name, {"producer": name, "i": i})


def test_producers_in_several_processes_lose_nothing_and_keep_order(url: str) -> None:
    CoordinationStore(url)  # tables first
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_producer, args=(url, f"p{k}", 40)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    msgs = MessageBus(CoordinationStore(url)).messages("p")
    assert len(msgs) == 120
    for k in range(3):
        mine = [m.payload["i"] for m in msgs if m.key == f"p{k}"]
        assert mine == list(range(40))


def _incrementer(url: str, n: int) -> None:
    ctx = SharedContext(CoordinationStore(url))
    for _ in range(n):
        ctx.update("ns", "counter", lambda v: (v or 0) + 1, source="test", agent=str(os.getpid()))


def test_compare_and_set_loses_no_update_across_processes(url: str) -> None:
    CoordinationStore(url)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_incrementer, args=(url, 25)) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
        assert p.exitcode == 0
    shared = SharedContext(CoordinationStore(url))
    assert shared.get("ns", "counter").value == 100
    assert [f.version for f in shared.history("ns", "counter")] == list(range(1, 101))


def test_a_stale_write_is_refused(url: str) -> None:
    shared = SharedContext(CoordinationStore(url))
    f1 = shared.put("ns", "price", {"v": 1}, expected_version=None, source="a", agent="x")
    shared.put("ns", "price", {"v": 2}, expected_version=f1.version, source="b", agent="y")
    with pytest.raises(VersionConflict) as err:
        shared.put("ns", "price", {"v": 3}, expected_version=f1.version, source="c", agent="z")
    assert err.value.current.value == {"v": 2}
    with pytest.raises(VersionConflict):
        shared.put("ns", "price", {"v": 4}, expected_version=None, source="c", agent="z")
    assert shared.snapshot("ns") == {"price": {"v": 2}}
    assert shared.history("ns", "price")[0].source == "a"


# -- conflict resolution ----------------------------------------------------------------------
NOW = datetime(2026, 11, 1, tzinfo=UTC)


def test_a_stale_blog_price_loses_to_the_product_page() -> None:
    claims = [
        Claim(
            (229.0, "USD"), "http://x/products/t3", "structured", observed_at=None, confidence=0.95
        ),
        Claim((229.0, "USD"), "http://x/pricing", "pricing_page", confidence=0.85),
        Claim(
            (199.0, "USD"),
            "http://x/blog/2024-sale",
            "blog",
            observed_at=NOW - timedelta(days=600),
            confidence=0.45,
        ),
    ]
    d = ConflictResolver().resolve(claims)
    assert d.value == (229.0, "USD") and not d.escalated
    assert "http://x/products/t3" in d.rationale and "http://x/blog/2024-sale" in d.rationale
    assert d.confidence > 0.8


def test_recency_decides_between_equally_reliable_sources() -> None:
    old = Claim(10.0, "http://a", "product_page", observed_at=NOW - timedelta(days=720))
    new = Claim(12.0, "http://b", "product_page", observed_at=NOW)
    assert ConflictResolver(escalation_threshold=0.0).resolve([old, new]).value == 12.0


def test_a_majority_tie_is_escalated() -> None:
    claims = [Claim("yes", "http://a"), Claim("no", "http://b")]
    d = ConflictResolver("majority_vote").resolve(claims)
    assert d.escalated and "tied" in d.rationale
    d2 = ConflictResolver("majority_vote", escalation_threshold=0.5).resolve(
        [*claims, Claim("yes", "http://c")]
    )
    assert d2.value == "yes" and not d2.escalated


def test_low_confidence_is_escalated_with_the_reason() -> None:
    claims = [Claim(1.0, "http://a", "review"), Claim(2.0, "http://b", "review")]
    d = ConflictResolver().resolve(claims)
    assert d.escalated and "human review" in d.rationale


def test_role_priority_prefers_the_verifier() -> None:
    claims = [
        Claim(5, "http://a", role="extractor", confidence=0.99),
        Claim(6, "http://b", role="verifier", confidence=0.7),
    ]
    d = ConflictResolver("role_priority", escalation_threshold=0.5).resolve(claims)
    assert d.value == 6 and "verifier" in d.rationale


def test_agreeing_claims_are_not_a_conflict() -> None:
    d = ConflictResolver().resolve([Claim(3, "http://a", confidence=0.9), Claim(3, "http://b")])
    assert d.strategy == "agreement" and d.value == 3 and not d.escalated


def test_numbers_within_the_tolerance_restate_the_more_trusted_claim() -> None:
    claims = [
        Claim(3.9, "http://x/p", "structured", confidence=0.95),
        Claim(4.0, "http://x/p#stars", "product_page", confidence=0.8),
    ]
    assert ConflictResolver().resolve(claims).escalated  # without tolerance: a conflict
    d = ConflictResolver().resolve(claims, tolerance=0.5)
    assert d.value == 3.9 and d.strategy == "agreement" and not d.escalated
    far = [*claims, Claim(2.0, "http://x/blog", "blog", confidence=0.4)]
    d2 = ConflictResolver().resolve(far, tolerance=0.5)
    assert d2.value == 3.9 and d2.strategy == "reliability_recency"
