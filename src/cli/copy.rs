//! `academichub copy`

use std::path::PathBuf;
use std::process::ExitCode;

use academichub::index::milvus::{MilvusError, MilvusStore};
use academichub::ingest::{copy_into, CopySource};
use academichub::PaperIndex;
use anyhow::{bail, Context};

#[derive(Debug, clap::Args)]
#[command(group(
    clap::ArgGroup::new("from")
        .required(true)
        .args(["from_index", "from_collection"])
))]
pub struct Args {
    /// Copy the papers of this index directory, with their vectors (moving a single-node
    /// index to Milvus).
    #[arg(long, value_name = "DIR")]
    from_index: Option<PathBuf>,
    /// Copy the papers of this collection on the same Milvus server, with their vectors; it
    /// may be one an earlier AcademicHub wrote (an older layout), which is only read.
    #[arg(long, value_name = "NAME")]
    from_collection: Option<String>,
    /// `--config` names the target: the `[milvus]` collection (created when missing, for the
    /// source's model, else for `--model`).
    #[command(flatten)]
    model: super::ModelArgs,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let Some(config) = a.model.milvus()? else {
        bail!(
            "copy writes into a Milvus collection: give --config with [index] backend = \"milvus\" \
             and the target's [milvus] uri and collection"
        );
    };
    let (index, store);
    let (source, from) = match (&a.from_index, &a.from_collection) {
        (Some(dir), _) => {
            index = PaperIndex::open(dir)
                .with_context(|| format!("cannot open the index at {}", dir.display()))?;
            (
                CopySource::Index(&index),
                format!("the index at {}", dir.display()),
            )
        }
        (None, Some(name)) => {
            if name.trim() == config.collection {
                bail!(
                    "the source and the target are the same collection {name:?}: copy into \
                     another one (name it in the config file's [milvus] collection)"
                );
            }
            let mut from_config = config.clone();
            from_config.collection = name.trim().to_string();
            store = MilvusStore::open_to_read(&from_config)?;
            (
                CopySource::Milvus(&store),
                format!(
                    "the collection {:?} (layout {})",
                    from_config.collection,
                    store.info().layout
                ),
            )
        }
        (None, None) => bail!("give --from-index DIR or --from-collection NAME"),
    };
    let target = match MilvusStore::open(&config) {
        Err(MilvusError::NoCollection { .. }) => {
            let model = match source.model() {
                Some(m) => m,
                None => a.model.model_id()?,
            };
            MilvusStore::open_or_create(&config, &model)?
        }
        opened => opened?,
    };
    let started = std::time::Instant::now();
    let report = copy_into(&source, &target, !a.json)?;
    let secs = started.elapsed().as_secs_f64();
    let to = format!(
        "the Milvus collection {:?} at {}",
        config.collection, config.uri
    );
    if a.json {
        let mut v = serde_json::to_value(&report)?;
        v["seconds"] = serde_json::json!(secs);
        v["from"] = serde_json::json!(from);
        v["to"] = serde_json::json!(to);
        println!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        for e in &report.errors {
            eprintln!("refused: {e}");
        }
        if report.refused as usize > report.errors.len() {
            eprintln!(
                "... and {} more refused papers",
                report.refused as usize - report.errors.len()
            );
        }
        println!(
            "copied {} papers ({} with their vectors, {} refused) from {from} into {to} in {secs:.1}s; it now holds {} papers",
            report.copied, report.with_vectors, report.refused, report.total_papers
        );
    }
    Ok(ExitCode::SUCCESS)
}
