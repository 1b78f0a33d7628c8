#!/usr/bin/env bash
# scripts/kafka.sh - a single-node Apache Kafka (KRaft: broker and controller in one JVM) on
# 127.0.0.1, for Baton's Kafka tests and for trying the Kafka bridge without Docker.
#
#   scripts/kafka.sh start    fetch the jars with Maven (once), format storage (once), start the broker
#                             in the background, wait until it serves, print its PID on stdout.
#                             Starting a broker that already runs prints its PID and does nothing else.
#   scripts/kafka.sh stop     SIGTERM (Kafka shuts down cleanly), SIGKILL after KAFKA_STOP_TIMEOUT s
#   scripts/kafka.sh status   print the PID and exit 0 when running, else exit 1
#   scripts/kafka.sh clean    stop, then delete data, config and logs (the jar cache stays)
#   scripts/kafka.sh logs     follow the broker's log
#
# Environment (default):
#   KAFKA_VERSION (3.9.1)  KAFKA_PORT (9092)  KAFKA_CONTROLLER_PORT (9093)
#   KAFKA_CACHE   jars, shared by every checkout (${XDG_CACHE_HOME:-~/.cache}/baton/kafka-$KAFKA_VERSION)
#   KAFKA_DIR     config, data, logs and the pid file of this checkout's broker (<repo>/.kafka)
#   KAFKA_HEAP_OPTS (-Xms256m -Xmx512m)  KAFKA_START_TIMEOUT (120)  KAFKA_STOP_TIMEOUT (30)
#   JAVA_HOME     else `java` on PATH (JDK 17)
#
# Messages go to stderr; stdout carries only the PID, so `pid=$(scripts/kafka.sh start)` works.
# Why these broker settings: internal topics with one replica and one partition (a single broker can
# never satisfy the defaults, and 50 partitions make the first consumer group slow), no initial
# rebalance delay, short session timeouts allowed, a small heap and few threads.
set -euo pipefail

KAFKA_VERSION="${KAFKA_VERSION:-3.9.1}"
HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-9093}"
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
KAFKA_CACHE="${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/baton/kafka-$KAFKA_VERSION}"
KAFKA_DIR="${KAFKA_DIR:-$REPO/.kafka}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

JARS="$KAFKA_CACHE/jars"
CONF="$KAFKA_DIR/config"
DATA="$KAFKA_DIR/data"
LOGS="$KAFKA_DIR/logs"
PIDFILE="$KAFKA_DIR/broker.pid"

log() { echo "kafka.sh: $*" >&2; }
fail() {
  log "ERROR: $*"
  exit 1
}

# True while the process exists and has not exited (a zombie counts as gone).
is_alive() {
  local state
  state="$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null)" || return 1
  [[ -n "$state" && "$state" != Z ]]
}

# Prints the PID of this checkout's broker if it runs. The command line is checked too, so a PID
# reused by some other process after a reboot is not mistaken for the broker.
broker_pid() {
  [[ -s "$PIDFILE" ]] || return 1
  local pid
  pid="$(<"$PIDFILE")"
  [[ "$pid" =~ ^[0-9]+$ ]] && is_alive "$pid" || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka ' || return 1
  echo "$pid"
}

port_in_use() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }

# The broker and its storage tool both live in kafka_2.13; its POM brings every runtime jar they
# need except a logging backend, which the binary distribution adds (reload4j) and so do we.
fetch_jars() {
  [[ -f "$JARS/.complete" ]] && return 0
  command -v mvn >/dev/null || fail "mvn not found: Maven is needed once, to fetch the Kafka jars from Maven Central"
  mkdir -p "$KAFKA_CACHE"
  cat >"$KAFKA_CACHE/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.baton.test</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.slf4j</groupId><artifactId>slf4j-reload4j</artifactId><version>1.7.36</version></dependency>
    <dependency><groupId>ch.qos.reload4j</groupId><artifactId>reload4j</artifactId><version>1.2.25</version></dependency>
  </dependencies>
  <build>
    <pluginManagement>
      <plugins>
        <plugin><groupId>org.apache.maven.plugins</groupId><artifactId>maven-dependency-plugin</artifactId><version>3.8.1</version></plugin>
      </plugins>
    </pluginManagement>
  </build>
</project>
EOF
  log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION with Maven (once; cached in $KAFKA_CACHE)"
  rm -rf "$JARS.partial"
  mvn -B -q -ntp -f "$KAFKA_CACHE/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$JARS.partial" >&2 ||
    fail "Maven could not fetch the Kafka jars (is Maven Central reachable?)"
  [[ -f "$JARS.partial/kafka_2.13-$KAFKA_VERSION.jar" ]] || fail "kafka_2.13-$KAFKA_VERSION.jar missing after the Maven run"
  rm -rf "$JARS"
  mv "$JARS.partial" "$JARS"
  touch "$JARS/.complete"
}

write_config() {
  mkdir -p "$CONF"
  cat >"$CONF/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA
auto.create.topics.enable=true
delete.topic.enable=true
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
background.threads=2
log.cleaner.dedupe.buffer.size=8388608
log.retention.hours=24
EOF
  cat >"$CONF/log4j.properties" <<'EOF'
log4j.rootLogger=INFO, out
log4j.appender.out=org.apache.log4j.ConsoleAppender
log4j.appender.out.layout=org.apache.log4j.PatternLayout
log4j.appender.out.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
EOF
  # The storage tool prints the cluster id on stdout, so its own logging goes to stderr.
  cat >"$CONF/tool-log4j.properties" <<'EOF'
log4j.rootLogger=WARN, err
log4j.appender.err=org.apache.log4j.ConsoleAppender
log4j.appender.err.Target=System.err
log4j.appender.err.layout=org.apache.log4j.PatternLayout
log4j.appender.err.layout.ConversionPattern=[%d] %p %m (%c)%n
EOF
}

format_storage() {
  [[ -f "$DATA/meta.properties" ]] && return 0
  local tool=("$JAVA" -Xmx256m "-Dlog4j.configuration=file:$CONF/tool-log4j.properties" -cp "$JARS/*" kafka.tools.StorageTool)
  local cluster_id
  cluster_id="$("${tool[@]}" random-uuid | tail -n 1)"
  [[ -n "$cluster_id" ]] || fail "kafka.tools.StorageTool random-uuid printed no cluster id"
  log "formatting $DATA (cluster $cluster_id)"
  mkdir -p "$DATA"
  "${tool[@]}" format -t "$cluster_id" -c "$CONF/server.properties" --ignore-formatted >&2 ||
    fail "kafka.tools.StorageTool format failed"
}

stop() {
  local pid
  if ! pid="$(broker_pid)"; then
    rm -f "$PIDFILE"
    log "not running"
    return 0
  fi
  log "stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
  while is_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      log "pid $pid still alive after ${KAFKA_STOP_TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.3
  done
  rm -f "$PIDFILE"
  log "stopped"
}

start() {
  local pid
  if pid="$(broker_pid)"; then
    log "already running on $HOST:$KAFKA_PORT (pid $pid)"
    echo "$pid"
    return 0
  fi
  rm -f "$PIDFILE"
  for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
    port_in_use "$port" && fail "$HOST:$port is taken by a process this script did not start" \
      "(another broker? use it with KAFKA_BROKERS=$HOST:$KAFKA_PORT, or pick KAFKA_PORT/KAFKA_CONTROLLER_PORT)"
  done
  command -v "$JAVA" >/dev/null || fail "java not found (install JDK 17 or set JAVA_HOME)"
  mkdir -p "$LOGS"
  fetch_jars
  write_config
  format_storage
  [[ -f "$LOGS/server.out" ]] && mv -f "$LOGS/server.out" "$LOGS/server.out.previous"
  # shellcheck disable=SC2086 # KAFKA_HEAP_OPTS holds several options
  nohup "$JAVA" $KAFKA_HEAP_OPTS -XX:+UseSerialGC -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true \
    "-Dkafka.logs.dir=$LOGS" "-Dlog4j.configuration=file:$CONF/log4j.properties" \
    -cp "$JARS/*" kafka.Kafka "$CONF/server.properties" >"$LOGS/server.out" 2>&1 </dev/null &
  pid=$!
  echo "$pid" >"$PIDFILE"
  log "started pid $pid; waiting for $HOST:$KAFKA_PORT (log: $LOGS/server.out)"
  # The broker opens its port only once it can serve; the log line confirms broker and controller
  # are both up. If the line never comes (a changed log format), a port open for 10 s will do.
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT)) open_since=""
  while :; do
    if ! is_alive "$pid"; then
      rm -f "$PIDFILE"
      log "the broker exited while starting; end of $LOGS/server.out:"
      tail -n 40 "$LOGS/server.out" >&2 || true
      exit 1
    fi
    if port_in_use "$KAFKA_PORT"; then
      grep -q "Kafka Server started" "$LOGS/server.out" 2>/dev/null && break
      open_since="${open_since:-$SECONDS}"
      ((SECONDS - open_since >= 10)) && break
    fi
    if ((SECONDS >= deadline)); then
      log "not serving after ${KAFKA_START_TIMEOUT}s; end of $LOGS/server.out:"
      tail -n 40 "$LOGS/server.out" >&2 || true
      stop
      exit 1
    fi
    sleep 0.3
  done
  log "serving on $HOST:$KAFKA_PORT (pid $pid)"
  echo "$pid"
}

case "${1:-}" in
start) start ;;
stop) stop ;;
status)
  if pid="$(broker_pid)"; then echo "$pid"; else
    log "not running"
    exit 1
  fi
  ;;
clean)
  stop
  rm -rf "$KAFKA_DIR"
  log "removed $KAFKA_DIR"
  ;;
logs) exec tail -n 100 -f "$LOGS/server.out" ;;
*)
  echo "usage: $0 start|stop|status|clean|logs" >&2
  exit 2
  ;;
esac
