//! The endpoint on the fleet: it dials out to the NATS broker and answers
//! the same signed requests there as on its socket
//! (`salve.v1.ep.<endpoint>.req`, request/reply), each answer signed with the
//! endpoint's key and bound to the request it answers; `invoke` and
//! `follow-invocation` sent to `salve.v1.ep.<endpoint>.stream` are answered
//! as `/v1/stream` answers them, line by line, each line a numbered signed
//! frame. The broker carries; the endpoint decides, as over any other
//! transport.
//!
//! The connection is kept for as long as the service runs: it is retried
//! with jittered backoff, forever, and an outage of the broker stops
//! nothing already running here (requests in flight through it are
//! answered when it is back, or not at all; the audit log has every one the
//! endpoint answered). `/v1/health` says whether it is connected.

use super::api::{self, Api, Peer};
use super::config::FleetConfig;
use super::signed_stream::{self, FrameSink, Frames};
use anyhow::Context;
use futures::StreamExt;
use salve::api::v1::SignedReply;
use salve::digest::Sha256Digest;
use salve::fleet::{EndpointName, request_subject, stream_subject};
use salve::identity::KeyPair;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// The longest wait between two attempts to reach the broker.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Whether the endpoint is connected to its broker now.
#[derive(Debug, Default)]
pub struct FleetLink {
    connected: AtomicBool,
}

impl FleetLink {
    /// Whether it is connected.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }
}

/// How long to wait before the `attempt`th try: doubling from 100 ms up to
/// [`MAX_BACKOFF`], with up to half of it again at random, so that a fleet
/// does not come back to a restarted broker all at once.
fn backoff(attempt: usize) -> Duration {
    let base = Duration::from_millis(100)
        .saturating_mul(1 << attempt.min(9))
        .min(MAX_BACKOFF);
    let mut byte = [0u8; 1];
    let jitter = match getrandom::fill(&mut byte) {
        Ok(()) => base.mul_f64(f64::from(byte[0]) / 510.0),
        Err(_) => Duration::ZERO,
    };
    base + jitter
}

/// Connects to the broker (retrying in the background until it answers).
pub async fn connect(
    config: &FleetConfig,
    endpoint: &str,
    link: Arc<FleetLink>,
) -> anyhow::Result<async_nats::Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("salve endpoint {endpoint}"))
        // Answers to this endpoint (JetStream's acknowledgements) come to
        // inboxes of its own, which the broker may let only it read.
        .custom_inbox_prefix(format!("_INBOX_{endpoint}"))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .reconnect_delay_callback(backoff)
        .event_callback(move |event| {
            let link = link.clone();
            async move {
                match event {
                    async_nats::Event::Connected => {
                        link.connected.store(true, Ordering::Release);
                        tracing::info!("connected to the fleet's broker");
                    }
                    async_nats::Event::Disconnected => {
                        link.connected.store(false, Ordering::Release);
                        tracing::warn!("disconnected from the fleet's broker; reconnecting");
                    }
                    other => tracing::info!(event = %other, "fleet broker"),
                }
            }
        });
    match (&config.user, &config.password_file) {
        (Some(user), Some(file)) => {
            let password = std::fs::read_to_string(file).with_context(|| {
                format!("[fleet] password-file {} cannot be read", file.display())
            })?;
            options = options.user_and_password(
                user.clone(),
                password.trim_end_matches(['\n', '\r']).to_string(),
            );
        }
        (None, None) => {}
        _ => anyhow::bail!(
            "[fleet] user and password-file go together: the broker user this endpoint connects as, and the file holding its password"
        ),
    }
    if let Some(ca) = &config.ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    let servers: Vec<async_nats::ServerAddr> = config
        .servers
        .iter()
        .map(|s| {
            s.parse()
                .with_context(|| format!("[fleet] servers: `{s}` is not a NATS URL"))
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(
        !servers.is_empty(),
        "[fleet] servers is empty: name the broker, e.g. servers = [\"nats://broker.corp.example:4222\"]"
    );
    options
        .connect(servers)
        .await
        .context("cannot set up the connection to the fleet's broker")
}

/// Answers signed requests from the broker until `stop`.
pub async fn answer(
    api: Arc<Api>,
    key: Arc<KeyPair>,
    client: async_nats::Client,
    servers: String,
    max_in_flight: usize,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let name: EndpointName = api
        .endpoint
        .id()
        .parse()
        .map_err(|e: String| anyhow::anyhow!("this endpoint cannot be on the fleet: {e}"))?;
    let mut subscriptions = Vec::new();
    for (subject, streamed) in [
        (request_subject(&name), false),
        (stream_subject(&name), true),
    ] {
        let subscriber = client
            .subscribe(subject.clone())
            .await
            .with_context(|| format!("cannot take requests on {subject}"))?;
        tracing::info!(%subject, "answering requests from the fleet's broker");
        subscriptions.push(subscriber.map(move |message| (streamed, message)));
    }
    let mut requests = futures::stream::select_all(subscriptions);
    let peer = Peer::Broker(servers);
    let mut answering = tokio::task::JoinSet::new();
    // At most this many requests are read and answered at once; past it,
    // the next waits (and the broker holds, then drops, what this endpoint
    // cannot keep up with), so that a flood of messages cannot grow the
    // service's memory without end.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(max_in_flight));
    loop {
        let (streamed, message) = tokio::select! {
            message = requests.next() => match message {
                Some(message) => message,
                None => break,
            },
            _ = stop.changed() => break,
        };
        while answering.try_join_next().is_some() {}
        let Ok(slot) = in_flight.clone().acquire_owned().await else {
            break;
        };
        let (api, key, client, peer) = (api.clone(), key.clone(), client.clone(), peer.clone());
        answering.spawn(async move {
            let _slot = slot;
            let Some(reply_to) = message.reply else {
                tracing::warn!(
                    bytes = message.payload.len(),
                    "a message on the request subject with nowhere to answer: ignored"
                );
                return;
            };
            // An answer goes back to an inbox, never onto another fleet
            // subject (an endpoint's requests, say), wherever a sender
            // asked for it.
            if reply_to.starts_with("salve.") {
                tracing::warn!(%reply_to, "a request asking to be answered on a fleet subject: ignored");
                return;
            }
            if streamed {
                let frames = Frames::new(
                    key,
                    api.endpoint.id(),
                    Sha256Digest::of(&message.payload),
                    FrameSink::Broker { client, reply_to },
                );
                signed_stream::answer(&api, &peer, &message.payload, frames).await;
                return;
            }
            let request = Sha256Digest::of(&message.payload);
            let (status, reply) = api::answer_bytes(&api, &peer, &message.payload).await;
            let signed = match SignedReply::sign(&key, api.endpoint.id(), request, status, &reply) {
                Ok(signed) => signed,
                Err(error) => {
                    tracing::error!(%error, "cannot sign an answer");
                    return;
                }
            };
            let bytes = match serde_json::to_vec(&signed) {
                Ok(bytes) => bytes,
                Err(error) => {
                    tracing::error!(%error, "cannot write an answer");
                    return;
                }
            };
            if let Err(error) = crate::parts::publish(&client, reply_to, bytes).await {
                tracing::warn!(%error, "an answer could not be sent to the broker");
            }
        });
    }
    drop(requests);
    // Requests already taken are answered before the service stops.
    while answering.join_next().await.is_some() {}
    let _ = client.flush().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_ceiling_with_jitter() {
        assert!(backoff(0) >= Duration::from_millis(100));
        assert!(backoff(0) <= Duration::from_millis(150));
        for attempt in [20, 1000] {
            let wait = backoff(attempt);
            assert!(
                wait >= MAX_BACKOFF && wait <= MAX_BACKOFF.mul_f64(1.5),
                "{wait:?}"
            );
        }
    }
}
