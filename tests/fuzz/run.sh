#!/usr/bin/env bash
# Fuzzes zhaoshang's HTTP API from its own OpenAPI document with
# schemathesis: valid and invalid bodies, parameters and headers against
# every operation. Fails on any 5xx, on any response that breaks the
# document, and on any event written by a request that was refused.
#
#   tests/fuzz/run.sh [examples per operation, default 25]
#
# Needs NATS on 127.0.0.1:4222 and PostgreSQL on 127.0.0.1:5432 (`.ci/run`
# starts them). Runs zhaoshang on a free port with a stream, subject prefix
# and schema of its own, and removes them afterwards.
set -euo pipefail
cd "$(dirname "$0")/../.."

examples="${1:-25}"
venv=target/fuzz-venv
# Pinned so that a new release cannot turn CI red on its own; cached under target/.
requirements=("schemathesis==3.39.16" "hypothesis==6.115.0" "nats-py==2.9.0")
if ! "$venv/bin/python" -c 'import schemathesis, nats' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "${requirements[@]}"
fi

cargo build --quiet -p zhaoshang
bin=target/debug/zhaoshang

id="$(python3 -c 'import uuid; print(uuid.uuid4().hex)')"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
data_dir="$(mktemp -d)"
export ZHAOSHANG_SCHEMA="fuzz_${id}"
export ZHAOSHANG_STREAM="FUZZ_${id^^}"
export ZHAOSHANG_SUBJECT_PREFIX="fz${id}.ev"
export ZHAOSHANG_LISTEN="127.0.0.1:${port}"
export ZHAOSHANG_DATA_DIR="$data_dir"
export ZHAOSHANG_AUTH_MODE=local
export ZHAOSHANG_JWT_SECRET="fuzz-${id}-${id}"
# The fuzzer writes much faster than a person; the rate limit has its own test.
export ZHAOSHANG_WRITE_RATE=100000
export ZHAOSHANG_WRITE_BURST=100000
export RUST_LOG="${RUST_LOG:-warn}"

server_pid=""
cleanup() {
  if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  "$venv/bin/python" - <<PY || true
import asyncio, nats
async def main():
    nc = await nats.connect("${ZHAOSHANG_NATS_URL:-nats://127.0.0.1:4222}")
    try:
        await nc.jetstream().delete_stream("${ZHAOSHANG_STREAM}")
    finally:
        await nc.close()
asyncio.run(main())
PY
  PGOPTIONS="--client-min-messages=warning" psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP SCHEMA IF EXISTS ${ZHAOSHANG_SCHEMA} CASCADE" \
    -c "DROP SCHEMA IF EXISTS ${ZHAOSHANG_SCHEMA}_keys CASCADE" >/dev/null || true
  rm -rf "$data_dir"
}
trap cleanup EXIT

"$bin" load-plan >/dev/null
"$bin" serve --role all >"$data_dir/server.log" 2>&1 &
server_pid=$!
base="http://127.0.0.1:${port}"
for _ in $(seq 1 100); do
  curl -fsS "$base/healthz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS "$base/healthz" >/dev/null

token="$("$bin" token --role admin --sub fuzzer --ttl 2h)"
export ZHAOSHANG_FUZZ_BASE="$base" ZHAOSHANG_FUZZ_TOKEN="$token"
export SCHEMATHESIS_HOOKS=hooks PYTHONPATH="tests/fuzz${PYTHONPATH:+:$PYTHONPATH}"

status=0
"$venv/bin/st" run "$base/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,rejected_requests_write_nothing \
  --data-generation-method all \
  --hypothesis-max-examples "$examples" \
  --hypothesis-derandomize \
  --hypothesis-suppress-health-check all \
  --generation-allow-x00 false \
  --workers 1 \
  --request-timeout 45000 \
  --experimental=openapi-3.1 \
  --no-color || status=$?
if [[ $status -ne 0 ]]; then
  echo "--- the server's log (last 40 lines) ---"
  tail -n 40 "$data_dir/server.log"
fi
exit $status
