#!/usr/bin/env bash
# The soak (README "Soak"): mixed load against two server replicas, a sync fetcher and a
# consumer on the real PostgreSQL and RabbitMQ for --duration seconds; exits non-zero on any
# error or when a process's RSS grows more than 10% after the warm-up. The report goes to
# target/soak/report.md.
#
#   soak/run.sh [--profile release|debug] [--duration SECS] [other soak.py options]
#
# --profile picks target/<profile>/{server,sync} (default release; CI uses debug, which its
# test run has built). Missing binaries are built. The load generator (soak/soak.py) runs in
# a venv under ${TOOLS_DIR:-/work/tools}/soak-venv with the pinned soak/requirements.txt.
# PostgreSQL (127.0.0.1:5432, user postgres) and RabbitMQ (127.0.0.1:5672, guest) must
# answer; `soak/run.sh --help` lists the load's options.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=release
help=
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --profile=*) profile="${1#--profile=}"; shift ;;
    -h | --help) help=1; args+=("$1"); shift ;;
    *) args+=("$1"); shift ;;
  esac
done
case "$profile" in
  release | debug) ;;
  *) echo "--profile must be release or debug" >&2; exit 2 ;;
esac

TOOLS_DIR=${TOOLS_DIR:-/work/tools}
venv="$TOOLS_DIR/soak-venv"
# Reinstall when the requirements changed since the venv was made.
if ! cmp -s soak/requirements.txt "$venv/requirements.txt" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r soak/requirements.txt
  cp soak/requirements.txt "$venv/requirements.txt"
fi

bin_dir="target/$profile"
if [ -z "$help" ] && { [ ! -x "$bin_dir/server" ] || [ ! -x "$bin_dir/sync" ]; }; then
  if [ "$profile" = release ]; then
    cargo build --release -p server -p sync
  else
    cargo build -p server -p sync
  fi
fi

exec "$venv/bin/python" soak/soak.py --bin-dir "$bin_dir" "${args[@]}"
