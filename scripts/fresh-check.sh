#!/usr/bin/env bash
# Runs a command the way a new machine would run it, without a new machine: in a copy of the checkout
# (tracked and new files: no node_modules, nothing git ignores) with an empty HOME (no ~/.cache with
# cached Kubernetes binaries, no ~/.npm, ~/.npmrc, ~/go or Go env file) and none of the caller's
# XDG, npm or Go path settings. Only the Go module and build caches are kept, for time: Go checks both
# by content hash, so they can hide no missing install step. Everything is removed afterwards.
#
#   bash scripts/fresh-check.sh                          # scripts/test.sh, the README's test command
#   bash scripts/fresh-check.sh bash scripts/setup.sh    # only the install steps (a few minutes)
#
# .ci/run runs the README's two commands through it, so every CI run proves the install steps.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
(($#)) || set -- bash scripts/test.sh

# Read the caller's Go caches before HOME changes (a Go env file under the old HOME may move them).
go_caches=()
if command -v go >/dev/null; then
  for var in GOMODCACHE GOCACHE; do
    dir="$(GOTOOLCHAIN=local go env "$var" 2>/dev/null || true)"
    [[ -n "$dir" && -d "$dir" ]] && go_caches+=("$var=$dir")
  done
fi

fresh="$(mktemp -d "${TMPDIR:-/tmp}/purelb-fresh.XXXXXX")"
# Go writes its module files read-only: make everything writable so rm can remove it.
cleanup() { chmod -R u+w "$fresh" 2>/dev/null || true; rm -rf "$fresh"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir "$fresh/home" "$fresh/src"

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  # what a clone plus the uncommitted changes holds (files deleted in the work tree are skipped)
  git ls-files -z --cached --others --exclude-standard \
    | while IFS= read -r -d '' f; do [[ -e "$f" || -L "$f" ]] && printf '%s\0' "$f"; done \
    | tar -C "$ROOT" --null -T - -cf - | tar -C "$fresh/src" -xf -
else
  tar -C "$ROOT" --exclude=./node_modules --exclude=./.git -cf - . | tar -C "$fresh/src" -xf -
fi

# Settings a new machine does not have. The network settings (proxies, GOPROXY, registries given in
# /etc) stay: they describe the machine, not a cache.
unset_vars=(XDG_CACHE_HOME XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME GOPATH GOENV GOFLAGS GOBIN PURELB_K8S_BIN_DIR)
while IFS='=' read -r var _; do
  [[ "$var" =~ ^(npm_config_|NPM_CONFIG_|npm_package_|npm_lifecycle_) ]] && unset_vars+=("$var")
done < <(env)

printf '[fresh-check] empty HOME %s, checkout copy %s\n' "$fresh/home" "$fresh/src"
printf '[fresh-check] kept: %s\n' "${go_caches[*]:-(no Go caches)}"
printf '[fresh-check] running: %s\n' "$*"
start=$SECONDS
rc=0
(cd "$fresh/src" && env "${unset_vars[@]/#/-u}" HOME="$fresh/home" "${go_caches[@]}" "$@") || rc=$?
printf '\n[fresh-check] %s exited %s after %s s\n' "$*" "$rc" "$((SECONDS - start))"
exit "$rc"
