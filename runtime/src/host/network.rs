//! `network`: TCP connections to the exact `host:port` pairs the grant names.
//! Name resolution, connecting, sending and receiving are all bounded by the
//! call's timeout and the invocation's deadline.

use super::HostCtx;
use crate::bindings::salve::action::network::Host;
use crate::bindings::salve::action::types::HostError;
use crate::capability::{Capability, HostPort};
use crate::capability::{CapabilityClass, CapabilitySpec};
use crate::engine::{HostData, host_of};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// What `network` is: its name, class and link. Its checks are below.
pub(crate) const SPEC: CapabilitySpec = CapabilitySpec {
    name: "network",
    class: CapabilityClass::Privileged,
    summary: "open TCP connections to the named host:port pairs",
    link: |linker| {
        crate::bindings::salve::action::network::add_to_linker::<_, HostData>(linker, host_of)
    },
};

/// Most bytes one `exchange` returns, whatever the guest asks for: the host
/// allocates the buffer, so the guest must not choose its size freely.
pub const MAX_RESPONSE_BYTES: u32 = 4 << 20;

const CAPABILITY: Capability = Capability::Network;

impl HostCtx {
    /// The grant's check for `network`: the destination, normalized, must be
    /// one the grant names.
    fn granted_destination(
        &mut self,
        function: &str,
        host: &str,
        port: u16,
    ) -> Result<HostPort, HostError> {
        let target = format!("{host}:{port}");
        let destination = match HostPort::from_parts(host, port) {
            Ok(destination) => destination,
            Err(error) => return Err(self.deny(CAPABILITY, function, &target, error.to_string())),
        };
        let granted = self.grant.network.as_ref();
        if !granted.is_some_and(|g| g.hosts.contains(&destination)) {
            return Err(self.refuse_outside_grant(
                CAPABILITY,
                function,
                &target,
                format!("`{destination}` is not a destination granted to this action"),
            ));
        }
        Ok(destination)
    }
}

/// Resolves and connects within `timeout`; returns the stream and how long the
/// successful connect took.
fn connect(destination: &HostPort, timeout: Duration) -> Result<(TcpStream, Duration), HostError> {
    let end = Instant::now() + timeout;
    let addresses = resolve(destination, timeout)?;
    let mut last_error = None;
    for address in addresses {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        let started = Instant::now();
        match TcpStream::connect_timeout(&address, left) {
            Ok(stream) => return Ok((stream, started.elapsed())),
            Err(error) => last_error = Some(error),
        }
    }
    Err(match last_error {
        Some(error) if error.kind() == std::io::ErrorKind::TimedOut => {
            HostError::TimedOut(format!("connecting to {destination} timed out"))
        }
        Some(error) => HostError::Failed(format!("cannot connect to {destination}: {error}")),
        None => HostError::TimedOut(format!("connecting to {destination} timed out")),
    })
}

/// Most name lookups under way at once on the endpoint, over every
/// invocation.
pub const MAX_LOOKUPS_IN_FLIGHT: usize = 16;

static LOOKUPS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Looks up `destination` on a helper thread, so that a slow resolver cannot
/// hold the invocation past `timeout`.
fn resolve(destination: &HostPort, timeout: Duration) -> Result<Vec<SocketAddr>, HostError> {
    let host = destination
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = destination.port();
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    // A lookup that times out goes on in its thread until the resolver
    // gives up: the threads in flight are bounded, so that an action
    // looking names up in a loop against a slow resolver cannot pile them
    // up without end.
    let in_flight = LOOKUPS_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
    if in_flight >= MAX_LOOKUPS_IN_FLIGHT {
        LOOKUPS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        return Err(HostError::Failed(format!(
            "cannot resolve {destination} now: {MAX_LOOKUPS_IN_FLIGHT} name lookups are still under way on this endpoint"
        )));
    }
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("salve-resolve".to_string())
        .spawn(move || {
            let _ = tx.send((host.as_str(), port).to_socket_addrs().map(Vec::from_iter));
            LOOKUPS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        });
    if let Err(error) = spawned {
        LOOKUPS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
        return Err(HostError::Failed(format!(
            "cannot resolve {destination}: {error}"
        )));
    }
    match rx.recv_timeout(timeout) {
        Ok(Ok(addresses)) if !addresses.is_empty() => Ok(addresses),
        Ok(Ok(_)) => Err(HostError::NotFound(format!("{destination} has no address"))),
        Ok(Err(error)) => Err(HostError::NotFound(format!(
            "cannot resolve {destination}: {error}"
        ))),
        Err(_) => Err(HostError::TimedOut(format!(
            "resolving {destination} timed out"
        ))),
    }
}

impl Host for HostCtx {
    fn probe(&mut self, host: String, port: u16, timeout_ms: u32) -> Result<u64, HostError> {
        let destination = self.granted_destination("probe", &host, port)?;
        let timeout = self.timeout(timeout_ms)?;
        let (stream, took) = connect(&destination, timeout)?;
        let _ = stream.shutdown(Shutdown::Both);
        Ok(u64::try_from(took.as_micros()).unwrap_or(u64::MAX))
    }

    fn exchange(
        &mut self,
        host: String,
        port: u16,
        request: Vec<u8>,
        max_response_bytes: u32,
        timeout_ms: u32,
    ) -> Result<Vec<u8>, HostError> {
        let destination = self.granted_destination("exchange", &host, port)?;
        let timeout = self.timeout(timeout_ms)?;
        let end = Instant::now() + timeout;
        tracing::info!(action = %self.action, %destination, bytes = request.len(), "network exchange");
        let (mut stream, _) = connect(&destination, timeout)?;
        let io_error = |what: &str, error: std::io::Error| match error.kind() {
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => {
                HostError::TimedOut(format!("{what} {destination} timed out"))
            }
            _ => HostError::Failed(format!("{what} {destination}: {error}")),
        };
        let left = || {
            end.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        };
        stream
            .set_write_timeout(Some(left()))
            .and_then(|()| stream.write_all(&request))
            .and_then(|()| stream.shutdown(Shutdown::Write))
            .map_err(|e| io_error("sending to", e))?;
        let cap = max_response_bytes.min(MAX_RESPONSE_BYTES) as usize;
        let mut response = Vec::new();
        let mut buffer = [0u8; 8192];
        while response.len() < cap {
            if Instant::now() >= end {
                return Err(HostError::TimedOut(format!(
                    "reading from {destination} timed out"
                )));
            }
            stream
                .set_read_timeout(Some(left()))
                .map_err(|e| io_error("reading from", e))?;
            let n = stream
                .read(&mut buffer)
                .map_err(|e| io_error("reading from", e))?;
            if n == 0 {
                break;
            }
            let room = cap - response.len();
            response.extend_from_slice(&buffer[..n.min(room)]);
        }
        Ok(response)
    }
}
