//! Panics caught where they happen, so that one bad model, frame or peer never stops the service
//! it belongs to: the thread logs it, counts it in `/metrics` (`nvt_panics_total`) and goes on.

use crate::metrics::Metrics;
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `work`; a panic in it is logged and counted under `thread`, and gives `None`.
pub fn caught<T>(metrics: &Metrics, thread: &str, work: impl FnOnce() -> T) -> Option<T> {
    match catch_unwind(AssertUnwindSafe(work)) {
        Ok(value) => Some(value),
        Err(payload) => {
            metrics.panics.with_label_values(&[thread]).inc();
            tracing::error!(thread, panic = %message(payload.as_ref()), "caught a panic; carrying on");
            None
        }
    }
}

/// Runs `work` again each time it panics, until it returns.
pub fn restarted(metrics: &Metrics, thread: &str, mut work: impl FnMut()) {
    while caught(metrics, thread, &mut work).is_none() {}
}

/// The text a panic was raised with.
pub fn message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counters::Counters;
    use std::sync::Arc;

    #[test]
    fn a_panic_is_counted_and_the_work_goes_on() {
        let metrics = Metrics::new(Arc::new(Counters::default()));
        assert_eq!(caught(&metrics, "test", || 7), Some(7));
        let none: Option<u8> = caught(&metrics, "test", || panic!("index out of bounds"));
        assert_eq!(none, None);
        let mut runs = 0;
        restarted(&metrics, "loop", || {
            runs += 1;
            assert!(runs >= 3, "fails twice");
        });
        assert_eq!(runs, 3);
        let text = metrics.render();
        assert!(text.contains(r#"nvt_panics_total{thread="test"} 1"#), "{text}");
        assert!(text.contains(r#"nvt_panics_total{thread="loop"} 2"#), "{text}");
    }
}
