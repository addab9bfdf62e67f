#!/usr/bin/env bash
# Installs everything ciao-badge needs on a Debian/Ubuntu machine, then the npm dependencies.
# Safe to run again: packages already present are not reinstalled.
#   pcscd, libpcsclite-dev, vsmartcard-vpcd  the PC/SC stack for NFC readers, and the virtual reader for tests
#   mosquitto, mosquitto-clients              third-party MQTT clients for API tests, a reference broker for benchmarks
#   chromium                                  headless browser for the dashboard tests
#   tmux                                      pseudo-terminal for the interactive simulator tests
#   openssl                                   throwaway certificate authorities for TLS tests
#   socat                                     a pseudo-terminal pair standing in for the Arduino's USB serial line in the panel tests
#   curl, jq                                  the certificate pairing recipe of docs/mqtt-api.md, which a test runs as written
#   sqlite3                                   the database backup recipe of docs/gateway.md, which a test runs as written
#   python3, make, g++                        to build native modules (better-sqlite3, pcsclite) when no prebuilt fits
#   postgresql, redis-server, haproxy         the cluster's real parts (docs/cluster.md): tests and benchmarks start each as a
#                                             process of their own on loopback (simulator/services/local-services.ts), never as a service
#                                             postgresql brings postgresql-15 and postgresql-client-15: pg_dump, pg_restore,
#                                             pg_basebackup, pg_verifybackup, pg_archivecleanup and pg_ctl, which the backup
#                                             and point-in-time recovery recipes of docs/cluster.md use and their drills run
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(pcscd libpcsclite-dev vsmartcard-vpcd mosquitto mosquitto-clients chromium tmux openssl socat curl jq sqlite3 python3 make g++ procps iproute2 postgresql redis-server haproxy)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "setup: these system packages are missing and I cannot install them without root: ${missing[*]}" >&2
    echo "setup: install them with your package manager, then run 'npm run setup' again." >&2
    exit 1
  fi
  echo "setup: installing system packages: ${missing[*]}"
  $SUDO apt-get update -qq
  # policy-rc.d keeps Debian from starting mosquitto, pcscd, postgresql, redis or haproxy as services: the product and its
  # tests start their own.
  if [ -z "$SUDO" ] && [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; trap 'rm -f /usr/sbin/policy-rc.d' EXIT; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: system packages present"
fi

# The PostgreSQL programs the recipes of docs/cluster.md run, from the newest version installed (as the tests pick it).
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
for p in pg_dump pg_restore pg_basebackup pg_verifybackup pg_archivecleanup pg_ctl pg_isready psql; do
  if [ -z "$pgbin" ] || [ ! -x "$pgbin/$p" ]; then echo "setup: $p is missing from ${pgbin:-/usr/lib/postgresql/<version>/bin}" >&2; exit 1; fi
done

echo "setup: installing npm dependencies"
npm ci --no-audit --no-fund
