//! The search stage's errors: a user's bad parameter (typed: which limit, which value) or a
//! failure of the index underneath.

use time::Date;

use super::fusion::FusionError;
use crate::index::IndexError;

/// Errors in a search request.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The request is wrong (HTTP 400): [`InvalidParam::name`] names the parameter.
    #[error("invalid parameter {name}: {0}", name = .0.name())]
    Invalid(InvalidParam),
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The Milvus backend failed or could not be reached (HTTP 503 when unreachable).
    #[error(transparent)]
    Milvus(#[from] crate::index::milvus::MilvusError),
}

impl From<InvalidParam> for QueryError {
    fn from(e: InvalidParam) -> Self {
        QueryError::Invalid(e)
    }
}

impl From<tantivy::TantivyError> for QueryError {
    fn from(e: tantivy::TantivyError) -> Self {
        QueryError::Index(IndexError::Tantivy(e))
    }
}

/// A parameter outside what a search accepts; the message says what was wrong.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum InvalidParam {
    #[error("must be between 1 and {max}, got {got}")]
    K { got: usize, max: usize },
    #[error("must be at most {max}, got {got}")]
    Offset { got: usize, max: usize },
    #[error("query is {chars} characters long; the limit is {max}")]
    QueryTooLong { chars: usize, max: usize },
    #[error("must be between 0 and 1, got {0}")]
    Alpha(f32),
    #[error("{from} is after to={to}")]
    DateRange { from: Date, to: Date },
    #[error("dense search needs the query embedding, which failed: {0}")]
    DenseEmbeddingFailed(String),
    #[error("dense search needs a query embedding (is an embedding model configured?)")]
    DenseWithoutVector,
    #[error(transparent)]
    Fusion(FusionError),
    #[error("must be between 0 and 1, got {0}")]
    FeedbackWeight(f32),
    #[error("must be between 1 and {max}, got {got}")]
    FeedbackDocs { got: usize, max: usize },
    #[error("must be between 1 and {max}, got {got}")]
    FeedbackTerms { got: usize, max: usize },
}

impl InvalidParam {
    /// The request parameter at fault, as the API and CLI spell it.
    pub fn name(&self) -> &'static str {
        match self {
            InvalidParam::K { .. } => "k",
            InvalidParam::Offset { .. } => "offset",
            InvalidParam::QueryTooLong { .. } => "q",
            InvalidParam::Alpha(_) => "alpha",
            InvalidParam::DateRange { .. } => "from",
            InvalidParam::DenseEmbeddingFailed(_) | InvalidParam::DenseWithoutVector => "mode",
            InvalidParam::Fusion(_) => "fusion",
            InvalidParam::FeedbackWeight(_) => "feedback_weight",
            InvalidParam::FeedbackDocs { .. } => "feedback_docs",
            InvalidParam::FeedbackTerms { .. } => "feedback_terms",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_parameter_and_the_limit() {
        let e = QueryError::from(InvalidParam::K { got: 0, max: 1000 });
        assert_eq!(
            e.to_string(),
            "invalid parameter k: must be between 1 and 1000, got 0"
        );
        let e = QueryError::from(InvalidParam::QueryTooLong {
            chars: 1001,
            max: 1000,
        });
        assert_eq!(
            e.to_string(),
            "invalid parameter q: query is 1001 characters long; the limit is 1000"
        );
        let e = QueryError::from(InvalidParam::Fusion(FusionError::Alpha(2.0)));
        assert_eq!(
            e.to_string(),
            "invalid parameter fusion: alpha must be between 0 and 1, got 2"
        );
    }
}
