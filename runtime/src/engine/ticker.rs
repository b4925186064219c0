//! The epoch ticker: advances the engine's epoch every [`EPOCH_TICK`] while
//! an invocation runs, and sleeps otherwise. Deadlines are counted in ticks
//! from when an invocation's store sets them, so a ticker that stood still
//! while nothing ran moves no deadline: every tick an invocation is owed
//! comes while it holds its [`Ticking`]. An idle runtime wakes nobody.

use super::sandbox::EPOCH_TICK;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use wasmtime::Engine;

/// The ticker thread, and how many invocations need it.
pub(super) struct Ticker {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// Invocations running: the ticker ticks while there is one.
    running: usize,
    stop: bool,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // The state is two plain fields, valid whatever panicked holding it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Held while an invocation runs: the epoch advances until the last one is
/// dropped.
pub(super) struct Ticking<'t> {
    shared: &'t Shared,
}

impl Ticker {
    /// Starts the ticker thread, asleep. Without it no deadline could fire,
    /// so a failure to start it fails the runtime.
    pub(super) fn start(engine: Engine) -> std::io::Result<Ticker> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let thread = std::thread::Builder::new()
            .name("salve-epoch".to_string())
            .spawn({
                let shared = Arc::clone(&shared);
                move || tick_while_needed(&shared, &engine)
            })?;
        Ok(Ticker {
            shared,
            thread: Some(thread),
        })
    }

    /// Makes the epoch advance until the returned guard is dropped. Take it
    /// before the invocation's store sets its deadline.
    pub(super) fn hold(&self) -> Ticking<'_> {
        let mut state = self.shared.state();
        state.running += 1;
        if state.running == 1 {
            self.shared.wake.notify_one();
        }
        Ticking {
            shared: &self.shared,
        }
    }
}

fn tick_while_needed(shared: &Shared, engine: &Engine) {
    let mut state = shared.state();
    loop {
        while state.running == 0 && !state.stop {
            state = shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
        if state.stop {
            return;
        }
        drop(state);
        std::thread::sleep(EPOCH_TICK);
        state = shared.state();
        // Only for invocations still running: none set its deadline
        // counting on a tick from before it held the ticker.
        if state.running > 0 {
            engine.increment_epoch();
        }
    }
}

impl Drop for Ticking<'_> {
    fn drop(&mut self) {
        let mut state = self.shared.state();
        state.running = state.running.saturating_sub(1);
    }
}

impl Drop for Ticker {
    fn drop(&mut self) {
        self.shared.state().stop = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// `(module (func (export "spin") (loop br 0)))`: runs until stopped.
    const SPIN: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
        0x03, 0x02, 0x01, 0x00, // one function of that type
        0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0
    ];

    /// How long a guest spinning with its deadline one tick away runs.
    fn spin_with_deadline_one_tick_away(engine: &Engine) -> Duration {
        let module = wasmtime::Module::new(engine, SPIN).unwrap();
        let mut store = wasmtime::Store::new(engine, ());
        store.set_epoch_deadline(1);
        let instance = wasmtime::Instance::new(&mut store, &module, &[]).unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let started = Instant::now();
        assert!(
            spin.call(&mut store, ()).is_err(),
            "stopped by its deadline"
        );
        started.elapsed()
    }

    #[test]
    fn the_epoch_advances_only_while_an_invocation_holds_the_ticker() {
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        let ticker = Ticker::start(engine.clone()).unwrap();

        // Held: the next tick stops the guest.
        let ticking = ticker.hold();
        let held = spin_with_deadline_one_tick_away(&engine);
        assert!(held < Duration::from_secs(1), "{held:?}");
        drop(ticking);

        // Not held: nothing ticks; only this test's own increment, 300 ms
        // later, stops the guest.
        let nudge = {
            let engine = engine.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                engine.increment_epoch();
            })
        };
        let idle = spin_with_deadline_one_tick_away(&engine);
        nudge.join().unwrap();
        assert!(idle >= Duration::from_millis(250), "{idle:?}");

        // Held again, by two: it ticks until both are gone.
        let (a, b) = (ticker.hold(), ticker.hold());
        drop(a);
        let again = spin_with_deadline_one_tick_away(&engine);
        assert!(again < Duration::from_secs(1), "{again:?}");
        drop(b);
    }
}
