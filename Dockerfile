# postctl container image.
#
#   docker build -t postctl .
#   docker run -p 8080:8080 -e POSTCTL_DATABASE_URL='mysql+mysqldb://user:pass@db/postctl' postctl
#
# Database settings come from the environment at run time: POSTCTL_DATABASE_URL
# (MySQL/MariaDB or PostgreSQL: both drivers are installed), or MYSQL_HOST /
# MYSQL_USER / MYSQL_PASS / MYSQL_DB (see postctl's docs).
#
# BASE_IMAGE must be a Debian-based image with python3 and its venv module:
# the official python:3.11-slim by default; scripts/container-test passes a
# locally built Debian bookworm image (../shared/container/make-base-image)
# because it cannot pull from a registry. Pin it by digest for reproducible
# builds (python:3.11-slim@sha256:...).
#
# Needs BuildKit (docker build's default since Docker 23) or buildah/podman,
# for RUN --mount=type=cache.
#
# PIP_CERT (optional): path, inside the build, of a CA bundle pip must trust
# (a TLS-intercepting proxy); mount the file into the build yourself, e.g.
#   buildah bud --volume "$PIP_CERT:/run/pip-ca.pem:ro" --build-arg PIP_CERT=/run/pip-ca.pem
ARG BASE_IMAGE=python:3.11-slim

# ---------------------------------------------------------------- build stage
FROM ${BASE_IMAGE} AS build
ARG PIP_CERT
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_DEFAULT_TIMEOUT=120 \
    PYTHONDONTWRITEBYTECODE=1

# Compiler and MariaDB client headers for mysqlclient (no binary wheels on
# Linux). python3-dev only where the base lacks Python.h (Debian's python3;
# the official python images ship their headers).
# DL3008 (pin apt versions): versions come from the base image's Debian
# release; exact pins break whenever Debian publishes a point release and the
# old version leaves the mirror. Pin BASE_IMAGE by digest instead.
# hadolint ignore=DL3008
RUN set -eux; \
    set -- gcc libc6-dev libmariadb-dev pkg-config; \
    inc="$(python3 -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"; \
    [ -e "$inc/Python.h" ] || set -- "$@" python3-dev; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"; \
    rm -rf /var/lib/apt/lists/*

RUN python3 -m venv /opt/build-venv
WORKDIR /src
# The build context is the repo minus .dockerignore's entries.
COPY . .
# Wheels of postctl and every dependency (mysqlclient is compiled here: it has
# no Linux binary wheels) into /wheels, then an offline install of exactly
# those wheels into the venv that the runtime stage copies. /opt/venv has the
# same path and the same interpreter (same BASE_IMAGE) in both stages.
RUN --mount=type=cache,target=/root/.cache/pip \
    /opt/build-venv/bin/pip wheel --wheel-dir /wheels ".[mysql,postgres,serve]"
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --no-index --find-links=/wheels "postctl[mysql,postgres,serve]"

# -------------------------------------------------------------- runtime stage
FROM ${BASE_IMAGE} AS runtime

# libmariadb3: the shared library mysqlclient links against (no -dev headers).
# hadolint ignore=DL3008
RUN set -eux; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libmariadb3; \
    rm -rf /var/lib/apt/lists/*; \
    groupadd --gid 10001 postctl; \
    useradd --no-log-init --uid 10001 --gid 10001 \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin postctl; \
    install -d -o 10001 -g 10001 /app

# Copied, not bind-mounted with RUN --mount=from=build: buildah (1.28 here)
# cannot bind-mount a stage that was taken from its layer cache.
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# Fail the build, not the deployment, if a runtime library is missing.
RUN uwsgi --version >/dev/null \
    && python3 -c "import MySQLdb, psycopg, flask, sqlalchemy" \
    && postctl --help >/dev/null

WORKDIR /app
# The sample fixtures, so that `postctl load-fixtures` works in the image as in
# the repository; owned by root, so the service user cannot change them.
COPY fixtures/ /app/fixtures/
USER 10001:10001
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python3", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]
CMD ["postctl", "serve", "--host", "0.0.0.0", "--port", "8080"]
