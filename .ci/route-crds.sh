#!/usr/bin/env bash
# The upstream CRDs the exposure tests install (cluster and node tiers), cached by version:
#   ~/.cache/switchboard/gateway-api-<v>/   the Gateway API's standard channel (HTTPRoute,
#                                           GRPCRoute, Gateway, GatewayClass, ReferenceGrant...)
#   ~/.cache/switchboard/cert-manager-<v>/  cert-manager's Certificate CRD
#   ~/.cache/switchboard/envoy-gateway-<v>/ Envoy Gateway's BackendTrafficPolicy CRD
# All come from the Go module proxy (`go mod download`), as their Go modules ship them: plain
# CRD YAML (gateway-api config/crd/standard, cert-manager deploy/crds, Envoy Gateway's Helm
# chart's crds/generated, which Helm applies untemplated). Only CustomResource-
# Definitions are kept (the Gateway API's safe-upgrade admission policy is left out).
# Prints the directories. Run by .ci/go-binaries.sh and, when the cache is empty, by the
# tests (tests/route_crds.py).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tool-versions.env
source .ci/tool-versions.env
CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}"

module_dir() {  # module@version → its extracted directory in the Go module cache
  local scratch dir
  scratch="$(mktemp -d)"  # outside any module, so `go mod download` takes module@version
  dir="$(cd "$scratch" && go mod download -json "$1" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')"
  rm -rf "$scratch"
  echo "$dir"
}

fetch() {  # name version module source-dir file-glob
  local target="$CACHE/$1-$2"
  if [[ ! -f "$target/.complete" ]]; then
    local source partial="$target.partial"
    source="$(module_dir "$3@$2")/$4"
    rm -rf "$partial" && mkdir -p "$partial"
    for file in "$source"/$5; do
      grep -q '^kind: CustomResourceDefinition' "$file" && cp "$file" "$partial/"
    done
    touch "$partial/.complete"
    rm -rf "$target" && mv "$partial" "$target"
  fi
  echo "$target"
}

fetch gateway-api "$GATEWAY_API_VERSION" sigs.k8s.io/gateway-api config/crd/standard '*.yaml'
fetch cert-manager "$CERT_MANAGER_VERSION" github.com/cert-manager/cert-manager deploy/crds \
  'cert-manager.io_certificates.yaml'
fetch envoy-gateway "$ENVOY_GATEWAY_VERSION" github.com/envoyproxy/gateway \
  charts/gateway-helm/crds/generated 'gateway.envoyproxy.io_backendtrafficpolicies.yaml'
