//! Durable endpoint state in SQLite: sessions, escalations, their approvals,
//! finished invocations, and the replay watermark.
//!
//! The database runs in WAL mode with `synchronous = FULL`, so a change is on
//! disk when its transaction commits: a restart loses nothing that was
//! acknowledged, and a crash mid-write leaves the state of the last commit.
//! Every change that touches several rows (closing a session and voiding its
//! escalations, using an approval and running) is one transaction. The schema
//! is versioned from the first release (`PRAGMA user_version`).
//!
//! Finished invocations are the one exception to `synchronous = FULL`: what
//! an invocation did is recorded for `show` and `follow`, and the audit log
//! (synced before the answer) is its authoritative record, so its row is
//! committed on a second connection without a sync of its own, in batches,
//! off the invocation's path.

use crate::digest::Sha256Digest;
use crate::escalation::{Approval, Escalation, EscalationState, InvocationKey};
use crate::outcome::{InvocationRecord, InvocationStatus};
use crate::session::{
    ClosedBy, Closure, ClosureReport, ConsentingUser, EscalationId, InvocationId, Session,
    SessionId, SessionRequest, SessionState, UnixMillis,
};
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use rusqlite_migration::{M, Migrations};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

/// The schema, one migration per version. Never edit a released migration;
/// add the next one.
const MIGRATIONS: &[&str] = &[
    // 1: sessions, escalations, approvals, seen nonces.
    r"
    CREATE TABLE sessions (
        id               TEXT PRIMARY KEY,
        ticket           TEXT NOT NULL,
        requester        TEXT NOT NULL,
        technician       TEXT NOT NULL,
        category         TEXT NOT NULL,
        endpoint         TEXT NOT NULL,
        state            TEXT NOT NULL CHECK (state IN ('requested', 'approved', 'active', 'closed')),
        request          TEXT NOT NULL,
        requested_ms     INTEGER NOT NULL,
        expires_ms       INTEGER NOT NULL,
        last_activity_ms INTEGER NOT NULL,
        approved_by      TEXT,
        approved_ms      INTEGER,
        consent_uid      INTEGER,
        consent_user     TEXT,
        consent_ms       INTEGER,
        activated_ms     INTEGER,
        closed_ms        INTEGER,
        closed_how       TEXT CHECK (closed_how IN ('principal', 'idle-timeout', 'expiry')),
        closed_by        TEXT,
        resolved         INTEGER,
        summary          TEXT,
        follow_up        TEXT
    ) STRICT;
    CREATE INDEX sessions_by_state ON sessions (state);
    CREATE TABLE escalations (
        id           TEXT PRIMARY KEY,
        session_id   TEXT NOT NULL REFERENCES sessions (id),
        action       TEXT NOT NULL,
        version      TEXT NOT NULL,
        digest       TEXT NOT NULL,
        input_digest TEXT NOT NULL,
        endpoint     TEXT NOT NULL,
        invoker      TEXT NOT NULL,
        raised_ms    INTEGER NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'voided')),
        decided_by   TEXT,
        decided_ms   INTEGER,
        reason       TEXT
    ) STRICT;
    CREATE INDEX escalations_by_session ON escalations (session_id);
    CREATE INDEX escalations_by_state ON escalations (state);
    CREATE TABLE approvals (
        escalation_id TEXT PRIMARY KEY REFERENCES escalations (id),
        approver      TEXT NOT NULL,
        approved_ms   INTEGER NOT NULL,
        expires_ms    INTEGER NOT NULL,
        consumed_ms   INTEGER
    ) STRICT;
    CREATE TABLE seen_nonces (
        principal  TEXT NOT NULL,
        nonce      TEXT NOT NULL,
        expires_ms INTEGER NOT NULL,
        PRIMARY KEY (principal, nonce)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX seen_nonces_by_expiry ON seen_nonces (expires_ms);
    ",
    // 2: a pending escalation expires and keeps the exact input it holds;
    // finished invocations with what they did.
    r"
    ALTER TABLE escalations ADD COLUMN expires_ms INTEGER;
    ALTER TABLE escalations ADD COLUMN input TEXT;
    CREATE TABLE invocations (
        id          TEXT PRIMARY KEY,
        session_id  TEXT NOT NULL REFERENCES sessions (id),
        principal   TEXT NOT NULL,
        action      TEXT NOT NULL,
        started_ms  INTEGER NOT NULL,
        finished_ms INTEGER NOT NULL,
        status      TEXT NOT NULL CHECK (status IN ('finished', 'not-run', 'interrupted')),
        outcome     TEXT,
        record      TEXT NOT NULL
    ) STRICT;
    CREATE INDEX invocations_by_session ON invocations (session_id, started_ms);
    CREATE INDEX invocations_by_finish ON invocations (finished_ms);
    ",
    // 3: seen nonces are kept in memory; across restarts a durable
    // watermark stands in for them (see `crate::replay`). The endpoint's
    // own bookkeeping: that watermark, and where its current run began.
    r"
    DROP TABLE seen_nonces;
    CREATE TABLE endpoint_meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;
    ALTER TABLE escalations ADD COLUMN expiry_logged_ms INTEGER;
    ",
];

const REPLAY_WATERMARK: &str = "replay-watermark";
const RUN_AFTER_SEQ: &str = "run-after-seq";
const RUN_STOPPED_CLEANLY: &str = "run-stopped-cleanly";
const META_PUT: &str = "INSERT INTO endpoint_meta (key, value) VALUES (?1, ?2)
     ON CONFLICT (key) DO UPDATE SET value = excluded.value";
const META_RAISE: &str = "INSERT INTO endpoint_meta (key, value) VALUES (?1, ?2)
     ON CONFLICT (key) DO UPDATE SET value = max(value, excluded.value)";

/// The endpoint's previous run, as the store recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LastRun {
    /// The audit log's last record when it began.
    pub after_seq: u64,
    /// Whether it stopped cleanly ([`StateStore::end_run`]).
    pub stopped_cleanly: bool,
}

/// Why the state store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be opened or migrated.
    #[error("cannot open the state database {}: {reason}", path.display())]
    Open {
        /// The database file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A query failed.
    #[error("state database error: {0}")]
    Sql(#[from] rusqlite::Error),
    /// A stored row cannot be read back.
    #[error("state database holds an unreadable {what}: {reason}")]
    Corrupt {
        /// What kind of row.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// The endpoint's durable state.
pub struct StateStore {
    conn: Mutex<Connection>,
    /// A second connection to the same file, `synchronous = NORMAL`, on
    /// which finished invocations are recorded: its commits (and the WAL
    /// checkpoints they trigger) never hold up the main connection. `None`
    /// for a store in memory, which records them on the main connection.
    side: Option<Mutex<Connection>>,
}

impl std::fmt::Debug for StateStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StateStore")
    }
}

/// A transaction on the state store.
pub struct Tx<'c> {
    conn: &'c Connection,
}

impl StateStore {
    /// Opens (creating if needed) the database at `path` and brings its
    /// schema to the latest version.
    pub fn open(path: &Path) -> Result<StateStore, StoreError> {
        let open_error = |reason: String| StoreError::Open {
            path: path.to_path_buf(),
            reason,
        };
        let _opening = schema_lock(path).map_err(open_error)?;
        let conn = Connection::open(path).map_err(|e| open_error(e.to_string()))?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| open_error(e.to_string()))?;
        let mut store = StateStore::prepare(conn).map_err(|e| open_error(e.to_string()))?;
        let side = Connection::open(path).map_err(|e| open_error(e.to_string()))?;
        side.pragma_update(None, "synchronous", "NORMAL")
            .and_then(|()| side.busy_timeout(Duration::from_secs(5)))
            .map_err(|e| open_error(e.to_string()))?;
        store.side = Some(Mutex::new(side));
        Ok(store)
    }

    /// A store in memory, for tests and tools that keep no state.
    pub fn in_memory() -> Result<StateStore, StoreError> {
        let conn = Connection::open_in_memory()?;
        StateStore::prepare(conn).map_err(|e| StoreError::Open {
            path: PathBuf::from(":memory:"),
            reason: e.to_string(),
        })
    }

    fn prepare(mut conn: Connection) -> Result<StateStore, String> {
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| e.to_string())?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| e.to_string())?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| e.to_string())?;
        migrate(&mut conn, MIGRATIONS)?;
        Ok(StateStore {
            conn: Mutex::new(conn),
            side: None,
        })
    }

    /// Runs `f` in one write transaction, committed only if `f` succeeds.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let value = f(&Tx { conn: &tx })?;
        tx.commit().map_err(StoreError::from)?;
        Ok(value)
    }

    /// Records finished invocations in one transaction, without waiting for
    /// the disk (see the module's documentation).
    pub fn record_invocations(&self, records: &[Arc<InvocationRecord>]) -> Result<(), StoreError> {
        let rows = records
            .iter()
            .map(|record| {
                serde_json::to_string(record.as_ref())
                    .map(|json| (record, json))
                    .map_err(|e| corrupt("invocation")(e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut conn = self
            .side
            .as_ref()
            .unwrap_or(&self.conn)
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR REPLACE INTO invocations (id, session_id, principal, action, started_ms,
                     finished_ms, status, outcome, record)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?;
            for (record, json) in rows {
                let status = match record.status {
                    InvocationStatus::NotRun => "not-run",
                    InvocationStatus::Interrupted => "interrupted",
                    InvocationStatus::Running | InvocationStatus::Finished => "finished",
                };
                insert.execute(params![
                    record.id.as_str(),
                    record.session.as_str(),
                    record.principal,
                    record.action,
                    record.started_ms,
                    record.finished_ms.unwrap_or(record.started_ms),
                    status,
                    record.invocation.as_ref().map(|i| i.outcome.code()),
                    json,
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The replay watermark: every request accepted so far was signed at or
    /// before it (0 when none was). See [`crate::replay`].
    pub fn replay_watermark(&self) -> Result<UnixMillis, StoreError> {
        Ok(self.meta(REPLAY_WATERMARK)?.unwrap_or(0))
    }

    /// Raises the replay watermark to `until_ms` (never lowers it), durably.
    pub fn raise_replay_watermark(&self, until_ms: UnixMillis) -> Result<(), StoreError> {
        self.put_meta(REPLAY_WATERMARK, until_ms, true)
    }

    /// Sets the replay watermark to `until_ms`, lower than it was if need
    /// be: only for a stopping endpoint that accepted nothing signed after
    /// `until_ms` and will accept nothing more.
    pub fn set_replay_watermark(&self, until_ms: UnixMillis) -> Result<(), StoreError> {
        self.put_meta(REPLAY_WATERMARK, until_ms, false)
    }

    /// The endpoint's previous run, if one was recorded: the audit sequence
    /// number it began after, and whether it stopped cleanly.
    pub fn last_run(&self) -> Result<Option<LastRun>, StoreError> {
        let Some(after_seq) = self.meta(RUN_AFTER_SEQ)? else {
            return Ok(None);
        };
        Ok(Some(LastRun {
            after_seq: u64::try_from(after_seq).unwrap_or(0),
            stopped_cleanly: self.meta(RUN_STOPPED_CLEANLY)? == Some(1),
        }))
    }

    /// Records that a run begins, after audit record `after_seq`.
    pub fn begin_run(&self, after_seq: u64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                META_PUT,
                params![RUN_AFTER_SEQ, i64::try_from(after_seq).unwrap_or(i64::MAX)],
            )?;
            tx.execute(META_PUT, params![RUN_STOPPED_CLEANLY, 0])?;
            Ok::<_, StoreError>(())
        })
    }

    /// Records that the current run stopped cleanly.
    pub fn end_run(&self) -> Result<(), StoreError> {
        self.put_meta(RUN_STOPPED_CLEANLY, 1, false)
    }

    fn meta(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(conn
            .prepare_cached("SELECT value FROM endpoint_meta WHERE key = ?1")?
            .query_row([key], |row| row.get(0))
            .optional()?)
    }

    /// Stores `value` under `key` (with `raise`, only if higher), durably.
    fn put_meta(&self, key: &str, value: i64, raise: bool) -> Result<(), StoreError> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        conn.prepare_cached(if raise { META_RAISE } else { META_PUT })?
            .execute(params![key, value])?;
        Ok(())
    }

    /// Runs `f` on a consistent view. Every access to the database goes
    /// through this store's one connection, under its lock, so no write can
    /// come between two reads of `f`: no transaction is needed.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let conn = self.conn.lock().unwrap_or_else(PoisonError::into_inner);
        f(&Tx { conn: &conn })
    }
}

fn corrupt(what: &'static str) -> impl Fn(String) -> StoreError {
    move |reason| StoreError::Corrupt { what, reason }
}

fn parse<T: std::str::FromStr>(what: &'static str, text: &str) -> Result<T, StoreError>
where
    T::Err: std::fmt::Display,
{
    text.parse()
        .map_err(|e: T::Err| corrupt(what)(format!("`{text}`: {e}")))
}

const SESSION_COLUMNS: &str = "id, requester, state, request, requested_ms, expires_ms, last_activity_ms, \
     approved_by, approved_ms, consent_uid, consent_user, consent_ms, activated_ms, \
     closed_ms, closed_how, closed_by, resolved, summary, follow_up";

const ESCALATION_COLUMNS: &str = "e.id, e.session_id, e.action, e.version, e.digest, e.input_digest, e.endpoint, \
     e.invoker, e.raised_ms, e.state, e.decided_by, e.decided_ms, e.reason, \
     a.approver, a.approved_ms, a.expires_ms, a.consumed_ms, e.expires_ms, e.input";

impl Tx<'_> {
    /// Runs one statement, prepared once per connection and cached.
    fn execute<P: rusqlite::Params>(&self, sql: &str, params: P) -> Result<usize, StoreError> {
        Ok(self.conn.prepare_cached(sql)?.execute(params)?)
    }

    /// Inserts or updates a session.
    pub fn put_session(&self, session: &Session) -> Result<(), StoreError> {
        let request = serde_json::to_string(&session.request)
            .map_err(|e| corrupt("session")(e.to_string()))?;
        let (closed_ms, closed_how, closed_by, report) = match &session.closure {
            None => (None, None, None, ClosureReport::default()),
            Some(Closure { at_ms, by, report }) => {
                let (how, who) = match by {
                    ClosedBy::Principal { id } => ("principal", Some(id.as_str())),
                    ClosedBy::IdleTimeout => ("idle-timeout", None),
                    ClosedBy::Expiry => ("expiry", None),
                };
                (Some(*at_ms), Some(how), who, report.clone())
            }
        };
        self.execute(
            "INSERT INTO sessions (id, ticket, requester, technician, category, endpoint, state, request,
                 requested_ms, expires_ms, last_activity_ms, approved_by, approved_ms, consent_uid,
                 consent_user, consent_ms, activated_ms, closed_ms, closed_how, closed_by, resolved,
                 summary, follow_up)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18,
                 ?19, ?20, ?21, ?22, ?23)
             ON CONFLICT (id) DO UPDATE SET
                 state = excluded.state, last_activity_ms = excluded.last_activity_ms,
                 approved_by = excluded.approved_by, approved_ms = excluded.approved_ms,
                 consent_uid = excluded.consent_uid, consent_user = excluded.consent_user,
                 consent_ms = excluded.consent_ms, activated_ms = excluded.activated_ms,
                 closed_ms = excluded.closed_ms, closed_how = excluded.closed_how,
                 closed_by = excluded.closed_by, resolved = excluded.resolved,
                 summary = excluded.summary, follow_up = excluded.follow_up",
            params![
                session.id.as_str(),
                session.request.ticket.as_str(),
                session.requester.as_str(),
                session.request.technician.as_str(),
                session.request.category,
                session.request.endpoint,
                session.state.name(),
                request,
                session.requested_ms,
                session.expires_ms,
                session.last_activity_ms,
                session.approved.as_ref().map(|(p, _)| p.as_str()),
                session.approved.as_ref().map(|(_, at)| *at),
                session.consent.as_ref().map(|(u, _)| u.uid),
                session.consent.as_ref().map(|(u, _)| u.name.as_str()),
                session.consent.as_ref().map(|(_, at)| *at),
                session.activated_ms,
                closed_ms,
                closed_how,
                closed_by,
                report.resolved,
                report.summary,
                report.follow_up,
            ],
        )?;
        Ok(())
    }

    /// The session with this id.
    pub fn session(&self, id: &SessionId) -> Result<Option<Session>, StoreError> {
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1");
        let row = self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.as_str()], |row| Ok(read_session(row)))
            .optional()?;
        row.transpose()
    }

    /// Sessions, newest first; only those not closed when `open_only`.
    pub fn sessions(&self, open_only: bool) -> Result<Vec<Session>, StoreError> {
        let filter = if open_only {
            "WHERE state <> 'closed'"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {SESSION_COLUMNS} FROM sessions {filter} ORDER BY requested_ms DESC, id"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map([], |row| Ok(read_session(row)))?;
        rows.map(|r| r?).collect()
    }

    /// Inserts or updates an escalation and its approval.
    pub fn put_escalation(&self, escalation: &Escalation) -> Result<(), StoreError> {
        let (state, decided_by, decided_ms, reason) = match &escalation.state {
            EscalationState::Pending => ("pending", None, None, None),
            EscalationState::Approved => ("approved", None, None, None),
            EscalationState::Denied { by, at_ms, reason } => (
                "denied",
                Some(by.as_str()),
                Some(*at_ms),
                Some(reason.as_str()),
            ),
            EscalationState::Voided { at_ms } => ("voided", None, Some(*at_ms), None),
        };
        let key = &escalation.key;
        self.execute(
            "INSERT INTO escalations (id, session_id, action, version, digest, input_digest, endpoint,
                 invoker, raised_ms, state, decided_by, decided_ms, reason, expires_ms, input)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
             ON CONFLICT (id) DO UPDATE SET state = excluded.state, decided_by = excluded.decided_by,
                 decided_ms = excluded.decided_ms, reason = excluded.reason",
            params![
                escalation.id.as_str(),
                key.session.as_str(),
                key.action.as_str(),
                key.version.to_string(),
                key.digest.to_string(),
                key.input_digest.to_string(),
                key.endpoint,
                escalation.invoker.as_str(),
                escalation.raised_ms,
                state,
                decided_by,
                decided_ms,
                reason,
                escalation.expires_ms,
                escalation.input,
            ],
        )?;
        if let Some(approval) = &escalation.approval {
            self.execute(
                "INSERT INTO approvals (escalation_id, approver, approved_ms, expires_ms, consumed_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (escalation_id) DO UPDATE SET consumed_ms = excluded.consumed_ms",
                params![
                    escalation.id.as_str(),
                    approval.by.as_str(),
                    approval.at_ms,
                    approval.expires_ms,
                    approval.consumed_ms,
                ],
            )?;
        }
        Ok(())
    }

    /// The escalation with this id.
    pub fn escalation(&self, id: &EscalationId) -> Result<Option<Escalation>, StoreError> {
        let sql = format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations e LEFT JOIN approvals a ON a.escalation_id = e.id WHERE e.id = ?1"
        );
        let row = self
            .conn
            .prepare_cached(&sql)?
            .query_row([id.as_str()], |row| Ok(read_escalation(row)))
            .optional()?;
        row.transpose()
    }

    /// The escalations of a session, oldest first.
    pub fn escalations_of(&self, session: &SessionId) -> Result<Vec<Escalation>, StoreError> {
        self.escalations_where("e.session_id = ?1", session.as_str())
    }

    /// The escalations that have expired by `now` — unapproved past their
    /// deadline, or approved and not used before the approval expired —
    /// and whose expiry is not yet logged; oldest first.
    pub fn expired_escalations(&self, now: UnixMillis) -> Result<Vec<Escalation>, StoreError> {
        let sql = format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations e LEFT JOIN approvals a ON a.escalation_id = e.id
             WHERE e.expiry_logged_ms IS NULL
               AND ((e.state = 'pending' AND e.expires_ms <= ?1)
                 OR (e.state = 'approved' AND a.consumed_ms IS NULL AND a.expires_ms <= ?1))
             ORDER BY e.raised_ms, e.id"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map([now], |row| Ok(read_escalation(row)))?;
        rows.map(|r| r?).collect()
    }

    /// Records that `escalation`'s expiry is logged.
    pub fn expiry_logged(
        &self,
        escalation: &EscalationId,
        at: UnixMillis,
    ) -> Result<(), StoreError> {
        self.execute(
            "UPDATE escalations SET expiry_logged_ms = ?2 WHERE id = ?1",
            params![escalation.as_str(), at],
        )?;
        Ok(())
    }

    /// The pending escalations, oldest first.
    pub fn pending_escalations(&self) -> Result<Vec<Escalation>, StoreError> {
        self.escalations_where("e.state = ?1", "pending")
    }

    fn escalations_where(
        &self,
        condition: &str,
        value: &str,
    ) -> Result<Vec<Escalation>, StoreError> {
        let sql = format!(
            "SELECT {ESCALATION_COLUMNS} FROM escalations e LEFT JOIN approvals a ON a.escalation_id = e.id
             WHERE {condition} ORDER BY e.raised_ms, e.id"
        );
        let mut statement = self.conn.prepare_cached(&sql)?;
        let rows = statement.query_map([value], |row| Ok(read_escalation(row)))?;
        rows.map(|r| r?).collect()
    }
}

impl Tx<'_> {
    /// A finished invocation.
    pub fn invocation(&self, id: &InvocationId) -> Result<Option<InvocationRecord>, StoreError> {
        let row = self
            .conn
            .prepare_cached("SELECT record FROM invocations WHERE id = ?1")?
            .query_row([id.as_str()], |row| row.get::<_, String>(0))
            .optional()?;
        row.map(|json| {
            serde_json::from_str(&json).map_err(|e| corrupt("invocation")(e.to_string()))
        })
        .transpose()
    }

    /// The finished invocations of a session, oldest first, without what
    /// they output (their `invocation` is left out).
    pub fn invocations_of(&self, session: &SessionId) -> Result<Vec<InvocationRecord>, StoreError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT record FROM invocations WHERE session_id = ?1 ORDER BY started_ms, id",
        )?;
        let rows = statement.query_map([session.as_str()], |row| row.get::<_, String>(0))?;
        rows.map(|json| {
            let mut record: InvocationRecord =
                serde_json::from_str(&json?).map_err(|e| corrupt("invocation")(e.to_string()))?;
            record.invocation = None;
            Ok(record)
        })
        .collect()
    }

    /// Forgets finished invocations that ended before `before_ms` (the
    /// audit log keeps their record).
    pub fn purge_invocations(&self, before_ms: UnixMillis) -> Result<usize, StoreError> {
        Ok(self.conn.execute(
            "DELETE FROM invocations WHERE finished_ms < ?1",
            [before_ms],
        )?)
    }
}

fn read_session(row: &Row<'_>) -> Result<Session, StoreError> {
    let bad = corrupt("session");
    let text = |i: usize| -> Result<String, StoreError> { Ok(row.get::<_, String>(i)?) };
    let request: SessionRequest =
        serde_json::from_str(&text(3)?).map_err(|e| bad(e.to_string()))?;
    let state = match text(2)?.as_str() {
        "requested" => SessionState::Requested,
        "approved" => SessionState::Approved,
        "active" => SessionState::Active,
        "closed" => SessionState::Closed,
        other => return Err(bad(format!("state `{other}`"))),
    };
    let approved = match (
        row.get::<_, Option<String>>(7)?,
        row.get::<_, Option<i64>>(8)?,
    ) {
        (Some(by), Some(at)) => Some((parse("session approver", &by)?, at)),
        _ => None,
    };
    let consent = match (
        row.get::<_, Option<u32>>(9)?,
        row.get::<_, Option<String>>(10)?,
        row.get::<_, Option<i64>>(11)?,
    ) {
        (Some(uid), Some(name), Some(at)) => Some((ConsentingUser { uid, name }, at)),
        _ => None,
    };
    let closure = match (
        row.get::<_, Option<i64>>(13)?,
        row.get::<_, Option<String>>(14)?,
    ) {
        (Some(at_ms), Some(how)) => {
            let by = match how.as_str() {
                "principal" => ClosedBy::Principal {
                    id: parse(
                        "session closer",
                        &row.get::<_, Option<String>>(15)?.unwrap_or_default(),
                    )?,
                },
                "idle-timeout" => ClosedBy::IdleTimeout,
                "expiry" => ClosedBy::Expiry,
                other => return Err(bad(format!("closure `{other}`"))),
            };
            let report = ClosureReport {
                resolved: row.get(16)?,
                summary: row.get(17)?,
                follow_up: row.get(18)?,
            };
            Some(Closure { at_ms, by, report })
        }
        _ => None,
    };
    Ok(Session {
        id: parse("session id", &text(0)?)?,
        requester: parse("session requester", &text(1)?)?,
        request,
        state,
        requested_ms: row.get(4)?,
        expires_ms: row.get(5)?,
        last_activity_ms: row.get(6)?,
        approved,
        consent,
        activated_ms: row.get(12)?,
        closure,
    })
}

fn read_escalation(row: &Row<'_>) -> Result<Escalation, StoreError> {
    let text = |i: usize| -> Result<String, StoreError> { Ok(row.get::<_, String>(i)?) };
    let state = match text(9)?.as_str() {
        "pending" => EscalationState::Pending,
        "approved" => EscalationState::Approved,
        "denied" => EscalationState::Denied {
            by: parse(
                "escalation decider",
                &row.get::<_, Option<String>>(10)?.unwrap_or_default(),
            )?,
            at_ms: row.get::<_, Option<i64>>(11)?.unwrap_or_default(),
            reason: row.get::<_, Option<String>>(12)?.unwrap_or_default(),
        },
        "voided" => EscalationState::Voided {
            at_ms: row.get::<_, Option<i64>>(11)?.unwrap_or_default(),
        },
        other => return Err(corrupt("escalation")(format!("state `{other}`"))),
    };
    let approval = match row.get::<_, Option<String>>(13)? {
        Some(by) => Some(Approval {
            by: parse("approver", &by)?,
            at_ms: row.get(14)?,
            expires_ms: row.get(15)?,
            consumed_ms: row.get(16)?,
        }),
        None => None,
    };
    Ok(Escalation {
        id: parse("escalation id", &text(0)?)?,
        key: InvocationKey {
            session: parse("escalation session", &text(1)?)?,
            action: parse("escalation action", &text(2)?)?,
            version: parse("escalation version", &text(3)?)?,
            digest: parse::<Sha256Digest>("escalation digest", &text(4)?)?,
            input_digest: parse::<Sha256Digest>("escalation input digest", &text(5)?)?,
            endpoint: text(6)?,
        },
        invoker: parse("escalation invoker", &text(7)?)?,
        raised_ms: row.get(8)?,
        // Escalations stored before they expired by themselves are expired.
        expires_ms: row.get::<_, Option<i64>>(17)?.unwrap_or(row.get(8)?),
        input: row.get(18)?,
        state,
        approval,
    })
}

/// Serialises opening the database at `path` among processes and threads:
/// an exclusive `flock` on `<path>.lock`, held by whoever opens it until the
/// value is dropped. Switching a new database to WAL and bringing its schema
/// up to date both need the database to themselves: SQLite answers a second
/// opener "database is locked" at once for the first (its busy handler is
/// not called where waiting could deadlock), and two openers of a new
/// database would both read schema version 0 and both create its tables
/// (the second failing with "table already exists"). So openers wait here.
/// A lock file, not the database: closing another descriptor of the
/// database would drop the locks SQLite holds on it for the process.
/// The lock is held until the file returned is dropped.
pub(crate) fn schema_lock(path: &Path) -> Result<std::fs::File, String> {
    let lock = format!("{}.lock", path.display());
    let file = crate::os::owner_only_file(
        std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true),
    )
    .open(&lock)
    .map_err(|e| format!("cannot open {lock} to open the database: {e}"))?;
    file.lock()
        .map_err(|e| format!("cannot lock {lock} to open the database: {e}"))?;
    Ok(file)
}

/// Brings the schema of `conn` up to date with `migrations`; the caller
/// holds the database's [`schema_lock`] (or the database is in memory).
pub(crate) fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), String> {
    Migrations::new(migrations.iter().map(|sql| M::up(sql)).collect())
        .to_latest(conn)
        .map_err(|e| format!("cannot bring the schema up to date: {e}"))
}

#[cfg(test)]
mod tests {
    //! The schema's history: a database left by any earlier version is
    //! brought up to date with what it held.

    use super::*;
    use crate::identity::KeyPair;
    use crate::policy::Policy;
    use crate::session::Scope;

    fn session() -> Session {
        let key = KeyPair::generate().unwrap().public();
        let policy = Policy::parse(
            &format!(
                "schema = 1\n[categories]\nincident = \"A fault.\"\n[roles.tech]\npermissions = [\"request-sessions\"]\n\
                 [[principals]]\nid = \"tom\"\nname = \"Tom\"\nroles = [\"tech\"]\npublic-key = \"{key}\"\n"
            ),
            Path::new("policy.toml"),
        )
        .unwrap();
        let request = SessionRequest {
            ticket: "INC1".parse().unwrap(),
            problem: "Broken.".to_string(),
            category: "incident".to_string(),
            endpoint: "pc".to_string(),
            technician: "tom".parse().unwrap(),
            scope: Scope {
                allowed: vec!["echo".parse().unwrap()],
                prohibited: Default::default(),
                privileged: false,
            },
            attended: false,
            idle_minutes: 10,
            duration_minutes: 60,
        };
        let tom = "tom".parse().unwrap();
        Session::request(
            SessionId::random().unwrap(),
            &tom,
            request,
            "pc",
            &policy,
            1_000,
        )
        .unwrap()
    }

    #[test]
    fn a_database_of_every_earlier_version_is_brought_up_to_date() {
        for version in 1..MIGRATIONS.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.db");
            let kept = session();
            {
                // A database as version `version` of the schema left it,
                // holding a session (a table every version has had).
                let mut conn = Connection::open(&path).unwrap();
                Migrations::new(MIGRATIONS.iter().map(|sql| M::up(sql)).collect())
                    .to_version(&mut conn, version)
                    .unwrap();
                Tx { conn: &conn }.put_session(&kept).unwrap();
            }
            let store = StateStore::open(&path).unwrap();
            let read = store.read(|tx| tx.session(&kept.id)).unwrap();
            assert_eq!(read.as_ref(), Some(&kept), "from version {version}");
            // Every later table is there and usable.
            store.raise_replay_watermark(5).unwrap();
            assert_eq!(store.replay_watermark().unwrap(), 5);
            assert!(
                store
                    .read(|tx| tx.invocations_of(&kept.id))
                    .unwrap()
                    .is_empty()
            );
            let version_now: i64 = store
                .conn
                .lock()
                .unwrap()
                .pragma_query_value(None, "user_version", |row| row.get(0))
                .unwrap();
            assert_eq!(version_now, MIGRATIONS.len() as i64);
        }
    }

    /// Openers of a new database at the same moment, as two `salve catalog
    /// install` runs into a catalog not made yet: each opens it.
    #[test]
    fn a_new_database_opened_by_many_at_once_opens_for_each() {
        for _ in 0..10 {
            let dir = tempfile::tempdir().unwrap();
            let barrier = std::sync::Barrier::new(8);
            std::thread::scope(|scope| {
                let openers: Vec<_> = (0..8)
                    .map(|i| {
                        let (dir, barrier) = (dir.path(), &barrier);
                        scope.spawn(move || {
                            barrier.wait();
                            if i % 2 == 0 {
                                StateStore::open(&dir.join("state.db"))
                                    .map(|_| ())
                                    .map_err(|e| e.to_string())
                            } else {
                                crate::vetting::CatalogStore::open(&dir.join("catalog"))
                                    .map(|_| ())
                                    .map_err(|e| e.to_string())
                            }
                        })
                    })
                    .collect();
                for opener in openers {
                    opener.join().unwrap().unwrap();
                }
            });
        }
    }

    #[test]
    fn the_replay_watermark_only_rises_unless_set_and_a_run_is_recorded() {
        let store = StateStore::in_memory().unwrap();
        assert_eq!(store.replay_watermark().unwrap(), 0);
        store.raise_replay_watermark(10).unwrap();
        store.raise_replay_watermark(7).unwrap();
        assert_eq!(store.replay_watermark().unwrap(), 10);
        store.set_replay_watermark(8).unwrap();
        assert_eq!(store.replay_watermark().unwrap(), 8);
        assert_eq!(store.last_run().unwrap(), None);
        store.begin_run(41).unwrap();
        assert_eq!(
            store.last_run().unwrap(),
            Some(LastRun {
                after_seq: 41,
                stopped_cleanly: false
            })
        );
        store.end_run().unwrap();
        assert!(store.last_run().unwrap().unwrap().stopped_cleanly);
    }
}
