//! The threads that serve index reads: a fixed number (`[server] search_threads`, one per CPU
//! core by default) taking jobs from two bounded queues, plus one thread for quick jobs only.
//!
//! - **Lanes.** Quick jobs (a paper, the latest list) go before heavy ones (searches, similar
//!   papers, radar papers, briefings), and one extra thread runs nothing but quick jobs, so a
//!   paper lookup never waits behind a queue of searches or a briefing in progress.
//! - **Bounded.** Each lane holds at most `[server.limits] read_queue` waiting jobs; beyond
//!   that a request is answered 503 `overloaded` (with `Retry-After`) at once instead of
//!   queueing unbounded work. Heavy jobs run at most `search_threads` at a time, which bounds
//!   their memory too.
//! - **Abandoned jobs are skipped.** A job whose request was dropped while it waited (the
//!   client went away, or the request timed out) is not run.
//!
//! Reads are CPU work that never waits on the network, so more of them at once than there are
//! cores only share the cores, and each search's thread-local buffers (a score per document
//! of a segment, the highlighter's memo) evict the others' from the CPU caches. On the 2-core
//! load-test machine, running them on tokio's blocking pool (a thread per read in flight) gave
//! 25-35% fewer requests per second than two threads (docs/benchmarks-history.md, sixth
//! session). A semaphore in front of the blocking pool was slower still: each finished read
//! handed its slot to an async task that only then queued the next read, leaving the core idle
//! in between; here a thread that finishes a job takes the next one from the queue itself.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::StatusCode;
use crossbeam_channel::{Receiver, Sender, TrySendError};

use super::error::ApiError;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// Which queue a read waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Lookups that take well under a millisecond: one paper, the latest list.
    Quick,
    /// Searches, similar papers, radar papers, briefings.
    Heavy,
}

/// A fixed set of threads running read jobs from two bounded queues. The threads end when the
/// pool (and every clone of it) is dropped and the queues are empty.
#[derive(Clone)]
pub struct ReadPool {
    /// `None` when no thread could be started: jobs then go to tokio's blocking pool.
    lanes: Option<Arc<Lanes>>,
}

struct Lanes {
    quick: Sender<Job>,
    heavy: Sender<Job>,
    capacity: usize,
    /// Jobs refused because their lane was full, and jobs skipped because nobody waited.
    refused: AtomicU64,
    skipped: Arc<AtomicU64>,
}

/// Counters of a [`ReadPool`] (for `/metrics`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolCounters {
    pub queued_quick: usize,
    pub queued_heavy: usize,
    pub refused: u64,
    pub skipped: u64,
}

fn worker(quick: Receiver<Job>, heavy: Option<Receiver<Job>>) {
    loop {
        // Quick jobs first, then whichever comes.
        let job = match quick.try_recv() {
            Ok(j) => Ok(j),
            Err(_) => match &heavy {
                Some(h) => crossbeam_channel::select! {
                    recv(quick) -> j => j,
                    recv(h) -> j => j,
                },
                None => quick.recv(),
            },
        };
        let Ok(job) = job else {
            return; // the pool was dropped
        };
        // A panicking job drops its result sender: its request answers 500, and the thread
        // goes on with the next job.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

impl ReadPool {
    /// Starts `threads` threads (at least one) for both lanes and one for quick jobs, each lane
    /// holding at most `queue` waiting jobs (at least one). Should the system refuse a thread,
    /// the pool runs with those it got, or hands its jobs to tokio's blocking pool if it got
    /// none for the heavy lane.
    pub fn new(threads: usize, queue: usize) -> ReadPool {
        let capacity = queue.max(1);
        let (quick, quick_rx) = crossbeam_channel::bounded::<Job>(capacity);
        let (heavy, heavy_rx) = crossbeam_channel::bounded::<Job>(capacity);
        let mut started = 0;
        for i in 0..=threads.max(1) {
            let q = quick_rx.clone();
            // The last thread serves the quick lane only.
            let h = (i < threads.max(1)).then(|| heavy_rx.clone());
            let name = if h.is_some() {
                format!("academichub-read-{i}")
            } else {
                "academichub-read-quick".to_string()
            };
            let heavy_thread = h.is_some();
            match std::thread::Builder::new()
                .name(name)
                .spawn(move || worker(q, h))
            {
                Ok(_) => started += usize::from(heavy_thread),
                Err(err) => tracing::warn!(%err, "cannot start a read thread"),
            }
        }
        ReadPool {
            lanes: (started > 0).then(|| {
                Arc::new(Lanes {
                    quick,
                    heavy,
                    capacity,
                    refused: AtomicU64::new(0),
                    skipped: Arc::new(AtomicU64::new(0)),
                })
            }),
        }
    }

    /// Queue lengths and refusals so far.
    pub fn counters(&self) -> PoolCounters {
        match &self.lanes {
            None => PoolCounters::default(),
            Some(l) => PoolCounters {
                queued_quick: l.quick.len(),
                queued_heavy: l.heavy.len(),
                refused: l.refused.load(Ordering::Relaxed),
                skipped: l.skipped.load(Ordering::Relaxed),
            },
        }
    }

    /// Runs `f` on one of the pool's threads once a thread of `lane` is free, and awaits its
    /// result. Answers 503 `overloaded` at once when the lane's queue is full; `f` is not run
    /// at all when this future is dropped before a thread takes it.
    pub async fn run<T: Send + 'static>(
        &self,
        lane: Lane,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let Some(lanes) = &self.lanes else {
            return (tokio::task::spawn_blocking(f).await).map_err(ApiError::internal)?;
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let skipped = lanes.skipped.clone();
        let job: Job = Box::new(move || {
            // The receiver is gone when the request was dropped (timeout, client gone).
            if tx.is_closed() {
                skipped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            let _ = tx.send(f());
        });
        let queue = match lane {
            Lane::Quick => &lanes.quick,
            Lane::Heavy => &lanes.heavy,
        };
        match queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                lanes.refused.fetch_add(1, Ordering::Relaxed);
                return Err(ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "overloaded",
                    format!(
                        "the server is busy ({} requests are waiting for a read thread); retry shortly",
                        lanes.capacity
                    ),
                )
                .retry_after(1));
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(ApiError::internal("the read threads have stopped"))
            }
        }
        rx.await
            .map_err(|_| ApiError::internal("a read job panicked"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panicking_one() {
        let pool = ReadPool::new(1, 8);
        assert_eq!(pool.run(Lane::Heavy, || Ok(2 + 2)).await.ok(), Some(4));
        let panicked = pool
            .run(Lane::Heavy, || -> Result<u8, ApiError> { panic!("boom") })
            .await;
        assert!(panicked.is_err());
        // The one thread is still there for the next job.
        let name = pool
            .run(Lane::Heavy, || {
                Ok(std::thread::current().name().map(String::from))
            })
            .await
            .ok()
            .flatten();
        assert_eq!(name.as_deref(), Some("academichub-read-0"));
    }

    #[tokio::test]
    async fn quick_jobs_pass_busy_heavy_threads_and_full_lanes_refuse() {
        let pool = ReadPool::new(1, 2);
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        // Occupy the one heavy thread, then fill the heavy lane (2).
        let mut busy = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        for queued in [0, 1, 2] {
            let p = pool.clone();
            let w = wait.clone();
            busy.push(tokio::spawn(async move {
                p.run(Lane::Heavy, move || {
                    let _ = w.recv_timeout(Duration::from_secs(10));
                    Ok(())
                })
                .await
            }));
            // The first job is taken by the thread before the next ones queue.
            tokio::time::sleep(Duration::from_millis(20)).await;
            while pool.counters().queued_heavy < queued && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        assert_eq!(pool.counters().queued_heavy, 2);
        let refused = pool.run(Lane::Heavy, || Ok(())).await.unwrap_err();
        assert_eq!(
            (refused.status.as_u16(), refused.code.as_str()),
            (503, "overloaded")
        );
        assert_eq!(pool.counters().refused, 1);
        // A lookup is answered by the quick thread meanwhile.
        let t = Instant::now();
        let who = pool
            .run(Lane::Quick, || {
                Ok(std::thread::current().name().map(String::from))
            })
            .await
            .unwrap();
        assert_eq!(who.as_deref(), Some("academichub-read-quick"));
        assert!(t.elapsed() < Duration::from_secs(1));
        for _ in 0..3 {
            let _ = release.send_timeout((), Duration::from_secs(5));
        }
        for b in busy {
            assert!(b.await.unwrap().is_ok());
        }
    }

    #[tokio::test]
    async fn a_job_whose_request_was_dropped_is_not_run() {
        let pool = ReadPool::new(1, 4);
        let (release, wait) = crossbeam_channel::bounded::<()>(0);
        let p = pool.clone();
        let blocker = tokio::spawn(async move {
            p.run(Lane::Heavy, move || {
                let _ = wait.recv_timeout(Duration::from_secs(10));
                Ok(())
            })
            .await
        });
        while pool.counters().queued_heavy > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let r = ran.clone();
        // Queued behind the blocker, then abandoned (as a timed-out request is).
        let abandoned = tokio::time::timeout(
            Duration::from_millis(50),
            pool.run(Lane::Heavy, move || {
                r.store(true, Ordering::SeqCst);
                Ok(())
            }),
        )
        .await;
        assert!(abandoned.is_err(), "it waited behind the blocker");
        let _ = release.send_timeout((), Duration::from_secs(5));
        assert!(blocker.await.unwrap().is_ok());
        // The next job runs after the abandoned one was taken and skipped.
        pool.run(Lane::Heavy, || Ok(())).await.unwrap();
        assert!(
            !ran.load(Ordering::SeqCst),
            "the abandoned job must not run"
        );
        assert_eq!(pool.counters().skipped, 1);
    }
}
