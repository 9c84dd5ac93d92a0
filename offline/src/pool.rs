//! Work spread over the detectors, a thread each, with the results handed back in the order the
//! work came: a batch job's frames and images are detected side by side, then recorded, tracked
//! and drawn one after the other, exactly as if they had been detected one at a time.
//!
//! Why: on a CPU, two sessions of one thread each get through more frames than one session of
//! two threads (an operator's threads wait for each other; two sessions never do), and a batch
//! job cares for frames per second, not for one frame's latency.

use std::collections::BTreeMap;
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

/// Most detector workers `nvt-detect` runs by default: each holds a session (the model's weights
/// and buffers), so a many-core machine shares its cores among a few sessions rather than
/// loading the model once per core.
pub const MOST_WORKERS_BY_DEFAULT: usize = 4;

/// Detector workers and ONNX Runtime threads for each, as asked (0: by default). By default a
/// batch job runs one session per core with one thread each (at most
/// [`MOST_WORKERS_BY_DEFAULT`], the cores shared among them); `sequential` work (each frame's plan
/// depends on the one before, `--detect motion`) has one worker, with every core by default.
pub fn plan(workers: usize, threads: usize, cores: usize, sequential: bool) -> (usize, usize) {
    let cores = cores.max(1);
    let workers = match (workers, sequential) {
        (_, true) => 1,
        (0, false) if threads > 0 => (cores / threads).clamp(1, MOST_WORKERS_BY_DEFAULT),
        (0, false) => cores.min(MOST_WORKERS_BY_DEFAULT),
        (n, _) => n,
    };
    let threads = if threads == 0 { (cores / workers).max(1) } else { threads };
    (workers, threads)
}

/// Runs `work` on each of `items` on the `workers` (the detectors), side by side, and `each` on the results in
/// the items' order. `items` is drawn on a thread of its own (it may read and decode). At most
/// two items more than there are workers are in hand at once, so a slow `each` holds the
/// reading back rather than piling frames up. The first error of `each` stops the work: what is
/// in hand is dropped and the error returned. A panic in `work` stops it too, and goes on here.
pub fn in_order<W, I, O, E>(
    workers: &mut [W],
    items: impl Iterator<Item = I> + Send,
    work: impl Fn(&mut W, I) -> O + Sync,
    mut each: impl FnMut(O) -> Result<(), E>,
) -> Result<(), E>
where
    W: Send,
    I: Send,
    O: Send,
{
    let in_hand = workers.len() + 2;
    std::thread::scope(|scope| {
        // A ticket per item in hand: the reader takes one before each item, `each` gives it back.
        let (give_back, tickets) = sync_channel::<()>(in_hand);
        for _ in 0..in_hand {
            let _ = give_back.send(());
        }
        let (job, jobs) = sync_channel::<(u64, I)>(workers.len());
        let jobs: Arc<Mutex<Receiver<(u64, I)>>> = Arc::new(Mutex::new(jobs));
        let (finished, results) = sync_channel::<(u64, std::thread::Result<O>)>(in_hand);
        scope.spawn(move || {
            let mut items = items;
            for index in 0u64.. {
                if tickets.recv().is_err() {
                    break;
                }
                let Some(item) = items.next() else { break };
                if job.send((index, item)).is_err() {
                    break;
                }
            }
        });
        let work = &work;
        for worker in workers.iter_mut() {
            // Each worker holds the queue: when the last one leaves, the reader's send fails.
            let jobs = Arc::clone(&jobs);
            let finished = finished.clone();
            scope.spawn(move || loop {
                let next = match jobs.lock() {
                    Ok(jobs) => jobs.recv(),
                    Err(_) => break,
                };
                let Ok((index, item)) = next else { break };
                // A panic is handed over in the item's place: the other workers would otherwise
                // wait for an item that never comes.
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(worker, item)));
                let panicked = result.is_err();
                if finished.send((index, result)).is_err() || panicked {
                    break;
                }
            });
        }
        drop((jobs, finished));
        let mut waiting = BTreeMap::new();
        let mut next = 0u64;
        for (index, result) in results.iter() {
            waiting.insert(index, result);
            while let Some(result) = waiting.remove(&next) {
                next += 1;
                match result {
                    Ok(result) => each(result)?,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
                let _ = give_back.send(());
            }
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::{in_order, plan};
    use std::time::Duration;

    #[test]
    fn results_come_in_the_items_order_whichever_worker_is_quicker() {
        // Worker 0 sleeps on every item it takes: the other overtakes it, and the order holds.
        let mut workers = [0u64, 1];
        let mut seen = Vec::new();
        let outcome: Result<(), ()> = in_order(
            &mut workers,
            0..200u64,
            |worker, item| {
                if *worker == 0 {
                    std::thread::sleep(Duration::from_micros(300));
                }
                item * 10
            },
            |result| {
                seen.push(result);
                Ok(())
            },
        );
        assert_eq!(outcome, Ok(()));
        assert_eq!(seen, (0..200).map(|i| i * 10).collect::<Vec<_>>());
    }

    #[test]
    fn a_panic_in_a_worker_stops_the_others_and_goes_on_to_the_caller() {
        let mut workers = [0, 1, 2];
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            in_order(
                &mut workers,
                0..1000u64,
                |_, item| {
                    assert!(item != 0, "a bad item");
                    item
                },
                |_| Ok::<(), ()>(()),
            )
        }));
        assert!(outcome.is_err(), "the panic reaches the caller instead of a hang");
    }

    #[test]
    fn an_error_stops_the_reading_and_returns() {
        let read = std::sync::atomic::AtomicU64::new(0);
        let mut workers = [(), (), ()];
        let items = (0..1_000_000u64).inspect(|_| {
            read.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        });
        let outcome = in_order(&mut workers, items, |_, item| item, |item| if item == 5 { Err(item) } else { Ok(()) });
        assert_eq!(outcome, Err(5));
        let read = read.load(std::sync::atomic::Ordering::Relaxed);
        assert!(read <= 5 + 3 + 2, "no more than the items in hand were read: {read}");
    }

    #[test]
    fn a_batch_job_runs_a_session_per_core_and_motion_one_with_every_core() {
        assert_eq!(plan(0, 0, 2, false), (2, 1));
        assert_eq!(plan(0, 0, 16, false), (4, 4), "a few sessions on many cores");
        assert_eq!(plan(0, 0, 1, false), (1, 1));
        assert_eq!(plan(0, 2, 2, false), (1, 2), "--threads 2 on two cores: one session");
        assert_eq!(plan(0, 0, 8, true), (1, 8), "--detect motion: one session");
        assert_eq!(plan(3, 0, 2, true), (1, 2), "frames in turn: one session, whatever --workers says");
        assert_eq!(plan(2, 3, 2, false), (2, 3), "flags win");
    }
}
