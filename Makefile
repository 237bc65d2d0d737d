# The two commands of the README: `make run` and `make test`.
DATASETS ?= ../shared/datasets
INDEX    ?= index-data/papers
DEMO     ?= $(DATASETS)/corpora/arxiv-118k.jsonl.gz
FIXTURE  := tests/fixtures/arxiv-mini.jsonl.gz
BIN      := target/release/academichub

.PHONY: run test build demo-index fmt clippy unit bench-build eval bench

build:
	cargo build --release --locked

# Import the demo corpus (the 118K arXiv papers when the shared datasets are present, else the
# committed 250-paper capture), then show what the index holds and an example search.
run: build
	@if [ -f "$(DEMO)" ]; then src="$(DEMO)"; else echo "($(DEMO) not found: using the committed fixture $(FIXTURE))"; src="$(FIXTURE)"; fi; \
	 $(BIN) import --format arxiv-jsonl "$$src" --index $(INDEX)
	$(BIN) stats --index $(INDEX) --top 10
	$(BIN) search "large language models reasoning" --index $(INDEX) -k 5

# Every gate CI runs.
test: fmt clippy unit bench-build

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --all-targets --locked -- -D warnings

unit:
	cargo test --locked

bench-build:
	cargo bench --no-run --locked

# Relevance numbers of BENCHMARKS.md.
eval: build
	$(BIN) eval --dataset $(DATASETS)/beir/scifact
	$(BIN) eval --dataset $(DATASETS)/beir/cranfield
	$(BIN) eval --dataset $(DATASETS)/zh/csl-title2abstract

bench:
	cargo bench --bench search
	cargo bench --bench import
