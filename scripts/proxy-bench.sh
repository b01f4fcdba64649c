#!/usr/bin/env bash
# proxy-bench.sh: `kafkadial proxy`, grepplabs/kafka-proxy and a forwarder
# that rewrites nothing (the floor), side by side in front of one kfake
# cluster, on loopback only (issue 16; figures in BENCHMARKS.md).
#
#   scripts/proxy-bench.sh [MIB] [ROUNDS] [CONNS]    (defaults 1024 3 1000,9000)
#
# Per round, subjects alternate: direct (no proxy), the floor (io.Copy
# between TCP conns, which splices, and the same through 32 KiB buffers),
# kafkadial proxy, kafka-proxy with its default 4 KiB buffers and with
# 32 KiB buffers (its README's tuning). Each produces MIB of 1 KiB
# incompressible records (acks=all, franz-go), fetches them back, then times
# small produces one at a time; then opens CONNS client connections (each
# with one ApiVersions round trip) to read RSS. CPU is the proxy process's
# own (utime+stime from /proc/PID/stat); read ratios, not absolutes.
# A proxy holds two descriptors per client connection, so 10,000 needs a
# hard RLIMIT_NOFILE above 20,000: these machines' is 20,000 and cannot be
# raised, hence 9,000. The kfake cluster runs in a process of its own, so
# the brokers' ends do not count against the driver's limit.
#
# kafka-proxy is built from its public source snapshot, outside our modules
# (it vendors its dependencies, so it builds offline). Give the snapshot's
# git directory as KAFKA_PROXY_GIT (default: the search tool's mirror,
# /work/.mirror/grepplabs+kafka-proxy/repo) and the tag as KAFKA_PROXY_TAG
# (default v0.4.2); without a snapshot it is left out.
set -euo pipefail

mib=${1:-1024}
rounds=${2:-3}
conns=${3:-1000,9000}
root=$(cd "$(dirname "$0")/.." && pwd)
kp_git=${KAFKA_PROXY_GIT:-/work/.mirror/grepplabs+kafka-proxy/repo}
kp_tag=${KAFKA_PROXY_TAG:-v0.4.2}

dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

echo "== building kafkadial and proxybench" >&2
(cd "$root/cmd/kafkadial" && go build -trimpath -o "$dir/kafkadial" .)
(cd "$root/integration/testdata/proxybench" && GOWORK=off go build -trimpath -o "$dir/proxybench" .)

kp_args=()
if [ -d "$kp_git" ]; then
  echo "== building kafka-proxy $kp_tag from $kp_git" >&2
  git --git-dir="$kp_git" archive --format=tar "$kp_tag" | tar -x -C "$dir" --one-top-level=kafka-proxy
  (cd "$dir/kafka-proxy" && GOWORK=off GOFLAGS=-mod=vendor go build -trimpath -o "$dir/kafka-proxy-bin" .)
  kp_args=(-kafka-proxy "$dir/kafka-proxy-bin")
else
  echo "== no kafka-proxy snapshot at $kp_git: measuring without it" >&2
fi

echo "== go version: $(go version); $(nproc) cores" >&2
"$dir/proxybench" run -kafkadial "$dir/kafkadial" "${kp_args[@]}" -mb "$mib" -rounds "$rounds" -conns "$conns"
