#!/usr/bin/env bash
# The README's main-job command: installs what is missing, then brings the lab up.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec npx purelb lab up "$@"
