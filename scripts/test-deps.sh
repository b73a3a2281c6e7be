#!/usr/bin/env bash
# Installs what the test suite needs beyond Go, idempotently (fast when
# everything is already there):
#   - yanglint (Debian package libyang2-tools), for test/yanglint;
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
