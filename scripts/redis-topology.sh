#!/usr/bin/env bash
# Starts a Redis Sentinel group or a Redis Cluster on loopback, on free ports,
# from the redis-server that scripts/services.sh installs, and stops it again.
# The tests of Sentinel failover and of Cluster jobs run it.
#
#   scripts/redis-topology.sh sentinel DIR   # 1 master, 1 replica, 3 sentinels
#   scripts/redis-topology.sh cluster DIR    # 3 masters, every slot covered
#   scripts/redis-topology.sh stop DIR       # stops every server started in DIR
#
# DIR holds the servers' configs, logs and pid files. On success the script
# prints lines KEY=VALUE on stdout: REDIS_URL (in the forms that
# internal/redisconn reads) and, for sentinel, MASTER_PID and REPLICA_PORT.
set -euo pipefail

die() { printf 'redis-topology: error: %s\n' "$*" >&2; exit 1; }

command -v redis-server >/dev/null && command -v redis-cli >/dev/null ||
	die "redis-server and redis-cli are needed (apt-get install redis-server)"

mode=${1:-}
dir=${2:-}
[ -n "$mode" ] && [ -n "$dir" ] || die "usage: $0 sentinel|cluster|stop DIR"
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

# taken PORT: something listens on it.
taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Ports are drawn from 12000-21999 (a Cluster node's bus port, +10000, from
# 22000-31999): below Linux's ephemeral range (32768 up), so that no outgoing
# connection takes one between the check and the server's bind.
used_ports=" "
free_port() {
	local p
	for _ in $(seq 200); do
		p=$((12000 + RANDOM % 10000))
		if [[ $used_ports != *" $p "* ]] && ! taken "$p" && ! taken $((p + 10000)); then
			used_ports+="$p "
			echo "$p"
			return
		fi
	done
	die "no free port found"
}

# wait_for DESCRIPTION COMMAND...: retries for 60 s (sentinels find each
# other through hello messages every 2 s; a loaded machine is slower).
wait_for() {
	local what=$1
	shift
	for _ in $(seq 600); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	tail -n 5 "$dir"/*.log >&2 || true
	die "timed out waiting for $what (logs in $dir)"
}

# server NAME PORT ARGS...: a redis-server that keeps nothing on disk.
server() {
	local name=$1 port=$2
	shift 2
	redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' --appendonly no \
		--dir "$dir" --pidfile "$dir/$name.pid" --logfile "$dir/$name.log" "$@"
	wait_for "$name on port $port" redis-cli -p "$port" ping
}

stop_all() {
	local f pid
	for f in "$dir"/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$f"
	done
}

replicas_known() { [ "$(redis-cli -p "$1" sentinel replicas mymaster | grep -c '^ip$')" -ge 1 ]; }
sentinels_known() { [ "$(redis-cli -p "$1" sentinel sentinels mymaster | grep -c '^ip$')" -ge 2 ]; }
replica_synced() { redis-cli -p "$1" info replication | grep -q 'master_link_status:up'; }

sentinel() {
	local master replica s ports=()
	master=$(free_port)
	replica=$(free_port)
	server master "$master"
	server replica "$replica" --replicaof 127.0.0.1 "$master"
	wait_for "the replica to sync" replica_synced "$replica"
	for i in 1 2 3; do
		s=$(free_port)
		ports+=("$s")
		# A sentinel rewrites its config file: each has its own.
		cat >"$dir/sentinel$i.conf" <<CONF
port $s
bind 127.0.0.1
daemonize yes
pidfile $dir/sentinel$i.pid
logfile $dir/sentinel$i.log
dir $dir
sentinel monitor mymaster 127.0.0.1 $master 2
sentinel down-after-milliseconds mymaster 1000
sentinel failover-timeout mymaster 5000
sentinel parallel-syncs mymaster 1
CONF
		redis-server "$dir/sentinel$i.conf" --sentinel
	done
	for s in "${ports[@]}"; do
		wait_for "sentinel $s" redis-cli -p "$s" ping
		wait_for "sentinel $s to find the replica" replicas_known "$s"
		wait_for "sentinel $s to find the others" sentinels_known "$s"
	done
	echo "REDIS_URL=redis-sentinel://127.0.0.1:${ports[0]},127.0.0.1:${ports[1]},127.0.0.1:${ports[2]}/mymaster/0"
	echo "MASTER_PID=$(cat "$dir/master.pid")"
	echo "REPLICA_PORT=$replica"
}

cluster_ok() { redis-cli -p "$1" cluster info | grep -q 'cluster_state:ok'; }

cluster() {
	local p ports=() addrs=()
	for i in 1 2 3; do
		p=$(free_port) # the cluster bus listens on p+10000, checked free too
		ports+=("$p")
		addrs+=("127.0.0.1:$p")
		server "node$i" "$p" --cluster-enabled yes --cluster-config-file "$dir/nodes$i.conf" --cluster-node-timeout 2000
	done
	redis-cli --cluster create "${addrs[@]}" --cluster-replicas 0 --cluster-yes >"$dir/create.log" 2>&1 ||
		die "redis-cli --cluster create failed: $(tail -5 "$dir/create.log")"
	for p in "${ports[@]}"; do
		wait_for "cluster node $p to be ok" cluster_ok "$p"
	done
	local IFS=,
	echo "REDIS_URL=redis-cluster://${addrs[*]}"
}

case $mode in
sentinel) trap 'stop_all' ERR; sentinel ;;
cluster) trap 'stop_all' ERR; cluster ;;
stop) stop_all ;;
*) die "unknown mode $mode: want sentinel, cluster or stop" ;;
esac
