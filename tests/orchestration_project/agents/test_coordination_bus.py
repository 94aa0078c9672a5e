"""The message bus on real SQLite files (and PostgreSQL when COORDINATION_TEST_PG_URL is set):
order, idempotency, offsets, failures, dead letters, atomic batches, crash and replay, several
producer processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from orchestration_project.agents.coordination import CoordinationStore, Message, MessageBus
from tests.backends import backends, temporary_store_url

effects_md = sa.MetaData()
effects = sa.Table(
    "test_bus_effects",
    effects_md,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("message_id", sa.String(64), nullable=False),  # not unique: duplicates must show
    sa.Column("i", sa.Integer, nullable=False),
)


@pytest.fixture(params=backends())
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with temporary_store_url(request.param, tmp_path) as u:
        yield u


@pytest.fixture
def store(url: str) -> Iterator[CoordinationStore]:
    s = CoordinationStore(url)
    effects_md.create_all(s.engine)  # another module's tables, created the documented way
    yield s
    s.dispose()


def _effects(store: CoordinationStore) -> list[str]:
    with store.engine.connect() as c:
        return [r[0] for r in c.execute(sa.select(effects.c.message_id).order_by(effects.c.id))]


def _publish(bus: MessageBus, topic: str, n: int, key: str = "k") -> None:
    bus.publish_many([{"topic": topic, "key": key, "payload": {"i": i}} for i in range(n)])


def test_order_and_idempotent_publish(store: CoordinationStore) -> None:
    bus = MessageBus(store)
    first = bus.publish("t", "k1", {"i": 0}, message_id="m0", causation_id="seed")
    assert isinstance(first, Message) and first.offset > 0 and first.causation_id == "seed"
    assert first.created_at.tzinfo is not None
    for i in range(1, 5):
        bus.publish("t", "k1" if i % 2 else "k2", {"i": i}, message_id=f"m{i}")
    assert bus.publish("t", "k1", {"i": 99}, message_id="m0") is None  # duplicate ignored
    batch = [
        {"topic": "t", "key": "k2", "payload": {"i": 99}, "message_id": "m1"},  # duplicate
        {"topic": "t", "key": "k2", "payload": {"i": 5}},
        {"topic": "u", "key": "k2", "payload": {"i": 6}, "causation_id": "m1"},
    ]
    assert bus.publish_many(batch) == 2
    msgs = bus.messages("t")
    assert [m.payload["i"] for m in msgs] == [0, 1, 2, 3, 4, 5]
    assert [m.offset for m in msgs] == sorted(m.offset for m in msgs)
    assert bus.topics() == ["t", "u"]
    assert bus.messages("u")[0].causation_id == "m1"


def test_consume_commits_offsets_and_reports_lag(store: CoordinationStore) -> None:
    bus = MessageBus(store)
    _publish(bus, "t", 5)
    assert bus.lag("g", "t") == 5 and bus.committed_offset("g", "t") == 0
    seen: list[int] = []
    assert bus.consume("g", "t", lambda m: seen.append(m.payload["i"]), max_messages=2) == 2
    assert seen == [0, 1] and bus.lag("g", "t") == 3
    assert bus.consume("g", "t", lambda m: seen.append(m.payload["i"]), batch_size=2) == 3
    assert seen == [0, 1, 2, 3, 4] and bus.lag("g", "t") == 0
    last = bus.messages("t")[-1]
    assert bus.committed_offset("g", "t") == last.offset
    assert bus.already_processed("g", last.message_id)
    assert not bus.already_processed("other", last.message_id)
    assert bus.lag("other", "t") == 5  # groups are independent
    assert bus.consume("g", "t", lambda m: seen.append(-1)) == 0
    bus.replay("g", "t")
    assert bus.lag("g", "t") == 5
    bus.replay("g", "t", from_offset=last.offset)
    assert bus.consume("g", "t", lambda m: seen.append(m.payload["i"])) == 1 and seen[-1] == 4


def test_a_failing_handler_leaves_its_message_uncommitted(store: CoordinationStore) -> None:
    bus = MessageBus(store)
    _publish(bus, "t", 3)

    def handler(m: Message) -> None:
        if m.payload["i"] == 1:
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        bus.consume("g", "t", handler)
    assert bus.lag("g", "t") == 2  # the first is committed, the failing one is not
    with pytest.raises(RuntimeError):
        bus.consume("g", "t", handler)  # redelivered, fails again
    seen: list[int] = []
    assert bus.consume("g", "t", lambda m: seen.append(m.payload["i"])) == 2
    assert seen == [1, 2]


def test_transactional_consume_rolls_back_effects_with_the_offset(
    store: CoordinationStore,
) -> None:
    bus = MessageBus(store)
    _publish(bus, "t", 2)

    def failing(m: Message, conn: sa.Connection) -> None:
        conn.execute(effects.insert(), {"message_id": m.message_id, "i": m.payload["i"]})
        raise RuntimeError("after the write")

    with pytest.raises(RuntimeError):
        bus.consume("g", "t", failing, transactional=True)
    assert _effects(store) == [] and bus.lag("g", "t") == 2

    def ok(m: Message, conn: sa.Connection) -> None:
        conn.execute(effects.insert(), {"message_id": m.message_id, "i": m.payload["i"]})

    assert bus.consume("g", "t", ok, transactional=True) == 2
    assert _effects(store) == [m.message_id for m in bus.messages("t")]


def test_a_poison_message_is_dead_lettered_after_max_attempts(store: CoordinationStore) -> None:
    bus = MessageBus(store)
    _publish(bus, "t", 3)
    seen: list[int] = []

    def handler(m: Message) -> None:
        if m.payload["i"] == 0:
            raise ValueError("cannot parse")
        seen.append(m.payload["i"])

    for _ in range(2):
        with pytest.raises(ValueError):
            bus.consume("g", "t", handler, max_attempts=3)
        assert bus.lag("g", "t") == 3
    assert bus.consume("g", "t", handler, max_attempts=3) == 3
    assert seen == [1, 2] and bus.lag("g", "t") == 0
    (dead,) = bus.dead_letters("g")
    assert "ValueError: cannot parse" in dead["error"] and dead["attempts"] == 3
    assert dead["message_id"] == bus.messages("t")[0].message_id and dead["topic"] == "t"


def test_consume_batch_commits_effects_and_offset_together(store: CoordinationStore) -> None:
    bus = MessageBus(store)
    _publish(bus, "t", 5)

    def failing(batch: list[Message], conn: sa.Connection) -> None:
        conn.execute(effects.insert(), [{"message_id": m.message_id, "i": 0} for m in batch])
        bus.publish_many([{"topic": "out", "key": "k", "payload": {"n": len(batch)}}], conn=conn)
        raise RuntimeError("crash after writing")

    with pytest.raises(RuntimeError):
        bus.consume_batch("g", "t", failing, batch_size=2)
    assert _effects(store) == [] and bus.messages("out") == [] and bus.lag("g", "t") == 5

    sizes: list[int] = []

    def ok(batch: list[Message], conn: sa.Connection) -> None:
        sizes.append(len(batch))
        conn.execute(effects.insert(), [{"message_id": m.message_id, "i": 0} for m in batch])
        out = [
            {"topic": "out", "key": m.key, "payload": m.payload, "causation_id": m.message_id}
            for m in batch
        ]
        assert bus.publish_many(out, conn=conn) == len(batch)

    assert bus.consume_batch("g", "t", ok, batch_size=3) == 3
    assert bus.committed_offset("g", "t") == bus.messages("t")[2].offset
    assert bus.consume_batch("g", "t", ok, batch_size=3) == 2
    assert bus.consume_batch("g", "t", ok, batch_size=3) == 0
    assert sizes == [3, 2]
    assert _effects(store) == [m.message_id for m in bus.messages("t")]
    assert [m.causation_id for m in bus.messages("out")] == _effects(store)


def test_consume_batch_with_prepare_runs_slow_work_outside_the_transaction(
    store: CoordinationStore,
) -> None:
    bus = MessageBus(store)
    _publish(bus, "t", 4)

    def handler(batch: list[Message], conn: sa.Connection, prepared: list[int]) -> None:
        conn.execute(effects.insert(), [{"message_id": "x", "i": i} for i in prepared])

    prep = lambda batch: [m.payload["i"] * 10 for m in batch]  # noqa: E731
    assert bus.consume_batch("g", "t", handler, batch_size=3, prepare=prep) == 3
    assert bus.consume_batch("g", "t", handler, batch_size=3, prepare=prep) == 1
    assert bus.consume_batch("g", "t", handler, batch_size=3, prepare=prep) == 0
    with store.engine.connect() as c:
        assert [r[0] for r in c.execute(sa.select(effects.c.i).order_by(effects.c.id))] == [
            0,
            10,
            20,
            30,
        ]


# -- processes --------------------------------------------------------------------------------
def _slow_batch_consumer(url: str, marker: str) -> None:
    """Consume the ``work`` topic in batches of 4, ~0.1 s per batch, writing one effect row per
    message in the batch transaction. ``marker`` is touched once the first batch committed."""
    store = CoordinationStore(url)
    effects_md.create_all(store.engine)
    bus = MessageBus(store)

    def handler(batch: list[Message], conn: sa.Connection) -> None:
        rows = [{"message_id": m.message_id, "i": m.payload["i"]} for m in batch]
        conn.execute(effects.insert(), rows)
        time.sleep(0.1)

    while bus.consume_batch("g", "work", handler, batch_size=4):
        Path(marker).touch()


def test_a_consumer_killed_mid_stream_resumes_without_loss_or_duplicates(
    store: CoordinationStore, tmp_path: Path
) -> None:
    bus = MessageBus(store)
    _publish(bus, "work", 60)
    marker = tmp_path / "started"
    proc = mp.get_context("spawn").Process(
        target=_slow_batch_consumer, args=(store.url, str(marker))
    )
    proc.start()
    deadline = time.time() + 30
    while bus.lag("g", "work") > 44 and time.time() < deadline:  # ≥ 4 batches committed
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)  # most likely inside a batch transaction, asleep
    proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    left = bus.lag("g", "work")
    assert 0 < left <= 44, "the kill must land mid-stream"
    done_before = len(_effects(store))
    assert done_before == 60 - left  # effects and offset committed together, nothing extra

    _slow_batch_consumer(store.url, str(marker))  # the restart finishes the stream
    ids = _effects(store)
    assert bus.lag("g", "work") == 0
    assert len(ids) == 60 and len(set(ids)) == 60  # each effect exactly once
    assert ids == [m.message_id for m in bus.messages("work")]  # and in order


def _producer(url: str, name: str, n: int) -> None:
    store = CoordinationStore(url)
    bus = MessageBus(store)
    for i in range(n):
        if i % 5 == 4:
            bus.publish_many([{"topic": "p", "key": name, "payload": {"producer": name, "i": i}}])
        else:
            bus.publish("p", name, {"producer": name, "i": i}, message_id=f"{name}-{i}")
    store.dispose()


def test_producers_in_several_processes_lose_nothing_and_keep_order(url: str) -> None:
    # the database is empty: the producers also race to create the tables
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_producer, args=(url, f"p{k}", 50)) for k in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    store = CoordinationStore(url)
    bus = MessageBus(store)
    msgs = bus.messages("p")
    assert len(msgs) == 150 and len({m.offset for m in msgs}) == 150
    for k in range(3):
        assert [m.payload["i"] for m in msgs if m.key == f"p{k}"] == list(range(50))
    # a consumer sees the same order
    seen: list[tuple[str, int]] = []
    assert bus.consume("g", "p", lambda m: seen.append((m.key, m.payload["i"]))) == 150
    assert seen == [(m.key, m.payload["i"]) for m in msgs]
    store.dispose()


def test_a_second_store_on_the_same_database_creates_nothing_twice(url: str) -> None:
    stores = [CoordinationStore(url) for _ in range(2)]
    for s in stores:
        effects_md.create_all(s.engine)
        s.create_tables(effects_md)
    bus = MessageBus(stores[1])
    bus.publish("t", "k", {"x": 1})
    assert MessageBus(stores[0]).lag("g", "t") == 1
    for s in stores:
        s.dispose()


def test_concurrent_consumers_of_one_group_never_share_a_batch(store: CoordinationStore) -> None:
    bus = MessageBus(store)
    _publish(bus, "t", 40)
    errors: list[BaseException] = []

    def handler(batch: list[Message], conn: sa.Connection) -> None:
        conn.execute(effects.insert(), [{"message_id": m.message_id, "i": 0} for m in batch])
        time.sleep(0.01)

    def worker() -> None:
        try:
            while bus.consume_batch("g", "t", handler, batch_size=3):
                pass
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert sorted(_effects(store)) == sorted(m.message_id for m in bus.messages("t"))
    assert bus.lag("g", "t") == 0
