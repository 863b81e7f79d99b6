#!/usr/bin/env bash
# Smoke test of the spool Docker image and of docker-compose.yml.
#
#   tests/docker/smoke.sh               # build the image, then the single-node and cluster checks
#   tests/docker/smoke.sh --no-build    # use the spool:dev image as it is
#   tests/docker/smoke.sh --single      # only the single-node check (--cluster: only the cluster)
#
# Single node: `docker run` of the image with its Kafka port published on a free
# loopback port; kcat -L sees the one broker; a topic is created with the image's own
# `spool topics`, three records go in with kcat and come back out; the container stops
# cleanly on SIGTERM.
#
# Cluster: `docker-compose up -d` (or `docker compose`; the nodes on a private network, their
# EXTERNAL listeners published on free loopback ports), under
# its own project name; waits for kcat -L to list 3 brokers; creates a topic with
# replication factor 3, produces with acks=all; stops spool1; checks that every
# record can still be consumed from the two others and that acks=all writes still
# succeed (ISR 2 = min.insync.replicas); then `down -v`.
#
# Needs docker, a Compose tool, kcat and python3 (to find free ports). Containers,
# volumes and the compose project are removed on every exit. Timeouts (seconds):
#   SPOOL_SMOKE_START_TIMEOUT   a node answering kcat -L          [30]
#   SPOOL_SMOKE_QUORUM_TIMEOUT  3 brokers listed by kcat -L       [60]
#   SPOOL_SMOKE_IO_TIMEOUT      one produce or consume            [60]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

IMAGE="${SPOOL_IMAGE:-spool:dev}"
START_TIMEOUT="${SPOOL_SMOKE_START_TIMEOUT:-30}"
QUORUM_TIMEOUT="${SPOOL_SMOKE_QUORUM_TIMEOUT:-60}"
IO_TIMEOUT="${SPOOL_SMOKE_IO_TIMEOUT:-60}"

build=1 single=1 cluster=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        --single) cluster=0 ;;
        --cluster) single=0 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
    esac
done

T0=$SECONDS
say() { printf '[smoke %3ds] %s\n' "$((SECONDS - T0))" "$*"; }
fail() { printf '[smoke %3ds] FAILED: %s\n' "$((SECONDS - T0))" "$*" >&2; exit 1; }

for tool in docker kcat python3; do
    command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (scripts/install-test-deps installs kcat)"
done
if docker compose version >/dev/null 2>&1; then
    COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
    COMPOSE=(docker-compose)
else
    COMPOSE=()
    ((cluster == 0)) || fail "neither 'docker compose' nor docker-compose is installed"
fi
docker info >/dev/null 2>&1 || fail "the Docker daemon is not running or not reachable (docker info failed)"

# Names unique to this run, so several runs (or a user's own cluster) do not collide.
RUN_ID="spool-smoke-$$"
SINGLE_NAME="$RUN_ID-single"
PROJECT="$RUN_ID"
single_started=0 cluster_started=0

compose() { "${COMPOSE[@]}" --project-name "$PROJECT" --file "$ROOT/docker-compose.yml" "$@"; }

# On failure the containers' whole logs are kept here (the last lines are also printed).
LOG_DIR="${SPOOL_SMOKE_LOG_DIR:-$ROOT/target/docker/smoke-logs}"

cleanup() {
    local status=$?
    if ((single_started)); then
        if ((status != 0)); then
            mkdir -p "$LOG_DIR"
            docker logs "$SINGLE_NAME" >"$LOG_DIR/$SINGLE_NAME.log" 2>&1 || true
            echo "--- last lines of $SINGLE_NAME (all in $LOG_DIR/$SINGLE_NAME.log):"
            tail -n 30 "$LOG_DIR/$SINGLE_NAME.log"
        fi
        docker rm --force --volumes "$SINGLE_NAME" >/dev/null 2>&1 || true
    fi
    if ((cluster_started)); then
        if ((status != 0)); then
            mkdir -p "$LOG_DIR"
            for service in spool1 spool2 spool3; do
                compose logs --no-color "$service" >"$LOG_DIR/$PROJECT-$service.log" 2>&1 || true
                echo "--- last lines of $service (all in $LOG_DIR/$PROJECT-$service.log):"
                tail -n 15 "$LOG_DIR/$PROJECT-$service.log"
            done
        fi
        compose down --volumes --remove-orphans >/dev/null 2>&1 || true
    fi
    if ((status == 0)); then
        say "passed in $((SECONDS - T0)) s"
    else
        say "cleaned up after the failure"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# N free TCP ports on 127.0.0.1 (bound and released at once; good enough for a smoke test).
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# kcat -L against $1 until it answers and lists at least $2 brokers, for at most $3 s;
# leaves the last listing in $listing.
listing=""
wait_for_brokers() {
    local bootstrap=$1 want=$2 deadline=$((SECONDS + $3))
    while :; do
        listing="$(timeout 10 kcat -L -b "$bootstrap" -m 3 2>&1 || true)"
        local count
        count="$(sed -n 's/^ \([0-9][0-9]*\) brokers:$/\1/p' <<<"$listing" | head -n1)"
        if [[ -n "$count" ]] && ((count >= want)); then return 0; fi
        ((SECONDS < deadline)) || return 1
        sleep 1
    done
}

# The image's own spool tool, on the host's network so it reaches the loopback ports.
spool_tool() { docker run --rm --network host "$IMAGE" "$@"; }

# Produces stdin's lines to topic $2 through $1 with acks=all; fails on any delivery error
# (kcat exits 1 when a message is not acknowledged; its logged connection errors to a
# stopped broker are not failures by themselves).
produce() {
    local out
    out="$(timeout "$IO_TIMEOUT" kcat -P -b "$1" -t "$2" -X acks=all -X message.timeout.ms=$((IO_TIMEOUT * 1000 - 5000)) 2>&1)" \
        || fail "producing to $2 via $1 failed: $out"
}

# Consumes $3 records of topic $2 from the beginning through $1, sorted, on stdout.
consume() {
    local out
    out="$(timeout "$IO_TIMEOUT" kcat -C -b "$1" -t "$2" -o beginning -c "$3" -q -f '%s\n' 2>/dev/null)" \
        || { echo "$out" | sort -n; return 1; }
    echo "$out" | sort -n
}

if ((build)); then
    say "building $IMAGE with scripts/docker-image"
    scripts/docker-image || fail "scripts/docker-image failed"
else
    docker image inspect "$IMAGE" >/dev/null 2>&1 || fail "no image $IMAGE; run scripts/docker-image or drop --no-build"
fi

# --- One node, docker run.
if ((single)); then
    read -r port <<<"$(free_ports 1)"
    say "single node: docker run $IMAGE, Kafka port published on 127.0.0.1:$port"
    single_started=1
    docker run --detach --name "$SINGLE_NAME" --publish "127.0.0.1:$port:9092" "$IMAGE" \
        server --data-dir /data --listen 0.0.0.0:9092 --advertised-listen "127.0.0.1:$port" >/dev/null
    wait_for_brokers "127.0.0.1:$port" 1 "$START_TIMEOUT" \
        || fail "the node did not answer kcat -L on 127.0.0.1:$port within ${START_TIMEOUT}s: $listing"
    grep -q "broker 1 at 127.0.0.1:$port" <<<"$listing" || fail "kcat -L does not list broker 1 at 127.0.0.1:$port: $listing"
    say "kcat -L: 1 broker at 127.0.0.1:$port"

    out="$(spool_tool topics --create --bootstrap-server "127.0.0.1:$port" --topic smoke-single \
        --partitions 1 --replication-factor 1 2>&1)" || fail "spool topics --create in the image failed: $out"
    printf 'one\ntwo\nthree\n' | produce "127.0.0.1:$port" smoke-single
    got="$(timeout "$IO_TIMEOUT" kcat -C -b "127.0.0.1:$port" -t smoke-single -o beginning -c 3 -q -f '%s\n' 2>&1)" \
        || fail "consuming smoke-single: $got"
    [[ "$got" == $'one\ntwo\nthree' ]] || fail "consumed '$got' instead of one, two, three"
    say "produced and consumed 3 records"

    docker stop --time 30 "$SINGLE_NAME" >/dev/null
    code="$(docker inspect --format '{{.State.ExitCode}}' "$SINGLE_NAME")"
    ((code == 0)) || fail "the server exited with code $code on SIGTERM"
    docker rm --volumes "$SINGLE_NAME" >/dev/null
    single_started=0
    say "single node passed: stopped cleanly on SIGTERM (exit 0) and removed"
fi

# --- Three nodes, docker-compose.yml.
if ((cluster)); then
    read -r p1 p2 p3 <<<"$(free_ports 3)"
    export SPOOL1_PORT=$p1 SPOOL2_PORT=$p2 SPOOL3_PORT=$p3
    all="127.0.0.1:$p1,127.0.0.1:$p2,127.0.0.1:$p3"
    survivors="127.0.0.1:$p2,127.0.0.1:$p3"
    say "cluster: ${COMPOSE[*]} up -d (project $PROJECT; EXTERNAL listeners published on $p1 $p2 $p3)"
    cluster_started=1
    compose up --detach >/dev/null 2>&1 || { compose up --detach; fail "compose up failed"; }

    wait_for_brokers "127.0.0.1:$p1" 1 "$START_TIMEOUT" \
        || fail "spool1 did not answer kcat -L on 127.0.0.1:$p1 within ${START_TIMEOUT}s: $listing"
    if ! wait_for_brokers "127.0.0.1:$p1" 3 "$QUORUM_TIMEOUT"; then
        count="$(sed -n 's/^ \([0-9][0-9]*\) brokers:$/\1/p' <<<"$listing" | head -n1)"
        fail "the cluster did not form: after ${QUORUM_TIMEOUT}s kcat -L lists ${count:-no} broker(s), not 3. \
Until the Raft metadata quorum is wired into the broker, each node is a cluster of one. kcat -L said:
$listing"
    fi
    say "kcat -L lists 3 brokers"

    out="$(spool_tool topics --create --bootstrap-server "$all" --topic smoke-rf3 \
        --partitions 3 --replication-factor 3 --config min.insync.replicas=2 2>&1)" \
        || fail "creating smoke-rf3 with replication factor 3 failed: $out"
    seq 1 100 | produce "$all" smoke-rf3
    say "produced 100 records with acks=all to smoke-rf3 (3 partitions, replication factor 3)"

    compose stop spool1 >/dev/null 2>&1 || fail "compose stop spool1 failed"
    say "stopped spool1; consuming from spool2 and spool3"
    got="$(consume "$survivors" smoke-rf3 100)" || fail "consuming 100 records after stopping spool1 gave $(grep -c . <<<"$got") within ${IO_TIMEOUT}s"
    [[ "$got" == "$(seq 1 100)" ]] || fail "after stopping spool1 the records read are not 1..100: $(tr '\n' ' ' <<<"$got" | head -c 400)"
    say "all 100 records consumed with spool1 stopped"

    seq 101 110 | produce "$survivors" smoke-rf3
    got="$(consume "$survivors" smoke-rf3 110)" || fail "consuming 110 records gave $(grep -c . <<<"$got") within ${IO_TIMEOUT}s"
    [[ "$got" == "$(seq 1 110)" ]] || fail "the records read are not 1..110"
    say "10 more records produced with acks=all and consumed with spool1 stopped"

    compose down --volumes --remove-orphans >/dev/null 2>&1 || fail "compose down -v failed"
    cluster_started=0
    say "cluster passed: down -v removed the containers and volumes"
fi
