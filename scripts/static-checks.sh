#!/usr/bin/env bash
# The suite's static half: the typecheck and the lint, side by side. Each is one
# single-threaded process, so on a 2-core CI machine running them together saves the
# shorter one's time; both must pass, and both report whatever they find.
set -u
cd "$(dirname "$0")/.."
npm run -s typecheck &
typecheck=$!
npm run -s lint &
lint=$!
wait "$typecheck"; typecheck_rc=$?
wait "$lint"; lint_rc=$?
[ "$typecheck_rc" -eq 0 ] || echo "typecheck failed (exit $typecheck_rc)" >&2
[ "$lint_rc" -eq 0 ] || echo "lint failed (exit $lint_rc)" >&2
[ "$typecheck_rc" -eq 0 ] && [ "$lint_rc" -eq 0 ]
