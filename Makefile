# vpcctl: run `make demo` to see it work, `make test` to run every test.
GO      ?= go
BIN     := bin/vpcctl
export PATH := /usr/local/go/bin:$(PATH)

.PHONY: all build deps demo test unit e2e bench vet fuzz install lab-check clean

all: build

deps:
	@./scripts/deps.sh

build:
	$(GO) build -o $(BIN) ./cmd/vpcctl

# Starts OVS if none runs, applies labs/00-hello and shows the instances talking.
demo: deps build
	@./scripts/demo.sh

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed: $$out"; exit 1; fi

# Unit tests of pure code, then end-to-end tests against a real OVS (root).
test: deps build vet
	$(GO) test -count=1 -timeout 50m ./...

unit: build
	$(GO) test -count=1 ./config/... ./flows/...

e2e: deps build
	$(GO) test -count=1 -timeout 50m -v ./tests/...

fuzz:
	$(GO) test ./config -run '^$$' -fuzz FuzzParse -fuzztime 60s

bench: deps build
	@./scripts/bench.sh

# Checks the Tasks of a lab on the live host: make lab-check LAB=2 [FILE=/tmp/lab02.yaml] [ANSWERS=...]
lab-check: build
	@$(if $(LAB),,echo "usage: make lab-check LAB=N" && exit 2)
	$(BIN) lab check $(LAB) $(if $(FILE),-f $(FILE)) $(if $(ANSWERS),--answers $(ANSWERS))

# Installs the binary and the systemd unit of the daemon (vpcctl@NAME runs
# `vpcctl daemon -f /etc/vpcctl/NAME.yaml`); DESTDIR for packaging.
PREFIX  ?= /usr/local
UNITDIR ?= /etc/systemd/system
install: build
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/vpcctl
	install -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/vpcctl
	sed 's|/usr/local/bin/vpcctl|$(PREFIX)/bin/vpcctl|' dist/systemd/vpcctl@.service > $(DESTDIR)$(UNITDIR)/vpcctl@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/vpcctl@.service
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi

clean:
	rm -rf bin
