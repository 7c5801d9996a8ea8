# Two commands do all set-up on a fresh machine:  make run  /  make test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
HOST ?= 127.0.0.1
PORT ?= 8050
# plotly.js' strict build (no eval, so the CSP needs no 'unsafe-eval'): installed from the npm
# registry like the Python packages, never committed and never loaded from a CDN.
PLOTLY_STRICT_VERSION := 4.1.1
PLOTLY_STRICT := vendor/plotly-strict-$(PLOTLY_STRICT_VERSION).min.js
# Bootstrap's CSS, installed the same way; serving.py serves whichever version vendor/ holds.
BOOTSTRAP_VERSION := 5.3.8
BOOTSTRAP_CSS := vendor/bootstrap-$(BOOTSTRAP_VERSION).min.css
VENDOR_FILES := $(PLOTLY_STRICT) $(BOOTSTRAP_CSS)

.PHONY: run test test-fast lint bench load clean system-deps vendor

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

$(DEV_STAMP): $(STAMP) requirements-dev.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $(DEV_STAMP)

$(PLOTLY_STRICT):
	mkdir -p vendor
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent plotly.js-strict-dist-min@$(PLOTLY_STRICT_VERSION) >/dev/null \
		&& tar -xzf plotly.js-strict-dist-min-$(PLOTLY_STRICT_VERSION).tgz \
		&& cp package/plotly-strict.min.js $(CURDIR)/$@ && cp package/LICENSE $(CURDIR)/vendor/plotly-LICENSE.txt \
		&& rm -rf $$tmp

$(BOOTSTRAP_CSS):
	mkdir -p vendor
	tmp=$$(mktemp -d) && cd $$tmp && npm pack --silent bootstrap@$(BOOTSTRAP_VERSION) >/dev/null \
		&& tar -xzf bootstrap-$(BOOTSTRAP_VERSION).tgz \
		&& cp package/dist/css/bootstrap.min.css $(CURDIR)/$@ && cp package/LICENSE $(CURDIR)/vendor/bootstrap-LICENSE.txt \
		&& rm -rf $$tmp

## vendor: the plotly.js strict bundle and Bootstrap's CSS the app serves (also run before `gcloud app deploy`)
vendor: $(VENDOR_FILES)

## run: start the app in local mode on the bundled sample (data/data.csv)
run: $(STAMP) $(VENDOR_FILES)
	$(BIN)/python app.py --local --host $(HOST) --port $(PORT) $(if $(DATA),--data $(DATA))

## system-deps: Debian packages the tests use (Chromium + driver, redis-server, nginx); needs root.
## The Pub/Sub emulator test also needs the Google Cloud CLI's google-cloud-cli-pubsub-emulator and Java.
system-deps:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null || ! command -v redis-server >/dev/null \
		|| ! test -x /usr/sbin/nginx; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver redis-server \
			nginx-light >/dev/null; \
	fi

## test: lint, then every test, two at a time (storage against fake-gcs-server, cache against redis-server, browser in Chromium)
test: system-deps $(DEV_STAMP) $(VENDOR_FILES)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q --headless -n 2

## test-fast: lint, then the pure-logic tests only, on every core: no browser, no real server, no Debian packages
test-fast: $(DEV_STAMP) $(PLOTLY_STRICT)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -n auto -m "not browser and not integration"

## lint: ruff only
lint: $(DEV_STAMP)
	$(BIN)/ruff check .

## bench: print the benchmark table and append it, dated, to docs/benchmarks/make-bench.md (not part of make test)
bench: system-deps $(DEV_STAMP) $(VENDOR_FILES)
	@command -v wrk >/dev/null || (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || true)
	$(BIN)/pip install --quiet --no-deps -r requirements-bench.txt
	$(BIN)/python -m bench.record make-bench -- $(BIN)/python -m bench.bench

## load: the live channel, then open dashboards per instance; each appended, dated, to docs/benchmarks/ (not part of make test)
load: system-deps $(DEV_STAMP) $(VENDOR_FILES)
	@command -v wrk >/dev/null || (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null 2>&1 || true)
	$(BIN)/python -m bench.record live-channel -- $(BIN)/python -m bench.live_channel
	$(BIN)/python -m bench.record load -- $(BIN)/python -m bench.load

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
