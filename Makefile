# session-revoker: every command a developer, CI or `sam build` runs.
# moto_server and cfn-lint come with the machine image under pyenv; a bare shell may lack
# its shims on PATH.
SHELL := /bin/bash
export PATH := $(PATH):$(HOME)/.pyenv/shims
GO ?= go
FUZZTIME ?= 10s
EVENT ?= events/graph-security-alert.json

.PHONY: test vet fmt-check lint deploy-deps fuzz bench bench-sweep demo demo-poll invoke extract emulator build clean

## test: vet, format, template lint and every test (the README's test command; CI runs it)
# The Graph SDK's models package is a 4-7 minute, 4.5 GB cold build: vet builds it once,
# the lambda.norpc build (the bootstrap tests run it) once more, never both at once.
test: vet fmt-check lint deploy-deps
	$(GO) build -tags lambda.norpc -o /dev/null ./functions/revoke ./functions/webhook
	$(GO) test -count=1 ./...

## deploy-deps: what internal/deploy's checks of the deployed stack need, or a clear failure
# The SAM translator and moto (Python, machine image) transform the template and enforce
# IAM; the Lambda Runtime Interface Emulator is a tool in go.mod, built by go tool.
deploy-deps:
	@for py in python3 $(HOME)/.pyenv/shims/python3; do \
	  command -v $$py >/dev/null && $$py -c 'import moto, samtranslator, cfnlint' 2>/dev/null && exit 0; \
	done; \
	echo "python3 with moto, aws-sam-translator and cfn-lint not found (on PATH or in ~/.pyenv/shims): they come with the machine image; elsewhere: pip install 'moto[server]' cfn-lint"; exit 1
	@$(GO) tool -n aws-lambda-rie >/dev/null || { echo "go tool aws-lambda-rie does not build: it is a tool in go.mod (github.com/aws/aws-lambda-runtime-interface-emulator), fetched through the Go module proxy"; exit 1; }

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change: $$out"; exit 1; fi

## lint: the SAM template, offline
lint:
	@command -v cfn-lint >/dev/null || { echo "cfn-lint not found (it comes with the machine image; elsewhere: pip install cfn-lint)"; exit 1; }
	cfn-lint template.yaml

## fuzz: each fuzz target for FUZZTIME (CI runs them briefly)
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline exceeded"
# as -fuzztime ends, having found nothing (golang/go#75804, fixed in Go 1.27). Such a run
# wrote no crasher to testdata/fuzz: it is reported and passed over. Any other failure,
# or any crasher written, fails.
fuzz:
	@set -e; for pkg in $$($(GO) list ./internal/...); do \
	  dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
	  for target in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "fuzz $$pkg $$target"; \
	    before=$$(ls $$dir/testdata/fuzz/$$target 2>/dev/null | wc -l); \
	    if out=$$($(GO) test -run '^$$' -fuzz "^$$target$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg 2>&1); then \
	      echo "$$out" | tail -2; continue; \
	    fi; \
	    echo "$$out" | tail -25; \
	    after=$$(ls $$dir/testdata/fuzz/$$target 2>/dev/null | wc -l); \
	    if [ "$$after" = "$$before" ] && echo "$$out" | tail -5 | grep -qx '    context deadline exceeded'; then \
	      echo "fuzz $$target: Go's fuzz coordinator race at the -fuzztime deadline (golang/go#75804), no crasher written: not a failure"; \
	    else \
	      exit 1; \
	    fi; \
	  done; \
	done

## bench: recognition per alert, warm handler path, cold start, binary size, and the sweep (bench-sweep)
# The sweep benchmark takes about ten minutes (10,000 users at Graph's pace): hence the timeout.
bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 40m ./internal/... ./functions/...

## bench-sweep: 10,000 users swept at Graph's write quota with alerts arriving, the naive loop beside it, a 100,000-user list planned; the last line is the summary
bench-sweep:
	@mkdir -p bin && rm -f bin/bench-sweep.txt
	@set -o pipefail; SWEEP_BENCH_OUT=$(CURDIR)/bin/bench-sweep.txt $(GO) test -run '^$$' -bench '^BenchmarkSweep$$' -benchtime 1x -timeout 40m ./internal/app | grep -v '^{'
	@cat bin/bench-sweep.txt

## demo: the main job on the embedded default: an impossible-travel alert revoked
demo:
	@$(GO) run ./internal/cmd/local demo

## demo-poll: the pull path: a scheduled poll finds an impossible-travel alert in Graph's alert list and revokes its user
demo-poll:
	@$(GO) run ./internal/cmd/local demo-poll

## invoke EVENT=FILE [DRY_RUN=1]: the real handler against the emulator and moto
invoke:
	@DRY_RUN=$(DRY_RUN) $(GO) run ./internal/cmd/local invoke $(EVENT)

## extract EVENT=FILE: what the function reads from a payload, no network
extract:
	@$(GO) run ./internal/cmd/local extract $(EVENT)

## emulator: the Graph/Entra emulator on loopback; prints KEY=VALUE lines
emulator:
	@$(GO) run ./internal/cmd/emulator

## build: the Lambda bootstraps for arm64, as sam build makes them
build:
	$(MAKE) build-RevokeFunction ARTIFACTS_DIR=$(CURDIR)/bin
	$(MAKE) build-WebhookFunction ARTIFACTS_DIR=$(CURDIR)/bin/webhook

# sam build (BuildMethod: makefile) calls build-<LogicalId> with ARTIFACTS_DIR set.
build-RevokeFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./functions/revoke

# The webhook endpoint links no Graph SDK: it builds in seconds.
build-WebhookFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap ./functions/webhook

clean:
	rm -rf bin .aws-sam
