#!/usr/bin/env bash
# `make run`: the whole pipeline on this machine.
#   1. a local Kafka broker (streams.broker), unless KAFKA_BOOTSTRAP names one already running;
#   2. `newsflow topics`, then `newsflow worker` in the background until its /metrics answers;
#   3. `newsflow produce` of the sample articles; then the worker keeps running in the foreground.
# Ctrl-C (or any failure) stops the worker, then the broker if this script started it, each by its PID.
# Environment: KAFKA_BOOTSTRAP, NEWSFLOW_BROKER_PORT/DIR, NEWSFLOW_WEB_HOST/PORT, SAMPLES (files to produce),
# WORKER_READY_TIMEOUT (seconds, default 120).
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=.venv/bin
WEB_HOST=${NEWSFLOW_WEB_HOST:-127.0.0.1}
WEB_PORT=${NEWSFLOW_WEB_PORT:-6066}
SAMPLES=${SAMPLES:-samples/articles.jsonl}
READY_TIMEOUT=${WORKER_READY_TIMEOUT:-120}

started_broker=0
worker_pid=""

stop_all() {
    trap - EXIT INT TERM
    # Our output may be a pipe whose reader died with the same Ctrl-C (`make run | tee log`): a write
    # must then fail quietly, not kill this shell before the worker and the broker are stopped.
    trap '' PIPE
    set +e
    if [[ -n "$worker_pid" ]] && kill -0 "$worker_pid" 2>/dev/null; then
        echo "run-local: stopping worker (pid $worker_pid)" >&2
        kill -TERM "$worker_pid" 2>/dev/null || true
        # The worker's own shutdown has a timeout (NEWSFLOW_SHUTDOWN_TIMEOUT_S); wait for it to finish.
        wait "$worker_pid" 2>/dev/null || true
    fi
    if [[ "$started_broker" == 1 ]]; then
        "$BIN/python" -m streams.broker stop || true
    fi
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z "${KAFKA_BOOTSTRAP:-}" ]]; then
    if ! "$BIN/python" -m streams.broker status >/dev/null; then
        started_broker=1
    fi
    "$BIN/python" -m streams.broker start
    export KAFKA_BOOTSTRAP="127.0.0.1:${NEWSFLOW_BROKER_PORT:-9092}"
fi
echo "run-local: Kafka at $KAFKA_BOOTSTRAP" >&2

"$BIN/newsflow" topics

# Own session (setsid): Ctrl-C reaches only this script, which then stops the worker once, cleanly.
setsid "$BIN/newsflow" worker &
worker_pid=$!
echo "run-local: worker pid $worker_pid, waiting for http://$WEB_HOST:$WEB_PORT/metrics" >&2

deadline=$((SECONDS + READY_TIMEOUT))
until curl -fsS -o /dev/null "http://$WEB_HOST:$WEB_PORT/metrics" 2>/dev/null; do
    if ! kill -0 "$worker_pid" 2>/dev/null; then
        wait "$worker_pid" && status=0 || status=$?
        worker_pid=""
        echo "run-local: the worker exited (code $status) before its web server answered" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "run-local: no answer from http://$WEB_HOST:$WEB_PORT/metrics within $READY_TIMEOUT s" >&2
        exit 1
    fi
    sleep 0.5
done

# shellcheck disable=SC2086  # SAMPLES is a list of paths on purpose
"$BIN/newsflow" produce $SAMPLES
echo "run-local: samples sent; worker running (metrics: http://$WEB_HOST:$WEB_PORT/metrics). Ctrl-C stops everything." >&2

wait "$worker_pid" && status=0 || status=$?
worker_pid=""
exit "$status"
