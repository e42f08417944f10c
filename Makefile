# goaleph build and test entry points. `make test` is what CI runs
# (.ci/run): it installs what is missing, then vets and runs every test,
# including the official TypeScript SDK suite in compat/.

GO  ?= go
NPM ?= npm

# Flags for go test, overridable with GOTESTFLAGS=. A few packages build
# and run real binaries (the node under SIGKILL, the dev chain, micro VMs
# under TCG), so a package may take minutes cold on 2 cores under -race:
# the timeout per package binary is 30 min instead of go test's 10.
GOTESTFLAGS ?= -race -timeout 30m
# CI (CI=true) always runs the tests rather than reporting cached results;
# the build cache still makes the second run fast.
ifeq ($(CI),true)
GOTESTFLAGS += -count=1
endif

# npm ci writes this file last, so it stands for a complete install.
COMPAT_STAMP := compat/node_modules/.package-lock.json

.PHONY: test deps compat-deps build fmt vet gotest

## test: install missing tools and SDK packages, then go vet and go test ./...
test: deps compat-deps vet gotest

## deps: install the system tools the tests need (only those missing)
deps:
	scripts/install-deps.sh

## compat-deps: install the official SDK from compat/package-lock.json when
## compat/node_modules is missing or older than the lock file
compat-deps: $(COMPAT_STAMP)

# --ignore-scripts: no dependency needs its install script (the native
# add-ons have pure-JS fallbacks), so nothing is compiled or fetched at
# install time.
$(COMPAT_STAMP): compat/package-lock.json compat/package.json | deps
	$(NPM) ci --prefix compat --ignore-scripts --no-audit --no-fund
	touch $@

gotest:
	$(GO) test $(GOTESTFLAGS) ./...

## build: build the aleph binary, the static guest agent aleph-guest (the
## compute node's sandbox looks for it next to aleph) and the devnet's
## chain aleph-devchain (aleph devnet looks for it next to aleph) into bin/
build:
	$(GO) build -o bin/aleph ./cmd/aleph
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/aleph-guest ./cmd/aleph-guest
	$(GO) build -o bin/aleph-devchain ./cmd/aleph-devchain

## fmt: gofmt every Go file
fmt:
	$(GO) fmt ./...

## vet: go vet every package
vet:
	$(GO) vet ./...
