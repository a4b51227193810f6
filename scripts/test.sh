#!/usr/bin/env bash
# The README's test command: installs what is missing (scripts/setup.sh), then runs every test suite.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
start=$SECONDS
npm test
echo "all test suites passed in $((SECONDS - start)) s"
