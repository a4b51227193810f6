#!/usr/bin/env bash
# Installs everything the lab and the tests need, idempotently: Debian packages, npm dependencies
# (which bring Node 24), and a real kube-apiserver + etcd built from the pinned Go module in
# test/k8s-bin, cached in ~/.cache/purelb/k8s/<VERSION>/bin so later clones reuse it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STEPS=4
step() { printf '\n[setup %s/%s] %s\n' "$1" "$STEPS" "$2"; }
die() { printf '\n[setup] ERROR: %s\n' "$*" >&2; exit 1; }

DEBIAN_PACKAGES=(
  bird2 frr frr-pythontools gobgpd golang-github-osrg-gobgp-dev   # routing daemons + GoBGP protos
  iproute2 iputils-arping ndisc6                                   # address programming, GARP, unsolicited NA
  openssl procps ca-certificates git                               # test certificates, ps, go fetches
  curl                                                             # lab + e2e: HTTP requests from the client namespace
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
  # The frr package starts a host-wide FRR; the project runs its own instances in namespaces only.
  if command -v systemctl >/dev/null && systemctl is-active -q frr 2>/dev/null; then systemctl stop frr || true; fi
else
  echo "all present"
fi

step 2 "npm dependencies (pin Node 24 through the 'node' package)"
command -v npm >/dev/null || die "npm is not installed (apt-get install npm, or any Node >= 18 with npm)"
if [[ ! -x node_modules/.bin/node || package-lock.json -nt node_modules/.package-lock.json ]]; then
  # npm install honours package-lock.json; npm ci (npm 11.19) refuses this lock because npm omits the
  # per-platform optional bindings of unrs-resolver (a jest dependency) from lockfiles it writes.
  npm install --no-audit --no-fund || die "npm install failed"
else
  echo "node_modules up to date"
fi
echo "node for npm scripts: $(node_modules/.bin/node --version)"

step 3 "Go toolchain"
command -v go >/dev/null || die "Go is not installed; a Go >= 1.26 toolchain is needed to build kube-apiserver"
export GOTOOLCHAIN=local
gov="$(go env GOVERSION)"
[[ "$(printf '%s\n' go1.26 "$gov" | sort -V | head -1)" == go1.26 ]] || die "Go $gov is too old: kube-apiserver $(cat test/k8s-bin/VERSION) needs go >= 1.26"
echo "$gov"

VERSION="$(cat test/k8s-bin/VERSION)"
BIN_DIR="${PURELB_K8S_BIN_DIR:-$HOME/.cache/purelb/k8s/$VERSION/bin}"
step 4 "kube-apiserver + etcd + kubectl $VERSION in $BIN_DIR"
if [[ -x "$BIN_DIR/kube-apiserver" && -x "$BIN_DIR/etcd" && -x "$BIN_DIR/kubectl" ]]; then
  echo "cached"
else
  echo "building from the Go module proxy (cold: about 5-10 min on 2 cores; cached afterwards)"
  tmp="$(mktemp -d "${BIN_DIR%/bin}.build.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  start=$SECONDS
  k8s_version="$(awk '$1 == "k8s.io/kubernetes" && $2 ~ /^v/ {print $2; exit}' test/k8s-bin/go.mod)"
  minor="$(cut -d. -f2 <<<"$k8s_version")"
  # stamp the version like the release build does (kubectl and /version then report v1.x.y, not v0.0.0-master)
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$k8s_version -X k8s.io/component-base/version.gitMajor=1"
  ldflags+=" -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  ldflags+=" -X k8s.io/client-go/pkg/version.gitVersion=$k8s_version -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  (cd test/k8s-bin && go build -trimpath -ldflags="$ldflags" -o "$tmp/" ./kube-apiserver ./etcd ./kubectl) \
    || die "go build of kube-apiserver/etcd/kubectl failed (see the messages above)"
  mkdir -p "$BIN_DIR"
  mv "$tmp/kube-apiserver" "$tmp/etcd" "$tmp/kubectl" "$BIN_DIR/"
  echo "built in $((SECONDS - start)) s"
fi
"$BIN_DIR/kube-apiserver" --version
printf '\n[setup] done\n'
