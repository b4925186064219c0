//! Invocations while they run: each has a feed of its output as the action
//! writes it, which anyone allowed to see the session may follow — from the
//! start, whenever they start following.

use crate::engine::Cancellation;
use crate::host::output::{OutputEvent, OutputObserver};
use crate::outcome::{InvocationRecord, InvocationStatus};
use crate::session::{InvocationId, SessionId, UnixMillis};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// One item of a followed invocation, in order: `Started` once, its output
/// as it was written, then `Ended` once.
#[derive(Debug, Clone, Copy)]
pub enum FeedItem<'a> {
    /// The invocation as it started.
    Started(&'a InvocationRecord),
    /// A piece of its output.
    Output(&'a OutputEvent),
    /// The invocation as it ended.
    Ended(&'a InvocationRecord),
}

/// Someone following an invocation. Told each item in order, on the
/// invocation's thread: it must be quick (hand the item on, don't block).
pub trait Watcher: Send + Sync {
    /// One item. Returns whether to go on watching (a client that went
    /// away returns `false`).
    fn item(&self, item: FeedItem<'_>) -> bool;
}

/// One running invocation's output, kept for followers, and the handle that
/// cancels it.
pub struct Feed {
    state: Mutex<FeedState>,
    cancellation: Cancellation,
}

struct FeedState {
    started: InvocationRecord,
    events: Vec<OutputEvent>,
    ended: Option<InvocationRecord>,
    watchers: Vec<Arc<dyn Watcher>>,
}

impl Feed {
    fn new(record: InvocationRecord) -> Feed {
        Feed {
            state: Mutex::new(FeedState {
                started: record,
                events: Vec::new(),
                ended: None,
                watchers: Vec::new(),
            }),
            cancellation: Cancellation::default(),
        }
    }

    /// What cancels the invocation.
    pub fn cancellation(&self) -> &Cancellation {
        &self.cancellation
    }

    fn lock(&self) -> MutexGuard<'_, FeedState> {
        // Every update is a single push or assignment: a panic elsewhere
        // cannot leave the state half changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Tells `watcher` everything so far, then everything to come.
    pub fn follow(&self, watcher: Arc<dyn Watcher>) {
        let mut state = self.lock();
        let mut keep = watcher.item(FeedItem::Started(&state.started));
        for event in &state.events {
            keep = keep && watcher.item(FeedItem::Output(event));
        }
        match &state.ended {
            Some(ended) if keep => {
                watcher.item(FeedItem::Ended(ended));
            }
            None if keep => state.watchers.push(watcher),
            _ => {}
        }
    }

    /// The invocation as it is now.
    pub fn record(&self) -> InvocationRecord {
        let state = self.lock();
        state.ended.as_ref().unwrap_or(&state.started).clone()
    }

    fn end(&self, record: &InvocationRecord) {
        let mut state = self.lock();
        state.ended = Some(record.clone());
        for watcher in std::mem::take(&mut state.watchers) {
            watcher.item(FeedItem::Ended(record));
        }
    }
}

impl OutputObserver for Feed {
    fn output(&self, event: OutputEvent) {
        let mut state = self.lock();
        state
            .watchers
            .retain(|watcher| watcher.item(FeedItem::Output(&event)));
        state.events.push(event);
    }
}

/// The invocations running on an endpoint, by id; and when the last one to
/// end in each open session ended.
#[derive(Default)]
pub struct LiveInvocations {
    running: Mutex<HashMap<InvocationId, Arc<Feed>>>,
    last_ended: Mutex<HashMap<SessionId, UnixMillis>>,
    /// Told each time an invocation starts.
    on_start: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
}

impl LiveInvocations {
    fn lock(&self) -> MutexGuard<'_, HashMap<InvocationId, Arc<Feed>>> {
        self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers an invocation that starts now, with `watcher` following it
    /// from its first item.
    pub fn start(&self, record: InvocationRecord, watcher: Option<Arc<dyn Watcher>>) -> Arc<Feed> {
        let id = record.id.clone();
        let feed = Arc::new(Feed::new(record));
        if let Some(watcher) = watcher {
            feed.follow(watcher);
        }
        self.lock().insert(id, Arc::clone(&feed));
        for listener in self
            .on_start
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            listener();
        }
        feed
    }

    /// Has `listener` called each time an invocation starts (after it is
    /// counted as running).
    pub fn on_start(&self, listener: Box<dyn Fn() + Send + Sync>) {
        self.on_start
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(listener);
    }

    /// Ends an invocation: its followers are told, and it is no longer
    /// running.
    pub fn end(&self, feed: &Feed, record: &InvocationRecord) {
        if let Some(ended) = record.finished_ms {
            let mut last = self
                .last_ended
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let at = last.entry(record.session.clone()).or_insert(ended);
            *at = (*at).max(ended);
        }
        self.lock().remove(&record.id);
        feed.end(record);
    }

    /// The latest activity in `session` that only this process knows of:
    /// `now` while an invocation runs in it, else when the last one ended
    /// (activity is stored only now and then, when an invocation starts).
    pub fn last_activity(&self, session: &SessionId, now: UnixMillis) -> Option<UnixMillis> {
        let feeds: Vec<Arc<Feed>> = self.lock().values().cloned().collect();
        let running = feeds
            .iter()
            .any(|feed| &feed.lock().started.session == session);
        if running {
            return Some(now);
        }
        self.last_ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(session)
            .copied()
    }

    /// Forgets what it knows of a session that closed.
    pub fn forget_session(&self, session: &SessionId) {
        self.last_ended
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(session);
    }

    /// The feed of a running invocation.
    pub fn get(&self, id: &InvocationId) -> Option<Arc<Feed>> {
        self.lock().get(id).cloned()
    }

    /// How many are running.
    pub fn count(&self) -> usize {
        self.lock().len()
    }

    /// Cancels every invocation running in `session`.
    pub fn cancel_session(&self, session: &SessionId, reason: &str) -> usize {
        let feeds: Vec<Arc<Feed>> = self.lock().values().cloned().collect();
        let mut cancelled = 0;
        for feed in feeds {
            if &feed.lock().started.session == session {
                feed.cancellation.cancel(reason);
                cancelled += 1;
            }
        }
        cancelled
    }

    /// Cancels every running invocation for which `why` gives a reason.
    pub fn cancel_where(&self, why: impl Fn(&InvocationRecord) -> Option<String>) -> usize {
        let feeds: Vec<Arc<Feed>> = self.lock().values().cloned().collect();
        let mut cancelled = 0;
        for feed in feeds {
            let reason = why(&feed.lock().started);
            if let Some(reason) = reason {
                feed.cancellation.cancel(&reason);
                cancelled += 1;
            }
        }
        cancelled
    }

    /// Cancels every running invocation.
    pub fn cancel_all(&self, reason: &str) -> usize {
        let feeds: Vec<Arc<Feed>> = self.lock().values().cloned().collect();
        for feed in &feeds {
            feed.cancellation.cancel(reason);
        }
        feeds.len()
    }

    /// The invocations running in `session`, as they are now.
    pub fn running_in(&self, session: &SessionId) -> Vec<InvocationRecord> {
        let feeds: Vec<Arc<Feed>> = self.lock().values().cloned().collect();
        let mut records: Vec<InvocationRecord> = feeds
            .iter()
            .map(|f| f.record())
            .filter(|r| &r.session == session)
            .collect();
        records.sort_by_key(|r| r.started_ms);
        records
    }
}

/// Tells `watcher` what a finished invocation did, as a follower would have
/// seen it: started, its log messages, stdout, stderr, then ended. (Once an
/// invocation is over, the order between its three streams is not kept.)
pub fn replay(record: &InvocationRecord, watcher: &dyn Watcher) {
    let mut started = record.clone();
    started.status = InvocationStatus::Running;
    started.finished_ms = None;
    started.invocation = None;
    started.reason = None;
    if !watcher.item(FeedItem::Started(&started)) {
        return;
    }
    if let Some(invocation) = &record.invocation {
        let events = invocation
            .logs
            .iter()
            .cloned()
            .map(OutputEvent::Log)
            .chain(
                (!invocation.stdout.is_empty()).then(|| OutputEvent::Stdout {
                    text: invocation.stdout.clone(),
                }),
            )
            .chain(
                (!invocation.stderr.is_empty()).then(|| OutputEvent::Stderr {
                    text: invocation.stderr.clone(),
                }),
            );
        for event in events {
            if !watcher.item(FeedItem::Output(&event)) {
                return;
            }
        }
    }
    watcher.item(FeedItem::Ended(record));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Collect(Mutex<Vec<String>>, Option<usize>);

    impl Watcher for Collect {
        fn item(&self, item: FeedItem<'_>) -> bool {
            let mut seen = self.0.lock().unwrap();
            seen.push(match item {
                FeedItem::Started(r) => format!("started {:?}", r.status),
                FeedItem::Output(OutputEvent::Stdout { text }) => format!("stdout {text}"),
                FeedItem::Output(e) => format!("{e:?}"),
                FeedItem::Ended(r) => format!("ended {:?}", r.status),
            });
            self.1.is_none_or(|max| seen.len() < max)
        }
    }

    fn record() -> InvocationRecord {
        InvocationRecord {
            id: "i-000000000000000000000001".parse().unwrap(),
            session: "s-000000000000000000000001".parse().unwrap(),
            principal: "tom".to_string(),
            action: "echo@1.0.0".to_string(),
            input_digest: "sha256:00".to_string(),
            approval: None,
            started_ms: 1,
            finished_ms: None,
            status: InvocationStatus::Running,
            invocation: None,
            reason: None,
        }
    }

    fn stdout(text: &str) -> OutputEvent {
        OutputEvent::Stdout {
            text: text.to_string(),
        }
    }

    #[test]
    fn a_late_follower_sees_everything_from_the_start_in_order() {
        let live = LiveInvocations::default();
        let early = Arc::new(Collect::default());
        let feed = live.start(record(), Some(early.clone()));
        feed.output(stdout("a"));
        let late = Arc::new(Collect::default());
        live.get(&record().id).unwrap().follow(late.clone());
        feed.output(stdout("b"));
        let mut ended = record();
        ended.status = InvocationStatus::Finished;
        live.end(&feed, &ended);
        assert!(live.get(&record().id).is_none());
        let expected = ["started Running", "stdout a", "stdout b", "ended Finished"];
        assert_eq!(*early.0.lock().unwrap(), expected);
        assert_eq!(*late.0.lock().unwrap(), expected);
        // Following an ended feed replays it whole.
        let after = Arc::new(Collect::default());
        feed.follow(after.clone());
        assert_eq!(*after.0.lock().unwrap(), expected);
    }

    #[test]
    fn a_follower_that_goes_away_is_dropped() {
        let live = LiveInvocations::default();
        let leaving = Arc::new(Collect(Mutex::default(), Some(2)));
        let feed = live.start(record(), Some(leaving.clone()));
        feed.output(stdout("a"));
        feed.output(stdout("b"));
        live.end(&feed, &record());
        assert_eq!(*leaving.0.lock().unwrap(), ["started Running", "stdout a"]);
    }
}
