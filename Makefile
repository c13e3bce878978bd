# sagebox: `make run` starts the emulator, `make test` runs every test, `make bench` compares
# sagebox with its peers. Python clients live in .venv (created on first use).

CARGO   ?= cargo
PYTHON  ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
BIN     := target/debug/sagebox
ARGS    ?=

# `make image`: the sagebox image (IMAGE_PROFILE=dev packs the debug build, as the tests do).
IMAGE         ?= sagebox:latest
IMAGE_PROFILE ?= release
IMAGE_BIN     := target/$(if $(filter dev,$(IMAGE_PROFILE)),debug,$(IMAGE_PROFILE))/sagebox

.PHONY: run build release wheel image test test-rust test-clients test-images test-console images doctor lint models-check bench clean-venv

run: build
	$(BIN) serve $(ARGS)

build:
	$(CARGO) build

release:
	$(CARGO) build --release

$(VENV)/.ok: tests/clients/requirements.txt tests/images/requirements.txt tests/console/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r tests/clients/requirements.txt -r tests/images/requirements.txt \
		-r tests/console/requirements.txt
	touch $@

# The SageMaker SDK v3 cannot share a venv with v2: its ModelTrainer test runs in .venv-sdk3.
VENV3   := .venv-sdk3
$(VENV3)/.ok: tests/sdk3/requirements.txt
	$(PYTHON) -m venv $(VENV3)
	$(VENV3)/bin/python -m pip install --quiet --upgrade pip
	$(VENV3)/bin/python -m pip install --quiet -r tests/sdk3/requirements.txt
	touch $@

# The emulator images build in the background while the Rust tests run (on an empty Docker engine
# that overlaps about ten minutes of building with compiling); a test that needs an image still
# being built waits for it (builds take a host-wide lock per image), so nothing is built twice.
test: models-check build $(VENV)/.ok $(VENV3)/.ok
	@echo "building the emulator images in the background (log: target/images-build.log)"
	@$(BIN) images build > target/images-build.log 2>&1 & builder=$$!; \
	$(MAKE) --no-print-directory test-rust test-clients test-images test-console; status=$$?; \
	wait $$builder || echo "the background image build failed: see target/images-build.log"; \
	exit $$status

# The wheel for this platform (target/wheels/): `pip install target/wheels/sagebox-*.whl` puts
# `sagebox` on PATH with the pytest plugin. Other platforms: see README ("Other platforms").
wheel: $(VENV)/.ok
	$(VENV)/bin/maturin build --release --out target/wheels

image:
	$(CARGO) build --profile $(IMAGE_PROFILE) --bin sagebox
	sh tools/container/build.sh $(IMAGE_BIN) $(IMAGE)

# Builds the emulator images that are missing or outdated (needs Docker and mmdebstrap).
images: build
	$(BIN) images build

doctor: build
	$(BIN) doctor

# Each emulator image's train-then-serve contract test; images are built by `sagebox images build`.
test-images: build $(VENV)/.ok
	SAGEBOX_BIN=$(CURDIR)/$(BIN) $(PY) -m pytest -q tests/images

test-rust:
	$(CARGO) test

test-clients: build $(VENV)/.ok $(VENV3)/.ok
	SAGEBOX_BIN=$(CURDIR)/$(BIN) SAGEBOX_SDK3_PYTHON=$(CURDIR)/$(VENV3)/bin/python $(PY) -m pytest -q -rs -n 3 --dist loadfile --durations=15 tests/clients

# The web console in headless Chromium (Debian's chromium and chromedriver; see tests/console).
test-console: build $(VENV)/.ok
	SAGEBOX_BIN=$(CURDIR)/$(BIN) $(PY) -m pytest -q --durations=10 tests/console

# The generated validation tables must match the generator's output for the pinned botocore.
models-check: $(VENV)/.ok
	$(PY) tools/gen_models.py --check

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

bench: release $(VENV)/.ok
	$(PYTHON) tests/bench/bench.py $(ARGS)
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/callgrind.py
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/training.py
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/hosting.py
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/swarm.py
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/waits.py
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/framework.py
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/tuning.py
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/processing.py
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/pipeline.py
	SAGEBOX_BIN=$(CURDIR)/target/release/sagebox $(PY) tests/bench/manyjobs.py
	$(PY) tests/bench/targets.py

clean-venv:
	rm -rf $(VENV)
