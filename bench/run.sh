#!/usr/bin/env bash
# Every benchmark of issue 10 in one go, on the real services: builds the release binaries,
# then runs the catalogue (`bench`), shop (`bench-shop`) and sync (`bench-sync`) benchmarks
# with the sizes the README's Performance section quotes, and prints each report. Reports go
# to target/bench/{report,shop-report,sync-report}.md; the whole output to
# target/bench/run-<time>.log. Any failed check or error fails the run.
#
#   bash bench/run.sh            # everything (about 13 minutes on 2 cores after the build)
#   bash bench/run.sh catalogue  # or: shop, sync; several may be given
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=.ci/services.sh
. .ci/services.sh

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(catalogue shop sync)
mkdir -p target/bench
log="target/bench/run-$(date -u +%Y%m%dT%H%M%SZ).log"
exec > >(tee "$log") 2>&1
started=$(date +%s)
section() { printf '\n==> %s (%s s since start)\n' "$*" "$(( $(date +%s) - started ))"; }

section "services"
ensure_services

section "build (release)"
cargo build --release --locked -p server -p sync -p bench

for part in "${parts[@]}"; do
  case "$part" in
    catalogue)
      section "catalogue reads: 20,000 products x 3 variants, 64 clients, 30 s per side"
      target/release/bench --out target/bench/report.md
      ;;
    shop)
      section "checkout (32 customers, 30 s), 2,000 subscriptions, start-up and memory"
      target/release/bench-shop --out target/bench/shop-report.md
      ;;
    sync)
      section "full sync of 1,000,000 Mahak rows against COPY; incremental sync"
      target/release/bench-sync --out target/bench/sync-report.md --full-products 86900
      ;;
    *)
      echo "unknown part: $part (catalogue, shop, sync)" >&2
      exit 2
      ;;
  esac
done

section "done; reports in target/bench/, this output in $log"
