//! A newest-wins hand-over slot: the producer overwrites, the consumer takes the latest. Never a
//! growing queue, so a slow consumer sees fresh frames instead of old ones.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// What [`Slot::take_timeout`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Taken<T> {
    /// The newest value.
    Value(T),
    /// Nothing arrived in time.
    Timeout,
    /// The slot was closed and is empty.
    Closed,
}

/// A one-place mailbox where a new value replaces an unread one.
pub struct Slot<T> {
    state: Mutex<State<T>>,
    changed: Condvar,
    notify: tokio::sync::Notify,
}

struct State<T> {
    value: Option<T>,
    closed: bool,
    overwritten: u64,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Slot<T> {
    /// An empty, open slot.
    pub fn new() -> Self {
        let state = State { value: None, closed: false, overwritten: 0 };
        Self { state: Mutex::new(state), changed: Condvar::new(), notify: tokio::sync::Notify::new() }
    }

    fn lock(&self) -> MutexGuard<'_, State<T>> {
        nvt_support::sync::lock(&self.state)
    }

    /// Puts a value, replacing any unread one. Returns whether an unread value was dropped.
    pub fn put(&self, value: T) -> bool {
        let mut state = self.lock();
        let dropped = state.value.replace(value).is_some();
        state.overwritten += u64::from(dropped);
        drop(state);
        self.changed.notify_all();
        self.notify.notify_one();
        dropped
    }

    /// Takes the value if there is one, without waiting.
    pub fn try_take(&self) -> Option<T> {
        let taken = self.lock().value.take();
        if taken.is_some() {
            self.changed.notify_all();
        }
        taken
    }

    /// Waits up to `timeout` for a value.
    pub fn take_timeout(&self, timeout: Duration) -> Taken<T> {
        let state = self.lock();
        let (mut state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.value.is_none() && !s.closed)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match state.value.take() {
            Some(value) => {
                drop(state);
                self.changed.notify_all();
                Taken::Value(value)
            }
            None if state.closed => Taken::Closed,
            None => Taken::Timeout,
        }
    }

    /// Waits, without blocking a thread, for a value; `None` once the slot is closed and empty.
    pub async fn take_async(&self) -> Option<T> {
        loop {
            let notified = self.notify.notified();
            {
                let mut state = self.lock();
                if let Some(value) = state.value.take() {
                    drop(state);
                    self.changed.notify_all();
                    return Some(value);
                }
                if state.closed {
                    return None;
                }
            }
            notified.await;
        }
    }

    /// Waits up to `timeout` until the slot is empty (the last value was taken) or closed.
    /// Producers that need not keep up with real time use it to make frames only on demand.
    pub fn wait_empty(&self, timeout: Duration) -> bool {
        let state = self.lock();
        let (state, _) = self
            .changed
            .wait_timeout_while(state, timeout, |s| s.value.is_some() && !s.closed)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        state.value.is_none()
    }

    /// Closes the slot: waiting consumers wake; values still in it can be taken.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_all();
        self.notify.notify_waiters();
        self.notify.notify_one();
    }

    /// Whether [`Slot::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// How many values were replaced before anyone took them.
    pub fn overwritten(&self) -> u64 {
        self.lock().overwritten
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn newest_value_wins_and_drops_are_counted() {
        let slot = Slot::new();
        assert!(!slot.put(1));
        assert!(slot.put(2));
        assert!(slot.put(3));
        assert_eq!(slot.try_take(), Some(3));
        assert_eq!(slot.try_take(), None);
        assert_eq!(slot.overwritten(), 2);
    }

    #[test]
    fn waiting_consumer_wakes_on_put_and_on_close() {
        let slot = Arc::new(Slot::new());
        let producer = Arc::clone(&slot);
        let handle = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            producer.put(7);
            std::thread::sleep(Duration::from_millis(20));
            producer.close();
        });
        assert_eq!(slot.take_timeout(Duration::from_secs(5)), Taken::Value(7));
        assert_eq!(slot.take_timeout(Duration::from_secs(5)), Taken::Closed);
        handle.join().expect("producer");
        assert_eq!(Slot::<u8>::new().take_timeout(Duration::from_millis(5)), Taken::Timeout);
    }

    #[tokio::test]
    async fn async_consumer_sees_values_put_from_a_thread() {
        let slot = Arc::new(Slot::new());
        let producer = Arc::clone(&slot);
        std::thread::spawn(move || {
            for i in 0..3 {
                producer.wait_empty(Duration::from_secs(5));
                producer.put(i);
            }
            producer.wait_empty(Duration::from_secs(5));
            producer.close();
        });
        let mut got = Vec::new();
        while let Some(v) = slot.take_async().await {
            got.push(v);
        }
        assert_eq!(got, vec![0, 1, 2], "a producer that waits for an empty slot loses nothing");
    }
}
