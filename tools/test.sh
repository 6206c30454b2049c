#!/usr/bin/env bash
# Builds the solution and runs every test project (Unit, Model and Integration categories), then prints one
# plain summary line "N passed, N failed[, N skipped]". Exits non-zero when the build or any test fails.
# Extra arguments go to `dotnet test` (e.g. --filter Category=Unit).
set -uo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

results=artifacts/test-results
rm -rf "$results" && mkdir -p "$results"

if ! dotnet build HpsSharp.slnx -c Release -nologo -v q; then
  echo "build failed"
  echo "0 passed, 1 failed"
  exit 1
fi

rc=0
for proj in tests/*.Tests; do
  # A test project with no tests yet makes `dotnet test` fail with "no test is available": skip it.
  grep -rqE '\[(Fact|Theory)' --include='*.cs' "$proj" || continue
  name=$(basename "$proj")
  dotnet test "$proj" -c Release --no-build --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
    --blame-hang-timeout 15m "$@" || rc=1
done

passed=0; failed=0; skipped=0
for f in "$results"/*.trx; do
  [ -f "$f" ] || continue
  line=$(grep -o '<Counters [^>]*>' "$f" | head -1)
  get() { echo "$line" | sed -n "s/.* $1=\"\([0-9]*\)\".*/\1/p"; }
  p=$(get passed); fl=$(get failed); t=$(get total); e=$(get executed)
  passed=$((passed + ${p:-0})); failed=$((failed + ${fl:-0}))
  skipped=$((skipped + ${t:-0} - ${e:-0}))
done
if [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  # The runner failed without a failed test (a crashed or hung test host): count it as one failure.
  failed=1
fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$rc" -eq 0 ] && [ "$failed" -eq 0 ]
