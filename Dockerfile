# newsflow worker image. Build: docker build -t newsflow .   Run: docker compose up (docker-compose.yml).
# Every Python dependency is pinned by deploy/requirements.lock (the versions the tests ran with); the base
# image is pinned to the interpreter line the project supports (requires-python = 3.11).
# The compiled twin of the core's hot steps (native/, Rust): built as a wheel in a stage of its own, so the
# final image carries the wheel but no compiler. Without it the worker would run the Python core (the
# same records, slower); NEWSFLOW_CORE=native below makes a missing twin an error at start instead.
FROM python:3.11.7-slim-bookworm AS native
RUN apt-get update && apt-get install -y --no-install-recommends build-essential ca-certificates curl \
 && curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
 && rm -rf /var/lib/apt/lists/*
ENV PATH=/root/.cargo/bin:$PATH
COPY native /src/native
RUN pip wheel --no-deps --wheel-dir /wheels /src/native

FROM python:3.11.7-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/newsflow \
    PATH=/opt/newsflow/bin:$PATH

# A fixed numeric uid/gid: Kubernetes' runAsNonRoot can only verify a numeric USER.
RUN groupadd --system --gid 10001 newsflow \
 && useradd --system --uid 10001 --gid newsflow --home-dir /var/lib/newsflow --no-create-home \
        --shell /usr/sbin/nologin newsflow \
 && install -d -o newsflow -g newsflow -m 0750 /var/lib/newsflow

# Dependencies first, in their own layer: a code change does not reinstall them.
COPY deploy/requirements.lock /tmp/requirements.lock
RUN python -m venv "$VIRTUAL_ENV" \
 && pip install --no-deps --only-binary=:all: -r /tmp/requirements.lock

WORKDIR /opt/newsflow-src
COPY pyproject.toml ./
COPY streams ./streams
# --no-deps: everything is already installed from the lock; `pip check` then proves the lock satisfies
# the package's own requirements.
COPY --from=native /wheels /tmp/wheels
RUN pip install --no-deps . /tmp/wheels/*.whl \
 && pip check \
 && rm -rf /opt/newsflow-src /tmp/requirements.lock /tmp/wheels
WORKDIR /var/lib/newsflow

ENV NEWSFLOW_WEB_HOST=0.0.0.0 \
    NEWSFLOW_WEB_PORT=6066 \
    NEWSFLOW_DATA_DIR=/var/lib/newsflow \
    NEWSFLOW_LOG_FORMAT=json \
    NEWSFLOW_CORE=native \
    HF_HUB_OFFLINE=1

USER 10001:10001
# Table state (RocksDB). Losing it costs a changelog replay on start, not data.
VOLUME ["/var/lib/newsflow"]
EXPOSE 6066

# /healthz answers while the process is alive; readiness (/readyz) is the orchestrator's business.
# The slim image has no curl: the interpreter does the request and exits non-zero on any error status.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('NEWSFLOW_WEB_PORT', '6066'), timeout=4)"]

# Faust stops cleanly on SIGTERM (commits offsets, flushes tables) within NEWSFLOW_SHUTDOWN_TIMEOUT_S.
STOPSIGNAL SIGTERM
ENTRYPOINT ["newsflow"]
CMD ["worker"]
