#!/usr/bin/env bash
# Installs everything the lab and the tests need, idempotently: Debian packages, npm dependencies
# (which bring Node 24), and the Kubernetes binaries built from the pinned Go modules in test/k8s-bin
# (kube-apiserver, etcd, kubectl, kube-controller-manager, kube-scheduler, kubelet, kube-proxy,
# crictl), cached in ~/.cache/purelb/k8s/<VERSION>/bin so later clones reuse them, and the helm CLI for
# the chart tests, built from the pinned module in test/helm-bin into ~/.cache/purelb/helm/<version>/bin, and
# Prometheus' PromQL parser (test/promql-bin) for the monitoring test, in ~/.cache/purelb/promql/<hash>/bin.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STEPS=6
step() { printf '\n[setup %s/%s] %s\n' "$1" "$STEPS" "$2"; }
die() { printf '\n[setup] ERROR: %s\n' "$*" >&2; exit 1; }

DEBIAN_PACKAGES=(
  bird2 frr frr-pythontools gobgpd golang-github-osrg-gobgp-dev   # routing daemons + GoBGP protos
  iproute2 iputils-arping ndisc6                                   # address programming, tests' ARP/NDP probes
  openssl procps ca-certificates git                               # test certificates, ps, go fetches
  curl                                                             # lab + e2e: HTTP requests from the client namespace
  containerd runc containernetworking-plugins                      # lab nodes: CRI runtime (ctr too), OCI runtime, CNI bridge/host-local/portmap
  iptables                                                         # kube-proxy (iptables mode), kubelet's canary chains, CNI portmap
  podman debootstrap                                               # images: shipped Dockerfiles built on debootstrapped stand-in bases
  tmux zsh bash-completion                                         # tests: status --watch in a terminal, zsh/bash (kubectl) completion
)

step 1 "Debian packages: ${DEBIAN_PACKAGES[*]}"
missing=()
for p in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing Debian packages (${missing[*]}); run this script as root or install them with apt-get"
  echo "installing: ${missing[*]}"
  apt-get update -q || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
    || die "apt-get install ${missing[*]} failed"
  # On a systemd machine the frr and containerd packages start host-wide daemons; the project runs its
  # own instances in namespaces only (own sockets and state). Stop only what this run just installed.
  for svc in frr containerd; do
    [[ " ${missing[*]} " == *" $svc "* ]] || continue
    if command -v systemctl >/dev/null && systemctl is-active -q "$svc" 2>/dev/null; then systemctl stop "$svc" || true; fi
  done
else
  echo "all present"
fi

step 2 "npm dependencies (pin Node 24 through the 'node' package)"
command -v npm >/dev/null || die "npm is not installed (apt-get install npm, or any Node >= 18 with npm)"
if [[ ! -x node_modules/.bin/node || package-lock.json -nt node_modules/.package-lock.json ]]; then
  # exactly the committed lock (it lists every platform's optional unrs-resolver binding, as npm 11 wants)
  npm ci --no-audit --no-fund || die "npm ci failed"
else
  echo "node_modules up to date"
fi
echo "node for npm scripts: $(node_modules/.bin/node --version)"

step 3 "Go toolchain"
command -v go >/dev/null || die "Go is not installed; a Go >= 1.26.2 toolchain is needed to build the Kubernetes binaries"
export GOTOOLCHAIN=local
gov="$(go env GOVERSION)"
# 1.26 for kube-apiserver 1.36 (test/k8s-bin/go.mod), 1.26.2 for cri-tools 1.36 (test/k8s-bin/crictl/go.mod)
[[ "$(printf '%s\n' go1.26.2 "$gov" | sort -V | head -1)" == go1.26.2 ]] || die "Go $gov is too old: the Kubernetes binaries $(cat test/k8s-bin/VERSION) need go >= 1.26.2"
echo "$gov"

VERSION="$(cat test/k8s-bin/VERSION)"
BIN_DIR="${PURELB_K8S_BIN_DIR:-$HOME/.cache/purelb/k8s/$VERSION/bin}"
# One main package per binary in test/k8s-bin/<name>, all from the one pinned module graph of its go.mod.
K8S_BINARIES=(kube-apiserver etcd kubectl kube-controller-manager kube-scheduler kubelet kube-proxy)
k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' test/k8s-bin/go.mod)"
# crictl is cri-tools' own main package built from its release module, in a module of its own
# (test/k8s-bin/crictl/go.mod): its newer grpc/otel would otherwise change the apiserver's graph.
crictl_version="$(awk '$1 == "sigs.k8s.io/cri-tools" && $2 ~ /^v/ {print $2; exit}' test/k8s-bin/crictl/go.mod)"
step 4 "Kubernetes $k8s_version binaries + crictl $crictl_version in $BIN_DIR"
# cached per binary: adding one to the list builds only that one
missing_bins=()
for b in "${K8S_BINARIES[@]}"; do [[ -x "$BIN_DIR/$b" ]] || missing_bins+=("$b"); done
# crictl has its own version: a bump of test/k8s-bin/crictl/go.mod rebuilds crictl alone
build_crictl=true
if [[ -x "$BIN_DIR/crictl" && "$("$BIN_DIR/crictl" --version 2>/dev/null)" == *" ${crictl_version#v}" ]]; then build_crictl=false; fi
if ((${#missing_bins[@]} == 0)) && ! $build_crictl; then
  echo "cached"
else
  todo=("${missing_bins[@]}"); $build_crictl && todo+=(crictl)
  echo "building ${todo[*]} from the Go module proxy (cold: about 15-20 min for all on 2 cores; cached afterwards)"
  mkdir -p "$(dirname "$BIN_DIR")"   # a new machine has no ~/.cache/purelb yet
  tmp="$(mktemp -d "${BIN_DIR%/bin}.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  start=$SECONDS
  # Static binaries like the upstream release builds, whether or not a C compiler is installed; no VCS
  # stamping (a checkout owned by another user makes git, and so go build, fail).
  export CGO_ENABLED=0
  gobuild=(go build -trimpath -buildvcs=false)
  if ((${#missing_bins[@]})); then
    minor="$(cut -d. -f2 <<<"$k8s_version")"
    # stamp the version like the release build does (kubectl and /version then report v1.x.y, not v0.0.0-master)
    ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1"
    ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
    (cd test/k8s-bin && "${gobuild[@]}" -ldflags="$ldflags" -o "$tmp/" "${missing_bins[@]/#/./}") \
      || die "go build of ${missing_bins[*]} failed (see the messages above)"
  fi
  if $build_crictl; then
    # stamped like cri-tools' Makefile does (no leading v: `crictl --version` says "crictl version 1.36.0")
    (cd test/k8s-bin/crictl && "${gobuild[@]}" -ldflags="-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=${crictl_version#v}" \
      -o "$tmp/crictl" sigs.k8s.io/cri-tools/cmd/crictl) || die "go build of crictl failed (see the messages above)"
  fi
  mkdir -p "$BIN_DIR"
  for b in "${todo[@]}"; do mv -f "$tmp/$b" "$BIN_DIR/"; done
  echo "built in $((SECONDS - start)) s"
fi
for b in kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy; do
  printf '%-24s %s\n' "$b" "$("$BIN_DIR/$b" --version)"
done
printf '%-24s %s\n' crictl "$("$BIN_DIR/crictl" --version)"

# A main package built from a pinned module of its own into a cache dir, unless already there:
# build_go_tool NAME MODULE_DIR PACKAGE LDFLAGS OUT_DIR
build_go_tool() {
  local name=$1 moddir=$2 pkg=$3 ldflags=$4 out=$5 tmpd start=$SECONDS
  if [[ -x "$out/$name" ]]; then echo "cached"; return; fi
  echo "building $name from the Go module proxy (cached afterwards)"
  mkdir -p "$out"
  tmpd="$(mktemp -d "${out%/bin}.build.XXXXXX")"
  (cd "$moddir" && CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="$ldflags" -o "$tmpd/$name" "$pkg") \
    || { rm -rf "$tmpd"; die "go build of $name failed (see the messages above)"; }
  mv -f "$tmpd/$name" "$out/$name" && rm -rf "$tmpd"
  echo "built in $((SECONDS - start)) s"
}

# helm for the chart tests: its own module (test/helm-bin/go.mod, a tool directive) so its client-go graph
# never changes the apiserver's; the main package is built unchanged from the release module, stamped with
# its version (first build: about 2 min on 2 cores).
helm_module="$(awk '$1 == "tool" && $2 ~ /^helm\.sh\/helm\// {print $2; exit}' test/helm-bin/go.mod)"
helm_root="${helm_module%/cmd/helm}"
helm_version="$(awk -v m="$helm_root" '$1 == m && $2 ~ /^v/ {print $2; exit}' test/helm-bin/go.mod)"
HELM_DIR="${PURELB_HELM_BIN_DIR:-$HOME/.cache/purelb/helm/$helm_version/bin}"
step 5 "helm $helm_version in $HELM_DIR"
build_go_tool helm test/helm-bin "$helm_module" \
  "-s -w -X $helm_root/internal/version.version=$helm_version -X $helm_root/internal/version.gitTreeState=clean" "$HELM_DIR"
printf '%-24s %s\n' helm "$("$HELM_DIR/helm" version --short)"

# promql-metrics (test/promql-bin/main.go): Prometheus' own PromQL parser, for the monitoring unit test.
# Cached by a hash of its sources, which test/harness/promql.ts computes the same way.
promql_key="$(cat test/promql-bin/go.mod test/promql-bin/go.sum test/promql-bin/main.go | sha256sum | cut -c1-12)"
PROMQL_DIR="$HOME/.cache/purelb/promql/$promql_key/bin"
step 6 "promql-metrics (Prometheus $(awk '$1 == "require" && $2 == "github.com/prometheus/prometheus" {print $3}' test/promql-bin/go.mod) parser) in $PROMQL_DIR"
build_go_tool promql-metrics test/promql-bin . "-s -w" "$PROMQL_DIR"
printf '\n[setup] done\n'
