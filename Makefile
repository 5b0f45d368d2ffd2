# Tether: the two commands a new user types are `make run` and `make test`.
SHELL := /bin/bash
NODE := node --import tsx
DEPS := node_modules/.package-lock.json

.PHONY: run test typecheck migrate bench bench-short fuzz clean

# Installs from the lockfile when node_modules is missing or older than the lockfile.
$(DEPS): package-lock.json
	npm ci --no-audit --no-fund

run: $(DEPS)
	$(NODE) server/main.ts

# NO_TYPECHECK=1 skips the typecheck (CI types once, then runs the suite on both store pairs).
test: $(DEPS)
	$(if $(NO_TYPECHECK),,npx tsc --noEmit)
	$(NODE) tests/run.ts $(TESTS)

typecheck: $(DEPS)
	npx tsc --noEmit

# The benchmark: Tether beside its baselines, on real PostgreSQL and Redis (DATABASE_URL names the
# server whose database tether_bench it recreates; default the local one). This process and the load
# generator run on core 1, the servers on core 0.
PIN := $(shell command -v taskset >/dev/null && [ $$(nproc) -ge 2 ] && echo taskset -c 1)
bench: $(DEPS)
	$(PIN) $(NODE) bench/run.ts

bench-short: $(DEPS)
	BENCH_SHORT=1 $(PIN) $(NODE) bench/run.ts

migrate: $(DEPS)
	$(NODE) server/cli.ts migrate

clean:
	rm -rf data

# Long seeded fuzz run over HTTP (tests/fuzz.ts): FUZZ_CASES (20000), FUZZ_SEED, FUZZ_ONLY=N replays one case.
fuzz: $(DEPS)
	$(NODE) tests/fuzz.ts
