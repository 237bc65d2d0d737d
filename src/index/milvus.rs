//! The Milvus backend's store: the papers of one deployment in one Milvus collection (standalone,
//! distributed or milvus-lite), reached over gRPC with the official client.
//!
//! The collection maps the paper schema onto Milvus fields: `id` (our lowercased paper id, the
//! primary key), `text` (title, abstract and extra search words, their CJK runs split into
//! the index's jieba words by spaces, analyzed by Milvus and fed to a BM25 function whose output
//! is the sparse field `sparse`), `vector` (the dense embedding,
//! nullable: a paper is searchable by words at once and by meaning once the embedder reached it),
//! `has_vector`, scalar fields for filters (`published` in days since 1970-01-01, `categories`,
//! `source`), `content_hash` (an unchanged paper keeps its vector) and `paper` (the whole stored
//! paper as JSON, what results show). The collection's description records the model its
//! vectors come from, so a search never compares vectors of two models.
//!
//! Every call runs with a deadline (`[milvus] timeout_ms`) on the store's own small runtime,
//! so callers stay synchronous like the tantivy index's, and a Milvus that is down or slow is
//! an error naming it, never a hang. Writes are idempotent upserts by id: a failed batch is
//! retried ([`WRITE_ATTEMPTS`]) and then reported, and nothing says it landed unless Milvus
//! acknowledged it.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use milvus::v2::prelude::{
    ClientV2, CollectionSchema, ConnectConfig, ConsistencyLevel, CreateCollectionRequest,
    CreateIndexRequest, DataType, DeleteRequest, DescribeCollectionRequest, DropCollectionRequest,
    FieldSchema, FlushRequest, Function, FunctionType, HasCollectionRequest, IndexParam, IndexType,
    InsertRequest, LoadCollectionRequest, MetricType, QueryRequest, QueryResults, RetryConfig,
    SearchRequest, SearchVectors, TelemetryConfig, UpsertRequest,
};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::embed::ModelId;
use crate::paper::{Paper, PaperId};

/// Papers sent to Milvus per write request.
pub const WRITE_BATCH: usize = 256;
/// Attempts at one write batch before it is reported as failed.
pub const WRITE_ATTEMPTS: u32 = 3;
/// Longest `text` and `paper` value a VarChar field holds, in bytes.
pub const MAX_VARCHAR: usize = 65_535;
/// Most categories kept per paper (the `categories` array's capacity).
pub const MAX_CATEGORIES: usize = 64;
/// Longest category or source name, in bytes.
pub const MAX_NAME: usize = 256;
/// What the collection's description starts with; the rest is the [`CollectionInfo`] JSON.
const DESCRIPTION_TAG: &str = "academichub papers ";
/// The collection property holding the [`CollectionInfo`] JSON (milvus-lite keeps properties,
/// not descriptions).
const INFO_PROPERTY: &str = "academichub.info";
/// Version of the collection layout this code writes and reads. Layout 2 writes `text` as the
/// index's terms ([`crate::analysis::terms_text`]); layout 1 wrote the words as the papers
/// spell them, which layout 2's queries (stems) would miss.
pub const LAYOUT_VERSION: u32 = 2;
/// Milvus answers a search with at most this many hits (its `topk` limit).
pub const MAX_TOPK: usize = 16_384;

/// `[milvus]` section of the configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MilvusConfig {
    /// gRPC address, e.g. `http://127.0.0.1:19530`.
    pub uri: String,
    /// The collection holding the papers.
    pub collection: String,
    /// Environment variable holding the token (`user:password` or an API key); unset or empty
    /// means no authentication (milvus-lite, a local standalone).
    pub token_env: String,
    /// Deadline of one call to Milvus, in milliseconds.
    pub timeout_ms: u64,
    /// Index of the dense vectors, set when the collection is created: `AUTOINDEX` (Milvus
    /// picks an ANN index; approximate), `FLAT` (exact scan), `HNSW`, `IVF_FLAT` or `DISKANN`.
    pub vector_index: String,
}

/// The vector index types `[milvus] vector_index` accepts, as Milvus names them.
pub const VECTOR_INDEXES: [(&str, IndexType); 5] = [
    ("AUTOINDEX", IndexType::AutoIndex),
    ("FLAT", IndexType::Flat),
    ("HNSW", IndexType::Hnsw),
    ("IVF_FLAT", IndexType::IvfFlat),
    ("DISKANN", IndexType::DiskAnn),
];

impl MilvusConfig {
    /// The configured vector index type, or why it is not one.
    pub fn vector_index_type(&self) -> Result<IndexType, MilvusError> {
        VECTOR_INDEXES
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(self.vector_index.trim()))
            .map(|(_, t)| *t)
            .ok_or_else(|| {
                MilvusError::Config(format!(
                    "vector_index {:?} is not one of {}",
                    self.vector_index,
                    VECTOR_INDEXES
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
    }
}

impl Default for MilvusConfig {
    fn default() -> Self {
        MilvusConfig {
            uri: "http://127.0.0.1:19530".into(),
            collection: "papers".into(),
            token_env: "ACADEMICHUB_MILVUS_TOKEN".into(),
            timeout_ms: 10_000,
            vector_index: "AUTOINDEX".into(),
        }
    }
}

/// Errors of the Milvus store.
#[derive(Debug, thiserror::Error)]
pub enum MilvusError {
    #[error("invalid [milvus] configuration: {0}")]
    Config(String),
    #[error("Milvus at {uri} is unreachable: {reason}")]
    Unavailable { uri: String, reason: String },
    #[error("Milvus at {uri} did not answer {what} within {ms} ms")]
    Timeout {
        uri: String,
        what: &'static str,
        ms: u64,
    },
    #[error(
        "the Milvus collection {collection:?} at {uri} does not exist (`academichub import` with \
         [index] backend = \"milvus\" creates it)"
    )]
    NoCollection { uri: String, collection: String },
    #[error("the Milvus collection {collection:?} has another schema: {found}; AcademicHub needs {expected}")]
    Schema {
        collection: String,
        found: String,
        expected: String,
    },
    #[error("Milvus {what} failed: {reason}")]
    Request { what: &'static str, reason: String },
    /// The collection is not loaded for reads (released, or Milvus restarted): reads load it
    /// again and retry once.
    #[error("Milvus {what} failed: the collection is not loaded ({reason})")]
    NotLoaded { what: &'static str, reason: String },
    #[error("Milvus returned a result AcademicHub cannot read ({what}): {reason}")]
    Malformed { what: &'static str, reason: String },
    #[error("a write batch of {papers} papers failed after {attempts} attempts and was not applied: {reason}")]
    WriteFailed {
        papers: usize,
        attempts: u32,
        reason: String,
        /// The last attempt found Milvus unreachable or slow (not a refused request).
        unavailable: bool,
    },
}

impl MilvusError {
    /// True when Milvus could not be reached or did not answer in time (HTTP 503), as opposed
    /// to a request it refused.
    pub fn is_unavailable(&self) -> bool {
        match self {
            MilvusError::Unavailable { .. } | MilvusError::Timeout { .. } => true,
            MilvusError::WriteFailed { unavailable, .. } => *unavailable,
            _ => false,
        }
    }
}

/// What the collection's description records: the layout and the model of its vectors.
#[derive(Debug, Clone, PartialEq, serde::Serialize, Deserialize)]
pub struct CollectionInfo {
    pub layout: u32,
    /// Name of the embedding model the `vector` field holds.
    pub model: String,
    pub dims: usize,
}

/// How many papers the collection holds, and how many have a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Counts {
    pub papers: u64,
    pub with_vectors: u64,
}

/// A paper as the collection stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRow {
    pub paper: Paper,
    pub content_hash: u64,
    pub vector: Option<Vec<f32>>,
}

impl StoredRow {
    /// True when the stored text is the text of `paper`.
    pub fn same_text(&self, paper: &Paper) -> bool {
        self.content_hash == paper.content_hash()
    }
}

/// A connection to the papers' collection.
pub struct MilvusStore {
    runtime: ClientRuntime,
    client: ClientV2,
    config: MilvusConfig,
    info: CollectionInfo,
    /// Recent counts of papers with a vector by filter ([`MilvusStore::count_with_vectors`]),
    /// reused for [`COUNT_TTL`]: counting many rows took 330 ms on milvus-lite at 5,183 papers,
    /// which every dense and hybrid search would pay. This store's own writes clear them;
    /// other writers' show within the TTL.
    recent_counts: std::sync::Mutex<HashMap<String, (Instant, u64)>>,
    /// The deployment's local directory (radars, delivery logs, feed state), when it has one.
    state_dir: Option<std::path::PathBuf>,
}

/// The most papers a scan request ([`MilvusStore::scan`]) brings back: a response of papers
/// with vectors (about 3 KB each) stays under gRPC's 4 MB message limit.
pub const SCAN_LIMIT: usize = 1_000;

/// A part of the collection one scan request reads: shards `[lo, hi)`, or the papers of one
/// shard whose content hashes (as Int64) lie in `[lo, hi]`.
#[derive(Debug, Clone, Copy)]
enum ScanRange {
    Shards(u64, u64),
    Hashes(u64, i64, i64),
}

/// How long a count is reused (see [`MilvusStore::count_with_vectors`]).
pub const COUNT_TTL: Duration = Duration::from_secs(10);

/// Most filters whose counts are kept at once.
const COUNTS_KEPT: usize = 256;

impl std::fmt::Debug for MilvusStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MilvusStore")
            .field("uri", &self.config.uri)
            .field("collection", &self.config.collection)
            .field("info", &self.info)
            .finish()
    }
}

/// The field names of the collection.
mod field {
    pub const ID: &str = "id";
    /// The paper id as given (`id` is lowercased): what the legs return.
    pub const PAPER_ID: &str = "paper_id";
    pub const TEXT: &str = "text";
    pub const SPARSE: &str = "sparse";
    pub const VECTOR: &str = "vector";
    pub const HAS_VECTOR: &str = "has_vector";
    pub const PUBLISHED: &str = "published";
    pub const CATEGORIES: &str = "categories";
    pub const SOURCE: &str = "source";
    pub const CONTENT_HASH: &str = "content_hash";
    pub const SHARD: &str = "shard";
    pub const PAPER: &str = "paper";
}

/// The fields a [`StoredRow`] is read from.
const STORED_ROW: [&str; 4] = [
    field::PAPER,
    field::CONTENT_HASH,
    field::HAS_VECTOR,
    field::VECTOR,
];

/// Every field with its Milvus type, as `describe_collection` reports them.
const FIELDS: [(&str, DataType); 12] = [
    (field::ID, DataType::VarChar),
    (field::PAPER_ID, DataType::VarChar),
    (field::TEXT, DataType::VarChar),
    (field::SPARSE, DataType::SparseFloatVector),
    (field::VECTOR, DataType::FloatVector),
    (field::HAS_VECTOR, DataType::Bool),
    (field::PUBLISHED, DataType::Int64),
    (field::CATEGORIES, DataType::Array),
    (field::SOURCE, DataType::VarChar),
    (field::CONTENT_HASH, DataType::Int64),
    (field::SHARD, DataType::Int64),
    (field::PAPER, DataType::VarChar),
];

/// Shards of the embedding work: a paper's `shard` is its content hash modulo this, and
/// worker `i` of `n` takes the shards in `[i * SHARDS / n, (i + 1) * SHARDS / n)`.
pub const SHARDS: u64 = 1024;

impl MilvusStore {
    /// Connects and opens the existing collection, checking its schema.
    pub fn open(config: &MilvusConfig) -> Result<Self, MilvusError> {
        Self::connect(config, None)
    }

    /// Connects and opens the existing collection to read its papers, also when an earlier
    /// AcademicHub wrote it (an older layout: [`Self::scan`] and [`Self::get`] read it, and
    /// writes to it are refused).
    pub fn open_to_read(config: &MilvusConfig) -> Result<Self, MilvusError> {
        let mut store = Self::connected(config)?;
        if !store.exists()? {
            return Err(MilvusError::NoCollection {
                uri: config.uri.clone(),
                collection: config.collection.clone(),
            });
        }
        store.info = store.check_schema(true)?;
        Ok(store)
    }

    /// Connects and opens the collection, creating it for `model` (name and dimension) when it
    /// does not exist; an existing collection must hold vectors of that model.
    pub fn open_or_create(config: &MilvusConfig, model: &ModelId) -> Result<Self, MilvusError> {
        Self::connect(config, Some(model))
    }

    fn connect(config: &MilvusConfig, create_for: Option<&ModelId>) -> Result<Self, MilvusError> {
        let mut store = Self::connected(config)?;
        let uri = config.uri.clone();
        store.info = match (store.exists()?, create_for) {
            (true, want) => {
                let info = store.check_schema(false)?;
                if let Some(m) = want {
                    if m.name != info.model || m.dims != info.dims {
                        return Err(MilvusError::Schema {
                            collection: config.collection.clone(),
                            found: format!("vectors of {} ({} dimensions)", info.model, info.dims),
                            expected: format!("vectors of {} ({} dimensions)", m.name, m.dims),
                        });
                    }
                }
                info
            }
            (false, Some(m)) => store.create(m)?,
            (false, None) => {
                return Err(MilvusError::NoCollection {
                    uri,
                    collection: config.collection.clone(),
                })
            }
        };
        Ok(store)
    }

    /// A connected store whose collection is not opened yet.
    fn connected(config: &MilvusConfig) -> Result<Self, MilvusError> {
        let (runtime, client) = connect_client(config)?;
        Ok(MilvusStore {
            runtime: ClientRuntime(Some(runtime)),
            client,
            config: config.clone(),
            info: CollectionInfo {
                layout: LAYOUT_VERSION,
                model: String::new(),
                dims: 0,
            },
            recent_counts: std::sync::Mutex::new(HashMap::new()),
            state_dir: None,
        })
    }

    /// This store with `dir` as the deployment's local state directory: the collection holds
    /// the papers, `dir` what AcademicHub keeps beside them (radars and their delivery logs).
    pub fn with_state_dir(mut self, dir: std::path::PathBuf) -> Self {
        self.state_dir = Some(dir);
        self
    }

    /// The local state directory, when one was given ([`Self::with_state_dir`]).
    pub fn state_dir(&self) -> Option<&std::path::Path> {
        self.state_dir.as_deref()
    }

    /// True when the collection exists.
    fn exists(&self) -> Result<bool, MilvusError> {
        let r = self.call("has_collection", |c, name| async move {
            c.has_collection(
                HasCollectionRequest::builder()
                    .collection_name(name)
                    .build()?,
            )
            .await
        })?;
        Ok(r.exists())
    }

    /// The collection's layout and model.
    pub fn info(&self) -> &CollectionInfo {
        &self.info
    }

    /// Checks that vectors of `model` belong in this collection.
    pub fn check_model(&self, model: &ModelId) -> Result<(), MilvusError> {
        if model.name == self.info.model && model.dims == self.info.dims {
            return Ok(());
        }
        Err(MilvusError::Schema {
            collection: self.config.collection.clone(),
            found: format!(
                "vectors of {} ({} dimensions)",
                self.info.model, self.info.dims
            ),
            expected: format!("vectors of {} ({} dimensions)", model.name, model.dims),
        })
    }

    /// The configuration this store was opened with.
    pub fn config(&self) -> &MilvusConfig {
        &self.config
    }

    /// Runs one client call with the deadline, mapping errors to [`MilvusError`].
    fn call<T, F, Fut>(&self, what: &'static str, f: F) -> Result<T, MilvusError>
    where
        F: FnOnce(ClientV2, String) -> Fut,
        Fut: Future<Output = milvus::v2::error::Result<T>>,
    {
        let fut = f(self.client.clone(), self.config.collection.clone());
        let ms = self.config.timeout_ms;
        let Some(runtime) = self.runtime.0.as_ref() else {
            return Err(MilvusError::Config(
                "the client runtime is shut down".into(),
            ));
        };
        match runtime.block_on(async { tokio::time::timeout(Duration::from_millis(ms), fut).await })
        {
            Err(_) => Err(MilvusError::Timeout {
                uri: self.config.uri.clone(),
                what,
                ms,
            }),
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.classify(what, e)),
        }
    }

    fn classify(&self, what: &'static str, e: milvus::v2::error::Error) -> MilvusError {
        use milvus::v2::error::Error as E;
        let unreachable = |e: &E| matches!(e, E::Grpc(_) | E::Timeout(_) | E::Cancelled(_));
        let down = match &e {
            E::RetryExhausted { source, .. } => unreachable(source),
            other => unreachable(other),
        };
        let not_loaded = match &e {
            E::Server(s) => {
                // Milvus's CollectionNotLoaded (101); milvus-lite says "released".
                let reason = s.reason().to_ascii_lowercase();
                s.code() == 101 || reason.contains("not loaded") || reason.contains("released")
            }
            _ => false,
        };
        if down {
            MilvusError::Unavailable {
                uri: self.config.uri.clone(),
                reason: e.to_string(),
            }
        } else if not_loaded {
            MilvusError::NotLoaded {
                what,
                reason: e.to_string(),
            }
        } else {
            MilvusError::Request {
                what,
                reason: e.to_string(),
            }
        }
    }

    /// Creates the collection for `model`, with its BM25 function and indexes, and loads it.
    fn create(&self, model: &ModelId) -> Result<CollectionInfo, MilvusError> {
        let info = CollectionInfo {
            layout: LAYOUT_VERSION,
            model: model.name.clone(),
            dims: model.dims,
        };
        let recorded = serde_json::to_string(&info).unwrap_or_default();
        let description = format!("{DESCRIPTION_TAG}{recorded}");
        // Milvus-lite offers only the standard and jieba tokenizers, and no stemmer: the text
        // is written as the index's terms (stems, Chinese words) set apart by spaces, which
        // `standard` + `lowercase` keeps as they are, and queries search the same terms.
        let analyzer = json!({"tokenizer": "standard", "filter": ["lowercase"]});
        let varchar = |name: &str, len: usize| {
            FieldSchema::new()
                .name(name)
                .data_type(DataType::VarChar)
                .max_length(len as u32)
        };
        let schema = CollectionSchema::new()
            .description(description.clone())
            .add_field(varchar(field::ID, crate::paper::MAX_ID_BYTES).primary_key(true))
            .add_field(varchar(field::PAPER_ID, crate::paper::MAX_ID_BYTES))
            .add_field(
                varchar(field::TEXT, MAX_VARCHAR)
                    .enable_analyzer(true)
                    .enable_match(true)
                    .analyzer_params(analyzer),
            )
            .add_field(
                FieldSchema::new()
                    .name(field::SPARSE)
                    .data_type(DataType::SparseFloatVector),
            )
            .add_field(
                FieldSchema::new()
                    .name(field::VECTOR)
                    .data_type(DataType::FloatVector)
                    .dimension(model.dims as u32)
                    .nullable(true),
            )
            .add_field(
                FieldSchema::new()
                    .name(field::HAS_VECTOR)
                    .data_type(DataType::Bool),
            )
            .add_field(
                FieldSchema::new()
                    .name(field::PUBLISHED)
                    .data_type(DataType::Int64)
                    .nullable(true),
            )
            .add_field(
                FieldSchema::new()
                    .name(field::CATEGORIES)
                    .data_type(DataType::Array)
                    .element_type(DataType::VarChar)
                    .max_capacity(MAX_CATEGORIES as u32)
                    .max_length(MAX_NAME as u32),
            )
            .add_field(varchar(field::SOURCE, MAX_NAME))
            .add_field(
                FieldSchema::new()
                    .name(field::CONTENT_HASH)
                    .data_type(DataType::Int64),
            )
            .add_field(
                FieldSchema::new()
                    .name(field::SHARD)
                    .data_type(DataType::Int64),
            )
            .add_field(varchar(field::PAPER, MAX_VARCHAR))
            .add_function(
                Function::new()
                    .name("text_bm25")
                    .function_type(FunctionType::Bm25)
                    .input_fields([field::TEXT])
                    .output_fields([field::SPARSE]),
            );
        self.call("create_collection", |c, name| async move {
            c.create_collection(
                CreateCollectionRequest::builder()
                    .collection_name(name)
                    .description(description)
                    .properties(HashMap::from([(INFO_PROPERTY.to_string(), recorded)]))
                    .schema(schema)
                    .build()?,
            )
            .await
        })?;
        for (f, kind, metric) in [
            (
                field::SPARSE,
                IndexType::SparseInvertedIndex,
                MetricType::Bm25,
            ),
            // Vectors are unit length: inner product is cosine.
            (
                field::VECTOR,
                self.config.vector_index_type()?,
                MetricType::Ip,
            ),
        ] {
            self.call("create_index", |c, name| async move {
                c.create_index(
                    CreateIndexRequest::builder()
                        .collection_name(name)
                        .index_param(
                            IndexParam::new()
                                .field_name(f)
                                .index_type(kind)
                                .metric_type(metric),
                        )
                        // milvus-lite cannot wait for an index build; the collection loads
                        // once it is registered.
                        .sync(false)
                        .build()?,
                )
                .await
            })?;
        }
        self.load()?;
        Ok(info)
    }

    /// Runs the read `op`; when Milvus says the collection is not loaded (released, or Milvus
    /// restarted without loading it), loads it and runs `op` once more.
    fn reading<T>(&self, op: impl Fn() -> Result<T, MilvusError>) -> Result<T, MilvusError> {
        match op() {
            Err(MilvusError::NotLoaded { reason, .. }) => {
                tracing::warn!(collection = %self.config.collection, %reason, "the Milvus collection is not loaded: loading it");
                self.load()?;
                op()
            }
            other => other,
        }
    }

    fn load(&self) -> Result<(), MilvusError> {
        self.call("load_collection", |c, name| async move {
            c.load_collection(
                LoadCollectionRequest::builder()
                    .collection_name(name)
                    .build()?,
            )
            .await
        })?;
        Ok(())
    }

    /// Reads the collection's schema and checks it is the one this code writes (with `older`,
    /// or one an earlier AcademicHub wrote: the same fields, read but never written).
    fn check_schema(&self, older: bool) -> Result<CollectionInfo, MilvusError> {
        let d = self.call("describe_collection", |c, name| async move {
            c.describe_collection(
                DescribeCollectionRequest::builder()
                    .collection_name(name)
                    .build()?,
            )
            .await
        })?;
        let schema = d.description().get_schema();
        let found: HashMap<&str, (DataType, u32)> = schema
            .get_fields()
            .iter()
            .map(|f| (f.get_name(), (f.get_data_type(), f.get_dimension())))
            .collect();
        let mismatch = |found: String| MilvusError::Schema {
            collection: self.config.collection.clone(),
            found,
            expected: format!(
                "the fields {} (layout {LAYOUT_VERSION} of AcademicHub)",
                FIELDS
                    .iter()
                    .map(|(n, t)| format!("{n}: {t:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        for (name, kind) in FIELDS {
            match found.get(name) {
                None => return Err(mismatch(format!("no field {name:?}"))),
                Some((t, _)) if *t != kind => {
                    return Err(mismatch(format!("field {name:?} of type {t:?}")))
                }
                _ => {}
            }
        }
        let desc = d.description();
        let info: CollectionInfo = desc
            .get_properties()
            .get(INFO_PROPERTY)
            .map(String::as_str)
            .or_else(|| desc.get_description().strip_prefix(DESCRIPTION_TAG))
            .or_else(|| schema.get_description().strip_prefix(DESCRIPTION_TAG))
            .and_then(|j| serde_json::from_str(j).ok())
            .ok_or_else(|| {
                mismatch(format!(
                    "no {INFO_PROPERTY:?} property (a collection AcademicHub did not create; \
                     description {:?})",
                    desc.get_description()
                ))
            })?;
        let dims = found.get(field::VECTOR).map_or(0, |(_, d)| *d as usize);
        let readable = info.layout == LAYOUT_VERSION || (older && info.layout < LAYOUT_VERSION);
        if !readable || dims != info.dims {
            // Layout 1 holds the papers' words unstemmed: its papers (the `paper` field) and
            // vectors are all there, and `academichub copy` writes them into a new collection.
            let hint = if info.layout < LAYOUT_VERSION {
                " written by an earlier AcademicHub (copy its papers and vectors into a new \
                 collection with `academichub copy --from-collection`)"
            } else {
                ""
            };
            return Err(mismatch(format!(
                "layout {} with {dims}-dimensional vectors of {} ({} recorded){hint}",
                info.layout, info.model, info.dims
            )));
        }
        // A collection another process created may not be loaded yet; loading is idempotent.
        self.load()?;
        Ok(info)
    }

    /// Drops the collection when it exists, whatever its schema (tests, a fresh import).
    pub fn drop_collection(config: &MilvusConfig) -> Result<(), MilvusError> {
        let store = Self::connected(config)?;
        if store.exists()? {
            store.call("drop_collection", |c, name| async move {
                c.drop_collection(
                    DropCollectionRequest::builder()
                        .collection_name(name)
                        .build()?,
                )
                .await
            })?;
        }
        Ok(())
    }

    /// The row of `paper` with its vector (`None`: searchable by words only).
    fn row(&self, paper: &Paper, vector: Option<&[f32]>) -> Result<Value, String> {
        if let Some(v) = vector {
            if v.len() != self.info.dims {
                return Err(format!(
                    "its vector has {} dimensions, the collection {}",
                    v.len(),
                    self.info.dims
                ));
            }
        }
        let text = truncate(
            &[
                paper.title.as_str(),
                paper.abstract_text.as_str(),
                paper.search_extra.as_str(),
            ]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
            MAX_VARCHAR,
        );
        let stored = serde_json::to_string(paper).map_err(|e| e.to_string())?;
        if stored.len() > MAX_VARCHAR {
            return Err(format!(
                "the paper is {} bytes as JSON; a Milvus VarChar holds at most {MAX_VARCHAR}",
                stored.len()
            ));
        }
        let categories: Vec<String> = paper
            .categories
            .iter()
            .take(MAX_CATEGORIES)
            .map(|c| truncate(c, MAX_NAME))
            .collect();
        Ok(json!({
            field::ID: key(&paper.id),
            field::PAPER_ID: paper.id.as_str(),
            // The index's terms: Milvus does not stem, and its `standard` tokenizer takes a run
            // of CJK characters for one word (Chinese papers' BM25 nDCG@10 0.09 on CSL).
            field::TEXT: truncate_words(&crate::analysis::terms_text(&text), MAX_VARCHAR),
            field::VECTOR: vector,
            field::HAS_VECTOR: vector.is_some(),
            field::PUBLISHED: paper.published.map(days),
            field::CATEGORIES: categories,
            field::SOURCE: truncate(&paper.source, MAX_NAME),
            // Bits of the u64 hash, stored as Milvus's signed Int64.
            field::CONTENT_HASH: paper.content_hash() as i64,
            field::SHARD: paper.content_hash() % SHARDS,
            field::PAPER: stored,
        }))
    }

    /// Upserts papers with their vectors (replacing papers with the same id). A batch is
    /// written whole or reported failed after [`WRITE_ATTEMPTS`]; a paper Milvus cannot hold
    /// (too long) is returned with the reason and the rest is written.
    /// The papers among `papers` that [`upsert`](Self::upsert) would refuse, with why (a field
    /// too long for its VarChar, a vector of the wrong size); nothing is written.
    pub fn refusals(&self, papers: &[(Paper, Option<Vec<f32>>)]) -> Vec<(PaperId, String)> {
        papers
            .iter()
            .filter_map(|(p, v)| {
                self.row(p, v.as_deref())
                    .err()
                    .map(|why| (p.id.clone(), why))
            })
            .collect()
    }

    pub fn upsert(
        &self,
        papers: &[(Paper, Option<Vec<f32>>)],
    ) -> Result<Vec<(PaperId, String)>, MilvusError> {
        self.check_writable()?;
        let mut refused = Vec::new();
        let mut rows = Vec::with_capacity(papers.len());
        for (p, v) in papers {
            match self.row(p, v.as_deref()) {
                Ok(r) => rows.push(r),
                Err(why) => refused.push((p.id.clone(), why)),
            }
        }
        for chunk in rows.chunks(WRITE_BATCH) {
            self.write_with_retry(chunk)?;
        }
        Ok(refused)
    }

    /// Writes go only to a collection of this code's layout (one opened by
    /// [`Self::open_to_read`] may be older).
    fn check_writable(&self) -> Result<(), MilvusError> {
        if self.info.layout == LAYOUT_VERSION {
            return Ok(());
        }
        Err(MilvusError::Schema {
            collection: self.config.collection.clone(),
            found: format!("layout {} (opened to be read)", self.info.layout),
            expected: format!("layout {LAYOUT_VERSION} to write to it"),
        })
    }

    fn write_with_retry(&self, rows: &[Value]) -> Result<(), MilvusError> {
        let done = self.write_attempts(rows);
        // Whatever happened, the counts may have changed.
        self.forget_counts();
        done
    }

    fn write_attempts(&self, rows: &[Value]) -> Result<(), MilvusError> {
        let mut last = String::new();
        let mut unavailable = false;
        for attempt in 1..=WRITE_ATTEMPTS {
            let batch = rows.to_vec();
            let result = self.call("upsert", |c, name| async move {
                c.upsert(
                    UpsertRequest::builder()
                        .insert(
                            InsertRequest::builder()
                                .collection_name(name)
                                .rows(batch)
                                .build()?,
                        )
                        .build()?,
                )
                .await
            });
            match result {
                Ok(r) if r.upsert_count() as usize == rows.len() => return Ok(()),
                Ok(r) => {
                    unavailable = false;
                    last = format!(
                        "Milvus acknowledged {} of {} rows",
                        r.upsert_count(),
                        rows.len()
                    )
                }
                Err(e) => {
                    unavailable = e.is_unavailable();
                    last = e.to_string();
                }
            }
            if attempt < WRITE_ATTEMPTS {
                std::thread::sleep(Duration::from_millis(200 * u64::from(attempt)));
            }
        }
        Err(MilvusError::WriteFailed {
            papers: rows.len(),
            attempts: WRITE_ATTEMPTS,
            reason: last,
            unavailable,
        })
    }

    /// Deletes papers by id; returns how many of them the collection held.
    pub fn delete(&self, ids: &[PaperId]) -> Result<u64, MilvusError> {
        self.check_writable()?;
        let mut held = 0;
        for chunk in ids.chunks(WRITE_BATCH) {
            held += self.get(chunk)?.len() as u64;
            let filter = format!("{} in {}", field::ID, key_list(chunk));
            let deleted = self.call("delete", |c, name| async move {
                c.delete(
                    DeleteRequest::builder()
                        .collection_name(name)
                        .filter(filter)
                        .build()?,
                )
                .await
            });
            self.forget_counts();
            deleted?;
        }
        Ok(held)
    }

    /// The stored papers among `ids` (in no particular order), with their vectors.
    pub fn get(&self, ids: &[PaperId]) -> Result<Vec<StoredRow>, MilvusError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(WRITE_BATCH) {
            let filter = format!("{} in {}", field::ID, key_list(chunk));
            let results = self.query(filter, &STORED_ROW, chunk.len())?;
            for row in rows(&results)? {
                out.push(stored_row(&row)?);
            }
        }
        Ok(out)
    }

    /// Up to `limit` papers without a vector (what the embedder does next).
    pub fn without_vectors(&self, limit: usize) -> Result<Vec<Paper>, MilvusError> {
        self.without_vectors_for(limit, None)
    }

    /// Up to `limit` papers without a vector; with `worker = Some((i, n))` only those of worker
    /// `i`'s shards (one share of the work for each of `n` workers; see [`SHARDS`]).
    pub fn without_vectors_for(
        &self,
        limit: usize,
        worker: Option<(u32, u32)>,
    ) -> Result<Vec<Paper>, MilvusError> {
        let mut filter = format!("{} == false", field::HAS_VECTOR);
        if let Some((i, n)) = worker {
            if n == 0 || i >= n {
                return Err(MilvusError::Config(format!(
                    "worker {i} of {n}: the worker number must be below the worker count"
                )));
            }
            // Ranges, not `%`: milvus-lite's expressions have no arithmetic.
            let (lo, hi) = (
                u64::from(i) * SHARDS / u64::from(n),
                u64::from(i + 1) * SHARDS / u64::from(n),
            );
            filter = and(
                &filter,
                &format!("{s} >= {lo} and {s} < {hi}", s = field::SHARD),
            );
        }
        let results = self.query(filter, &[field::PAPER, field::CONTENT_HASH], limit)?;
        rows(&results)?
            .iter()
            .map(|r| stored_row(r).map(|s| s.paper))
            .collect()
    }

    /// Up to `limit` papers spread evenly over the collection: those of its first shards (a
    /// shard is a hash of the paper's text, so any run of shards is an even sample), read a few
    /// thousand at a time.
    pub fn sample(&self, limit: usize) -> Result<Vec<Paper>, MilvusError> {
        let total = self.count_where("")?;
        if total == 0 || limit == 0 {
            return Ok(Vec::new());
        }
        // Shards per request: about SAMPLE_READ papers each.
        const SAMPLE_READ: u64 = 2_000;
        let step = (SHARDS * SAMPLE_READ / total).clamp(1, SHARDS);
        let mut out = Vec::with_capacity(limit.min(total as usize));
        let mut lo = 0;
        while lo < SHARDS && out.len() < limit {
            let hi = (lo + step).min(SHARDS);
            let filter = format!("{s} >= {lo} and {s} < {hi}", s = field::SHARD);
            let results = self.query(filter, &[field::PAPER], MAX_TOPK)?;
            for row in rows(&results)? {
                if out.len() == limit {
                    break;
                }
                out.push(paper_of(&row)?);
            }
            lo = hi;
        }
        Ok(out)
    }

    /// Calls `f` with every paper of the collection and its vector, a few hundred at a time,
    /// in no particular order: the papers of a run of shards per request, a run split in two
    /// (down to one shard, then ranges of content hashes) when it holds more than one request
    /// may bring back. A paper written meanwhile may be missed.
    pub fn scan<E: From<MilvusError>>(
        &self,
        f: impl FnMut(Vec<StoredRow>) -> Result<(), E>,
    ) -> Result<(), E> {
        self.scan_in(SCAN_LIMIT, f)
    }

    /// [`Self::scan`] with requests of at most `limit` papers (at least 2), sized for a
    /// quarter of that.
    pub fn scan_in<E: From<MilvusError>>(
        &self,
        limit: usize,
        mut f: impl FnMut(Vec<StoredRow>) -> Result<(), E>,
    ) -> Result<(), E> {
        let limit = limit.max(2);
        let total = self.count_where("")?;
        if total == 0 {
            return Ok(());
        }
        // Shards per request: about a quarter of `limit` papers each.
        let expected = (limit as u64 / 4).max(1);
        let step = (SHARDS * expected / total).clamp(1, SHARDS);
        let mut todo: Vec<ScanRange> = (0..SHARDS)
            .step_by(step as usize)
            .map(|lo| ScanRange::Shards(lo, (lo + step).min(SHARDS)))
            .collect();
        // Popped from the end: shard order.
        todo.reverse();
        while let Some(range) = todo.pop() {
            let filter = match range {
                ScanRange::Shards(lo, hi) => {
                    format!("{s} >= {lo} and {s} < {hi}", s = field::SHARD)
                }
                ScanRange::Hashes(shard, lo, hi) => {
                    let mut f = format!("{} == {shard}", field::SHARD);
                    // No literal for the extremes: `-9223372036854775808` is a negated
                    // literal too large for an Int64.
                    if lo > i64::MIN {
                        f = and(&f, &format!("{} >= {lo}", field::CONTENT_HASH));
                    }
                    if hi < i64::MAX {
                        f = and(&f, &format!("{} <= {hi}", field::CONTENT_HASH));
                    }
                    f
                }
            };
            let results = self.query(filter, &STORED_ROW, limit);
            match results {
                Ok(results) => {
                    let found = rows(&results)?;
                    if found.len() < limit {
                        f(found.iter().map(stored_row).collect::<Result<_, _>>()?)?;
                        continue;
                    }
                }
                // Long papers can make a response larger than gRPC's message limit ("decoded
                // message length too large"): fewer papers per request then.
                Err(MilvusError::Request { reason, .. }) if reason.contains("too large") => {}
                Err(e) => return Err(e.into()),
            }
            // Perhaps more than came back, or too much for one response: read the range in two
            // halves instead.
            match range {
                ScanRange::Shards(lo, hi) if hi - lo > 1 => {
                    let mid = lo + (hi - lo) / 2;
                    todo.extend([ScanRange::Shards(mid, hi), ScanRange::Shards(lo, mid)]);
                }
                ScanRange::Shards(lo, _) => {
                    todo.push(ScanRange::Hashes(lo, i64::MIN, i64::MAX));
                }
                ScanRange::Hashes(shard, lo, hi) if lo < hi => {
                    let mid = ((i128::from(lo) + i128::from(hi)).div_euclid(2)) as i64;
                    todo.extend([
                        ScanRange::Hashes(shard, mid + 1, hi),
                        ScanRange::Hashes(shard, lo, mid),
                    ]);
                }
                ScanRange::Hashes(..) => {
                    return Err(MilvusError::Malformed {
                        what: "a scan of the collection",
                        reason: format!(
                            "{limit} or more papers share one content hash: they cannot be \
                             read apart"
                        ),
                    }
                    .into())
                }
            }
        }
        Ok(())
    }

    fn query(
        &self,
        filter: String,
        fields: &[&str],
        limit: usize,
    ) -> Result<QueryResults, MilvusError> {
        let r = self.reading(|| {
            let fields: Vec<String> = fields.iter().map(|s| s.to_string()).collect();
            let filter = filter.clone();
            self.call("query", |c, name| async move {
                c.query(
                    QueryRequest::builder()
                        .collection_name(name)
                        .filter(filter)
                        .output_fields(fields)
                        .limit(limit.max(1) as i64)
                        .consistency_level(ConsistencyLevel::Strong)
                        .build()?,
                )
                .await
            })
        })?;
        Ok(r.results().clone())
    }

    fn count_where(&self, filter: &str) -> Result<u64, MilvusError> {
        let r = self.reading(|| {
            let filter = filter.to_string();
            self.call("count", |c, name| async move {
                c.query(
                    QueryRequest::builder()
                        .collection_name(name)
                        .filter(filter)
                        .output_fields(["count(*)"])
                        .consistency_level(ConsistencyLevel::Strong)
                        .build()?,
                )
                .await
            })
        })?;
        let rows = rows(r.results())?;
        rows.first()
            .and_then(|row| row.get("count(*)"))
            .and_then(Value::as_u64)
            .ok_or(MilvusError::Malformed {
                what: "count(*)",
                reason: "no count in the answer".into(),
            })
    }

    /// Papers held, and papers with a vector (counted now: health checks, `stats` and the
    /// embedding workers need the current figures).
    pub fn counts(&self) -> Result<Counts, MilvusError> {
        Ok(Counts {
            papers: self.count_where("")?,
            with_vectors: self.count_where(&format!("{} == true", field::HAS_VECTOR))?,
        })
    }

    /// Papers with a vector within `filter`, counted at most [`COUNT_TTL`] ago (what a dense or
    /// hybrid search reports as ranked by meaning).
    pub fn count_with_vectors(&self, filter: &str) -> Result<u64, MilvusError> {
        self.recent_count(&and(&format!("{} == true", field::HAS_VECTOR), filter))
    }

    /// [`MilvusStore::count_where`], reused for [`COUNT_TTL`].
    fn recent_count(&self, filter: &str) -> Result<u64, MilvusError> {
        // A poisoned lock only means a panic elsewhere: the map is still valid.
        let kept = self
            .recent_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(filter)
            .filter(|(at, _)| at.elapsed() < COUNT_TTL)
            .map(|(_, n)| *n);
        if let Some(n) = kept {
            return Ok(n);
        }
        let n = self.count_where(filter)?;
        let mut counts = self.recent_counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= COUNTS_KEPT {
            counts.clear();
        }
        counts.insert(filter.to_string(), (Instant::now(), n));
        Ok(n)
    }

    /// Forgets the recent counts (after this store wrote).
    fn forget_counts(&self) {
        self.recent_counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Seals what was written so far (after a bulk import or an embedding run): Milvus then
    /// serves it from indexed segments instead of scanning growing ones. Only speed depends on
    /// it (the writes were acknowledged before), so a failure is logged, not returned:
    /// milvus-lite refuses flushes that overlap (several embedding workers finishing at once).
    pub fn flush(&self) {
        let done = self.call("flush", |c, name| async move {
            c.flush(FlushRequest::builder().collection_names([name]).build()?)
                .await
        });
        if let Err(e) = done {
            tracing::warn!(error = %e, collection = %self.config.collection, "Milvus flush failed; searches may be slower until the next one");
        }
    }

    /// The BM25 score of the best paper for the single word `word`, `None` when no paper
    /// holds it: whether the collection knows a word, and how rare it is (a rarer word scores
    /// higher), from one search of depth 1.
    pub fn probe(&self, word: &str) -> Result<Option<f32>, MilvusError> {
        Ok(self.bm25(word, "", 1)?.first().map(|(_, s)| *s))
    }

    /// [`MilvusStore::probe`] of every word of `words`, in one search request (a query per
    /// word) instead of a round trip each.
    pub fn probe_all(&self, words: &[String]) -> Result<Vec<Option<f32>>, MilvusError> {
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let each = self.search_each(
            field::SPARSE,
            SearchVectors::EmbeddedText(words.to_vec()),
            "",
            1,
        )?;
        if each.len() != words.len() {
            // Not one result per query (a server that drops empty ones): one word at a time.
            return words.iter().map(|w| self.probe(w)).collect();
        }
        // BM25 comes back negated through some deployments (see `bm25`).
        Ok(each
            .into_iter()
            .map(|hits| hits.first().map(|(_, s)| s.abs()))
            .collect())
    }

    /// The BM25 leg: the `k` best papers for `text` within `filter`, best first, with their
    /// BM25 scores.
    pub fn bm25(
        &self,
        text: &str,
        filter: &str,
        k: usize,
    ) -> Result<Vec<(PaperId, f32)>, MilvusError> {
        if text.trim().is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let hits = self.search(
            field::SPARSE,
            SearchVectors::EmbeddedText(vec![text.to_string()]),
            filter,
            k,
        )?;
        // Milvus returns BM25 as a distance (the negated score) through some deployments
        // (milvus-lite); the order is best first either way.
        let negated = hits.iter().any(|(_, s)| *s < 0.0);
        Ok(hits
            .into_iter()
            .map(|(id, s)| (id, if negated { -s } else { s }))
            .collect())
    }

    /// The dense leg: the `k` papers whose vectors are nearest `vector` (inner product) within
    /// `filter`, best first; only papers with a vector (some deployments, milvus-lite among
    /// them, answer a missing vector with zeros, which would rank at similarity 0).
    pub fn dense(
        &self,
        vector: &[f32],
        filter: &str,
        k: usize,
    ) -> Result<Vec<(PaperId, f32)>, MilvusError> {
        if vector.len() != self.info.dims {
            return Err(MilvusError::Schema {
                collection: self.config.collection.clone(),
                found: format!(
                    "{}-dimensional vectors of {}",
                    self.info.dims, self.info.model
                ),
                expected: format!("a {}-dimensional query vector", vector.len()),
            });
        }
        if k == 0 {
            return Ok(Vec::new());
        }
        self.search(
            field::VECTOR,
            SearchVectors::Float(vec![vector.to_vec()]),
            &and(&format!("{} == true", field::HAS_VECTOR), filter),
            k,
        )
    }

    fn search(
        &self,
        on: &'static str,
        vectors: SearchVectors,
        filter: &str,
        k: usize,
    ) -> Result<Vec<(PaperId, f32)>, MilvusError> {
        Ok(self
            .search_each(on, vectors, filter, k)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// One search request for every query of `vectors`: the hits of each, in their order.
    fn search_each(
        &self,
        on: &'static str,
        vectors: SearchVectors,
        filter: &str,
        k: usize,
    ) -> Result<Vec<Vec<(PaperId, f32)>>, MilvusError> {
        let r = self.reading(|| {
            let filter = filter.to_string();
            let vectors = vectors.clone();
            self.call("search", |c, name| async move {
                let mut b = SearchRequest::builder()
                    .collection_name(name)
                    .vector_field(on)
                    .vectors(vectors)
                    // The id only: reading the stored papers of a whole leg is slow
                    // (milvus-lite), and only a page of them is shown.
                    .output_fields([field::PAPER_ID])
                    .limit(k.min(MAX_TOPK) as i64)
                    .consistency_level(ConsistencyLevel::Strong);
                if !filter.is_empty() {
                    b = b.filter(filter);
                }
                c.search(b.build()?).await
            })
        })?;
        let mut out = Vec::new();
        for result in r.results() {
            let rows = result.rows().map_err(|e| MilvusError::Malformed {
                what: "search rows",
                reason: e.to_string(),
            })?;
            let mut hits = Vec::new();
            for row in rows {
                let row = row.to_entity_row().map_err(|e| MilvusError::Malformed {
                    what: "search row",
                    reason: e.to_string(),
                })?;
                let score = row
                    .get("score")
                    .or_else(|| row.get("distance"))
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0) as f32;
                let id = row.get(field::PAPER_ID).and_then(Value::as_str).ok_or(
                    MilvusError::Malformed {
                        what: "search row",
                        reason: "a hit without its paper id".into(),
                    },
                )?;
                hits.push((PaperId::new(id), score));
            }
            out.push(hits);
        }
        Ok(out)
    }

    /// The source and primary category (first category, "" when none) of the stored papers
    /// among `ids`, in no particular order: what facet counts read.
    pub fn facet_values(&self, ids: &[PaperId]) -> Result<Vec<(String, String)>, MilvusError> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(WRITE_BATCH) {
            let filter = format!("{} in {}", field::ID, key_list(chunk));
            let results = self.query(filter, &[field::SOURCE, field::CATEGORIES], chunk.len())?;
            for row in rows(&results)? {
                let source = row.get(field::SOURCE).and_then(Value::as_str).unwrap_or("");
                let primary = row
                    .get(field::CATEGORIES)
                    .and_then(Value::as_array)
                    .and_then(|a| a.first())
                    .and_then(Value::as_str)
                    .unwrap_or("");
                out.push((source.to_string(), primary.to_string()));
            }
        }
        Ok(out)
    }

    /// The ids of the `want` newest papers within `filter` (by publication date, newest first;
    /// ties by id; papers without a date last), and how many papers pass `filter`. Milvus
    /// neither sorts a query nor returns more than [`MAX_TOPK`] rows of one, so this counts
    /// papers published since a start date moved back from `today` (a week, a month, a year,
    /// then halving the gap to the last too-large window) until the window holds at least
    /// `want` and at most `MAX_TOPK` papers, and sorts that window; `want` beyond `MAX_TOPK`
    /// gives the newest `MAX_TOPK`.
    pub fn newest(
        &self,
        filter: &str,
        want: usize,
        today: time::Date,
    ) -> Result<(Vec<PaperId>, u64), MilvusError> {
        self.newest_within(filter, want, today, MAX_TOPK)
    }

    /// [`MilvusStore::newest`] with `max_rows` in place of [`MAX_TOPK`] (tests exercise the
    /// windows with a small one).
    pub fn newest_within(
        &self,
        filter: &str,
        want: usize,
        today: time::Date,
        max_rows: usize,
    ) -> Result<(Vec<PaperId>, u64), MilvusError> {
        let max_rows = max_rows.clamp(1, MAX_TOPK);
        let total = self.count_where(filter)?;
        let want = want.min(max_rows) as u64;
        if want == 0 || total == 0 {
            return Ok((Vec::new(), total));
        }
        let today = days(today);
        let since = |start: i64| and(filter, &format!("{} >= {start}", field::PUBLISHED));
        // The queries whose rows hold the newest `want`: every paper passing the filter, or
        // those of a window of dates.
        let mut queries = vec![filter.to_string()];
        if total > max_rows as u64 {
            // Grow the window until it holds enough papers; then, when it holds too many,
            // narrow it between the last two starts.
            let (mut inside, mut outside) = (None, today + 1);
            for span in [7, 30, 365, 3_650, 36_500] {
                let start = today - span;
                let n = self.count_where(&since(start))?;
                if n >= want {
                    inside = Some((start, n));
                    break;
                }
                outside = start;
            }
            queries = match inside {
                Some((mut start, mut n)) => {
                    // `outside` holds fewer than `want`; `start` holds at least `want`.
                    while n > max_rows as u64 && outside - start > 1 {
                        let mid = start + (outside - start) / 2;
                        let m = self.count_where(&since(mid))?;
                        if m >= want {
                            (start, n) = (mid, m);
                        } else {
                            outside = mid;
                        }
                    }
                    if n <= max_rows as u64 {
                        vec![since(start)]
                    } else {
                        // More papers share the window's first days than one query returns:
                        // every paper after them, and as many of them as a query gives.
                        vec![
                            since(outside),
                            and(&since(start), &format!("{} < {outside}", field::PUBLISHED)),
                        ]
                    }
                }
                // Fewer than `want` dated papers in a century: those (undated ones are last
                // anyway, past what one query returns).
                None => vec![since(outside)],
            };
        }
        let mut found: Vec<(Option<i64>, String)> = Vec::new();
        for expr in queries {
            let results = self.query(expr, &[field::PAPER_ID, field::PUBLISHED], max_rows)?;
            for row in rows(&results)? {
                let Some(id) = row.get(field::PAPER_ID).and_then(Value::as_str) else {
                    continue;
                };
                let published = row.get(field::PUBLISHED).and_then(Value::as_i64);
                found.push((published, id.to_string()));
            }
        }
        // Newest first, undated last, ties by id.
        found.sort_by(|a, b| match (a.0, b.0) {
            (Some(x), Some(y)) => y.cmp(&x).then_with(|| a.1.cmp(&b.1)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.1.cmp(&b.1),
        });
        Ok((
            found
                .into_iter()
                .take(want as usize)
                .map(|(_, id)| PaperId::new(id))
                .collect(),
            total,
        ))
    }

    /// Stored papers by id, in the order of `ids` (ids the collection lacks are left out);
    /// their vectors are not read.
    pub fn papers(&self, ids: &[PaperId]) -> Result<Vec<Paper>, MilvusError> {
        let mut by_key: HashMap<String, Paper> = HashMap::with_capacity(ids.len());
        for chunk in ids.chunks(WRITE_BATCH) {
            let filter = format!("{} in {}", field::ID, key_list(chunk));
            let results = self.query(filter, &[field::PAPER], chunk.len())?;
            for row in rows(&results)? {
                let p = paper_of(&row)?;
                by_key.insert(key(&p.id), p);
            }
        }
        Ok(ids
            .iter()
            .filter_map(|id| by_key.remove(&key(id)))
            .collect())
    }
}

/// The store's own runtime, shut down without waiting when the store is dropped: a store may
/// then be dropped anywhere, an async context included (where dropping a runtime panics).
struct ClientRuntime(Option<tokio::runtime::Runtime>);

impl Drop for ClientRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

/// The client runtime and a connected client, within the configured deadline.
fn connect_client(
    config: &MilvusConfig,
) -> Result<(tokio::runtime::Runtime, ClientV2), MilvusError> {
    if config.collection.trim().is_empty() {
        return Err(MilvusError::Config("collection is empty".into()));
    }
    config.vector_index_type()?;
    if config.timeout_ms == 0 {
        return Err(MilvusError::Config("timeout_ms must be above 0".into()));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("milvus-client")
        .enable_all()
        .build()
        .map_err(|e| MilvusError::Config(format!("cannot start the client runtime: {e}")))?;
    let timeout = Duration::from_millis(config.timeout_ms);
    let mut connect = ConnectConfig::new()
        .uri(config.uri.clone())
        .connect_timeout(timeout)
        .rpc_timeout(timeout)
        // Retries stay inside one call's deadline: a down server fails fast.
        .retry(
            RetryConfig::new()
                .max_attempts(3)
                .max_retry_timeout(timeout)
                .initial_backoff(Duration::from_millis(50)),
        )
        .telemetry(TelemetryConfig::new().enabled(false));
    if let Ok(token) = std::env::var(&config.token_env) {
        if !token.is_empty() {
            connect = connect.token(token);
        }
    }
    let client = runtime
        .block_on(async { tokio::time::timeout(timeout, ClientV2::new(&connect)).await })
        .map_err(|_| MilvusError::Timeout {
            uri: config.uri.clone(),
            what: "the connection",
            ms: config.timeout_ms,
        })?
        .map_err(|e| MilvusError::Unavailable {
            uri: config.uri.clone(),
            reason: e.to_string(),
        })?;
    Ok((runtime, client))
}

/// The primary key of a paper: ids match case-insensitively, as in the tantivy index.
pub fn key(id: &PaperId) -> String {
    id.as_str().to_lowercase()
}

/// `["a", "b"]` as a Milvus list literal of keys.
fn key_list(ids: &[PaperId]) -> String {
    let quoted: Vec<String> = ids.iter().map(|id| quote(&key(id))).collect();
    format!("[{}]", quoted.join(", "))
}

/// A Milvus string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `a and b`, either of which may be empty.
pub fn and(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("({a}) and ({b})"),
    }
}

/// Days since 1970-01-01.
pub fn days(d: time::Date) -> i64 {
    /// Julian day number of 1970-01-01.
    const EPOCH_JULIAN_DAY: i32 = 2_440_588;
    i64::from(d.to_julian_day() - EPOCH_JULIAN_DAY)
}

/// `s` cut to at most `max` bytes at a space, so no word is written cut.
fn truncate_words(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let cut = truncate(s, max);
    if s.as_bytes().get(cut.len()) == Some(&b' ') {
        return cut;
    }
    match cut.rfind(' ') {
        Some(i) => cut[..i].to_string(),
        None => cut,
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn rows(results: &QueryResults) -> Result<Vec<serde_json::Map<String, Value>>, MilvusError> {
    let malformed = |e: milvus::v2::error::Error| MilvusError::Malformed {
        what: "query rows",
        reason: e.to_string(),
    };
    results
        .rows()
        .map_err(malformed)?
        .map(|r| r.to_entity_row().map_err(malformed))
        .collect()
}

fn paper_of(row: &serde_json::Map<String, Value>) -> Result<Paper, MilvusError> {
    let text = row
        .get(field::PAPER)
        .and_then(Value::as_str)
        .ok_or(MilvusError::Malformed {
            what: "paper",
            reason: "a row without its stored paper".into(),
        })?;
    serde_json::from_str(text).map_err(|e| MilvusError::Malformed {
        what: "paper",
        reason: e.to_string(),
    })
}

fn stored_row(row: &serde_json::Map<String, Value>) -> Result<StoredRow, MilvusError> {
    let paper = paper_of(row)?;
    let content_hash = row
        .get(field::CONTENT_HASH)
        .and_then(Value::as_i64)
        .map_or(0, |h| h as u64);
    // `has_vector` decides: some deployments (milvus-lite) answer a null vector with zeros.
    let has_vector = row.get(field::HAS_VECTOR).and_then(Value::as_bool) == Some(true);
    let vector = match row.get(field::VECTOR) {
        Some(Value::Array(xs)) if has_vector => Some(
            xs.iter()
                .map(|x| x.as_f64().map(|f| f as f32))
                .collect::<Option<Vec<f32>>>()
                .ok_or(MilvusError::Malformed {
                    what: "vector",
                    reason: "a vector with a value that is not a number".into(),
                })?,
        ),
        _ => None,
    };
    Ok(StoredRow {
        paper,
        content_hash,
        vector,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_and_joined() {
        assert_eq!(quote(r#"a "b" \c"#), r#""a \"b\" \\c""#);
        assert_eq!(quote("line\nbreak"), "\"line break\"");
        assert_eq!(and("", "x > 1"), "x > 1");
        assert_eq!(and("a", ""), "a");
        assert_eq!(and("a", "b"), "(a) and (b)");
        let ids = [PaperId::new("2401.00001"), PaperId::new("10.1/AbC")];
        assert_eq!(key_list(&ids), r#"["2401.00001", "10.1/abc"]"#);
    }

    #[test]
    fn dates_are_days_since_the_epoch() {
        let d = |y, m, day| time::Date::from_calendar_date(y, m, day).unwrap();
        assert_eq!(days(d(1970, time::Month::January, 1)), 0);
        assert_eq!(days(d(1970, time::Month::January, 2)), 1);
        assert_eq!(days(d(2024, time::Month::March, 1)), 19_783);
        assert_eq!(days(d(1969, time::Month::December, 31)), -1);
    }

    #[test]
    fn vector_index_names_are_checked() {
        let mut c = MilvusConfig::default();
        assert_eq!(c.vector_index_type().unwrap(), IndexType::AutoIndex);
        c.vector_index = "hnsw".into();
        assert_eq!(c.vector_index_type().unwrap(), IndexType::Hnsw);
        c.vector_index = "SCANN".into();
        let err = c.vector_index_type().unwrap_err().to_string();
        assert!(err.contains("\"SCANN\"") && err.contains("FLAT"), "{err}");
    }

    #[test]
    fn truncation_keeps_whole_characters() {
        assert_eq!(truncate("héllo", 2), "h");
        assert_eq!(truncate("héllo", 3), "hé");
        assert_eq!(truncate("abc", 10), "abc");
        // The text field is cut between terms, never inside one.
        assert_eq!(truncate_words("graph neural network", 15), "graph neural");
        assert_eq!(truncate_words("graph neural network", 12), "graph neural");
        assert_eq!(truncate_words("强化 学习", 8), "强化");
        assert_eq!(truncate_words("abc", 10), "abc");
    }
}
