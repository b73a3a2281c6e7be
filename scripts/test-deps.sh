#!/usr/bin/env bash
# Installs what the test suite needs beyond Go, idempotently (fast when
# everything is already there):
#   - yanglint (Debian package libyang2-tools), for test/yanglint;
#   - git with git-http-backend (Debian package git), for the fleet's git
#     sources (internal/testenv/gitserver);
#   - the OpenAPI validator @apidevtools/swagger-cli, into .tmp/node (git-ignored),
#     for internal/api/openapi.
set -euo pipefail
cd "$(dirname "$0")/.."

SWAGGER_CLI_VERSION=4.0.4

if ! dpkg -s libyang2-tools >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends libyang2-tools
fi

# Node.js and npm (Debian packages nodejs, npm): the OpenAPI validator below
# and the web portal's build (make portal: web/, docs/portal.md).
if ! command -v npm >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm \
    || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends nodejs npm; }
fi

if [ ! -x /usr/lib/git-core/git-http-backend ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git \
    || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends git; }
fi

cli=.tmp/node/node_modules/.bin/swagger-cli
if [ ! -x "$cli" ] || [ "$("$cli" --version 2>/dev/null)" != "$SWAGGER_CLI_VERSION" ]; then
  mkdir -p .tmp/node
  npm install --prefix .tmp/node --no-audit --no-fund --loglevel=error \
    "@apidevtools/swagger-cli@$SWAGGER_CLI_VERSION"
fi

# OpenConfig's reference gNMI client gnmi_cli, for test/gnmi (which finds it
# in $(go env GOPATH)/bin).
GNMI_CLI_VERSION=v0.14.1
gnmi_cli="$(go env GOPATH | cut -d: -f1)/bin/gnmi_cli"
if [ ! -x "$gnmi_cli" ]; then
  go install "github.com/openconfig/gnmi/cmd/gnmi_cli@$GNMI_CLI_VERSION"
fi

# --- identity provider (issue 4: internal/testenv/idp, docs/identity.md) ------
# OpenLDAP's slapd + client tools (Debian packages slapd, ldap-utils; the
# package's own service is not used: tests start their own slapd), and the
# npm OIDC provider library oidc-provider with the LDAP client ldapts, into
# .tmp/node-idp (git-ignored).
OIDC_PROVIDER_VERSION=9.13.3
LDAPTS_VERSION=8.0.17
if ! dpkg -s slapd >/dev/null 2>&1 || ! dpkg -s ldap-utils >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils \
    || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils; }
fi
idp_ok=1
for pkg in "oidc-provider@$OIDC_PROVIDER_VERSION" "ldapts@$LDAPTS_VERSION"; do
  name=${pkg%@*}; want=${pkg##*@}
  have=$(node -p "require('./.tmp/node-idp/node_modules/$name/package.json').version" 2>/dev/null || true)
  if [ "$have" != "$want" ]; then idp_ok=0; fi
done
if [ "$idp_ok" -ne 1 ]; then
  mkdir -p .tmp/node-idp
  npm install --prefix .tmp/node-idp --no-audit --no-fund --loglevel=error \
    "oidc-provider@$OIDC_PROVIDER_VERSION" "ldapts@$LDAPTS_VERSION"
fi
# --- end identity provider ------------------------------------------------------

# --- etcd (issue 5: the store on etcd; test/e2e starts its own members) --------
# Debian's etcd-server (3.4; AMP's client speaks its v3 API); the package's
# own service is not used.
if ! command -v etcd >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server \
    || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-server; }
  # The package starts a system etcd on 2379; tests use their own ports,
  # but do not leave an unused daemon running.
  $sudo systemctl disable --now etcd >/dev/null 2>&1 || $sudo pkill -x etcd || true
fi

# --- Chromium (issue 11: test/e2e renders the rack elevation SVG headless) -----
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium \
    || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium; }
fi
# --- artifact validators (issue 11: internal/provision/render) ----------------
# netplan (netplan generate --root-dir), Kea (kea-dhcp4 -t) and BIND's
# named-checkzone/named-checkconf check the rendered netplan, DHCP and DNS
# files; the packages' own services are not used. ansible-core's
# ansible-inventory reads the rendered Ansible inventory; ipxe ships the boot
# images (undionly.kpxe, ipxe.efi) a management server hands out with the
# rendered iPXE menu.
render_pkgs=""
for pkg in netplan.io kea-dhcp4-server bind9-utils ansible-core ipxe; do
  dpkg -s "$pkg" >/dev/null 2>&1 || render_pkgs="$render_pkgs $pkg"
done
if [ -n "$render_pkgs" ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $render_pkgs \
    || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $render_pkgs; }
  $sudo systemctl disable --now kea-dhcp4-server >/dev/null 2>&1 || true
fi
# --- end artifact validators ----------------------------------------------------

# --- Prometheus and Alertmanager (issue 14: internal/testenv/prometheus) ------
# Debian's prometheus (prometheus, promtool) and prometheus-alertmanager
# (prometheus-alertmanager, amtool): the monitor tests run their own on
# loopback and check AMP's rendered files with promtool and amtool; the
# packages' own services are not used.
mon_pkgs=""
for pkg in prometheus prometheus-alertmanager; do
  dpkg -s "$pkg" >/dev/null 2>&1 || mon_pkgs="$mon_pkgs $pkg"
done
if [ -n "$mon_pkgs" ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  # shellcheck disable=SC2086
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $mon_pkgs \
    || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $mon_pkgs; }
  $sudo systemctl disable --now prometheus prometheus-alertmanager >/dev/null 2>&1 || true
fi
# --- end Prometheus and Alertmanager --------------------------------------------

# --- kube-apiserver and kube-controller-manager (issues 12, 13: -------------
# internal/testenv/kube, the simulated sites) -----------------------------------
# A real kube-apiserver and kube-controller-manager (the Deployment,
# ReplicaSet, StatefulSet, DaemonSet, Job, garbage-collector and namespace
# controllers turn a Helm release into pods; internal/testenv/kubelet stands
# in for the kubelet), built from the Go module proxy (k8s.io/kubernetes is
# not `go install`-able: its go.mod replaces every k8s.io/* staging module, so
# a throwaway wrapper module repeats those replaces), into a cache outside the
# repository; internal/testenv/kube runs them on Debian's etcd (above). The
# first build of each takes about 6 minutes on a quiet machine; later runs see
# the binary report the wanted version and do nothing. AMP_KUBE_APISERVER and
# AMP_KUBE_CONTROLLER_MANAGER point the tests at other binaries.
KUBE_VERSION=1.35.4
kube_dir="${XDG_CACHE_HOME:-$HOME/.cache}/amp-test-tools/kube-v$KUBE_VERSION"
for kube_cmd in kube-apiserver kube-controller-manager; do
  if [ "$("$kube_dir/$kube_cmd" --version 2>/dev/null)" = "Kubernetes v$KUBE_VERSION" ]; then
    continue
  fi
  kube_work=$(mktemp -d)
  trap 'rm -rf "$kube_work"' EXIT
  (
    cd "$kube_work"
    export GOWORK=off GOFLAGS=-mod=mod
    go mod init "amp-test-tools/$kube_cmd" >/dev/null 2>&1
    # k8s.io/kubernetes's go.mod replaces each staging module (k8s.io/api,
    # k8s.io/apiserver, …) with its local copy; the proxy has them as
    # v0.<minor>.<patch>.
    kube_gomod=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
    for m in $(sed -n '/^replace (/,/^)/p' "$kube_gomod" | awk '/=>/{print $1}'); do
      go mod edit -replace="$m=$m@v0.${KUBE_VERSION#1.}" -require="$m@v0.${KUBE_VERSION#1.}"
    done
    go mod edit -require="k8s.io/kubernetes@v$KUBE_VERSION"
    printf '//go:build tools\n\npackage tools\n\nimport _ "k8s.io/kubernetes/cmd/%s"\n' "$kube_cmd" >tools.go
    go mod tidy
    # Stamp the version: unstamped, the server reports v0.0.0-master, which
    # discovery clients (Helm's kubeVersion checks) reject.
    v=k8s.io/component-base/version
    minor=${KUBE_VERSION#1.}; minor=${minor%%.*}
    go build -trimpath -ldflags "-s -w -X $v.gitVersion=v$KUBE_VERSION -X $v.gitMajor=1 -X $v.gitMinor=$minor -X $v.gitTreeState=clean" \
      -o "$kube_cmd" "k8s.io/kubernetes/cmd/$kube_cmd"
  )
  mkdir -p "$kube_dir"
  mv "$kube_work/$kube_cmd" "$kube_dir/$kube_cmd.new"
  mv "$kube_dir/$kube_cmd.new" "$kube_dir/$kube_cmd"
  rm -rf "$kube_work"
  trap - EXIT
  "$kube_dir/$kube_cmd" --version
done
# systemd-analyze checks the agent's unit, deploy/systemd/amp-agent.service
# (test/deploy); only the tool is used, no systemd runs.
if ! command -v systemd-analyze >/dev/null 2>&1; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd \
    || { $sudo apt-get update && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends systemd; }
fi
# --- end kube-apiserver ---------------------------------------------------------
# --- sealed-secrets (issue 13 part 7: internal/seal, internal/agent/sealed) ----
# Bitnami's sealed-secrets controller and kubeseal, built from the Go module
# proxy into a cache outside the repository: the tests seal with AMP and
# unseal with the real controller (run against internal/testenv/kube), and
# seal with the real kubeseal for AMP's agent to unseal. v0.40.0's go.mod
# names the module github.com/bitnami/sealed-secrets while the proxy serves
# it as github.com/bitnami-labs/sealed-secrets, so it is not
# `go install`-able: a throwaway wrapper module replaces one by the other.
SEALED_SECRETS_VERSION=0.40.0
ss_dir="${XDG_CACHE_HOME:-$HOME/.cache}/amp-test-tools/sealed-secrets-v$SEALED_SECRETS_VERSION"
if [ ! -x "$ss_dir/controller" ] || [ ! -x "$ss_dir/kubeseal" ]; then
  ss_work=$(mktemp -d)
  trap 'rm -rf "$ss_work"' EXIT
  (
    cd "$ss_work"
    export GOWORK=off GOFLAGS=-mod=mod
    go mod init amp-test-tools/sealed-secrets >/dev/null 2>&1
    go mod edit -require="github.com/bitnami/sealed-secrets@v$SEALED_SECRETS_VERSION" \
      -replace="github.com/bitnami/sealed-secrets=github.com/bitnami-labs/sealed-secrets@v$SEALED_SECRETS_VERSION"
    printf '//go:build tools\n\npackage tools\n\nimport (\n\t_ "github.com/bitnami/sealed-secrets/cmd/controller"\n\t_ "github.com/bitnami/sealed-secrets/cmd/kubeseal"\n)\n' >tools.go
    go mod tidy
    go build -trimpath -ldflags "-s -w -X main.VERSION=v$SEALED_SECRETS_VERSION" -o controller github.com/bitnami/sealed-secrets/cmd/controller
    go build -trimpath -ldflags "-s -w -X main.VERSION=v$SEALED_SECRETS_VERSION" -o kubeseal github.com/bitnami/sealed-secrets/cmd/kubeseal
  )
  mkdir -p "$ss_dir"
  for b in controller kubeseal; do
    mv "$ss_work/$b" "$ss_dir/$b.new" && mv "$ss_dir/$b.new" "$ss_dir/$b"
  done
  rm -rf "$ss_work"
  trap - EXIT
fi
# --- end sealed-secrets ---------------------------------------------------------
# --- VictoriaLogs (issue 14 item 5: internal/testenv/victorialogs, docs/logging.md)
# The log store the tests ship to over Loki's push API and query with
# LogsQL: github.com/VictoriaMetrics/VictoriaLogs (Apache-2.0), built from
# the Go module proxy into a cache outside the repository (about 2 minutes
# on a quiet machine). Grafana Loki itself is AGPL and not used.
VICTORIALOGS_VERSION=1.52.2
vl_dir="${XDG_CACHE_HOME:-$HOME/.cache}/amp-test-tools/victorialogs-v$VICTORIALOGS_VERSION"
if [ ! -x "$vl_dir/victoria-logs" ]; then
  mkdir -p "$vl_dir"
  GOWORK=off GOBIN="$vl_dir" go install -trimpath -ldflags "-s -w" \
    "github.com/VictoriaMetrics/VictoriaLogs/app/victoria-logs@v$VICTORIALOGS_VERSION"
fi
# --- end VictoriaLogs -----------------------------------------------------------
# --- Jaeger (issue 14 item 6: internal/testenv/jaeger, test/e2e traces) -------
# Jaeger v2 (an OpenTelemetry Collector distribution with an in-memory trace
# store and Jaeger's query API), built from the Go module proxy into a cache
# outside the repository: the tests point amp serve and amp agent at its OTLP
# receiver and read the trace back through its API. Not `go install`-able
# (its go.mod has a replace), so a throwaway wrapper module repeats it. The
# first build takes about 5 minutes on a quiet machine; later runs find the
# binary and do nothing. AMP_JAEGER points the tests at another binary.
JAEGER_VERSION=1.75.0
jaeger_dir="${XDG_CACHE_HOME:-$HOME/.cache}/amp-test-tools/jaeger-v$JAEGER_VERSION"
if [ ! -x "$jaeger_dir/jaeger" ]; then
  jaeger_work=$(mktemp -d)
  trap 'rm -rf "$jaeger_work"' EXIT
  (
    cd "$jaeger_work"
    export GOWORK=off GOFLAGS=-mod=mod
    go mod init amp-test-tools/jaeger >/dev/null 2>&1
    go mod edit -require="github.com/jaegertracing/jaeger@v$JAEGER_VERSION" \
      -replace=github.com/Shopify/sarama=github.com/Shopify/sarama@v1.33.0
    printf '//go:build tools\n\npackage tools\n\nimport _ "github.com/jaegertracing/jaeger/cmd/jaeger"\n' >tools.go
    go mod tidy
    go build -trimpath -ldflags "-s -w" -o jaeger github.com/jaegertracing/jaeger/cmd/jaeger
  )
  mkdir -p "$jaeger_dir"
  mv "$jaeger_work/jaeger" "$jaeger_dir/jaeger.new" && mv "$jaeger_dir/jaeger.new" "$jaeger_dir/jaeger"
  rm -rf "$jaeger_work"
  trap - EXIT
fi
# --- end Jaeger -------------------------------------------------------------------
