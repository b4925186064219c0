//! `salve fleet`: the fleet admin's tools. The inventory lists the fleet's
//! endpoints and the keys their answers are signed with; clients trust an
//! answer through the broker only if it verifies with the key the signed
//! inventory gives.

use crate::args::{ClientArgs, InventoryCommand};
use crate::client::{FleetTarget, fleet_connect};
use crate::exit::{CliResult, Exit, ExitWith, Failure};
use crate::people;
use anyhow::{Context, anyhow};
use futures::StreamExt as _;
use salve::api::v1::{Presence, QueuedEscalation, Reply, SignedReply};
use salve::digest::Sha256Digest;
use salve::fleet::subjects::{PENDING_BUCKET, PRESENCE_BUCKET};
use salve::fleet::{EndpointName, InventoryFile, permissions};
use salve::identity::{KeyPair, PublicKey};
use salve::session::Session;
use salve::text::escaped;
use serde_json::value::RawValue;
use std::path::Path;
use std::time::Duration;

pub fn inventory(command: InventoryCommand) -> CliResult {
    match command {
        InventoryCommand::Add {
            inventory,
            name,
            key,
        } => {
            let key: PublicKey = key
                .parse()
                .map_err(|e: String| anyhow!("--key: {e}"))
                .exit_with(Exit::Usage)?;
            let mut file = InventoryFile::read_or_new(&inventory).exit_with(Exit::Usage)?;
            file.add(&name, key).exit_with(Exit::Usage)?;
            file.write(&inventory).exit_with(Exit::Failed)?;
            println!(
                "{name} added with key {key}; {} endpoint(s). Sign the inventory again: salve fleet inventory sign --inventory {} --key ADMIN.key",
                file.endpoints.len(),
                inventory.display()
            );
            Ok(Exit::Success)
        }
        InventoryCommand::Remove { inventory, name } => {
            let mut file = InventoryFile::read(&inventory).exit_with(Exit::Usage)?;
            if !file.remove(&name) {
                return Err(anyhow!("{name} is not in {}", inventory.display()))
                    .exit_with(Exit::Usage);
            }
            file.write(&inventory).exit_with(Exit::Failed)?;
            println!(
                "{name} removed; sign the inventory again: salve fleet inventory sign --inventory {} --key ADMIN.key",
                inventory.display()
            );
            Ok(Exit::Success)
        }
        InventoryCommand::List { inventory, json } => {
            let file = InventoryFile::read(&inventory).exit_with(Exit::Usage)?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&file).exit_with(Exit::Failed)?
                );
                return Ok(Exit::Success);
            }
            for entry in &file.endpoints {
                println!("{:<24} {}", entry.name, entry.key);
            }
            match &file.signature {
                Some(signature) => println!(
                    "{} endpoint(s), signed by {} (clients check the signature against the fleet-admin key they trust)",
                    file.endpoints.len(),
                    signature.by
                ),
                None => println!(
                    "{} endpoint(s), NOT SIGNED: clients refuse it until a fleet admin signs it",
                    file.endpoints.len()
                ),
            }
            Ok(Exit::Success)
        }
        InventoryCommand::Sign { inventory, key } => {
            let admin = KeyPair::read(&key).exit_with(Exit::Usage)?;
            let mut file = InventoryFile::read(&inventory).exit_with(Exit::Usage)?;
            file.sign(&admin);
            file.write(&inventory).exit_with(Exit::Failed)?;
            println!(
                "{} signed by {}: {} endpoint(s)",
                inventory.display(),
                admin.public(),
                file.endpoints.len()
            );
            Ok(Exit::Success)
        }
    }
}

/// The password in `dir/<user>.password`, made (random, mode 0600) if
/// there is none.
fn password_for(dir: &Path, user: &str) -> anyhow::Result<String> {
    use base64::Engine as _;
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let path = dir.join(format!("{user}.password"));
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        return Ok(text.trim_end_matches(['\n', '\r']).to_string());
    }
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("no randomness for a password: {e}"))?;
    let password = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(file, "{password}")?;
    Ok(password)
}

/// `salve fleet nats-config`.
pub fn nats_config(inventory: &Path, out: &Path) -> CliResult {
    let file = InventoryFile::read(inventory).exit_with(Exit::Usage)?;
    std::fs::create_dir_all(out)
        .with_context(|| format!("cannot make {}", out.display()))
        .exit_with(Exit::Failed)?;
    let mut block = String::from("authorization {\n  users = [\n");
    let mut user = |name: &str, permissions: String| -> Result<(), Failure> {
        let password = password_for(out, name).exit_with(Exit::Failed)?;
        block.push_str(&format!(
            "    {{ user: \"{name}\", password: \"{password}\", permissions: {permissions} }}\n"
        ));
        Ok(())
    };
    for entry in &file.endpoints {
        let name: EndpointName = entry
            .name
            .parse()
            .map_err(|e: String| anyhow!("the inventory's endpoint {:?}: {e}", entry.name))
            .exit_with(Exit::Usage)?;
        user(name.as_str(), permissions::endpoint(&name))?;
    }
    user("people", permissions::people("people"))?;
    user("admin", permissions::admin("admin"))?;
    block.push_str("  ]\n}\n");
    print!("{block}");
    eprintln!(
        "{} endpoint user(s), `people` and `admin` (for `salve fleet setup`); their passwords are in {} (give each endpoint its own, as [fleet] password-file)",
        file.endpoints.len(),
        out.display()
    );
    Ok(Exit::Success)
}

/// The fleet target of `args` (`--fleet` and the options beside it).
fn fleet_of(args: &ClientArgs) -> Result<FleetTarget, Failure> {
    match &args.fleet.fleet {
        Some(_) => people::fleet_target(&args.fleet),
        None => Err(anyhow!(
            "this works on the fleet: give --fleet URL (or SALVE_FLEET), with the inventory and the fleet admin's key"
        ))
        .exit_with(Exit::Usage),
    }
}

/// The stream behind the key-value bucket `bucket`, as a KV client makes
/// it: one value per key, rollups allowed (a purge), direct reads. Made
/// here rather than with `create_key_value`, which first asks for the
/// account's JetStream info and cannot read a 2.9 server's (it lacks
/// `reserved_memory`); the buckets are then used through the KV API.
fn bucket_stream(
    bucket: &str,
    what: &str,
    max_age: Duration,
) -> async_nats::jetstream::stream::Config {
    async_nats::jetstream::stream::Config {
        max_age,
        name: format!("KV_{bucket}"),
        description: Some(format!("salve: {what}")),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: async_nats::jetstream::stream::DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    }
}

/// `salve fleet setup`: the buckets the endpoints publish to.
pub fn setup(args: &ClientArgs) -> CliResult {
    if args.fleet.fleet.is_none() {
        return Err(anyhow!("give the broker: --fleet URL (or SALVE_FLEET)"))
            .exit_with(Exit::Usage);
    }
    let broker = people::broker(&args.fleet)?;
    people::block(async {
        let client = fleet_connect(&broker).await?;
        let jetstream = async_nats::jetstream::new(client);
        // The queue's entries are written again every minute while their
        // endpoint is connected: ten minutes clears away what nobody
        // withdrew, and the markers of those withdrawn. Presence is kept
        // (a last-seen time is the point).
        for (bucket, what, max_age) in [
            (
                PENDING_BUCKET,
                "the approval queue",
                Duration::from_secs(600),
            ),
            (PRESENCE_BUCKET, "the endpoints' presence", Duration::ZERO),
        ] {
            jetstream
                .get_or_create_stream(bucket_stream(bucket, what, max_age))
                .await
                .with_context(|| format!("cannot create the bucket {bucket}"))?;
            println!("bucket {bucket} ready ({what})");
        }
        anyhow::Ok(())
    })?;
    Ok(Exit::Success)
}

/// The fleet's bucket `name`, or an error that says who makes it.
async fn bucket(
    jetstream: &async_nats::jetstream::Context,
    name: &str,
) -> anyhow::Result<async_nats::jetstream::kv::Store> {
    jetstream.get_key_value(name).await.with_context(|| {
        format!("the fleet has no bucket {name}: a fleet admin runs `salve fleet setup` once")
    })
}

/// The value stored under `key` in one of the fleet's buckets, if it is
/// signed, for that key, by the endpoint the key names (its first token) as
/// the inventory gives its key: that endpoint and the value.
fn open_entry<T: serde::de::DeserializeOwned>(
    inventory: &salve::fleet::Inventory,
    key: &str,
    bytes: &[u8],
) -> Result<(String, T), String> {
    let endpoint = key.split('.').next().unwrap_or_default();
    let public = inventory.key_of(endpoint).map_err(|e| e.to_string())?;
    let signed: SignedReply = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    match signed
        .open::<T>(endpoint, public, Sha256Digest::of(key.as_bytes()))
        .map_err(|e| e.to_string())?
    {
        (_, Reply::Result(value)) => Ok((endpoint.to_string(), value)),
        (_, Reply::Error(error)) => Err(error.message),
    }
}

/// An entry of one of the fleet's buckets that verified.
struct Verified<T> {
    /// The endpoint that signed it.
    endpoint: String,
    /// Its key.
    key: String,
    /// Its value.
    value: T,
    /// When the broker stored it, by the broker's clock (not signed).
    stored_ms: i64,
}

/// Every entry of `bucket` whose key starts with `prefix`, opened
/// ([`open_entry`]): the entries that verify, and a line for each that
/// does not.
async fn verified_entries<T: serde::de::DeserializeOwned>(
    fleet: &FleetTarget,
    bucket_name: &str,
    prefix: Option<&str>,
) -> anyhow::Result<(Vec<Verified<T>>, Vec<String>)> {
    let client = fleet.connection().await?;
    let jetstream = async_nats::jetstream::new(client);
    let store = bucket(&jetstream, bucket_name).await?;
    let mut keys = store
        .keys()
        .await
        .with_context(|| format!("cannot list the bucket {bucket_name}"))?;
    let mut entries = Vec::new();
    let mut refused = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.with_context(|| format!("cannot list the bucket {bucket_name}"))?;
        if prefix.is_some_and(|p| !key.starts_with(p)) {
            continue;
        }
        let entry = store
            .entry(&key)
            .await
            .with_context(|| format!("cannot read {key} in the bucket {bucket_name}"))?;
        let Some(entry) =
            entry.filter(|e| e.operation == async_nats::jetstream::kv::Operation::Put)
        else {
            continue;
        };
        match open_entry::<T>(&fleet.inventory, &key, &entry.value) {
            Ok((endpoint, value)) => entries.push(Verified {
                endpoint,
                key,
                value,
                stored_ms: i64::try_from(entry.created.unix_timestamp_nanos() / 1_000_000)
                    .unwrap_or_default(),
            }),
            Err(why) => refused.push(format!("{key}: {why}")),
        }
    }
    Ok((entries, refused))
}

/// What `endpoint` last published of its presence, if the presence bucket
/// holds an entry it signed. For telling when an endpoint that does not
/// answer was last seen; `None` whatever the reason it cannot be told.
pub async fn last_seen(
    client: &async_nats::Client,
    inventory: &salve::fleet::Inventory,
    endpoint: &str,
) -> Option<Presence> {
    let jetstream = async_nats::jetstream::new(client.clone());
    let store = jetstream.get_key_value(PRESENCE_BUCKET).await.ok()?;
    let bytes = store.get(endpoint).await.ok()??;
    open_entry::<Presence>(inventory, endpoint, &bytes)
        .ok()
        .map(|(_, presence)| presence)
}

/// How long an entry of the approval queue stands without its endpoint
/// writing it again (it does every minute while it is connected).
const STALE_AFTER_MS: i64 = 3 * 60_000;

/// `salve fleet pending`: the approval queue, newest first. An entry whose
/// deadline has passed, or that its endpoint has not written again lately
/// (it is away, or restarted and did not withdraw it), is left out: nobody
/// could approve it now.
pub fn pending(
    args: &ClientArgs,
    ticket: Option<&str>,
    newer_than: Option<Duration>,
    only: Option<&str>,
) -> CliResult {
    let fleet = fleet_of(args)?;
    let (entries, mut refused) = people::block(verified_entries::<Box<RawValue>>(
        &fleet,
        PENDING_BUCKET,
        only,
    ))?;
    let now = salve::clock::Clock::now_ms(&salve::clock::SystemClock);
    let since = newer_than.map(|age| now - i64::try_from(age.as_millis()).unwrap_or(i64::MAX));
    let mut rows: Vec<Pending> = Vec::new();
    for Verified {
        endpoint,
        key,
        value,
        stored_ms,
    } in entries
    {
        if now - stored_ms > STALE_AFTER_MS {
            // Not written again by its endpoint lately: it is away, or it
            // restarted and this item is no longer pending there.
            continue;
        }
        let row = match key.split('.').nth(1) {
            Some("session") => {
                serde_json::from_str::<Session>(value.get()).map(|session| Pending {
                    endpoint,
                    kind: "session",
                    id: session.id.to_string(),
                    ticket: session.request.ticket.to_string(),
                    what: format!(
                        "{} asks for {} ({})",
                        session.requester, session.request.technician, session.request.problem
                    ),
                    raised_ms: session.requested_ms,
                    expires_ms: session.expires_ms,
                    entry: value,
                })
            }
            Some("escalation") => {
                serde_json::from_str::<QueuedEscalation>(value.get()).map(|queued| {
                    let e = queued.escalation.escalation;
                    Pending {
                        endpoint,
                        kind: "escalation",
                        id: e.id.to_string(),
                        ticket: queued.ticket.to_string(),
                        what: format!(
                            "{}@{} invoked by {} in {}",
                            e.key.action, e.key.version, e.invoker, e.key.session
                        ),
                        raised_ms: e.raised_ms,
                        expires_ms: e.expires_ms,
                        entry: value,
                    }
                })
            }
            _ => {
                refused.push(format!("{key}: not a session or an escalation"));
                continue;
            }
        };
        match row {
            Ok(row) => rows.push(row),
            Err(error) => refused.push(format!("{key}: {error}")),
        }
    }
    rows.retain(|row| {
        row.expires_ms > now
            && since.is_none_or(|since| row.raised_ms >= since)
            && ticket.is_none_or(|ticket| row.ticket == ticket)
    });
    rows.sort_by_key(|row| std::cmp::Reverse(row.raised_ms));
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).exit_with(Exit::Failed)?
        );
    } else {
        if rows.is_empty() {
            println!("nothing awaits approval on the fleet");
        }
        for row in &rows {
            println!(
                "{:<16} {:<10} {}  {}  {} ago, {} left  {}",
                escaped(&row.endpoint),
                row.kind,
                row.id,
                escaped(&row.ticket),
                span(now - row.raised_ms),
                span(row.expires_ms - now),
                escaped(&row.what)
            );
        }
    }
    for line in &refused {
        eprintln!("not shown, it does not verify: {}", escaped(line));
    }
    Ok(Exit::Success)
}

/// A span of milliseconds, to the second, as `1h 5m 3s`.
fn span(ms: i64) -> String {
    let seconds = u64::try_from(ms.max(0) / 1000).unwrap_or_default();
    humantime::format_duration(Duration::from_secs(seconds)).to_string()
}

/// One item of the approval queue, and the entry its endpoint signed.
#[derive(serde::Serialize)]
struct Pending {
    endpoint: String,
    kind: &'static str,
    id: String,
    ticket: String,
    what: String,
    raised_ms: i64,
    expires_ms: i64,
    /// The session or escalation as the endpoint published it.
    entry: Box<RawValue>,
}

/// An endpoint of the inventory and what it last said of itself.
#[derive(serde::Serialize)]
struct Seen<'a> {
    endpoint: &'a str,
    /// `connected`, `away` or `never-seen`.
    state: &'static str,
    presence: Option<&'a Presence>,
}

/// How long after its last presence an endpoint is said to be away (it
/// publishes every 10 s).
const AWAY_AFTER_MS: i64 = 30_000;

/// `salve fleet endpoints`: the inventory's endpoints, as each last said it
/// was there.
pub fn endpoints(args: &ClientArgs) -> CliResult {
    let fleet = fleet_of(args)?;
    let (entries, refused) =
        people::block(verified_entries::<Presence>(&fleet, PRESENCE_BUCKET, None))?;
    let now = salve::clock::Clock::now_ms(&salve::clock::SystemClock);
    let rows: Vec<Seen> = fleet
        .inventory
        .endpoints()
        .map(|(name, _)| {
            let presence = entries
                .iter()
                .find(|entry| entry.endpoint == name)
                .map(|entry| &entry.value);
            let state = match presence {
                None => "never-seen",
                Some(p) if now - p.seen_ms <= AWAY_AFTER_MS => "connected",
                Some(_) => "away",
            };
            Seen {
                endpoint: name,
                state,
                presence,
            }
        })
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).exit_with(Exit::Failed)?
        );
    }
    for row in rows.iter().filter(|_| !args.json) {
        match row.presence {
            None => println!("{:<16} never seen on this fleet", escaped(row.endpoint)),
            Some(presence) => println!(
                "{:<16} {:<9} seen {} ago  salve {}  {} action(s)  audit #{}",
                escaped(row.endpoint),
                row.state,
                span(now - presence.seen_ms),
                escaped(&presence.version),
                presence.actions.len(),
                presence.audit_seq,
            ),
        }
    }
    for line in &refused {
        eprintln!("not shown, it does not verify: {}", escaped(line));
    }
    Ok(Exit::Success)
}
