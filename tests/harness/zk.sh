#!/usr/bin/env bash
# ZooKeeper test harness shared by the Rust, C, C++ and Go tests.
#
# Runs Debian's ZooKeeper 3.8 with java directly (never zkServer.sh, which ignores our config
# directory) on 127.0.0.1 with free ports and a private base directory.
#
#   zk.sh start standalone|ensemble   -> creates a base dir, starts, waits until serving,
#                                       prints "BASE=<dir>" and "CONNECT=<connect string>"
#       ZK_TLS=1: also a TLS port per node (client certificate required), printed as
#                 "SECURE=<connect string>"; PEM files in "TLSDIR=<dir>": ca.pem, client.pem,
#                 client.key, and other-ca.pem / other-client.* from a CA the server does not trust
#       ZK_READONLY=1: read-only mode for a member cut off from the quorum
#   zk.sh <base> stop|kill|pause|resume|restart N   (N = 1..3; standalone is node 1)
#   zk.sh <base> wait N               wait until node N serves (srvr shows Mode:)
#   zk.sh <base> leader               print the number of the leader node
#   zk.sh <base> 4lw N CMD            send a four-letter word to node N
#   zk.sh <base> connect              print the connect string
#   zk.sh <base> clean                stop every node and delete the base dir
#
# Every process is tracked by a pid file and signalled only while /proc/<pid>/cmdline still
# names that node's config, so nothing is killed by name. Every probe has a timeout because a
# ZooKeeper 3.8.0 server that is still starting can accept a connection and never answer it.
set -u

CP=/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar:/usr/share/java/netty-codec.jar:/usr/share/java/netty-resolver.jar
JVM_OPTS=(-Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Dzookeeper.jmx.log4j.disable=true
          -Dorg.slf4j.simpleLogger.defaultLogLevel=warn)
START_TIMEOUT=${ZK_START_TIMEOUT:-30}

die() { echo "zk.sh: $*" >&2; exit 1; }

free_ports() { # N -> N free TCP ports on 127.0.0.1, one per line
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks: print(s.getsockname()[1])
EOF
}

fourlw() { # port cmd
  timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf '%s' '$2' >&3 && cat <&3" 2>/dev/null
}

node_pid() { # base n -> pid if alive and ours
  local pidf="$1/node$2/pid" pid
  [ -f "$pidf" ] || return 1
  pid=$(cat "$pidf")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$1/node$2/zoo.cfg" || return 1
  echo "$pid"
}

client_port() { cat "$1/node$2/client_port"; }

start_node() { # base n
  local base=$1 n=$2 main
  node_pid "$base" "$n" >/dev/null && return 0
  main=$(cat "$base/main_class")
  local extra=()
  [ -f "$base/jvm_extra" ] && read -r -a extra < "$base/jvm_extra"
  setsid java "${JVM_OPTS[@]}" "${extra[@]}" -cp "$CP" "$main" "$base/node$n/zoo.cfg" \
    >> "$base/node$n/server.log" 2>&1 < /dev/null &
  echo $! > "$base/node$n/pid"
}

wait_node() { # base n [seconds]
  local base=$1 n=$2 limit=${3:-$START_TIMEOUT} port i
  port=$(client_port "$base" "$n")
  for ((i = 0; i < limit * 10; i++)); do
    if fourlw "$port" srvr | grep -q '^Mode:'; then return 0; fi
    node_pid "$base" "$n" >/dev/null || { tail -20 "$base/node$n/server.log" >&2; die "node $n died"; }
    sleep 0.1
  done
  die "node $n not serving after ${limit}s"
}

signal_node() { # base n signal
  local pid
  pid=$(node_pid "$1" "$2") || return 0
  kill "-$3" "$pid" 2>/dev/null || true
}

stop_node() { # base n
  local pid i
  pid=$(node_pid "$1" "$2") || return 0
  kill -CONT "$pid" 2>/dev/null; kill -TERM "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do node_pid "$1" "$2" >/dev/null || return 0; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null
  for ((i = 0; i < 50; i++)); do node_pid "$1" "$2" >/dev/null || return 0; sleep 0.1; done
}

make_tls() { # base: a CA, a server keystore/truststore, client certificates
  local d=$1/tls
  mkdir -p "$d"
  (
    cd "$d"
    for ca in ca other-ca; do
      openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ndsr-test-$ca" \
        -keyout $ca.key -out $ca.pem 2>/dev/null
    done
    sign() { # name ca san
      openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$1.key" -out "$1.csr" 2>/dev/null
      printf 'subjectAltName=%s\n' "$3" > "$1.ext"
      openssl x509 -req -in "$1.csr" -CA "$2.pem" -CAkey "$2.key" -CAcreateserial -days 2 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
    }
    sign server ca "IP:127.0.0.1,DNS:localhost"
    sign client ca "DNS:client"
    sign other-client other-ca "DNS:client"
    openssl pkcs12 -export -in server.pem -inkey server.key -name server -passout pass:testpass \
      -out server.p12
    keytool -importcert -noprompt -alias ca -file ca.pem -keystore trust.p12 -storetype PKCS12 \
      -storepass testpass >/dev/null 2>&1
  ) || die "making TLS certificates failed"
}

write_config() { # base n nodes
  local base=$1 n=$2 nodes=$3 dir="$1/node$2"
  mkdir -p "$dir/data"
  {
    echo "tickTime=${ZK_TICK:-200}"
    echo "initLimit=20"
    echo "syncLimit=5"
    echo "dataDir=$dir/data"
    echo "clientPort=$(cat "$dir/client_port")"
    echo "clientPortAddress=127.0.0.1"
    echo "minSessionTimeout=${ZK_MIN_SESSION:-1000}"
    echo "maxSessionTimeout=60000"
    echo "maxClientCnxns=0"
    echo "admin.enableServer=false"
    echo "4lw.commands.whitelist=*"
    if [ -f "$base/tls/server.p12" ]; then
      echo "secureClientPort=$(cat "$dir/secure_port")"
      echo "secureClientPortAddress=127.0.0.1"
      echo "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory"
      echo "ssl.keyStore.location=$base/tls/server.p12"
      echo "ssl.keyStore.password=testpass"
      echo "ssl.keyStore.type=PKCS12"
      echo "ssl.trustStore.location=$base/tls/trust.p12"
      echo "ssl.trustStore.password=testpass"
      echo "ssl.trustStore.type=PKCS12"
      echo "ssl.clientAuth=need"
    fi
    if [ -n "${ZK_READONLY:-}" ]; then
      echo "localSessionsEnabled=true"
      echo "localSessionsUpgradingEnabled=true"
    fi
    if [ "$nodes" -gt 1 ]; then
      echo "standaloneEnabled=false"
      echo "quorumListenOnAllIPs=false"
      local i
      for ((i = 1; i <= nodes; i++)); do
        echo "server.$i=127.0.0.1:$(cat "$base/node$i/peer_port"):$(cat "$base/node$i/election_port")"
      done
    fi
  } > "$dir/zoo.cfg"
  [ "$nodes" -gt 1 ] && echo "$n" > "$dir/data/myid"
  return 0
}

connect_string() { # base [port file]
  local base=$1 which=${2:-client_port} n s=""
  for ((n = 1; n <= $(cat "$base/nodes"); n++)); do
    s="$s${s:+,}127.0.0.1:$(cat "$base/node$n/$which")"
  done
  echo "$s"
}

cmd_start() { # standalone|ensemble; retried with fresh ports when a port was taken meanwhile
  local attempt
  for attempt in 1 2 3; do
    if start_once "$@"; then return 0; fi
    echo "zk.sh: start attempt $attempt failed; retrying with other ports" >&2
  done
  die "ZooKeeper did not start"
}

start_once() { # standalone|ensemble
  command -v java >/dev/null || die "java not found (apt-get install zookeeper)"
  [ -f /usr/share/java/zookeeper.jar ] || die "ZooKeeper not installed (apt-get install zookeeper)"
  local kind=${1:-standalone} nodes base n ports
  case $kind in
    standalone) nodes=1 ;;
    ensemble) nodes=3 ;;
    *) die "unknown kind $kind" ;;
  esac
  base=$(mktemp -d "${TMPDIR:-/tmp}/ndsr-zk.XXXXXX")
  echo "$nodes" > "$base/nodes"
  if [ "$nodes" -eq 1 ]; then
    echo org.apache.zookeeper.server.ZooKeeperServerMain > "$base/main_class"
  else
    echo org.apache.zookeeper.server.quorum.QuorumPeerMain > "$base/main_class"
  fi
  local extra="${ZK_JVM_EXTRA:-}"
  [ -n "${ZK_READONLY:-}" ] && extra="$extra -Dreadonlymode.enabled=true"
  [ -n "$extra" ] && echo "$extra" > "$base/jvm_extra"
  [ -n "${ZK_TLS:-}" ] && make_tls "$base"
  mapfile -t ports < <(free_ports $((nodes * 4)))
  for ((n = 1; n <= nodes; n++)); do
    mkdir -p "$base/node$n"
    echo "${ports[$(((n - 1) * 4))]}" > "$base/node$n/client_port"
    echo "${ports[$(((n - 1) * 4 + 1))]}" > "$base/node$n/peer_port"
    echo "${ports[$(((n - 1) * 4 + 2))]}" > "$base/node$n/election_port"
    echo "${ports[$(((n - 1) * 4 + 3))]}" > "$base/node$n/secure_port"
  done
  for ((n = 1; n <= nodes; n++)); do write_config "$base" "$n" "$nodes"; done
  for ((n = 1; n <= nodes; n++)); do start_node "$base" "$n"; done
  for ((n = 1; n <= nodes; n++)); do
    if ! ( wait_node "$base" "$n" ); then
      tail -5 "$base"/node*/server.log >&2
      cmd_clean "$base"
      return 1
    fi
  done
  echo "BASE=$base"
  echo "CONNECT=$(connect_string "$base")"
  if [ -f "$base/tls/server.p12" ]; then
    echo "SECURE=$(connect_string "$base" secure_port)"
    echo "TLSDIR=$base/tls"
  fi
}

cmd_clean() {
  local base=$1 n
  [ -f "$base/nodes" ] || die "$base is not a harness directory"
  for ((n = 1; n <= $(cat "$base/nodes"); n++)); do stop_node "$base" "$n"; done
  rm -rf "$base"
}

cmd_leader() {
  local base=$1 n
  for ((n = 1; n <= $(cat "$base/nodes"); n++)); do
    if fourlw "$(client_port "$base" "$n")" srvr | grep -qE '^Mode: (leader|standalone)'; then
      echo "$n"; return 0
    fi
  done
  return 1
}

[ $# -ge 1 ] || die "usage: zk.sh start standalone|ensemble | zk.sh <base> <command> [args]"
if [ "$1" = start ]; then cmd_start "${2:-standalone}"; exit $?; fi
BASE=$1; shift
[ -f "$BASE/nodes" ] || die "$BASE is not a harness directory"
case ${1:-} in
  stop) stop_node "$BASE" "$2" ;;
  kill) signal_node "$BASE" "$2" KILL; sleep 0.1 ;;
  pause) signal_node "$BASE" "$2" STOP ;;
  resume) signal_node "$BASE" "$2" CONT ;;
  start) start_node "$BASE" "$2" ;;
  restart) stop_node "$BASE" "$2"; start_node "$BASE" "$2"; wait_node "$BASE" "$2" ;;
  wait) wait_node "$BASE" "$2" "${3:-$START_TIMEOUT}" ;;
  leader) cmd_leader "$BASE" ;;
  4lw) fourlw "$(client_port "$BASE" "$2")" "$3" ;;
  connect) connect_string "$BASE" ;;
  clean) cmd_clean "$BASE" ;;
  *) die "unknown command ${1:-}" ;;
esac
