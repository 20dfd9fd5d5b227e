#!/usr/bin/env bash
# Follows docs/deploy.md on this machine, as CI does: pack the release artefact, install it
# into a fresh folder with production dependencies only, start it, ask /healthz, stop it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "deploy smoke: npm pack"
tgz=$(cd "$root" && npm pack --silent --pack-destination "$work" | tail -n 1)
echo "deploy smoke: install $tgz into a fresh folder"
mkdir -p "$work/opt/facility-hub"
cd "$work/opt/facility-hub"
npm init -y >/dev/null
npm install --omit=dev --no-audit --no-fund --prefer-offline "$work/$tgz" >"$work/install.log" 2>&1 || { cat "$work/install.log"; echo "deploy smoke: install failed"; exit 1; }
bin=node_modules/facility-hub/bin/facility-hub.js
node "$bin" config check node_modules/facility-hub/config/demo-facility.yaml

echo "deploy smoke: start"
FH_ADMIN_PASSWORD=deploy-smoke-pass node "$bin" start --data-dir "$work/var/lib/facility-hub" --http-port 0 --mqtt-port 0 \
  --http-host 127.0.0.1 --mqtt-host 127.0.0.1 --no-simulators >"$work/hub.log" 2>&1 &
pid=$!
port=""
for _ in $(seq 1 600); do
  port=$(sed -nE 's#.*facility-hub ready: http://127\.0\.0\.1:([0-9]+).*#\1#p' "$work/hub.log" | head -n 1)
  [ -n "$port" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/hub.log"; echo "deploy smoke: the hub exited before it was ready"; exit 1; }
  sleep 0.1
done
[ -n "$port" ] || { cat "$work/hub.log"; echo "deploy smoke: no ready line"; exit 1; }
health=$(node -e "fetch('http://127.0.0.1:$port/healthz').then(async r => { process.stdout.write(r.status + ' ' + await r.text()) })")
echo "deploy smoke: /healthz -> $health"
case "$health" in 200*) ;; *) echo "deploy smoke: /healthz did not answer 200"; exit 1 ;; esac
kill -TERM "$pid"
wait "$pid" && code=0 || code=$?
pid=""
[ "$code" -eq 0 ] || { cat "$work/hub.log"; echo "deploy smoke: stop exited $code"; exit 1; }
echo "deploy smoke: ok"
