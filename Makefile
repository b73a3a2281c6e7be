# AMP: the two commands every contributor needs.
#   make run    start AMP on this machine with the embedded store and demo data
#               (the portal at https://127.0.0.1:8181/, built first when missing)
#   make test   install test dependencies and run the whole test suite
.PHONY: run test build bench bench-compare fuzz soak soak-etcd portal portal-screenshots

run:
	@test -f web/dist/index.html || $(MAKE) portal
	go run ./cmd/amp serve --demo

# The web portal (docs/portal.md): npm ci (cached in web/node_modules while
# package-lock.json is unchanged), typecheck, bundle into web/dist, which
# go build embeds.
portal: web/node_modules/.package-lock.json
	cd web && npm run --silent build

# Screenshots of the portal's main views for docs/portal.md, taken by its
# browser test as it drives them against amp serve --demo.
portal-screenshots: portal
	mkdir -p docs/portal
	go test -count=1 -run 'TestPortalBasketHistoryInChromium|TestPortalMonitorsInChromium|TestPortalRolloutApproveInChromium|TestPortalRacksInChromium|TestPortalNestedListsDeepInChromium' ./test/e2e/ -args -portal-screenshots=$(CURDIR)/docs/portal

web/node_modules/.package-lock.json: web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

test:
	scripts/test

build:
	go build -o bin/amp ./cmd/amp

# Performance figures of issue 2 (see docs/performance.md).
bench:
	go test -run '^$$' -bench . -benchtime 2s ./internal/store/ ./internal/config/ ./internal/api/rest/

# Issue 12's edge agent at scale (docs/performance.md): N agents simulated in
# this process against the real binary: enrolment, the connected fleet's CPU
# and memory, fan-out of one change. N=10000 on a quiet machine, with the
# file-descriptor limit above N+512 (ulimit -n) in the shell that runs it.
.PHONY: bench-agents
N ?= 1000
WINDOW ?= 2m
PPROF ?=
MEMORY_LIMIT ?=
bench-agents:
	AMP_BENCH_AGENTS=$(N) AMP_BENCH_WINDOW=$(WINDOW) AMP_BENCH_PPROF=$(PPROF) AMP_BENCH_MEMORY_LIMIT=$(MEMORY_LIMIT) go test -run '^$$' -bench BenchmarkAgentFleet -benchtime 1x -timeout 60m ./test/e2e/

# Issue 13's first figure: a bundle version rolled out to 1,000 clusters
# (simulated agents in-process), with its same-run baseline.
.PHONY: bench-rollout
bench-rollout:
	go test -run '^$$' -bench BenchmarkRollout -benchtime 1x -timeout 10m ./internal/fleet/rollout/

# Issue 13's third figure: webhook received → the site's desired state
# names the pushed version (git http-backend, amp serve, one agent over the
# real link), p50/p99 over PUSHES pushes with the same-run baseline (the
# same version change by a REST commit alone).
.PHONY: bench-webhook
PUSHES ?= 20
bench-webhook:
	AMP_BENCH_PUSHES=$(PUSHES) go test -run '^$$' -bench BenchmarkWebhookToSite -benchtime 1x -timeout 20m ./test/e2e/

# Issue 15's portal figures (docs/portal.md#performance): Chromium through
# chromedp against the real binary with 100,000 SIM cards, each figure with
# its same-run baseline (the same requests by fetch(), nothing rendered).
.PHONY: bench-portal
bench-portal: portal
	go test -run '^$$' -bench BenchmarkPortalInChromium -benchtime 3x -timeout 30m ./test/e2e/
# Issue 14's log shipping (docs/logging.md): lines/s through the shipper
# into a real VictoriaLogs against pushing the same lines directly, same
# run, and the lines lost (must be 0).
.PHONY: bench-logs
bench-logs:
	go test -run '^$$' -bench BenchmarkShipToVictoriaLogs -benchtime 10x ./internal/telemetry/logship/
# Issue 14's log-shipping figure (docs/logging.md, docs/performance.md):
# RATE lines/s from one agent's shipping code through the link and AMP to a
# real VictoriaLogs for RUN, the link cut for OUTAGE in the middle, beside
# BASELINE-long runs at the same rate without the outage, through AMP and
# straight to the store: lines lost or duplicated (by sequence number),
# spool peak, drain time, the agent's CPU.
.PHONY: bench-logs-outage
RATE ?= 10000
RUN ?= 3m
OUTAGE ?= 1m
BASELINE ?= 1m
SPOOL_MAX ?=
bench-logs-outage:
	AMP_BENCH_LOG_RATE=$(RATE) AMP_BENCH_LOG_RUN=$(RUN) AMP_BENCH_LOG_OUTAGE=$(OUTAGE) AMP_BENCH_LOG_BASELINE=$(BASELINE) AMP_BENCH_LOG_SPOOL_MAX=$(SPOOL_MAX) go test -run '^$$' -bench BenchmarkLogShipOutage -benchtime 1x -timeout 40m ./test/e2e/
# Issue 14's monitoring figures (docs/monitoring.md): N sites' agents
# pushing two probe results every INTERVAL through the real link, beside
# check-ins and an idle server in the same run; and the alert latency, a
# probe failure to the webhook, on AMP's default chain (RUNS runs).
.PHONY: bench-probes bench-alerts
SITES ?= 1000
INTERVAL ?= 10s
RUNS ?= 5
RESEND ?= 1m
bench-probes:
	AMP_BENCH_SITES=$(SITES) AMP_BENCH_WINDOW=$(WINDOW) AMP_BENCH_PROBE_INTERVAL=$(INTERVAL) AMP_BENCH_PPROF=$(PPROF) go test -run '^$$' -bench BenchmarkProbeIngest -benchtime 1x -timeout 30m ./test/e2e/
bench-alerts:
	AMP_BENCH_ALERT_RUNS=$(RUNS) AMP_BENCH_ALERT_RESEND=$(RESEND) go test -run '^$$' -bench BenchmarkAlertLatency -benchtime 1x -timeout 30m ./test/e2e/

# This tree against an older commit, alternating, same run:
#   make bench-compare BASE=d7cca15 [ROUNDS=5] [E2E=1]
bench-compare:
	scripts/bench-compare $(BASE)

# Long fuzzing of the JSON decoder and the path parser; the corpus is kept in testdata/fuzz.
fuzz:
	go test -run '^$$' -fuzz FuzzDecodeJSON -fuzztime 5m ./internal/schema/
	go test -run '^$$' -fuzz FuzzResolvePath -fuzztime 5m ./internal/schema/
	go test -run '^$$' -fuzz FuzzXPath -fuzztime 5m ./internal/schema/

# Kill -9 soak: many more kill/restart cycles than the test suite runs.
soak:
	AMP_KILL_ITERATIONS=200 go test -count=1 -run TestKill9LosesNothing -timeout 60m ./test/e2e/

# etcd and replica fault soak: the leader-kill, partition and replica-kill
# tests, AMP_ETCD_SOAK times each (default 20).
soak-etcd:
	go test -count=$${AMP_ETCD_SOAK:-20} -run 'TestEtcdLeaderKilledUnderLoad|TestEtcdMemberPartitionHeals|TestReplicasServeTogether' -timeout 120m ./test/e2e/
