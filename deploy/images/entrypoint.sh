#!/bin/sh
# The image's entry point: `entrypoint.sh <service>` runs one of Writ's six services with the
# V8 flags the local stack gives it (libs/devstack services.ts, serviceNodeFlags); anything else
# runs as a command (e.g. `node libs/cli/dist/main.js analyst-ddl ...`).
set -eu
case "${1:-}" in
  planner | budget | executor | ledger)
    exec node --max-semi-space-size=2 "/app/services/$1/dist/main.js" ;;
  gateway | policy)
    # They load Cedar: its WebAssembly on V8's baseline compiler only (serviceNodeFlags).
    exec node --max-semi-space-size=2 --liftoff-only "/app/services/$1/dist/main.js" ;;
  "")
    echo "usage: writ <gateway|planner|policy|budget|executor|ledger> | <command...>" >&2
    exit 64 ;;
  *)
    exec "$@" ;;
esac
