//! Blocking work from async code: tantivy commits and searches (and the embedding and file
//! locks that go with them) run on tokio's blocking pool, never on the runtime's worker
//! threads. Here because every async caller (the API, feed ingestion) works on an index.

/// Runs `f` on tokio's blocking pool and returns its result; a panic in `f` becomes the error
/// type's `From<JoinError>` value.
pub async fn run_blocking<T, E>(f: impl FnOnce() -> Result<T, E> + Send + 'static) -> Result<T, E>
where
    T: Send + 'static,
    E: From<tokio::task::JoinError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    enum E {
        Failed,
        Panicked,
    }

    impl From<tokio::task::JoinError> for E {
        fn from(_: tokio::task::JoinError) -> Self {
            E::Panicked
        }
    }

    #[tokio::test]
    async fn results_errors_and_panics_come_back() {
        assert_eq!(run_blocking(|| Ok::<_, E>(21 * 2)).await, Ok(42));
        assert_eq!(
            run_blocking(|| Err::<u8, _>(E::Failed)).await,
            Err(E::Failed)
        );
        let panicked = run_blocking(|| -> Result<u8, E> { panic!("boom") }).await;
        assert_eq!(panicked, Err(E::Panicked));
    }
}
