#!/usr/bin/env bash
# Builds the kube-apiserver and etcd binaries that the `cluster` test tier runs, from Go modules,
# and caches them under ~/.cache/switchboard/bin keyed by version. Safe to re-run: a cached
# binary is reused. Prints the path of the bin directory on the last line.
#
# Why a wrapper module: `go install k8s.io/kubernetes/cmd/kube-apiserver@vX` fails because
# k8s.io/kubernetes replaces its staging modules (k8s.io/api, ...) with local paths. A throw-away
# module that requires k8s.io/kubernetes and replaces each staging module with its published
# v0.Y.Z builds it. etcd's server module is built the same way (go install refuses modules that
# carry replace directives).
set -euo pipefail

KUBE_VERSION="${SWITCHBOARD_KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${SWITCHBOARD_ETCD_VERSION:-v3.6.16}"
CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}"
BIN="$CACHE/bin"
mkdir -p "$BIN"

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

build_kube_apiserver() {
  local out="$BIN/kube-apiserver-$KUBE_VERSION"
  if [[ -x "$out" ]]; then log "cached: $out"; return; fi
  local staging="v0.${KUBE_VERSION#v1.}"
  local work="$CACHE/build/kube-apiserver-$KUBE_VERSION"
  rm -rf "$work" && mkdir -p "$work" && cd "$work"
  local start=$SECONDS
  log "building kube-apiserver $KUBE_VERSION (staging modules $staging)"
  quiet go mod init switchboard.local/kube-apiserver-build
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
  # A placeholder import, so that `go mod tidy` records every dependency of kube-apiserver.
  cat >main.go <<'GO'
package main

import _ "k8s.io/kubernetes/cmd/kube-apiserver/app"
GO
  quiet env GOFLAGS=-mod=mod go mod tidy
  rm -f main.go
  quiet env GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp" k8s.io/kubernetes/cmd/kube-apiserver
  mv "$out.tmp" "$out"
  log "kube-apiserver built in $((SECONDS - start)) s, $(du -h "$out" | cut -f1)"
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
  quiet env CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o "$out.tmp" .
  mv "$out.tmp" "$out"
  log "etcd built in $((SECONDS - start)) s, $(du -h "$out" | cut -f1)"
}

build_etcd
build_kube_apiserver
ln -sf "kube-apiserver-$KUBE_VERSION" "$BIN/kube-apiserver"
ln -sf "etcd-$ETCD_VERSION" "$BIN/etcd"
echo "$BIN"
