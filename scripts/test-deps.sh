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
