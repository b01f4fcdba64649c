#!/usr/bin/env bash
# netns-topology.sh — a private Kafka network behind SSH/SOCKS5/HTTP bastions,
# built from network namespaces, for the bastion tests, benchmarks and the
# examples/bastion program. Needs root, iproute2, openssh-server, microsocks,
# tinyproxy. Addresses come from 198.19.ID.0/24 (inside 198.18.0.0/15) only.
#
#   host ──veth── bastion (sshd :22, microsocks :1080, tinyproxy :3128)
#                   │   └──veth── inner (sshd :2222, a second bastion for ProxyJump)
#                   │                │
#                   └──veth── kafka ─┘ (kfake brokers kafka-1..3 on :9092, echo :7, sink :9)
#
# The host reaches only the bastion; the bastion and inner route to the
# brokers and resolve kafka-N through /etc/netns/NAME/hosts; the bastion does
# not forward packets, so inner is reachable only through an SSH hop.
#
# Usage: netns-topology.sh COMMAND DIR [ID]
#   up DIR [ID]          build the topology (ID 1..250, default 77), start the
#                        bastions' daemons; writes DIR/env, DIR/ssh_config,
#                        DIR/known_hosts, DIR/id_ed25519
#   brokers-start DIR    start the kfake brokers (DIR/kfakeserve, built from
#                        integration/cmd/kfakeserve when missing)
#   brokers-stop DIR
#   restart-sshd DIR     kill the bastion's sshd and its sessions, start it again
#   stop|start DIR NAME  stop or start one daemon: sshd, inner-sshd, socks, http
#   down DIR             kill everything started, delete the namespaces
#
# Everything started is recorded in DIR/*.pid and stopped by pid.
set -euo pipefail

cmd=${1:?usage: $0 up|down|brokers-start|brokers-stop|restart-sshd|stop|start DIR [ID|NAME]}
dir=${2:?state directory}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
repo=$(cd "$(dirname "$0")/.." && pwd)

if [ "$cmd" = up ]; then
  id=${3:-77}
  case $id in ''|*[!0-9]*) echo "ID must be a number 1..250" >&2; exit 2;; esac
  if [ "$id" -lt 1 ] || [ "$id" -gt 250 ]; then echo "ID must be 1..250" >&2; exit 2; fi
  echo "$id" >"$dir/id"
fi
id=$(cat "$dir/id" 2>/dev/null || true)
[ -n "$id" ] || { echo "$dir has no topology (run up first)" >&2; exit 2; }

net=198.19.$id
nsb=kd${id}b; nsi=kd${id}i; nsk=kd${id}k
host_ip=$net.1;    bastion_ip=$net.2      # host <-> bastion   .0/28
bk_b=$net.17;      bk_k=$net.18           # bastion <-> kafka  .16/28
bi_b=$net.33;      inner_ip=$net.34       # bastion <-> inner  .32/28
ik_i=$net.65;      ik_k=$net.66           # inner <-> kafka    .64/28
brokers_net=$net.48/28                    # brokers .51-.53, echo/sink .54
sink_ip=$net.54
user=kafka; pass=k4fka-secret              # proxy credentials (test only)

inns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# start NAME NS CMD...: run CMD in NS in the background, pid in DIR/NAME.pid.
start_daemon() {
  local name=$1 ns=$2; shift 2
  ulimit -n "$(ulimit -Hn)"
  setsid ip netns exec "$ns" "$@" >"$dir/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/$name.pid"
}

# wait_port NS IP PORT: wait until something listens there (seen from NS).
wait_port() {
  local ns=$1 ip=$2 port=$3 i
  for i in $(seq 1 200); do
    if inns "$ns" bash -c "exec 3<>/dev/tcp/$ip/$port" 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "nothing listens on $ip:$port in $ns after 10s" >&2
  return 1
}

# kill_tree PID: kill PID and its descendants (sshd forks one per session).
kill_tree() {
  local pid=$1 c
  for c in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do kill_tree "$c"; done
  kill -9 "$pid" 2>/dev/null || true
}

# alive PID: the process exists and is not a zombie (a daemon whose parent,
# this script, has exited is reaped by init, maybe not at once).
alive() {
  local st
  st=$(sed 's/.*) //' /proc/"$1"/stat 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

stop_daemon() {
  local f=$dir/$1.pid
  [ -f "$f" ] || return 0
  local pid; pid=$(cat "$f")
  if alive "$pid"; then kill_tree "$pid"; fi
  # Bounded: 30s, for a loaded machine; a process still alive then is an error.
  for _ in $(seq 1 1500); do alive "$pid" || break; sleep 0.02; done
  if alive "$pid"; then echo "$1 (pid $pid) did not die within 30s of SIGKILL" >&2; return 1; fi
  rm -f "$f"
}

start_one() {
  case $1 in
    sshd) start_daemon sshd "$nsb" /usr/sbin/sshd -D -e -f "$dir/sshd_bastion_config"
          wait_port "$nsb" "$bastion_ip" 22 ;;
    inner-sshd) start_daemon inner-sshd "$nsi" /usr/sbin/sshd -D -e -f "$dir/sshd_inner_config"
          wait_port "$nsi" "$inner_ip" 2222 ;;
    socks) start_daemon socks "$nsb" microsocks -i "$bastion_ip" -p 1080 -u "$user" -P "$pass"
          wait_port "$nsb" "$bastion_ip" 1080 ;;
    http) start_daemon http "$nsb" tinyproxy -d -c "$dir/tinyproxy.conf"
          wait_port "$nsb" "$bastion_ip" 3128 ;;
    *) echo "unknown daemon $1 (sshd, inner-sshd, socks, http)" >&2; exit 2 ;;
  esac
}

down() {
  for p in "$dir"/*.pid; do [ -f "$p" ] && stop_daemon "$(basename "$p" .pid)"; done
  for ns in "$nsb" "$nsi" "$nsk"; do
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
  done
  ip link del "kd${id}hb" 2>/dev/null || true
}

up() {
  for p in ip /usr/sbin/sshd ssh-keygen microsocks tinyproxy; do
    command -v "$p" >/dev/null || { echo "missing $p (apt-get install iproute2 openssh-server openssh-client microsocks tinyproxy)" >&2; exit 3; }
  done
  down # leftovers of a run that died
  if ip -4 addr show | grep -q " $net\."; then
    echo "$net.0/24 is in use on this host: pick another ID" >&2; exit 4
  fi
  # Test addresses must never leave the machine: anything in 198.18.0.0/15
  # without a more specific (veth) route fails locally.
  ip route add unreachable 198.18.0.0/15 2>/dev/null || true

  for ns in "$nsb" "$nsi" "$nsk"; do
    ip netns add "$ns"
    inns "$ns" ip link set lo up
  done
  # host <-> bastion
  ip link add "kd${id}hb" type veth peer name eth0 netns "$nsb"
  ip addr add "$host_ip/28" dev "kd${id}hb"; ip link set "kd${id}hb" up
  inns "$nsb" ip addr add "$bastion_ip/28" dev eth0; inns "$nsb" ip link set eth0 up
  # bastion <-> kafka
  inns "$nsb" ip link add kafka type veth peer name bastion netns "$nsk"
  inns "$nsb" ip addr add "$bk_b/28" dev kafka; inns "$nsb" ip link set kafka up
  inns "$nsk" ip addr add "$bk_k/28" dev bastion; inns "$nsk" ip link set bastion up
  # bastion <-> inner
  inns "$nsb" ip link add inner type veth peer name bastion netns "$nsi"
  inns "$nsb" ip addr add "$bi_b/28" dev inner; inns "$nsb" ip link set inner up
  inns "$nsi" ip addr add "$inner_ip/28" dev bastion; inns "$nsi" ip link set bastion up
  # inner <-> kafka
  inns "$nsi" ip link add kafka type veth peer name inner netns "$nsk"
  inns "$nsi" ip addr add "$ik_i/28" dev kafka; inns "$nsi" ip link set kafka up
  inns "$nsk" ip addr add "$ik_k/28" dev inner; inns "$nsk" ip link set inner up
  # broker addresses live in the kafka namespace
  for a in 51 52 53 54; do inns "$nsk" ip addr add "$net.$a/32" dev lo; done
  inns "$nsb" ip route add "$brokers_net" via "$bk_k"
  inns "$nsi" ip route add "$brokers_net" via "$ik_k"
  inns "$nsb" sysctl -qw net.ipv4.ip_forward=0
  inns "$nsi" sysctl -qw net.ipv4.ip_forward=0
  for ns in "$nsb" "$nsi"; do
    mkdir -p "/etc/netns/$ns"
    { echo "127.0.0.1 localhost"
      for i in 1 2 3; do echo "$net.5$i kafka-$i"; done
      echo "$sink_ip sink"; } >"/etc/netns/$ns/hosts"
  done

  # keys, sshd and proxy configuration
  rm -f "$dir"/id_ed25519* "$dir"/host_*
  ssh-keygen -q -t ed25519 -N "" -C kafkadial-topology -f "$dir/id_ed25519"
  ssh-keygen -q -t ed25519 -N "" -f "$dir/host_bastion"
  ssh-keygen -q -t ed25519 -N "" -f "$dir/host_inner"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  mkdir -p /run/sshd
  for which in bastion inner; do
    if [ $which = bastion ]; then la=$bastion_ip; port=22; else la=$inner_ip; port=2222; fi
    cat >"$dir/sshd_${which}_config" <<EOF
ListenAddress $la
Port $port
HostKey $dir/host_$which
PidFile none
AuthorizedKeysFile $dir/authorized_keys
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
AllowTcpForwarding yes
MaxStartups 100:30:200
LogLevel VERBOSE
EOF
  done
  cat >"$dir/tinyproxy.conf" <<EOF
User nobody
Group nogroup
Port 3128
Listen $bastion_ip
Timeout 600
MaxClients 4000
Allow $net.0/24
BasicAuth $user $pass
LogLevel Warning
EOF
  { echo "$bastion_ip $(cut -d' ' -f1-2 "$dir/host_bastion.pub")"
    echo "[$inner_ip]:2222 $(cut -d' ' -f1-2 "$dir/host_inner.pub")"; } >"$dir/known_hosts"
  cat >"$dir/ssh_config" <<EOF
# The private Kafka network's bastions, as a user's ~/.ssh/config has them.
Host bastion
  HostName $bastion_ip
  User root
Host inner
  HostName $inner_ip
  Port 2222
  User root
  ProxyJump bastion
# Reached only through its ProxyCommand: the name does not resolve.
Host viacmd
  HostName bastion.invalid
  HostKeyAlias $bastion_ip
  User root
  ProxyCommand nc $bastion_ip %p
Host *
  IdentityFile $dir/id_ed25519
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  StrictHostKeyChecking yes
EOF
  cat >"$dir/env" <<EOF
TOPOLOGY_ID=$id
HOST_IP=$host_ip
BASTION_IP=$bastion_ip
INNER_IP=$inner_ip
BROKER_IPS="$net.51 $net.52 $net.53"
BROKER_LISTEN=$net.5{id}:9092
ECHO_ADDR=$sink_ip:7
SINK_ADDR=$sink_ip:9
SOCKS_URL=socks5://$user:$pass@$bastion_ip:1080
SOCKSH_URL=socks5h://$user:$pass@$bastion_ip:1080
HTTP_URL=http://$user:$pass@$bastion_ip:3128
SSH_CONFIG=$dir/ssh_config
NS_BASTION=$nsb
NS_INNER=$nsi
NS_KAFKA=$nsk
EOF
  for d in sshd inner-sshd socks http; do start_one "$d"; done
}

brokers_start() {
  stop_daemon kfake
  local bin=${KFAKESERVE:-$dir/kfakeserve}
  if [ ! -x "$bin" ]; then
    (cd "$repo/integration" && go build -o "$bin" ./cmd/kfakeserve)
  fi
  rm -f "$dir/kfake.ready"
  # The brokers' addresses must be free again (a killed process's sockets
  # go with it, but the kernel may take a moment on a loaded machine).
  for _ in $(seq 1 500); do
    inns "$nsk" ss -Hltn "( sport = :9092 )" | grep -q . || break
    sleep 0.02
  done
  start_daemon kfake "$nsk" "$bin" -listen "$net.5{id}:9092" -advertise "kafka-{id}:9092" \
    -topic events:6 -echo "$sink_ip:7" -sink "$sink_ip:9" -ready "$dir/kfake.ready"
  for _ in $(seq 1 200); do
    [ -f "$dir/kfake.ready" ] && return 0
    alive "$(cat "$dir/kfake.pid")" || break
    sleep 0.05
  done
  echo "kfakeserve did not start:" >&2; cat "$dir/kfake.log" >&2; return 1
}

case $cmd in
  up) up ;;
  down) down ;;
  brokers-start) brokers_start ;;
  brokers-stop) stop_daemon kfake ;;
  restart-sshd) stop_daemon sshd; start_one sshd ;;
  stop) stop_daemon "${3:?daemon name}" ;;
  start) start_one "${3:?daemon name}" ;;
  *) echo "unknown command $cmd" >&2; exit 2 ;;
esac
