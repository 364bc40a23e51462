#!/usr/bin/env bash
# Runs the checks and test tiers and ends with one line "N passed, N failed": the totals of the
# vitest tiers run, plus one failure for each static check that failed. Called by `./dev test`
# (and CI, with no arguments) with the toolchain already on PATH.
#
#   test-all.sh                     every static check, then the unit, int and e2e tiers
#   test-all.sh TIER [PATH...]      the build, then that tier only (unit, int or e2e),
#                                   only its test files under the PATHs when given
#   test-all.sh PATH...             the build, then every tier's test files under the PATHs
set -uo pipefail
cd "${WRIT_ROOT:?}"

TIERS=(unit int e2e)
usage_error() {
  echo "usage: ./dev test [unit|int|e2e] [path...]" >&2
  echo "$1" >&2
  exit 2
}

# With no arguments every static check runs (CI); with a tier or paths only the build.
full=yes
tiers=("${TIERS[@]}")
paths=()
if [ $# -gt 0 ]; then
  full=no
  case "$1" in
    unit | int | e2e) tiers=("$1"); shift ;;
    *) [ -e "$1" ] || usage_error "unknown tier '$1' (allowed: ${TIERS[*]}) and no such path" ;;
  esac
  for path in "$@"; do
    [ -e "$path" ] || usage_error "no such path: $path"
    paths+=("$path")
  done
fi
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

if [ "$full" = yes ]; then
  check "generated contracts are fresh" node --conditions=writ-source libs/contracts/codegen/generate.ts --check
  check "schemas are backward-transitive compatible" node --conditions=writ-source libs/contracts/codegen/generate.ts --compat
fi
check "typecheck and build" tsc -b tsconfig.build.json
# The operator console's bundle: the gateway serves it and the e2e tier drives it in Chromium.
check "console bundle (typecheck and vite build)" bash -c 'tsc -p libs/console-ui/tsconfig.json && vite build --config libs/console-ui/vite.config.ts'
if [ "$full" = yes ]; then
  check "typecheck tests" tsc -p tsconfig.spec.json
  check "lint" lint_all
  check "formatted (prettier; ./dev format fixes it)" prettier --check --log-level warn '**/*.{ts,mjs,js}'
fi

for tier in "${tiers[@]}"; do
  check "tests: $tier${paths[*]:+ (${paths[*]})}" vitest run --project "$tier" --reporter=default --reporter=json \
    --outputFile.json="$report_dir/$tier.json" --passWithNoTests "${paths[@]}"
done

node -e '
  const fs = require("fs"); const dir = process.argv[1];
  let passed = 0, failed = 0;
  // Only the tiers JSON reports: the folder also holds artifacts (the console screenshots).
  for (const f of fs.readdirSync(dir).filter((name) => name.endsWith(".json"))) {
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
