# Tether: the two commands a new user types are `make run` and `make test`.
SHELL := /bin/bash
NODE := node --import tsx --conditions=tether-source
DEPS := node_modules/.package-lock.json

.PHONY: run build test typecheck migrate bench bench-short bench-ends bench-cluster bench-embedded-memory capacity fuzz clean

# Installs from the lockfile when node_modules is missing or older than the lockfile.
$(DEPS): package-lock.json
	npm ci --no-audit --no-fund
	mkdir -p node_modules/.bin && ln -sfn ../../bin/tether.js node_modules/.bin/tether

# Production start (and the client package, tether/client: dist/client's JavaScript and .d.ts, also
# built by `npm pack` through prepack): JavaScript built once into dist/ (tsc rewrites the .ts imports to .js), rebuilt
# only when a source is newer than the build, started with plain node: no TypeScript loader at run
# time. dist/sql links to sql/, so migrations are found relative to the module as from the sources.
SOURCES := $(shell find server rpc-methods client -name '*.ts') $(shell find console -type f) tsconfig.json tsconfig.build.json
BUILT := dist/.built
$(BUILT): $(SOURCES) $(DEPS)
	rm -rf dist
	npx tsc -p tsconfig.build.json
	# The .d.ts keep the sources' '.ts' specifiers: a project without allowImportingTsExtensions
	# (tsc's default) needs the '.js' the JavaScript beside them has.
	find dist -name '*.d.ts' -exec sed -i -E "s#(['\"]\.{1,2}/[^'\"]*)\.ts(['\"])#\1.js\2#g" {} +
	ln -sfn ../sql dist/sql
	# The operator console's files (index.html, app.js bundled by esbuild, console.css), served at /console/.
	$(NODE) console/build.ts dist/console
	touch $@

build: $(BUILT)

run: $(BUILT)
	node dist/server/main.js

# NO_TYPECHECK=1 skips the typecheck (CI types once, then runs the suite on both store pairs).
test: $(DEPS)
	$(if $(NO_TYPECHECK),,npx tsc --noEmit)
	$(NODE) tests/run.ts $(TESTS)

typecheck: $(DEPS)
	npx tsc --noEmit

# The benchmark: Tether beside its baselines, on real PostgreSQL (DATABASE_URL names the server on which
# the database BENCH_DB, default tether_bench, is recreated; default the local one) and a redis-server
# of its own. The load generator is wrk (Debian's package, installed here when missing and apt-get can).
# This process and the load generator run on core 1, the servers on core 0.
PIN := $(shell command -v taskset >/dev/null && [ $$(nproc) -ge 2 ] && echo taskset -c 1)
WRK:
	@command -v wrk >/dev/null || { command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ] && (apt-get update -qq && apt-get install -y -qq wrk); } || echo "wrk not installed (apt-get install wrk): the bench falls back to autocannon"
.PHONY: WRK
bench: $(BUILT) WRK
	$(PIN) $(NODE) bench/run.ts

bench-short: $(BUILT) WRK
	BENCH_SHORT=1 $(PIN) $(NODE) bench/run.ts

# The capacity model (bench/capacity.ts): the README's "Scaling out" table, computed from a bench
# results file (RESULTS, default bench/results/latest.json, which a full `make bench` writes), printed
# and written between the README's capacity markers.
RESULTS ?= bench/results/latest.json
capacity: $(DEPS)
	$(NODE) bench/capacity.ts $(RESULTS) --write-readme

# What an end costs for a user with 200k ended sessions, beside a user with none (bench/endsCost.ts).
bench-ends: $(DEPS)
	$(NODE) bench/endsCost.ts

# The Redis Cluster layout's cost beside one Redis, the cache alone (bench/clusterCost.ts): throwaway servers.
bench-cluster: $(DEPS)
	$(NODE) bench/clusterCost.ts

# Embedded mode's RSS: `make run`'s server on PGlite, at start and after CALLS (2000) calls; RUNS (1).
bench-embedded-memory: $(BUILT)
	$(NODE) bench/embeddedMemory.ts

migrate: $(DEPS)
	$(NODE) server/cli.ts migrate

clean:
	rm -rf data dist

# Long seeded fuzz run over HTTP (tests/fuzz.ts): FUZZ_CASES (20000), FUZZ_SEED, FUZZ_ONLY=N replays one case.
fuzz: $(DEPS)
	$(NODE) tests/fuzz.ts
