#!/usr/bin/env bash
# The Go-built tools the cluster and node tiers need, cached by version under
# ~/.cache/switchboard/bin: Kubernetes, etcd, CoreDNS and KubeRay (tests/cluster/build_binaries.sh)
# and helm. Run by .ci/bootstrap as a background job.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tool-versions.env
source .ci/tool-versions.env
CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}"
bash tests/cluster/build_binaries.sh --node
helm_bin="$CACHE/bin/helm-$HELM_VERSION"
if [[ ! -x "$helm_bin" ]]; then
  echo "building helm $HELM_VERSION from Go modules (once)"
  GOBIN="$CACHE/build/helm-$HELM_VERSION" go install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mkdir -p "$CACHE/bin" && mv "$CACHE/build/helm-$HELM_VERSION/helm" "$helm_bin"
fi
# The Gateway API's and cert-manager's CRDs (the exposure tests), cached by version.
bash .ci/route-crds.sh
