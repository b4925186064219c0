//! Authentication: a signed request checked (known key, valid signature,
//! fresh, unseen nonce) before anything else, and who it established.

use crate::audit::Kind;
use crate::identity::{AuthError, PrincipalId, SignedRequest};
use crate::replay::ReplayRefusal;
use serde::de::DeserializeOwned;

use super::{Endpoint, Refusal, events};

/// A principal whose identity has been established: by a signed request
/// ([`Endpoint::authenticate`]) or by an embedder that authenticates people
/// itself ([`Authenticated::trusted`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub(super) principal: PrincipalId,
    pub(super) source: Option<String>,
}

impl Authenticated {
    /// Vouches for `principal`: the caller has established who they are by
    /// its own means. Everything they do is still checked against the policy.
    pub fn trusted(principal: PrincipalId) -> Authenticated {
        Authenticated {
            principal,
            source: None,
        }
    }

    /// Who.
    pub fn principal(&self) -> &PrincipalId {
        &self.principal
    }

    /// Where their requests come from, as the records of what they do say
    /// it (`source`): `ip:port`, or `local:uid=<n>(<name>)`.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The same principal, their requests coming from `source`.
    #[must_use]
    pub fn from_source(mut self, source: impl Into<String>) -> Authenticated {
        self.source = Some(source.into());
        self
    }
}

impl Endpoint {
    /// Opens a signed request: the signature must be by the key the policy
    /// registers for its principal, the timestamp within the policy's clock
    /// skew and after the endpoint started, and the nonce never seen before
    /// (see [`crate::replay`]). A refused request is logged.
    pub fn authenticate<T: DeserializeOwned>(
        &self,
        request: &SignedRequest,
    ) -> Result<(Authenticated, T), Refusal> {
        self.authenticate_from(request, None)
    }

    /// As [`Endpoint::authenticate`], for a request that came from `source`
    /// (`ip:port`, or `local:uid=<n>(<name>)`): every record of it, and of
    /// what the principal then does, says so.
    pub fn authenticate_from<T: DeserializeOwned>(
        &self,
        request: &SignedRequest,
        source: Option<&str>,
    ) -> Result<(Authenticated, T), Refusal> {
        let now = self.now();
        let skew = i64::try_from(self.policy.clock_skew().as_millis()).unwrap_or(i64::MAX);
        let opened = request.open::<T>(|p| self.policy.key_of(p), now, skew);
        let payload = match opened {
            Ok(payload) => payload,
            Err(error) => {
                let claimed = match &error {
                    AuthError::BadSignature(principal) => Some(principal.clone()),
                    AuthError::UnknownPrincipal(name) => name.parse().ok(),
                    _ => None,
                };
                let refusal = Refusal::from(error);
                let record = events::refused(
                    Kind::RequestRefused,
                    claimed.as_ref(),
                    refusal.code(),
                    refusal.to_string(),
                );
                return Err(self.refused_unauthenticated(source, record, refusal));
            }
        };
        if payload.endpoint != self.id {
            let refusal = Refusal::from(AuthError::WrongEndpoint {
                asked: payload.endpoint,
                this: self.id.clone(),
            });
            let record = events::refused(
                Kind::RequestRefused,
                Some(&payload.principal),
                refusal.code(),
                refusal.to_string(),
            );
            return Err(self.refused(source, record, refusal));
        }
        // A nonce only needs remembering while its request could still pass
        // the timestamp check.
        let remember_until = payload.timestamp_ms.saturating_add(skew);
        let accepted = self.replay.accept(
            &payload.principal,
            payload.nonce.as_str(),
            payload.timestamp_ms,
            remember_until,
            now,
            |watermark| {
                self.store
                    .raise_replay_watermark(watermark)
                    .map_err(|e| e.to_string())
            },
        );
        if let Err(refused) = accepted {
            let error = match refused {
                ReplayRefusal::Replayed => AuthError::Replayed(payload.nonce.as_str().to_string()),
                ReplayRefusal::BeforeRestart { floor_ms } => AuthError::SignedBeforeRestart {
                    timestamp_ms: payload.timestamp_ms,
                    floor_ms,
                },
                ReplayRefusal::Stopped => AuthError::Stopping,
                ReplayRefusal::Unavailable(reason) => AuthError::ReplayState(reason),
            };
            let refusal = Refusal::from(error);
            let record = events::refused(
                Kind::RequestRefused,
                Some(&payload.principal),
                refusal.code(),
                refusal.to_string(),
            );
            // A replayed capture needs no key: as unauthenticated.
            return Err(self.refused_unauthenticated(source, record, refusal));
        }
        Ok((
            Authenticated {
                principal: payload.principal,
                source: source.map(str::to_string),
            },
            payload.operation,
        ))
    }
}
