//! The path every invocation takes, in order: find the session; decide
//! ([`crate::decision::decide`]); commit what the decision changes (an
//! approval used, an escalation raised, the session touched); log
//! "started" durably — no log, no run; run in a fresh instance with what
//! the manifest declares and the scope allows, its output fed to whoever
//! follows it; log "finished"; record what it did; answer.

use super::live::Watcher;
use super::{Authenticated, Endpoint, InvokeOutcome, Refusal, events, live, load_session};
use crate::audit::Kind;
use crate::catalog::CatalogEntry;
use crate::decision::{ActionFacts, Decision, decide};
use crate::digest::Sha256Digest;
use crate::engine::InvokeError;
use crate::escalation::Escalation;
use crate::grant::Grant;
use crate::manifest::ActionId;
use crate::outcome::{InvocationRecord, InvocationStatus};
use crate::session::{EscalationId, InvocationId, Session, SessionId, UnixMillis};
use crate::store::Tx;
use std::sync::{Arc, PoisonError};

/// How stale a session's stored activity may grow before an invocation
/// writes it down again, for its idle timeout: a tenth of that timeout, at
/// most a minute, so that invocations close together do not each cost a
/// durable write. While the endpoint runs, it also counts what it knows
/// without writing (an invocation running, the end of the last one: see
/// `Endpoint::refresh`); after a restart, only what was written, at most
/// this much behind.
fn activity_resolution_ms(session: &Session) -> i64 {
    (i64::from(session.request.idle_minutes) * 6_000).min(60_000)
}

/// A decision, and whether it could be made without writing.
enum Decided {
    /// Run, using this approval; `logged` when "started" is already in the
    /// log (it was written with the decision's transaction).
    Run {
        approval: Option<EscalationId>,
        invocation: InvocationId,
        logged: bool,
        session: Box<Session>,
    },
    /// Do not run; this is why.
    NotRun(Box<InvokeOutcome>),
    /// The decision changes the state: decide again in a write transaction.
    NeedsWrite,
    /// The session has just closed by itself (expired, or idle): that is
    /// stored first, with no invocation between its decision and its
    /// "started" record ([`Endpoint::settle_closure`]); then decide again.
    Closes,
}

impl Endpoint {
    /// Invokes `action` in `session` as `who` on `input` (a JSON document):
    /// the decision and, when allowed, the result.
    pub fn invoke(
        &self,
        who: &Authenticated,
        session_id: &SessionId,
        action: &ActionId,
        input: &str,
    ) -> Result<InvokeOutcome, Refusal> {
        self.invoke_watched(who, session_id, action, input, None)
    }

    /// Invokes as [`Endpoint::invoke`] does; when the invocation runs,
    /// `watcher` follows it from its start: its output as the action writes
    /// it, then how it ended.
    pub fn invoke_watched(
        &self,
        who: &Authenticated,
        session_id: &SessionId,
        action: &ActionId,
        input: &str,
        watcher: Option<Arc<dyn Watcher>>,
    ) -> Result<InvokeOutcome, Refusal> {
        let input_digest = Sha256Digest::of(input.as_bytes());
        // What is refused before any decision (bad input, busy, no such
        // session or action) is logged like every other refusal.
        let early = |refusal: Refusal| {
            let mut record = events::refused(
                Kind::RequestRefused,
                Some(&who.principal),
                refusal.code(),
                refusal.to_string(),
            );
            record.session = Some(session_id.to_string());
            record.action = Some(action.to_string());
            record.input_digest = Some(input_digest.to_string());
            self.refused(who.source(), record, refusal)
        };
        self.runtime
            .check_input(input)
            .map_err(|e| early(e.into()))?;
        // "Busy" must come before anything is committed, an approval above all.
        let slot = self.runtime.reserve().map_err(|e| early(e.into()))?;
        let now = self.now();
        // Decide on a snapshot; write only when something must change (an
        // approval is used, an escalation raised, the session closed by
        // itself, or activity is due to be recorded), deciding again inside
        // the write transaction so that nothing changed in between.
        let ask = |session: Session| -> Ask<'_> {
            Ask {
                who,
                session,
                input,
                input_digest,
                now,
            }
        };
        // Held until "started" is logged and the invocation registered as
        // running: a closure waits for it, so the log never shows an
        // invocation starting in a closed session, and the closure finds it
        // to cancel.
        let mut gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
        let (entry, decided) = loop {
            let read = self.store.read(|tx| -> Result<_, Refusal> {
                let session = load_session(tx, session_id)?;
                let entry = self.find_action(&session, action)?;
                let decided = self.decide_invocation(tx, ask(session), entry, false)?;
                Ok((entry, decided))
            });
            let (entry, decided) = match read {
                Ok(read) => read,
                Err(refusal @ Refusal::NotFound { .. }) => return Err(early(refusal)),
                Err(refusal) => return Err(refusal),
            };
            let decided = match decided {
                Decided::NeedsWrite => self.store.write(|tx| {
                    let session = load_session(tx, session_id)?;
                    self.decide_invocation(tx, ask(session), entry, true)
                })?,
                decided => decided,
            };
            if let Decided::Closes = decided {
                // Stored as closed, the session is not found closing again.
                drop(gate);
                self.settle_closure(session_id, who.source())?;
                gate = self.gate.read().unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            break (entry, decided);
        };
        let (approval, invocation_id, logged, session) = match decided {
            Decided::Run {
                approval,
                invocation,
                logged,
                session,
            } => (approval, invocation, logged, session),
            Decided::NeedsWrite | Decided::Closes => {
                unreachable!("the write path always decides, and a closure is settled first")
            }
            Decided::NotRun(outcome) => {
                tracing::info!(session = %session_id, action = %action, principal = %who.principal, outcome = ?outcome_name(&outcome), "invocation not run");
                return Ok(*outcome);
            }
        };
        let facts = invocation_facts(&session, who, entry, input, input_digest);
        if !logged {
            self.audit.append(facts.started(
                invocation_id.as_str(),
                approval.as_ref().map(EscalationId::as_str),
            ))?;
        }
        let manifest = entry.package.manifest();
        let feed = self.live.start(
            InvocationRecord {
                id: invocation_id.clone(),
                session: session_id.clone(),
                principal: who.principal.to_string(),
                action: manifest.label(),
                input_digest: input_digest.to_string(),
                approval: approval.clone(),
                started_ms: now,
                finished_ms: None,
                status: InvocationStatus::Running,
                invocation: None,
                reason: None,
            },
            watcher,
        );
        // Registered as running: from here a closure cancels it.
        drop(gate);
        // The grant: what the manifest declares. The scope allows the action
        // as a whole (privileged ones only with an approval, checked above).
        let grant = Grant::declared(manifest.capabilities.here());
        // Logged as started, its end is logged whatever happens: even a
        // panic in the runtime (a host call that could not start a thread,
        // say) ends it as not run, instead of leaving it running forever.
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            slot.invoke_observed(
                &entry.action,
                &grant,
                input,
                feed.clone(),
                feed.cancellation().clone(),
            )
        }))
        .unwrap_or_else(|panic| {
            let reason = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("no message");
            tracing::error!(%reason, "the runtime panicked while an action ran");
            Err(InvokeError::RuntimeFailed {
                action: manifest.label(),
                reason: format!("it panicked: {reason}"),
            })
        });
        let mut record = feed.record();
        record.finished_ms = Some(self.now());
        // Logged as started: its end is logged whatever happened.
        let answer = match ran {
            Ok(invocation) => {
                let logged = self
                    .audit
                    .append_all(facts.finished(invocation_id.as_str(), &invocation));
                tracing::info!(session = %session_id, action = %invocation.action, principal = %who.principal, outcome = invocation.outcome.code(), "invocation finished");
                record.status = InvocationStatus::Finished;
                record.invocation = Some(invocation.clone());
                logged.map_err(Refusal::from).map(|_| InvokeOutcome::Ran {
                    id: invocation_id.clone(),
                    approval,
                    invocation,
                })
            }
            Err(error) => {
                let ended = if matches!(error, InvokeError::RuntimeFailed { .. }) {
                    facts.runtime_failed(invocation_id.as_str(), &error.to_string())
                } else {
                    facts.not_run(invocation_id.as_str(), &error.to_string())
                };
                let logged = self.audit.append(ended);
                record.status = InvocationStatus::NotRun;
                record.reason = Some(error.to_string());
                logged.map_err(Refusal::from).and(Err(error.into()))
            }
        };
        // Kept for `show` and `follow` from now on: queued to be stored
        // before it stops being live.
        let record = Arc::new(record);
        self.recorder.record(record.clone());
        self.live.end(&feed, &record);
        answer
    }

    /// An invocation, running or finished, for those who may see its
    /// session: who ran what, and what it did (so far).
    pub fn invocation(
        &self,
        who: &Authenticated,
        id: &InvocationId,
    ) -> Result<InvocationRecord, Refusal> {
        let record = match (self.live.get(id), self.recorder.pending(id)) {
            (Some(feed), _) => feed.record(),
            (None, Some(pending)) => pending.as_ref().clone(),
            (None, None) => self
                .store
                .read(|tx| tx.invocation(id))
                .map_err(Refusal::from)
                .and_then(|found| {
                    found.ok_or_else(|| Refusal::NotFound {
                        what: "invocation",
                        id: id.to_string(),
                    })
                })
                .map_err(|refusal| {
                    self.refused_request(who, refusal, |r| {
                        r.invocation = Some(id.to_string());
                    })
                })?,
        };
        self.session(who, &record.session)?;
        Ok(record)
    }

    /// The invocations of a session (without their output), oldest first:
    /// the finished ones, then those running now.
    pub fn invocations(
        &self,
        who: &Authenticated,
        session: &SessionId,
    ) -> Result<Vec<InvocationRecord>, Refusal> {
        self.session(who, session)?;
        self.invocations_in(session)
    }

    /// The invocations of a session, for whoever was found to may see it
    /// ([`Endpoint::invocations`], [`Endpoint::consented_activity`]).
    pub(super) fn invocations_in(
        &self,
        session: &SessionId,
    ) -> Result<Vec<InvocationRecord>, Refusal> {
        // Stored, then queued to be stored, then running: an invocation
        // moves along these in that order, so it is listed once.
        let queued = self.recorder.pending_in(session);
        let mut records = self.store.read(|tx| tx.invocations_of(session))?;
        let mut seen: std::collections::HashSet<InvocationId> =
            records.iter().map(|r| r.id.clone()).collect();
        for record in queued {
            if seen.insert(record.id.clone()) {
                let mut listed = record.as_ref().clone();
                listed.invocation = None;
                records.push(listed);
            }
        }
        for record in self.live.running_in(session) {
            if seen.insert(record.id.clone()) {
                records.push(record);
            }
        }
        records.sort_by_key(|r| r.started_ms);
        Ok(records)
    }

    /// Follows an invocation for someone who may see its session: `watcher`
    /// is told everything from its start, then everything to come while it
    /// runs. For a finished invocation, what it did is replayed whole.
    pub fn follow(
        &self,
        who: &Authenticated,
        id: &InvocationId,
        watcher: Arc<dyn Watcher>,
    ) -> Result<(), Refusal> {
        if let Some(feed) = self.live.get(id) {
            self.session(who, &feed.record().session)?;
            feed.follow(watcher);
            return Ok(());
        }
        let record = self.invocation(who, id)?;
        live::replay(&record, watcher.as_ref());
        Ok(())
    }

    /// Decides an invocation in `tx`. With `apply`, commits what the decision
    /// changes, with its records; without, answers [`Decided::NeedsWrite`]
    /// when it would change anything. A denial is logged here, outside any
    /// transaction (it changes nothing).
    fn decide_invocation(
        &self,
        tx: &Tx<'_>,
        ask: Ask<'_>,
        entry: &CatalogEntry,
        apply: bool,
    ) -> Result<Decided, Refusal> {
        let Ask {
            who,
            mut session,
            input,
            input_digest,
            now,
        } = ask;
        let manifest = entry.package.manifest();
        let facts = ActionFacts {
            id: &manifest.id,
            version: &manifest.version,
            digest: entry.package.digest(),
            capabilities: manifest.capabilities.here().names(),
            revoked: self.revoked(entry),
        };
        // Activity as stored: what is written down (below) is kept fresh
        // whatever this process knows besides.
        let stored_activity = session.last_activity_ms;
        if self.refresh(&mut session, now).is_some() {
            return Ok(Decided::Closes);
        }
        let escalations = tx.escalations_of(&session.id)?;
        let decision = decide(
            &session,
            &who.principal,
            &facts,
            input_digest,
            &escalations,
            &self.policy,
            now,
        );
        let touch = now.saturating_sub(stored_activity) >= activity_resolution_ms(&session);
        match decision {
            Decision::Deny(denial) => {
                self.audit.append(
                    invocation_facts(&session, who, entry, input, input_digest).denied(&denial),
                )?;
                Ok(Decided::NotRun(Box::new(InvokeOutcome::Denied { denial })))
            }
            Decision::Allow { approval: None, .. } if !touch => Ok(Decided::Run {
                approval: None,
                invocation: self.fresh_id(InvocationId::random_from)?,
                logged: false,
                session: Box::new(session),
            }),
            _ if !apply => Ok(Decided::NeedsWrite),
            Decision::Escalate {
                key,
                existing,
                note,
            } => {
                let escalation = match existing
                    .and_then(|id| escalations.into_iter().find(|e| e.id == id))
                {
                    Some(pending) => pending,
                    None => {
                        let id = self.fresh_id(EscalationId::random_from)?;
                        let escalation =
                            Escalation::raise(id, key, &who.principal, input, &self.policy, now);
                        tx.put_escalation(&escalation)?;
                        escalation
                    }
                };
                let record = invocation_facts(&session, who, entry, input, input_digest)
                    .escalated(&escalation, note.as_deref());
                session.touch(now);
                self.persist(tx, &session, now, false, vec![record], who.source())?;
                Ok(Decided::NotRun(Box::new(InvokeOutcome::Escalated {
                    escalation,
                    note,
                })))
            }
            Decision::Allow { approval, .. } => {
                if let Some(id) = &approval {
                    let mut used =
                        escalations
                            .into_iter()
                            .find(|e| &e.id == id)
                            .ok_or_else(|| Refusal::NotFound {
                                what: "escalation",
                                id: id.to_string(),
                            })?;
                    used.consume(now);
                    tx.put_escalation(&used)?;
                }
                let invocation = self.fresh_id(InvocationId::random_from)?;
                let started = invocation_facts(&session, who, entry, input, input_digest).started(
                    invocation.as_str(),
                    approval.as_ref().map(EscalationId::as_str),
                );
                session.touch(now);
                self.persist(tx, &session, now, false, vec![started], who.source())?;

                Ok(Decided::Run {
                    approval,
                    invocation,
                    logged: true,
                    session: Box::new(session),
                })
            }
        }
    }

    /// The catalog entry for `action` in the version the session's scope
    /// allows (the newest such), or its newest version.
    fn find_action(&self, session: &Session, action: &ActionId) -> Result<&CatalogEntry, Refusal> {
        let rules: Vec<_> = session
            .request
            .scope
            .allowed
            .iter()
            .filter(|r| &r.id == action)
            .collect();
        self.catalog
            .find(action, |version| {
                rules.iter().any(|r| r.versions.matches(version))
            })
            .ok_or_else(|| Refusal::NotFound {
                what: "action",
                id: action.to_string(),
            })
    }
}

/// What an invocation asks, passed through its decision.
struct Ask<'a> {
    who: &'a Authenticated,
    session: Session,
    input: &'a str,
    input_digest: Sha256Digest,
    now: UnixMillis,
}

/// The facts every record of an invocation carries.
fn invocation_facts<'a>(
    session: &'a Session,
    who: &'a Authenticated,
    entry: &'a CatalogEntry,
    input: &str,
    input_digest: Sha256Digest,
) -> events::InvocationFacts<'a> {
    let manifest = entry.package.manifest();
    events::InvocationFacts {
        session,
        principal: &who.principal,
        action: manifest.id.as_str(),
        version: manifest.version.to_string(),
        digest: entry.package.digest().to_string(),
        input_digest: input_digest.to_string(),
        raw_input: manifest
            .input
            .audit_raw
            .then(|| serde_json::from_str(input).unwrap_or(serde_json::Value::Null)),
        source: who.source(),
    }
}

fn outcome_name(outcome: &InvokeOutcome) -> &'static str {
    match outcome {
        InvokeOutcome::Ran { .. } => "ran",
        InvokeOutcome::Denied { denial } => denial.code(),
        InvokeOutcome::Escalated { .. } => "escalated",
    }
}
