# telepath-monitor: the daemon as a small, non-root container that runs beside Prometheus.
#
#   docker build -t telepath-monitor .
#   docker run --rm -v "$PWD/alerts.yaml:/etc/telepath-monitor/alerts.yaml:ro" telepath-monitor check
#   docker run -d --name telepath-monitor --read-only --tmpfs /tmp \
#     -e TELEPATH_API_KEY -e SLACK_WEBHOOK_URL \
#     -v "$PWD/alerts.yaml:/etc/telepath-monitor/alerts.yaml:ro" \
#     -v telepath-monitor-state:/var/lib/telepath-monitor \
#     -p 19310:19310 telepath-monitor
#
# Read-only root filesystem: the image needs to write only the state volume (the SQLite
# file and its -wal/-shm siblings) and /tmp, so run it with `--read-only --tmpfs /tmp`
# (Kubernetes: readOnlyRootFilesystem: true plus an emptyDir on /tmp). Python writes no
# bytecode (PYTHONDONTWRITEBYTECODE); the installed packages are compiled at build time.
# A named volume takes the image's ownership (uid 10001); a bind-mounted state directory
# must first be made writable for that user (chown 10001:10001 DIR).
#
# The config is not baked in: mount yours at /etc/telepath-monitor/alerts.yaml (or set
# TELEPATH_CONFIG). The annotated reference is /usr/share/telepath-monitor/alerts.example.yaml;
# the rule packs are also in /etc/telepath-monitor/rules/, so a mounted alerts.yaml can
# `include: [rules/voice-latency.yaml]` as in the repository.
# Set the listen address with TELEPATH_LISTEN rather than `run --listen`: the
# HEALTHCHECK reads the variable. Secrets come in through the environment only.
#
# Labels that only the build knows can be added by CI without editing this file:
#   docker build --label org.opencontainers.image.revision="$(git rev-parse HEAD)" \
#     --label org.opencontainers.image.created="$(date -u +%Y-%m-%dT%H:%M:%SZ)" .

# Base image, used by both stages (the venv built in the first is run by the second's
# /usr/local/bin/python, so they must be the same image). Pinned to an exact CPython patch
# release on an exact Debian release, never a moving tag such as 3.11-slim or latest.
# To bump: pick the newest 3.11.x-slim-bookworm tag on Docker Hub, read its digest with
#   docker buildx imagetools inspect docker.io/library/python:3.11.N-slim-bookworm
# and, for byte-for-byte reproducible builds, pin it as
#   ARG PYTHON_IMAGE=docker.io/library/python:3.11.N-slim-bookworm@sha256:<digest>
# (a digest pin must then be bumped for every Debian security rebuild of the tag).
ARG PYTHON_IMAGE=docker.io/library/python:3.11.14-slim-bookworm

# --- build: the project as a wheel, installed with its dependencies into /opt/venv --------
FROM ${PYTHON_IMAGE} AS build

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor/ monitor/

# Dependencies come as wheels only (--only-binary): no compiler is needed or installed, and
# a dependency without a wheel for the platform fails the build instead of compiling.
# The venv gets no pip of its own: the base image's pip installs into it (--python).
RUN python -m pip wheel --no-cache-dir --no-deps --wheel-dir /wheels . \
    && python -m venv --without-pip /opt/venv \
    && python -m pip --python /opt/venv/bin/python install --no-cache-dir \
       --only-binary=:all: /wheels/*.whl \
    && /opt/venv/bin/telepath-monitor --version

# --- runtime: the base image, the venv and the reference files; nothing to build with ------
FROM ${PYTHON_IMAGE} AS runtime

ARG PYTHON_IMAGE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="telepath-monitor" \
      org.opencontainers.image.description="Watches the latency of AI voice calls running through Telepath, exports Prometheus metrics and alerts." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# A fixed numeric user, so volume ownership and Kubernetes runAsUser are predictable.
RUN groupadd --system --gid 10001 telepath-monitor \
    && useradd --system --no-log-init --uid 10001 --gid 10001 \
       --home-dir /var/lib/telepath-monitor --no-create-home --shell /usr/sbin/nologin \
       telepath-monitor \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/telepath-monitor \
    && install -d -m 0755 /etc/telepath-monitor

COPY --from=build /opt/venv /opt/venv
# The rule packs twice (a few kB): beside the reference, whose includes are relative to
# it, and beside the default config, where a bind mount of newer packs may replace them.
COPY alerts.example.yaml /usr/share/telepath-monitor/
COPY rules/ /usr/share/telepath-monitor/rules/
COPY rules/ /etc/telepath-monitor/rules/

# PYTHONSAFEPATH: `python -m` must not import from the working directory (the volume).
ENV PATH="/opt/venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONSAFEPATH=1 \
    TELEPATH_CONFIG=/etc/telepath-monitor/alerts.yaml \
    TELEPATH_STATE_DB=/var/lib/telepath-monitor/telepath-monitor.db \
    TELEPATH_LISTEN=0.0.0.0:19310

WORKDIR /var/lib/telepath-monitor
USER 10001:10001
VOLUME ["/var/lib/telepath-monitor"]
EXPOSE 19310

# Liveness of the process through its own /healthz; no curl in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-m", "monitor.healthcheck"]

# `docker run IMAGE` runs the daemon; `docker run IMAGE check` (or once, simulate, ...)
# runs another command. The daemon stops cleanly on SIGTERM, Docker's stop signal.
ENTRYPOINT ["telepath-monitor"]
CMD ["run"]
