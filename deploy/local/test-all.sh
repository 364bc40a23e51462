#!/usr/bin/env bash
# Runs every check and test tier in order and ends with one line "N passed, N failed":
# the totals of all vitest tiers, plus one failure for each static check that failed.
# Called by `./dev test` (and CI) with the toolchain already on PATH.
set -uo pipefail
cd "${WRIT_ROOT:?}"
report_dir="$WRIT_ROOT/.local/test-reports"
rm -rf "$report_dir" && mkdir -p "$report_dir"
failed_checks=0
stamp() { date +%s; }

check() {
  local name="$1"; shift
  local t0; t0=$(stamp)
  echo "== $name"
  if "$@"; then echo "-- $name ok ($(( $(stamp) - t0 )) s)"; else echo "-- $name FAILED"; failed_checks=$((failed_checks + 1)); fi
}

# The Nx boundary rule reads the cached project graph: compute it first.
lint_all() { nx show projects >/dev/null && eslint --max-warnings=0 .; }

check "generated contracts are fresh" node --conditions=writ-source libs/contracts/codegen/generate.ts --check
check "schemas are backward-transitive compatible" node --conditions=writ-source libs/contracts/codegen/generate.ts --compat
check "typecheck and build" tsc -b tsconfig.build.json
check "typecheck tests" tsc -p tsconfig.spec.json
check "lint" lint_all

for tier in unit int e2e; do
  check "tests: $tier" vitest run --project "$tier" --reporter=default --reporter=json \
    --outputFile.json="$report_dir/$tier.json" --passWithNoTests
done

node -e '
  const fs = require("fs"); const dir = process.argv[1];
  let passed = 0, failed = 0;
  for (const f of fs.readdirSync(dir)) {
    const r = JSON.parse(fs.readFileSync(dir + "/" + f, "utf8"));
    passed += r.numPassedTests; failed += r.numFailedTests;
    if (r.numTotalTestSuites > 0 && r.numFailedTestSuites > 0 && r.numFailedTests === 0) failed += r.numFailedTestSuites;
  }
  fs.writeFileSync(dir + "/totals", passed + " " + failed);
' "$report_dir"
read -r passed failed < "$report_dir/totals"
failed=$((failed + failed_checks))
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
