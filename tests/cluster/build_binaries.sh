#!/usr/bin/env bash
# Builds the binaries the `cluster` and `node` test tiers run, from Go modules, and caches them
# under ~/.cache/switchboard/bin keyed by version. Safe to re-run: a cached binary is reused.
# Prints the path of the bin directory on the last line.
#   (no option)  etcd + kube-apiserver (the `cluster` tier)
#   --node       also kubelet, kube-controller-manager, kube-scheduler, kube-proxy, kubectl,
#                CoreDNS and KubeRay's operator (the `node` tier)
#
# Why a wrapper module: `go install k8s.io/kubernetes/cmd/kube-apiserver@vX` fails because
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with local paths. A throw-away
# module that requires k8s.io/kubernetes and replaces each staging module with its published
# v0.Y.Z builds it. etcd's server module is built the same way (go install refuses modules that
# carry replace directives). Kubernetes binaries are stamped with their version (-X flags), as
# release builds are, so clients that parse the server's or the node's version get a real one.
set -euo pipefail

KUBE_VERSION="${SWITCHBOARD_KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${SWITCHBOARD_ETCD_VERSION:-v3.6.16}"
KUBERAY_VERSION="${SWITCHBOARD_KUBERAY_VERSION:-v1.6.0}"
COREDNS_VERSION="${SWITCHBOARD_COREDNS_VERSION:-v1.12.4}"
CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}"
BIN="$CACHE/bin"
mkdir -p "$BIN"
# One Go build cache per machine, beside the binaries: a rebuild after a version bump is fast.
export GOCACHE="${GOCACHE:-$CACHE/build/gocache}" GOFLAGS=-buildvcs=false CGO_ENABLED=0

node=0
for arg in "$@"; do
  case "$arg" in
    --node) node=1 ;;
    *) echo "build_binaries: unknown option $arg" >&2; exit 2 ;;
  esac
done

log() { printf '[build_binaries] %s\n' "$*" >&2; }
# Run a noisy go command; show its output only when it fails.
quiet() {
  local out
  if ! out=$("$@" 2>&1); then
    printf '%s\n' "$out" | tail -40 >&2
    log "failed: $*"
    return 1
  fi
}

version_flags() {
  local minor="${KUBE_VERSION#v1.}"; minor="${minor%%.*}" flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=module-build"
    flags+=" -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  printf '%s' "$flags"
}

# build_kubernetes DIR COMMAND...: every command from one wrapper module, in one `go build`.
build_kubernetes() {
  local dir="$1"; shift
  local missing=()
  for c in "$@"; do [[ -x "$dir/$c" ]] || missing+=("$c"); done
  if (( ${#missing[@]} == 0 )); then log "cached: $dir ($*)"; return; fi
  local staging="v0.${KUBE_VERSION#v1.}"
  local work="$CACHE/build/kubernetes-$KUBE_VERSION"
  local start=$SECONDS
  log "building ${missing[*]} $KUBE_VERSION (staging modules $staging)"
  if [[ ! -f "$work/go.sum" ]]; then
    rm -rf "$work" && mkdir -p "$work" && cd "$work"
    quiet go mod init switchboard.local/kubernetes-build
    # Read the staging module names from kubernetes' own go.mod.
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | python3 -c '
import json, sys
info = json.load(sys.stdin)
sys.exit(info.get("Error")) if "GoMod" not in info else print(info["GoMod"])')
    {
      echo "require k8s.io/kubernetes $KUBE_VERSION"
      grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" \
        | awk -v v="$staging" '{print "replace " $1 " => " $1 " " v}'
    } >>go.mod
    # Placeholder imports, so that `go mod tidy` records every dependency of every command.
    cat >main.go <<'GO'
package main

import (
	_ "k8s.io/kubectl/pkg/cmd"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
GO
    quiet env GOFLAGS=-mod=mod go mod tidy
    rm -f main.go
  fi
  cd "$work"
  local pkgs=() c
  for c in "${missing[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  mkdir -p "$dir.tmp"
  quiet env GOFLAGS=-mod=mod go build -trimpath -ldflags="$(version_flags)" -o "$dir.tmp/" "${pkgs[@]}"
  mkdir -p "$dir" && mv "$dir.tmp"/* "$dir/" && rmdir "$dir.tmp"
  log "${missing[*]} built in $((SECONDS - start)) s"
}

build_etcd() {
  local out="$BIN/etcd-$ETCD_VERSION"
  if [[ -x "$out" ]]; then log "cached: $out"; return; fi
  local work="$CACHE/build/etcd-$ETCD_VERSION"
  rm -rf "$work" && mkdir -p "$work" && cd "$work"
  local start=$SECONDS
  log "building etcd $ETCD_VERSION"
  quiet go mod init switchboard.local/etcd-build
  cat >main.go <<'GO'
// Command etcd runs etcd's own entry point; this wrapper exists only so that the server module
// can be built without its replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  quiet go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  quiet env GOFLAGS=-mod=mod go mod tidy
  quiet go build -trimpath -ldflags="-s -w" -o "$out.tmp" .
  mv "$out.tmp" "$out"
  log "etcd built in $((SECONDS - start)) s, $(du -h "$out" | cut -f1)"
}

# go_install NAME MODULE@VERSION: a module whose main package installs as is.
go_install() {
  local name="$1" module="$2" out="$BIN/$1-${2##*@}"
  if [[ -x "$out" ]]; then log "cached: $out"; return; fi
  local start=$SECONDS gobin="$CACHE/build/$name-${module##*@}"
  log "building $module"
  quiet env GOBIN="$gobin" go install -trimpath -ldflags="-s -w" "$module"
  mv "$gobin/$(basename "${module%@*}")" "$out"
  log "$name built in $((SECONDS - start)) s, $(du -h "$out" | cut -f1)"
}

kube_dir="$BIN/kubernetes-$KUBE_VERSION"
build_etcd
if [[ "$node" == 1 ]]; then
  build_kubernetes "$kube_dir" kube-apiserver kubelet kube-controller-manager kube-scheduler \
    kube-proxy kubectl
  go_install coredns "github.com/coredns/coredns@$COREDNS_VERSION"
  go_install ray-operator "github.com/ray-project/kuberay/ray-operator@$KUBERAY_VERSION"
  for c in kubelet kube-controller-manager kube-scheduler kube-proxy kubectl; do
    ln -sf "kubernetes-$KUBE_VERSION/$c" "$BIN/$c"
  done
  ln -sf "coredns-$COREDNS_VERSION" "$BIN/coredns"
  ln -sf "ray-operator-$KUBERAY_VERSION" "$BIN/ray-operator"
else
  build_kubernetes "$kube_dir" kube-apiserver
fi
ln -sf "kubernetes-$KUBE_VERSION/kube-apiserver" "$BIN/kube-apiserver"
ln -sf "etcd-$ETCD_VERSION" "$BIN/etcd"
echo "$BIN"
