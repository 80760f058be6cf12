//! Cancellation of a run from JavaScript (`AbortSignal`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use tokio::sync::Notify;

/// A one-shot cancellation flag that can be awaited.
#[derive(Debug, Default)]
pub struct Cancel {
    fired: AtomicBool,
    notify: Notify,
}

impl Cancel {
    /// Fires the flag; later and pending [`Cancel::wait`] calls return.
    pub fn fire(&self) {
        self.fired.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// True once fired.
    pub fn is_fired(&self) -> bool {
        self.fired.load(Ordering::SeqCst)
    }

    /// Resolves once the flag is fired.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_fired() {
                return;
            }
            notified.await;
        }
    }
}

fn registry() -> &'static Mutex<HashMap<u32, Arc<Cancel>>> {
    static R: OnceLock<Mutex<HashMap<u32, Arc<Cancel>>>> = OnceLock::new();
    R.get_or_init(Default::default)
}

/// Registers a cancellable run under `id`; dropping the guard removes it.
pub fn register(id: u32) -> Registration {
    let c = Arc::new(Cancel::default());
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, c.clone());
    Registration { id, cancel: c }
}

/// Fires the run registered under `id`, if it is still running.
pub fn fire(id: u32) {
    if let Some(c) = registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
    {
        c.fire();
    }
}

/// Keeps a run registered for cancellation while alive.
#[derive(Debug)]
pub struct Registration {
    id: u32,
    /// The run's flag.
    pub cancel: Arc<Cancel>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.id);
    }
}
