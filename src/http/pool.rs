//! The threads that serve index reads (searches, papers, similar, latest, radar papers): a
//! fixed number (`[server] search_threads`, one per CPU core by default) taking jobs from one
//! queue, first come first served.
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

use super::error::ApiError;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// A fixed set of threads running read jobs from one queue. The threads end when the pool (and
/// every clone of it) is dropped and the queue is empty.
#[derive(Clone)]
pub struct ReadPool {
    /// `None` when no thread could be started: jobs then go to tokio's blocking pool.
    jobs: Option<crossbeam_channel::Sender<Job>>,
}

impl ReadPool {
    /// Starts `threads` threads (at least one). Should the system refuse a thread, the pool
    /// runs with those it got, or hands its jobs to tokio's blocking pool if it got none.
    pub fn new(threads: usize) -> ReadPool {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let mut started = 0;
        for i in 0..threads.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("academichub-read-{i}"))
                .spawn(move || {
                    for job in queue {
                        // A panicking job drops its result sender: its request answers 500,
                        // and the thread goes on with the next job.
                        let _ = catch_unwind(AssertUnwindSafe(job));
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(err) => tracing::warn!(%err, "cannot start a read thread"),
            }
        }
        ReadPool {
            jobs: (started > 0).then_some(jobs),
        }
    }

    /// Runs `f` on one of the pool's threads once a thread is free, and awaits its result.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let Some(jobs) = &self.jobs else {
            return (tokio::task::spawn_blocking(f).await).map_err(ApiError::internal)?;
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The receiver is gone when the request was dropped (timeout, client gone).
            let _ = tx.send(f());
        });
        jobs.send(job)
            .map_err(|_| ApiError::internal("the read threads have stopped"))?;
        rx.await
            .map_err(|_| ApiError::internal("a read job panicked"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_jobs_and_survives_a_panicking_one() {
        let pool = ReadPool::new(1);
        assert_eq!(pool.run(|| Ok(2 + 2)).await.ok(), Some(4));
        let panicked = pool
            .run(|| -> Result<u8, ApiError> { panic!("boom") })
            .await;
        assert!(panicked.is_err());
        // The one thread is still there for the next job.
        let name = pool
            .run(|| Ok(std::thread::current().name().map(String::from)))
            .await
            .ok()
            .flatten();
        assert_eq!(name.as_deref(), Some("academichub-read-0"));
    }
}
