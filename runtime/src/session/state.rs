//! A session and its transitions: request, approval, consent, activity,
//! closure, idle timeout and expiry. Pure: each transition takes the time and
//! the policy, checks who may make it, and changes the session or says why
//! not.

use super::{ConsentingUser, SessionId, SessionRequest, UnixMillis};
use crate::digest::Sha256Digest;
use crate::identity::PrincipalId;
use crate::policy::{Access, Policy, PolicyRefusal, SessionFacts};
use crate::text::{check_readable, check_readable_lines};
use serde::{Deserialize, Serialize};
use std::fmt;

const MINUTE_MS: i64 = 60_000;

/// Where a session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SessionState {
    /// Waiting for approval.
    Requested,
    /// Approved; an attended session waits for the end user's consent.
    Approved,
    /// Actions may be invoked.
    Active,
    /// Over; nothing may run.
    Closed,
}

impl SessionState {
    /// The kebab-case name.
    pub fn name(self) -> &'static str {
        match self {
            SessionState::Requested => "requested",
            SessionState::Approved => "approved",
            SessionState::Active => "active",
            SessionState::Closed => "closed",
        }
    }
}

impl fmt::Display for SessionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a session ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ClosedBy {
    /// Closed by a person.
    Principal {
        /// Who.
        id: PrincipalId,
    },
    /// Nothing happened for its idle timeout.
    IdleTimeout,
    /// It reached its expiry.
    Expiry,
}

/// What the closer records about the session.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClosureReport {
    /// Whether the problem was resolved.
    pub resolved: Option<bool>,
    /// What was done.
    pub summary: Option<String>,
    /// What remains to be done.
    pub follow_up: Option<String>,
}

/// A session's closure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    /// When.
    pub at_ms: UnixMillis,
    /// By whom or what.
    pub by: ClosedBy,
    /// The write-up (added later when closed by idle or expiry).
    pub report: ClosureReport,
}

/// A session and everything that happened to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Its id.
    pub id: SessionId,
    /// Who requested it.
    pub requester: PrincipalId,
    /// What was requested.
    pub request: SessionRequest,
    /// Where it is in its life.
    pub state: SessionState,
    /// When it was requested.
    pub requested_ms: UnixMillis,
    /// When it closes by itself at the latest.
    pub expires_ms: UnixMillis,
    /// Who approved it, and when.
    pub approved: Option<(PrincipalId, UnixMillis)>,
    /// The end user's consent, for attended sessions.
    pub consent: Option<(ConsentingUser, UnixMillis)>,
    /// When it became active.
    pub activated_ms: Option<UnixMillis>,
    /// The last request in it, for the idle timeout.
    pub last_activity_ms: UnixMillis,
    /// How it ended.
    pub closure: Option<Closure>,
}

/// Why a session transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionRefusal {
    /// The request is malformed or outside the policy's limits.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The category does not justify remote access.
    #[error(
        "category `{category}` does not justify remote access under this endpoint's policy (allowed: {allowed})"
    )]
    Category {
        /// The category asked.
        category: String,
        /// The allowed ones.
        allowed: String,
    },
    /// The request is for another endpoint.
    #[error("the request is for endpoint `{asked}`, but this is `{this}`")]
    WrongEndpoint {
        /// The endpoint named.
        asked: String,
        /// This endpoint.
        this: String,
    },
    /// The policy says no.
    #[error(transparent)]
    Policy(#[from] PolicyRefusal),
    /// The local user may not consent: a system account, not a person's.
    #[error(
        "{} (uid {}) may not consent: consent comes from the end user's own account (uid {min_uid} or above under this endpoint's policy)", user.name, user.uid
    )]
    ConsentNotAllowed {
        /// Who tried.
        user: ConsentingUser,
        /// The lowest uid that may.
        min_uid: u32,
    },
    /// An approval of another request than the session holds: the approver
    /// was shown something else.
    #[error(
        "the approval is for another request than session {id} holds: what the approver was shown (request sha256 {seen}) is not what would be approved (sha256 {held}); show the session again and approve what it holds"
    )]
    ApprovalMismatch {
        /// The session.
        id: SessionId,
        /// The digest the approval carries.
        seen: Sha256Digest,
        /// The digest of the request the session holds.
        held: Sha256Digest,
    },
    /// The transition does not apply in this state.
    #[error("session {id} is {state}: {what}")]
    State {
        /// The session.
        id: SessionId,
        /// Its state.
        state: SessionState,
        /// What cannot be done, and why.
        what: String,
    },
}

impl Session {
    /// A new session requested by `requester`, checked against `policy` for
    /// endpoint `endpoint`.
    pub fn request(
        id: SessionId,
        requester: &PrincipalId,
        request: SessionRequest,
        endpoint: &str,
        policy: &Policy,
        now: UnixMillis,
    ) -> Result<Session, SessionRefusal> {
        if request.endpoint != endpoint {
            return Err(SessionRefusal::WrongEndpoint {
                asked: request.endpoint,
                this: endpoint.to_string(),
            });
        }
        let problem = request.problem.trim();
        if problem.is_empty() || problem.chars().count() > 2000 {
            return Err(SessionRefusal::Invalid(
                "state the problem in 1 to 2000 characters".to_string(),
            ));
        }
        // The text as stored, not only what trimming leaves.
        check_readable("the problem", &request.problem, 2000).map_err(SessionRefusal::Invalid)?;
        check_readable("the category", &request.category, 100).map_err(SessionRefusal::Invalid)?;
        if !policy.category_allowed(&request.category) {
            return Err(SessionRefusal::Category {
                category: request.category,
                allowed: policy.categories().collect::<Vec<_>>().join(", "),
            });
        }
        if policy.principal(&request.technician).is_none() {
            return Err(SessionRefusal::Invalid(format!(
                "technician `{}` is not a principal of this endpoint's policy",
                request.technician
            )));
        }
        let settings = policy.settings();
        if request.duration_minutes == 0 || request.duration_minutes > settings.max_session_minutes
        {
            return Err(SessionRefusal::Invalid(format!(
                "duration_minutes must be between 1 and {}",
                settings.max_session_minutes
            )));
        }
        if request.idle_minutes == 0 || request.idle_minutes > settings.max_idle_minutes {
            return Err(SessionRefusal::Invalid(format!(
                "idle_minutes must be between 1 and {}",
                settings.max_idle_minutes
            )));
        }
        if request.scope.allowed.is_empty() {
            return Err(SessionRefusal::Invalid(
                "the scope allows no action: name at least one in `allowed`".to_string(),
            ));
        }
        policy.authorize(
            requester,
            &Access::RequestSession {
                endpoint,
                category: &request.category,
                ticket: request.ticket.as_str(),
                technician: &request.technician,
                privileged: request.scope.privileged,
            },
        )?;
        Ok(Session {
            id,
            requester: requester.clone(),
            expires_ms: now.saturating_add(i64::from(request.duration_minutes) * MINUTE_MS),
            request,
            state: SessionState::Requested,
            requested_ms: now,
            approved: None,
            consent: None,
            activated_ms: None,
            last_activity_ms: now,
            closure: None,
        })
    }

    /// The session as the policy sees it.
    pub fn facts(&self) -> SessionFacts<'_> {
        SessionFacts {
            id: self.id.as_str(),
            ticket: self.request.ticket.as_str(),
            category: &self.request.category,
            endpoint: &self.request.endpoint,
            requester: &self.requester,
            technician: &self.request.technician,
            privileged: self.request.scope.privileged,
        }
    }

    fn refuse(&self, what: &str) -> SessionRefusal {
        let what = match &self.closure {
            Some(Closure {
                by: ClosedBy::IdleTimeout,
                ..
            }) => format!(
                "{what} (it closed after {} idle minute{})",
                self.request.idle_minutes,
                if self.request.idle_minutes == 1 {
                    ""
                } else {
                    "s"
                }
            ),
            Some(Closure {
                by: ClosedBy::Expiry,
                ..
            }) => format!("{what} (it expired)"),
            _ => what.to_string(),
        };
        SessionRefusal::State {
            id: self.id.clone(),
            state: self.state,
            what,
        }
    }

    /// Closes the session by itself if it has expired or, when active, been
    /// idle for its timeout. Returns how it closed, if it did now.
    pub fn refresh(&mut self, now: UnixMillis) -> Option<ClosedBy> {
        if self.state == SessionState::Closed {
            return None;
        }
        let by = if now >= self.expires_ms {
            ClosedBy::Expiry
        } else if self.state == SessionState::Active
            && now.saturating_sub(self.last_activity_ms)
                >= i64::from(self.request.idle_minutes) * MINUTE_MS
        {
            ClosedBy::IdleTimeout
        } else {
            return None;
        };
        self.state = SessionState::Closed;
        self.closure = Some(Closure {
            at_ms: now,
            by: by.clone(),
            report: ClosureReport::default(),
        });
        Some(by)
    }

    /// Approval by `approver`: a principal whose role may approve sessions,
    /// who is neither the requester nor the technician.
    pub fn approve(
        &mut self,
        approver: &PrincipalId,
        policy: &Policy,
        now: UnixMillis,
    ) -> Result<(), SessionRefusal> {
        self.refresh(now);
        if self.state != SessionState::Requested {
            return Err(self.refuse("only a requested session can be approved"));
        }
        policy.authorize(approver, &Access::ApproveSession(self.facts()))?;
        self.state = SessionState::Approved;
        self.approved = Some((approver.clone(), now));
        if !self.request.attended {
            self.activate(now);
        }
        Ok(())
    }

    /// The end user's consent, which activates an approved attended
    /// session. The user must be a person's account (a user id from the
    /// policy's `consent-min-uid` up), not a system account.
    pub fn consent(
        &mut self,
        user: ConsentingUser,
        policy: &Policy,
        now: UnixMillis,
    ) -> Result<(), SessionRefusal> {
        self.refresh(now);
        self.may_consent(&user, policy)?;
        self.consent = Some((user, now));
        self.activate(now);
        Ok(())
    }

    /// Whether `user` may consent to this session as it is now: what the
    /// end user is shown before they are asked.
    pub fn may_consent(
        &self,
        user: &ConsentingUser,
        policy: &Policy,
    ) -> Result<(), SessionRefusal> {
        let min_uid = policy.settings().consent_min_uid;
        if user.uid < min_uid {
            return Err(SessionRefusal::ConsentNotAllowed {
                user: user.clone(),
                min_uid,
            });
        }
        if !self.request.attended {
            return Err(self.refuse("it is unattended and needs no consent"));
        }
        if self.state != SessionState::Approved {
            return Err(self.refuse("consent is given to an approved session that waits for it"));
        }
        Ok(())
    }

    fn activate(&mut self, now: UnixMillis) {
        self.state = SessionState::Active;
        self.activated_ms = Some(now);
        self.last_activity_ms = now;
    }

    /// Whether actions may run now (after [`Session::refresh`]).
    pub fn check_active(&self) -> Result<(), SessionRefusal> {
        match self.state {
            SessionState::Active => Ok(()),
            SessionState::Requested => Err(self.refuse("nothing runs before it is approved")),
            SessionState::Approved => {
                Err(self.refuse("nothing runs before the end user consents at the endpoint"))
            }
            SessionState::Closed => Err(self.refuse("nothing runs in a closed session")),
        }
    }

    /// Records activity, for the idle timeout.
    pub fn touch(&mut self, now: UnixMillis) {
        self.last_activity_ms = self.last_activity_ms.max(now);
    }

    /// Closes the session by hand, with the write-up, which must at least
    /// say whether the problem was resolved. The technician, the requester
    /// or an administrator may close it; a session that closed by itself
    /// (idle, expiry) takes its write-up this way too, once.
    pub fn close(
        &mut self,
        closer: &PrincipalId,
        report: ClosureReport,
        policy: &Policy,
        now: UnixMillis,
    ) -> Result<(), SessionRefusal> {
        self.refresh(now);
        let involved = closer == &self.requester || closer == &self.request.technician;
        if !involved {
            policy.authorize(
                closer,
                &Access::Administer {
                    endpoint: &self.request.endpoint,
                },
            )?;
        }
        for (what, text) in [
            ("the summary", &report.summary),
            ("the follow-up", &report.follow_up),
        ] {
            if let Some(text) = text {
                check_readable_lines(what, text, 4000).map_err(SessionRefusal::Invalid)?;
            }
        }
        match &mut self.closure {
            Some(Closure {
                by: ClosedBy::Principal { .. },
                ..
            }) => Err(self.refuse("it was already closed by hand")),
            Some(closure) if closure.report != ClosureReport::default() => {
                Err(self.refuse("its write-up was already recorded"))
            }
            _ if report.resolved.is_none() => Err(SessionRefusal::Invalid(
                "say whether the problem was resolved: a closure records `resolved` (true or false), a summary and the follow-up (salve session close --resolved | --unresolved --summary …)".to_string(),
            )),
            Some(closure) => {
                closure.report = report;
                Ok(())
            }
            None => {
                self.state = SessionState::Closed;
                self.closure = Some(Closure {
                    at_ms: now,
                    by: ClosedBy::Principal { id: closer.clone() },
                    report,
                });
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    //! Session transitions alone: no wasmtime, no database.

    use super::*;
    use crate::identity::KeyPair;
    use crate::session::Scope;
    use std::collections::BTreeSet;
    use std::path::Path;

    const NOW: UnixMillis = 5_000_000;

    fn resolved() -> ClosureReport {
        ClosureReport {
            resolved: Some(true),
            ..ClosureReport::default()
        }
    }

    fn policy() -> Policy {
        let mut text = String::from(
            "schema = 1\n[settings]\nmax-session-minutes = 120\nmax-idle-minutes = 30\n[categories]\nincident = \"A fault.\"\n\
             [roles.tech]\npermissions = [\"request-sessions\", \"invoke-standard\"]\nactions = [\"*\"]\n\
             [roles.approver]\npermissions = [\"approve-sessions\"]\n[roles.admin]\npermissions = [\"administer\"]\n",
        );
        for (id, role) in [
            ("tom", "tech"),
            ("bob", "approver"),
            ("ada", "admin"),
            ("eve", "tech"),
        ] {
            let key = KeyPair::generate().unwrap().public();
            text.push_str(&format!(
                "[[principals]]\nid = \"{id}\"\nname = \"{id}\"\nroles = [\"{role}\"]\npublic-key = \"{key}\"\n"
            ));
        }
        Policy::parse(&text, Path::new("policy.toml")).unwrap()
    }

    fn id(text: &str) -> PrincipalId {
        text.parse().unwrap()
    }

    fn ask() -> SessionRequest {
        SessionRequest {
            ticket: "INC1".parse().unwrap(),
            problem: "Broken.".to_string(),
            category: "incident".to_string(),
            endpoint: "pc".to_string(),
            technician: id("tom"),
            scope: Scope {
                allowed: vec!["echo".parse().unwrap()],
                prohibited: BTreeSet::new(),
                privileged: false,
            },
            attended: true,
            idle_minutes: 10,
            duration_minutes: 60,
        }
    }

    fn open(policy: &Policy, request: SessionRequest) -> Result<Session, SessionRefusal> {
        Session::request(
            SessionId::random().unwrap(),
            &id("tom"),
            request,
            "pc",
            policy,
            NOW,
        )
    }

    #[test]
    fn requests_are_checked_against_the_policy_limits() {
        let policy = policy();
        let refused = |change: fn(&mut SessionRequest)| {
            let mut request = ask();
            change(&mut request);
            open(&policy, request).unwrap_err().to_string()
        };
        assert_eq!(
            refused(|r| r.endpoint = "other".into()),
            "the request is for endpoint `other`, but this is `pc`"
        );
        assert_eq!(
            refused(|r| r.duration_minutes = 121),
            "invalid request: duration_minutes must be between 1 and 120"
        );
        assert_eq!(
            refused(|r| r.idle_minutes = 0),
            "invalid request: idle_minutes must be between 1 and 30"
        );
        assert_eq!(
            refused(|r| r.problem = "  ".into()),
            "invalid request: state the problem in 1 to 2000 characters"
        );
        assert_eq!(
            refused(|r| r.problem = "Printer\u{1b}[31m\nFAKE: approved by ceo".into()),
            "invalid request: the problem holds U+001B at character 8: no control characters (newlines, tabs, escape sequences) or bidirectional overrides"
        );
        assert!(
            refused(|r| r.category = "incident\u{202e}".into())
                .starts_with("invalid request: the category holds U+202E")
        );
        assert_eq!(
            refused(|r| r.scope.allowed.clear()),
            "invalid request: the scope allows no action: name at least one in `allowed`"
        );
        assert_eq!(
            refused(|r| r.technician = "zed".parse().unwrap()),
            "invalid request: technician `zed` is not a principal of this endpoint's policy"
        );
        assert!(
            refused(|r| r.category = "chat".into())
                .starts_with("category `chat` does not justify remote access")
        );
    }

    #[test]
    fn transitions_happen_once_and_in_order() {
        let policy = policy();
        let mut session = open(&policy, ask()).unwrap();
        let user = ConsentingUser {
            uid: 1000,
            name: "jane".into(),
        };
        assert!(
            session
                .consent(user.clone(), &policy, NOW)
                .unwrap_err()
                .to_string()
                .contains("consent is given to an approved session")
        );
        session.approve(&id("bob"), &policy, NOW).unwrap();
        assert_eq!(session.state, SessionState::Approved);
        assert!(
            session
                .approve(&id("bob"), &policy, NOW)
                .unwrap_err()
                .to_string()
                .contains("only a requested session can be approved")
        );
        // A system account (root here) may not consent: the end user does.
        let root = ConsentingUser {
            uid: 0,
            name: "root".into(),
        };
        assert_eq!(
            session
                .consent(root, &policy, NOW + 1)
                .unwrap_err()
                .to_string(),
            "root (uid 0) may not consent: consent comes from the end user's own account (uid 1000 or above under this endpoint's policy)"
        );
        assert_eq!(session.state, SessionState::Approved);
        session.consent(user.clone(), &policy, NOW + 1).unwrap();
        assert_eq!(
            (session.state, session.activated_ms),
            (SessionState::Active, Some(NOW + 1))
        );
        // Someone uninvolved, without `administer`, cannot close it; an admin can.
        let refusal = session
            .close(&id("eve"), ClosureReport::default(), &policy, NOW + 2)
            .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "eve may not administer this endpoint: their roles (tech) do not permit it"
        );
        // Not without saying whether the problem was resolved.
        let refusal = session
            .close(&id("ada"), ClosureReport::default(), &policy, NOW + 2)
            .unwrap_err();
        assert!(
            refusal
                .to_string()
                .contains("say whether the problem was resolved"),
            "{refusal}"
        );
        // Nor with a write-up that could rewrite what its reader's terminal shows.
        let forged = ClosureReport {
            summary: Some("done\r\u{1b}[2KApproved by the CISO".into()),
            ..resolved()
        };
        let refusal = session
            .close(&id("ada"), forged, &policy, NOW + 2)
            .unwrap_err();
        assert!(
            refusal
                .to_string()
                .starts_with("invalid request: the summary holds U+000D at character 5"),
            "{refusal}"
        );
        assert_eq!(session.state, SessionState::Active);
        session
            .close(&id("ada"), resolved(), &policy, NOW + 2)
            .unwrap();
        assert!(
            session
                .close(&id("tom"), ClosureReport::default(), &policy, NOW + 3)
                .unwrap_err()
                .to_string()
                .contains("already closed by hand")
        );
    }

    #[test]
    fn idle_counts_only_while_active_and_expiry_always() {
        let policy = policy();
        let mut session = open(&policy, ask()).unwrap();
        // Requested for longer than the idle timeout: not idle, it is not active.
        assert_eq!(session.refresh(NOW + 30 * 60_000), None);
        assert_eq!(session.refresh(NOW + 60 * 60_000), Some(ClosedBy::Expiry));
        let mut session = open(
            &policy,
            SessionRequest {
                attended: false,
                ..ask()
            },
        )
        .unwrap();
        session.approve(&id("bob"), &policy, NOW).unwrap();
        session.touch(NOW + 9 * 60_000);
        assert_eq!(session.refresh(NOW + 18 * 60_000), None);
        assert_eq!(
            session.refresh(NOW + 19 * 60_000),
            Some(ClosedBy::IdleTimeout)
        );
    }
}
