//! Sessions: request, approval, consent, closure (by hand, idle, expiry),
//! and who may see one.

use crate::audit::{Kind, Record};
use crate::digest::Sha256Digest;
use crate::identity::PrincipalId;
use crate::outcome::InvocationRecord;
use crate::policy::{Access, Policy};
use crate::session::{
    ClosedBy, ClosureReport, ConsentingUser, Session, SessionId, SessionRefusal, SessionRequest,
    SessionState, UnixMillis,
};
use crate::source::RequestSource;
use crate::store::Tx;
use std::sync::PoisonError;

use super::{Authenticated, Endpoint, INVOCATION_RETENTION_MS, Refusal, events};

impl Endpoint {
    /// Requests a session.
    pub fn request_session(
        &self,
        who: &Authenticated,
        request: SessionRequest,
    ) -> Result<Session, Refusal> {
        let now = self.now();
        let ticket = request.ticket.to_string();
        let id = match self.fresh_id(SessionId::random_from) {
            Ok(id) => id,
            Err(refusal) => {
                return Err(self.refused_request(who, refusal, |r| r.ticket = Some(ticket)));
            }
        };
        let session =
            match Session::request(id, &who.principal, request, &self.id, &self.policy, now) {
                Ok(session) => session,
                Err(refusal) => {
                    let refusal = Refusal::from(refusal);
                    let mut record = events::refused(
                        Kind::SessionRefused,
                        Some(&who.principal),
                        refusal.code(),
                        refusal.to_string(),
                    );
                    record.ticket = Some(ticket);
                    return Err(self.refused(who.source(), record, refusal));
                }
            };
        self.store.write(|tx| {
            tx.put_session(&session)?;
            self.log(who.source(), vec![events::session_requested(&session)])?;
            Ok::<_, Refusal>(())
        })?;
        tracing::info!(session = %session.id, requester = %who.principal, ticket = %session.request.ticket, "session requested");
        Ok(session)
    }

    /// Approves a session.
    pub fn approve_session(&self, who: &Authenticated, id: &SessionId) -> Result<Session, Refusal> {
        self.change_session(who, id, |session, policy, now| {
            session.approve(&who.principal, policy, now)?;
            Ok(vec![events::session_approved(session, &who.principal)])
        })
    }

    /// Approves a session if it holds the request whose digest the approver
    /// was shown (`shown`); else refuses it (`approval-mismatch`, logged).
    pub fn approve_session_as_shown(
        &self,
        who: &Authenticated,
        id: &SessionId,
        shown: &Sha256Digest,
    ) -> Result<Session, Refusal> {
        self.change_session(who, id, |session, policy, now| {
            let held = session.request.digest();
            if held != *shown {
                return Err(SessionRefusal::ApprovalMismatch {
                    id: session.id.clone(),
                    seen: *shown,
                    held,
                });
            }
            session.approve(&who.principal, policy, now)?;
            Ok(vec![events::session_approved(session, &who.principal)])
        })
    }

    /// The session `user` (the end user, at the endpoint) is asked to
    /// consent to, as it stands: shown to them before they consent. Refused
    /// as consent would be (a system account, a session not waiting for
    /// consent); nothing changes, and nothing is logged.
    pub fn consent_preview(
        &self,
        user: &ConsentingUser,
        id: &SessionId,
    ) -> Result<Session, Refusal> {
        let now = self.now();
        let mut session = self.store.read(|tx| load_session(tx, id))?;
        self.refresh(&mut session, now);
        session.may_consent(user, &self.policy)?;
        Ok(session)
    }

    /// The end user's consent at the endpoint. `user` comes from the operating
    /// system ([`ConsentingUser::from_peer`]), never from a request.
    pub fn consent(&self, user: ConsentingUser, id: &SessionId) -> Result<Session, Refusal> {
        let source = RequestSource::local(user.uid, user.name.clone()).to_string();
        self.change_session_as(None, Some(&source), id, |session, policy, now| {
            session.consent(user, policy, now)?;
            Ok(vec![events::session_consented(session)])
        })
    }

    /// What ran in a session, for the end user who consented to it at the
    /// endpoint (`user` from the operating system, as for
    /// [`Endpoint::consent`]): the session and its invocations, without
    /// their output. Anyone else — another local user, or any user of a
    /// session that took no consent — is told there is no such session,
    /// and that refusal is logged (counted past a rate per user, as for
    /// requests nobody signed).
    pub fn consented_activity(
        &self,
        user: &ConsentingUser,
        id: &SessionId,
    ) -> Result<(Session, Vec<InvocationRecord>), Refusal> {
        let source = RequestSource::local(user.uid, user.name.clone()).to_string();
        let now = self.now();
        let session = self
            .store
            .read(|tx| load_session(tx, id))
            .and_then(|mut session| {
                let consented = session
                    .consent
                    .as_ref()
                    .is_some_and(|(by, _)| by.uid == user.uid);
                if !consented {
                    return Err(Refusal::NotFound {
                        what: "session",
                        id: id.to_string(),
                    });
                }
                self.refresh(&mut session, now);
                Ok(session)
            })
            .map_err(|refusal| {
                // Anyone at the endpoint may ask, with no key: logged one by
                // one up to a rate per user, counted beyond it.
                let mut record = events::refused(
                    Kind::RequestRefused,
                    None,
                    refusal.code(),
                    refusal.to_string(),
                );
                record.session = Some(id.to_string());
                self.refused_unauthenticated(Some(&source), record, refusal)
            })?;
        let invocations = self.invocations_in(id)?;
        Ok((session, invocations))
    }

    /// Closes a session with its write-up; voids its pending escalations. A
    /// session that closed by itself takes its write-up this way.
    pub fn close_session(
        &self,
        who: &Authenticated,
        id: &SessionId,
        report: ClosureReport,
    ) -> Result<Session, Refusal> {
        self.change_session(who, id, |session, policy, now| {
            let closed_by_itself = matches!(
                session.closure.as_ref().map(|c| &c.by),
                Some(ClosedBy::IdleTimeout | ClosedBy::Expiry)
            );
            session.close(&who.principal, report, policy, now)?;
            // A closure by hand is logged as the session closes; a write-up
            // added afterwards is its own record.
            Ok(if closed_by_itself {
                vec![events::session_reported(session, &who.principal)]
            } else {
                Vec::new()
            })
        })
    }

    pub(super) fn change_session(
        &self,
        who: &Authenticated,
        id: &SessionId,
        change: impl FnOnce(&mut Session, &Policy, UnixMillis) -> Result<Vec<Record>, SessionRefusal>,
    ) -> Result<Session, Refusal> {
        self.change_session_as(Some(&who.principal), who.source(), id, change)
    }

    /// Applies `change` to a fresh copy of the session and stores the result
    /// with its records in one transaction. An expiry or idle timeout found on
    /// the way is stored and logged even when the change is refused; the
    /// refusal is logged too.
    pub(super) fn change_session_as(
        &self,
        who: Option<&PrincipalId>,
        source: Option<&str>,
        id: &SessionId,
        change: impl FnOnce(&mut Session, &Policy, UnixMillis) -> Result<Vec<Record>, SessionRefusal>,
    ) -> Result<Session, Refusal> {
        // The change may close the session (by hand, or because it expired
        // or idled meanwhile): no invocation is between its decision and its
        // "started" record while it does (see `Endpoint::invoke`).
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        type Changed = Result<Session, (SessionRefusal, Session)>;
        let written = self.store.write(|tx| -> Result<Changed, Refusal> {
            let mut session = load_session(tx, id)?;
            let closed_by_itself = self.refresh(&mut session, now).is_some();
            let was_closed = session.state == SessionState::Closed && !closed_by_itself;
            match change(&mut session, &self.policy, now) {
                Ok(records) => {
                    let closed_now = !was_closed && session.state == SessionState::Closed;
                    self.persist(tx, &session, now, closed_now, records, source)?;
                    Ok(Ok(session))
                }
                Err(refusal) => {
                    if closed_by_itself {
                        self.persist(tx, &session, now, true, Vec::new(), source)?;
                    }
                    Ok(Err((refusal, session)))
                }
            }
        });
        let outcome = match written {
            Ok(outcome) => outcome,
            Err(refusal @ Refusal::NotFound { .. }) => {
                let mut record = events::refused(
                    Kind::ChangeRefused,
                    who,
                    refusal.code(),
                    refusal.to_string(),
                );
                record.session = Some(id.to_string());
                return Err(self.refused_change_by(who, source, record, refusal));
            }
            Err(refusal) => return Err(refusal),
        };
        outcome.map_err(|(refusal, session)| {
            let refusal = Refusal::from(refusal);
            let mut record = events::refused(
                Kind::ChangeRefused,
                who,
                refusal.code(),
                refusal.to_string(),
            );
            record.session = Some(session.id.to_string());
            record.ticket = Some(session.request.ticket.to_string());
            self.refused_change_by(who, source, record, refusal)
        })
    }

    /// Stores a session with `records`; when it closed now, also its closure
    /// record and the voiding of its unused escalations. Runs inside a write
    /// transaction: the records are appended before it commits. `source` is
    /// where the request that made the change came from (`None` for the
    /// endpoint's own sweep).
    pub(super) fn persist(
        &self,
        tx: &Tx<'_>,
        session: &Session,
        now: UnixMillis,
        closed_now: bool,
        mut records: Vec<Record>,
        source: Option<&str>,
    ) -> Result<(), Refusal> {
        tx.put_session(session)?;
        if closed_now {
            // Closing revokes every grant, those of invocations running now
            // included. (Should the transaction then fail, they are
            // cancelled in a session that stays open: the safe side.)
            self.live.cancel_session(&session.id, "its session closed");
            self.live.forget_session(&session.id);
            records.push(events::session_closed(session));
            for mut escalation in tx.escalations_of(&session.id)? {
                if escalation.void(now) {
                    tx.put_escalation(&escalation)?;
                    records.push(events::escalation_decided(
                        Kind::EscalationVoided,
                        session,
                        &escalation,
                        None,
                        Some("its session closed".to_string()),
                    ));
                }
            }
        }
        self.log(source, records)?;
        Ok(())
    }

    /// A session, for someone involved in it, an approver or an auditor.
    /// A refusal (no such session, or not one `who` may see) is logged.
    pub fn session(&self, who: &Authenticated, id: &SessionId) -> Result<Session, Refusal> {
        self.store
            .read(|tx| load_session(tx, id))
            .and_then(|session| {
                self.check_may_view(who, &session)?;
                Ok(session)
            })
            .map_err(|refusal| {
                self.refused_request(who, refusal, |r| {
                    r.session = Some(id.to_string());
                })
            })
    }

    /// The sessions `who` may see (all of them for approvers and auditors),
    /// newest first.
    pub fn sessions(&self, who: &Authenticated, open_only: bool) -> Result<Vec<Session>, Refusal> {
        let sessions = self
            .store
            .read(|tx| tx.sessions(open_only).map_err(Refusal::from))?;
        Ok(sessions
            .into_iter()
            .filter(|s| self.check_may_view(who, s).is_ok())
            .collect())
    }

    /// Whether `who` may see `session` (the policy's `view-session`: the
    /// people in it, and those whose roles oversee sessions).
    pub(super) fn check_may_view(
        &self,
        who: &Authenticated,
        session: &Session,
    ) -> Result<(), Refusal> {
        // Refused as if it did not exist: who may not see a session may not
        // learn that it does either.
        self.policy
            .authorize(&who.principal, &Access::ViewSession(session.facts()))
            .map_err(|_| Refusal::NotFound {
                what: "session",
                id: session.id.to_string(),
            })
    }

    /// Refreshes `session` to `now` ([`Session::refresh`]), counting as
    /// activity what only this process knows: an invocation running in it
    /// now, or the end of the last one. A session is not taken for idle
    /// while an action runs in it, nor right after a long one ended.
    pub(super) fn refresh(&self, session: &mut Session, now: UnixMillis) -> Option<ClosedBy> {
        if session.state == SessionState::Active
            && let Some(at) = self.live.last_activity(&session.id, now)
        {
            session.touch(at);
        }
        session.refresh(now)
    }

    /// Stores the closure of session `id` if it has expired or been idle for
    /// its timeout, holding the gate: no invocation is then between its
    /// decision and its "started" record, so none starts after the closure
    /// and every one running is cancelled by it.
    pub(super) fn settle_closure(
        &self,
        id: &SessionId,
        source: Option<&str>,
    ) -> Result<(), Refusal> {
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        let now = self.now();
        self.store.write(|tx| {
            let mut session = load_session(tx, id)?;
            if self.refresh(&mut session, now).is_some() {
                self.persist(tx, &session, now, true, Vec::new(), source)?;
            }
            Ok::<_, Refusal>(())
        })
    }

    /// Closes every session that has expired or been idle for its timeout,
    /// voiding its escalations, and forgets finished invocations past their
    /// retention. Returns
    /// the sessions it closed. A service calls this periodically.
    pub fn sweep(&self) -> Result<Vec<SessionId>, Refusal> {
        let now = self.now();
        let _gate = self.gate.write().unwrap_or_else(PoisonError::into_inner);
        self.store.write(|tx| {
            tx.purge_invocations(now.saturating_sub(INVOCATION_RETENTION_MS))?;
            let mut closed = Vec::new();
            for mut session in tx.sessions(true)? {
                if let Some(by) = self.refresh(&mut session, now) {
                    self.persist(tx, &session, now, true, Vec::new(), None)?;
                    tracing::info!(session = %session.id, ?by, "session closed by itself");
                    closed.push(session.id);
                }
            }
            self.log_expired_escalations(tx, now)?;
            Ok(closed)
        })
    }
}

/// The session `id`, or not-found.
pub(super) fn load_session(tx: &Tx<'_>, id: &SessionId) -> Result<Session, Refusal> {
    tx.session(id)?.ok_or_else(|| Refusal::NotFound {
        what: "session",
        id: id.to_string(),
    })
}
