#!/usr/bin/env bash
# The one test command (`npm test`, also run by .ci/run on a clean checkout): installs what is
# missing, type-checks, packages the .vsix, then runs the unit, integration and end-to-end tests
# (the last in code-server driven by Playwright in Debian's Chromium) in one run of Node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "test: installing dependencies (npm ci)"
  npm ci --no-audit --no-fund
fi
bash scripts/setupE2e.sh

echo "test: type-checking"
npm run --silent typecheck
echo "test: packaging persona.vsix"
npm run --silent package >/dev/null

files=$(find test/unit test/integration test/e2e -name '*.test.ts' | sort)
# One run, one summary. Files run one at a time: the machine has 2 cores and each end-to-end file
# starts its own VS Code.
exec node --import tsx --test --test-concurrency=1 --test-reporter=spec $files
