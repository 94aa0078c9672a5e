"""The CRM's own SQLite database: its login, sessions, wizard drafts and customer accounts.

One file, opened per operation (the server answers each request in its own thread) in WAL mode,
so browser contexts working in parallel read while one writes. Writes take the database lock up
front (``BEGIN IMMEDIATE``). The database, not the application code, guarantees that an
external reference or an e-mail address has at most one account: both columns are ``UNIQUE``,
so two submits racing past the application's own check still create one account.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from orchestration_project.common.time import utcnow
from orchestration_project.demo_world.crm.catalogue import SEEDED_ACCOUNTS

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE,
    password_salt TEXT NOT NULL,
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    token       TEXT PRIMARY KEY,
    user_id     INTEGER NOT NULL REFERENCES users(id),
    csrf_token  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    last_seen   REAL NOT NULL,
    requests    INTEGER NOT NULL DEFAULT 0,
    expired_at  REAL
);
CREATE TABLE IF NOT EXISTS drafts (
    draft_id         TEXT PRIMARY KEY,
    user_id          INTEGER NOT NULL REFERENCES users(id),
    data             TEXT NOT NULL DEFAULT '{}',
    contract_name    TEXT,
    contract_sha256  TEXT,
    contract_size    INTEGER,
    contract_pdf     BLOB,
    status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'submitted')),
    account_id       TEXT,
    outcome          TEXT CHECK (outcome IN ('created', 'existing')),
    created_at       REAL NOT NULL,
    updated_at       REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS accounts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id       TEXT UNIQUE,
    external_ref     TEXT UNIQUE,
    company          TEXT NOT NULL,
    contact_name     TEXT NOT NULL,
    email            TEXT NOT NULL UNIQUE COLLATE NOCASE,
    phone            TEXT NOT NULL,
    country          TEXT NOT NULL,
    industry         TEXT NOT NULL,
    language         TEXT NOT NULL,
    seats            INTEGER NOT NULL CHECK (seats BETWEEN 1 AND 10000),
    plan             TEXT NOT NULL,
    billing_cycle    TEXT NOT NULL,
    addons           TEXT NOT NULL DEFAULT '[]',
    start_date       TEXT NOT NULL,
    terms_accepted   INTEGER NOT NULL,
    contract_name    TEXT,
    contract_sha256  TEXT,
    contract_size    INTEGER,
    contract_pdf     BLOB,
    created_by       TEXT NOT NULL,
    created_at       TEXT NOT NULL
);
"""

ACCOUNT_COLUMNS = (
    "company",
    "contact_name",
    "email",
    "phone",
    "country",
    "industry",
    "language",
    "seats",
    "plan",
    "billing_cycle",
    "addons",
    "start_date",
    "terms_accepted",
)
PBKDF2_ROUNDS = 20_000  # a demo: enough to be a real hash, cheap enough for tests


def format_account_id(row_id: int) -> str:
    """The customer-facing account id of database row ``row_id``: ``ACC-000104``."""
    return f"ACC-{row_id:06d}"


def hash_password(password: str, salt: str) -> str:
    """PBKDF2-SHA256 of ``password`` with ``salt``, hex."""
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), PBKDF2_ROUNDS).hex()


@dataclass(frozen=True)
class Session:
    """A signed-in browser session."""

    token: str
    user_id: int
    username: str
    csrf_token: str
    requests: int


SessionState = Literal["valid", "expired", "unknown"]


@dataclass(frozen=True)
class Contract:
    """An uploaded contract file."""

    name: str
    content: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the content."""
        return hashlib.sha256(self.content).hexdigest()

    @property
    def size(self) -> int:
        """Size in bytes."""
        return len(self.content)


@dataclass
class Draft:
    """The server-side state of one run through the wizard.

    Attributes:
        draft_id: unguessable id, part of the wizard's URLs.
        user_id: the user who started it (any of their sessions may continue it).
        data: the cleaned values of the steps completed so far, by field key.
        contract_name, contract_sha256, contract_size: the uploaded contract, if any.
        status: ``open``, or ``submitted`` once an account was created or found.
        account_id: the account the submit created or found.
        outcome: ``created`` or ``existing`` (the external reference already had an account).
    """

    draft_id: str
    user_id: int
    data: dict[str, Any]
    contract_name: str | None
    contract_sha256: str | None
    contract_size: int | None
    status: str
    account_id: str | None
    outcome: str | None


class DuplicateAccountError(Exception):
    """An account with the same external reference or e-mail address already exists.

    Attributes:
        column: ``external_ref`` or ``email``.
        existing: that account (as :meth:`CrmStore.account` returns it).
    """

    def __init__(self, column: str, existing: dict[str, Any]) -> None:
        """Name the column and the account that holds the value."""
        super().__init__(f"an account with this {column} exists: {existing['account_id']}")
        self.column = column
        self.existing = existing


class CrmStore:
    """Typed access to the CRM's database file."""

    def __init__(
        self,
        path: str | Path,
        *,
        username: str,
        password: str,
        seed_demo_accounts: bool = True,
    ) -> None:
        """Open (creating if needed) the database at ``path``.

        Args:
            path: the SQLite file; its folder is created. Existing data is kept, so a CRM
                restarted on the same file still knows its accounts.
            username: the one admin login (created or its password reset).
            password: its password.
            seed_demo_accounts: insert :data:`SEEDED_ACCOUNTS` (existing customers) if absent.
        """
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            salt = secrets.token_hex(8)
            db.execute(
                "INSERT INTO users (username, password_salt, password_hash) VALUES (?, ?, ?) "
                "ON CONFLICT (username) DO UPDATE SET password_salt = excluded.password_salt, "
                "password_hash = excluded.password_hash",
                (username, salt, hash_password(password, salt)),
            )
            if seed_demo_accounts:
                for acc in SEEDED_ACCOUNTS:
                    db.execute(
                        "INSERT OR IGNORE INTO accounts (id, account_id, company, contact_name, "
                        "email, phone, country, industry, language, seats, plan, billing_cycle, "
                        "addons, start_date, terms_accepted, created_by, created_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 'import', ?)",
                        (
                            acc["id"],
                            format_account_id(int(acc["id"])),  # type: ignore[call-overload]
                            *(acc[c] for c in ACCOUNT_COLUMNS[:10]),
                            json.dumps(acc["addons"]),
                            acc["start_date"],
                            f"{acc['start_date']}T09:00:00Z",
                        ),
                    )

    # -- plumbing ---------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A connection inside ``BEGIN IMMEDIATE`` … ``COMMIT`` (rolled back on an exception)."""
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- login and sessions -------------------------------------------------------------------

    def check_login(self, username: str, password: str) -> int | None:
        """The user id if ``username`` and ``password`` match, else None."""
        with self._connect() as db:
            row = db.execute(
                "SELECT id, password_salt, password_hash FROM users WHERE username = ?",
                (username,),
            ).fetchone()
        if row is None:
            hash_password(password, "timing")  # same work whether or not the user exists
            return None
        ok = hmac.compare_digest(
            hash_password(password, row["password_salt"]), row["password_hash"]
        )
        return int(row["id"]) if ok else None

    def create_session(self, user_id: int) -> str:
        """A new session for ``user_id`` with its own CSRF token; returns the session token."""
        token, now = secrets.token_urlsafe(24), time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO sessions (token, user_id, csrf_token, created_at, last_seen) "
                "VALUES (?, ?, ?, ?, ?)",
                (token, user_id, secrets.token_urlsafe(24), now, now),
            )
        return token

    def touch_session(
        self,
        token: str,
        *,
        max_requests: int | None = None,
        ttl_s: float | None = None,
    ) -> tuple[SessionState, Session | None]:
        """Count one request on session ``token`` and say whether it is still valid.

        Args:
            token: the session cookie's value.
            max_requests: the session expires once it has served this many requests.
            ttl_s: the session expires after this many seconds without a request.

        Returns:
            ``("valid", session)``, ``("expired", None)`` (it existed but expired now or
            earlier) or ``("unknown", None)``.
        """
        now = time.time()
        with self._write() as db:
            row = db.execute(
                "SELECT s.*, u.username FROM sessions s JOIN users u ON u.id = s.user_id "
                "WHERE s.token = ?",
                (token,),
            ).fetchone()
            if row is None:
                return "unknown", None
            if row["expired_at"] is not None:
                return "expired", None
            requests = int(row["requests"]) + 1
            if (ttl_s is not None and now - float(row["last_seen"]) > ttl_s) or (
                max_requests is not None and requests > max_requests
            ):
                db.execute("UPDATE sessions SET expired_at = ? WHERE token = ?", (now, token))
                return "expired", None
            db.execute(
                "UPDATE sessions SET requests = ?, last_seen = ? WHERE token = ?",
                (requests, now, token),
            )
        return "valid", Session(
            token, int(row["user_id"]), str(row["username"]), str(row["csrf_token"]), requests
        )

    def end_session(self, token: str) -> None:
        """Sign out: the session is gone."""
        with self._write() as db:
            db.execute("DELETE FROM sessions WHERE token = ?", (token,))

    def expire_sessions(self) -> int:
        """Expire every live session now (an administrator's "sign everyone out").

        Returns:
            How many sessions were live.
        """
        with self._write() as db:
            cur = db.execute(
                "UPDATE sessions SET expired_at = ? WHERE expired_at IS NULL", (time.time(),)
            )
            return cur.rowcount

    # -- wizard drafts ------------------------------------------------------------------------

    def create_draft(self, user_id: int) -> str:
        """A new, empty draft; returns its id."""
        draft_id, now = secrets.token_hex(8), time.time()
        with self._write() as db:
            db.execute(
                "INSERT INTO drafts (draft_id, user_id, created_at, updated_at) VALUES (?,?,?,?)",
                (draft_id, user_id, now, now),
            )
        return draft_id

    def draft(self, draft_id: str, user_id: int) -> Draft | None:
        """Draft ``draft_id`` if it exists and belongs to ``user_id``."""
        with self._connect() as db:
            row = db.execute(
                "SELECT draft_id, user_id, data, contract_name, contract_sha256, contract_size, "
                "status, account_id, outcome FROM drafts WHERE draft_id = ? AND user_id = ?",
                (draft_id, user_id),
            ).fetchone()
        if row is None:
            return None
        return Draft(**{**dict(row), "data": json.loads(row["data"])})

    def draft_contract(self, draft_id: str) -> Contract | None:
        """The contract uploaded to draft ``draft_id``, if any."""
        with self._connect() as db:
            row = db.execute(
                "SELECT contract_name, contract_pdf FROM drafts WHERE draft_id = ?", (draft_id,)
            ).fetchone()
        if row is None or row["contract_pdf"] is None:
            return None
        return Contract(row["contract_name"], bytes(row["contract_pdf"]))

    def update_draft(
        self, draft_id: str, values: dict[str, Any], contract: Contract | None = None
    ) -> None:
        """Merge a completed step's cleaned ``values`` (and a new contract) into the draft."""
        with self._write() as db:
            row = db.execute("SELECT data FROM drafts WHERE draft_id = ?", (draft_id,)).fetchone()
            data = {**json.loads(row["data"]), **values}
            db.execute(
                "UPDATE drafts SET data = ?, updated_at = ? WHERE draft_id = ?",
                (json.dumps(data), time.time(), draft_id),
            )
            if contract is not None:
                db.execute(
                    "UPDATE drafts SET contract_name = ?, contract_sha256 = ?, "
                    "contract_size = ?, contract_pdf = ? WHERE draft_id = ?",
                    (contract.name, contract.sha256, contract.size, contract.content, draft_id),
                )

    def close_draft(self, draft_id: str, account_id: str, outcome: str) -> None:
        """Mark the draft submitted: it created (or found) ``account_id``."""
        with self._write() as db:
            self._close_draft(db, draft_id, account_id, outcome)

    @staticmethod
    def _close_draft(db: sqlite3.Connection, draft_id: str, account_id: str, outcome: str) -> None:
        db.execute(
            "UPDATE drafts SET status = 'submitted', account_id = ?, outcome = ?, "
            "contract_pdf = NULL, updated_at = ? WHERE draft_id = ?",
            (account_id, outcome, time.time(), draft_id),
        )

    # -- accounts -----------------------------------------------------------------------------

    def create_account(
        self,
        values: dict[str, Any],
        contract: Contract,
        *,
        created_by: str,
        draft_id: str | None = None,
    ) -> dict[str, Any]:
        """Insert an account and close its draft, in one transaction.

        Args:
            values: the cleaned values of every step (``external_ref`` may be empty).
            contract: the signed contract.
            created_by: the user name recorded on the account.
            draft_id: the draft to mark submitted with the new account.

        Returns:
            The new account.

        Raises:
            DuplicateAccountError: the external reference or the e-mail address already has an
                account (the ``UNIQUE`` constraints decide, so this holds under races too).
        """
        external_ref = values.get("external_ref") or None
        try:
            with self._write() as db:
                cur = db.execute(
                    "INSERT INTO accounts (external_ref, company, contact_name, email, phone, "
                    "country, industry, language, seats, plan, billing_cycle, addons, "
                    "start_date, terms_accepted, contract_name, contract_sha256, contract_size, "
                    "contract_pdf, created_by, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        external_ref,
                        *(values[c] for c in ACCOUNT_COLUMNS[:10]),
                        json.dumps(values.get("addons", [])),
                        values["start_date"],
                        1 if values.get("terms") else 0,
                        contract.name,
                        contract.sha256,
                        contract.size,
                        contract.content,
                        created_by,
                        utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                    ),
                )
                row_id = int(cur.lastrowid or 0)
                account_id = format_account_id(row_id)
                db.execute("UPDATE accounts SET account_id = ? WHERE id = ?", (account_id, row_id))
                if draft_id is not None:
                    self._close_draft(db, draft_id, account_id, "created")
        except sqlite3.IntegrityError as exc:
            # the external reference decides first: its account is this very customer
            for column, value in (("external_ref", external_ref), ("email", values["email"])):
                existing = self.account(**{column: value}) if value else None
                if existing is not None:
                    raise DuplicateAccountError(column, existing) from exc
            raise  # not a uniqueness problem after all
        created = self.account(account_id=account_id)
        assert created is not None
        return created

    def account(
        self,
        *,
        account_id: str | None = None,
        external_ref: str | None = None,
        email: str | None = None,
    ) -> dict[str, Any] | None:
        """The account with this id, external reference or e-mail address (case-insensitive),
        as a JSON-ready dict, or None."""
        column, value = (
            ("account_id", account_id)
            if account_id is not None
            else ("external_ref", external_ref)
            if external_ref is not None
            else ("email", email)
        )
        if value is None:
            return None
        with self._connect() as db:
            row = db.execute(f"SELECT * FROM accounts WHERE {column} = ?", (value,)).fetchone()
        return None if row is None else _account_dict(row)

    def accounts(self, query: str = "", *, limit: int = 200) -> list[dict[str, Any]]:
        """Accounts, newest first, whose id, company, contact, e-mail or external reference
        contains ``query`` (case-insensitive)."""
        like = f"%{query.strip()}%"
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM accounts WHERE ? = '%%' OR account_id LIKE ? OR company LIKE ? "
                "OR contact_name LIKE ? OR email LIKE ? OR external_ref LIKE ? "
                "ORDER BY id DESC LIMIT ?",
                (like, like, like, like, like, like, limit),
            ).fetchall()
        return [_account_dict(r) for r in rows]

    def contract_of(self, account_id: str) -> Contract | None:
        """The signed contract stored with account ``account_id``."""
        with self._connect() as db:
            row = db.execute(
                "SELECT contract_name, contract_pdf FROM accounts WHERE account_id = ?",
                (account_id,),
            ).fetchone()
        if row is None or row["contract_pdf"] is None:
            return None
        return Contract(row["contract_name"], bytes(row["contract_pdf"]))

    def count_accounts(self, *, external_ref: str | None = None) -> int:
        """How many accounts exist (with ``external_ref``, if given)."""
        with self._connect() as db:
            if external_ref is None:
                return int(db.execute("SELECT COUNT(*) FROM accounts").fetchone()[0])
            return int(
                db.execute(
                    "SELECT COUNT(*) FROM accounts WHERE external_ref = ?", (external_ref,)
                ).fetchone()[0]
            )


def _account_dict(row: sqlite3.Row) -> dict[str, Any]:
    """An ``accounts`` row as the JSON the lookup API returns."""
    return {
        "account_id": row["account_id"],
        "external_ref": row["external_ref"],
        **{c: row[c] for c in ACCOUNT_COLUMNS if c not in ("addons", "terms_accepted")},
        "addons": json.loads(row["addons"]),
        "terms_accepted": bool(row["terms_accepted"]),
        "contract": None
        if row["contract_sha256"] is None
        else {
            "filename": row["contract_name"],
            "sha256": row["contract_sha256"],
            "size": row["contract_size"],
        },
        "created_by": row["created_by"],
        "created_at": row["created_at"],
    }
