#!/usr/bin/env bash
# dns-bench.sh: `kafkadial dns serve` and dnsmasq holding the same records,
# measured side by side with dnsperf in one run, on loopback only.
#
#   scripts/dns-bench.sh [SECONDS] [BROKERS] [ROUNDS]    (defaults 10 1000 2)
#
# Each server gets BROKERS names, each with an A record (kafka-N.bench) and
# an SRV record at _29092._tcp.kafka-N.bench. The query mix is A, SRV and
# AAAA (NODATA: the names have no IPv6 address) for every name. dnsperf runs
# SECONDS per server per round, servers alternating, with 100 queries in
# flight from one thread; dnsmasq never forwards (--no-resolv) and logs
# nothing. Needs: go, dnsmasq, dnsperf (Debian packages dnsmasq-base, dnsperf).
set -euo pipefail

secs=${1:-10}
brokers=${2:-1000}
rounds=${3:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
for p in go dnsmasq dnsperf; do
  command -v "$p" >/dev/null || { echo "dns-bench: needs $p" >&2; exit 2; }
done

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

(cd "$root/cmd/kafkadial" && go build -o "$dir/kafkadial" .)

: >"$dir/zone"
dm_args=()
: >"$dir/queries"
for ((i = 1; i <= brokers; i++)); do
  ip="127.1.$((i / 250)).$((i % 250 + 1))"
  port=$((20000 + i))
  echo "kafka-$i.bench. 300 A $ip" >>"$dir/zone"
  echo "_29092._tcp.kafka-$i.bench. 300 SRV 0 0 $port kafka-$i.bench." >>"$dir/zone"
  echo "host-record=kafka-$i.bench,$ip" >>"$dir/dnsmasq.conf"
  echo "srv-host=_29092._tcp.kafka-$i.bench,kafka-$i.bench,$port,0,0" >>"$dir/dnsmasq.conf"
  printf 'kafka-%d.bench A\n_29092._tcp.kafka-%d.bench SRV\nkafka-%d.bench AAAA\n' "$i" "$i" "$i" >>"$dir/queries"
done

# kafkadial dns serve on a free port (it prints where it listens).
"$dir/kafkadial" dns serve --zone "$dir/zone" --listen 127.0.0.1:0 2>"$dir/kafkadial.log" &
pids+=($!)
kd_addr=""
for _ in $(seq 100); do
  kd_addr=$(sed -n 's/.* on \(127\.0\.0\.1:[0-9]*\) (UDP and TCP).*/\1/p' "$dir/kafkadial.log")
  [[ -n $kd_addr ]] && break
  sleep 0.1
done
[[ -n $kd_addr ]] || { echo "dns-bench: kafkadial dns serve did not start:" >&2; cat "$dir/kafkadial.log" >&2; exit 1; }
kd_port=${kd_addr##*:}

# dnsmasq on a port of its own: try a few until one binds.
dm_port=""
for _ in $(seq 10); do
  p=$((20000 + RANDOM % 40000))
  [[ $p == "$kd_port" ]] && continue
  dnsmasq --keep-in-foreground --conf-file="$dir/dnsmasq.conf" --no-resolv --no-hosts --no-poll \
    --listen-address=127.0.0.1 --bind-interfaces --port="$p" --pid-file= --user=root \
    --local=/bench/ --local-ttl=300 --log-facility=/dev/null 2>"$dir/dnsmasq.err" &
  pid=$!
  sleep 0.3
  if kill -0 "$pid" 2>/dev/null; then
    pids+=("$pid")
    dm_port=$p
    break
  fi
done
[[ -n $dm_port ]] || { echo "dns-bench: dnsmasq did not start:" >&2; cat "$dir/dnsmasq.err" >&2; exit 1; }

# Both answer the same thing before anything is measured.
check() {
  dnsperf -s 127.0.0.1 -p "$1" -d "$dir/queries" -n 1 -q 10 2>&1 | grep -E 'Queries (completed|lost)|Response codes'
}
echo "kafkadial dns serve on $kd_addr, dnsmasq $(dnsmasq --version | head -1 | awk '{print $3}') on 127.0.0.1:$dm_port; $brokers names, $((brokers * 3)) queries in the mix"
echo "check kafkadial: $(check "$kd_port" | tr '\n' ' ')"
echo "check dnsmasq:   $(check "$dm_port" | tr '\n' ' ')"

run() { # name port
  local out qps lat
  out=$(dnsperf -s 127.0.0.1 -p "$2" -d "$dir/queries" -l "$secs" -c 1 -T 1 -q 100 2>&1)
  qps=$(awk '/Queries per second/ {print $4}' <<<"$out")
  lat=$(awk '/Average Latency/ {print $4}' <<<"$out")
  lost=$(awk '/Queries lost/ {print $3}' <<<"$out")
  printf '%-9s round %d: %10s queries/s, average latency %ss, lost %s\n' "$1" "$3" "$qps" "$lat" "$lost"
}
for ((r = 1; r <= rounds; r++)); do
  run kafkadial "$kd_port" "$r"
  run dnsmasq "$dm_port" "$r"
done
