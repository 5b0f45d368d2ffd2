# Tether: the two commands a new user types are `make run` and `make test`.
SHELL := /bin/bash
NODE := node --import tsx
DEPS := node_modules/.package-lock.json

.PHONY: run test typecheck migrate bench fuzz clean

# Installs from the lockfile when node_modules is missing or older than the lockfile.
$(DEPS): package-lock.json
	npm ci --no-audit --no-fund

run: $(DEPS)
	$(NODE) server/main.ts

test: $(DEPS)
	npx tsc --noEmit
	$(NODE) tests/run.ts $(TESTS)

typecheck: $(DEPS)
	npx tsc --noEmit

migrate: $(DEPS)
	$(NODE) server/cli.ts migrate

clean:
	rm -rf data
