//! Locks that survive a panic elsewhere. A thread that panicked while holding a lock leaves it
//! poisoned; nvt catches such panics and carries on (`nvt_panics_total`), so every lock is
//! taken back as it is: the data it guards is always left whole between statements.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, taking it back if a panicking thread poisoned it.
pub fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_poisoned_lock_is_taken_back_with_its_data() {
        let mutex = std::sync::Arc::new(Mutex::new(7));
        let poisoner = std::sync::Arc::clone(&mutex);
        let _ = std::thread::spawn(move || {
            let _guard = poisoner.lock().expect("first");
            panic!("poison it");
        })
        .join();
        assert!(mutex.is_poisoned());
        assert_eq!(*lock(&mutex), 7);
    }
}
