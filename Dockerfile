# The platform image: every process of the platform (gateway, roll-up and quality workers, API, simulator and the
# deployment init steps) is a `smartcity` sub-command. Two stages: the first builds a virtual environment from the
# project's wheels, the second copies only that environment onto a clean slim base and runs as UID 10001.
# The base is pinned by version; pin it by digest too where the registry is reachable (docs/DEPLOY.md).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/smartcity
COPY pyproject.toml README.md ./
COPY smartcity ./smartcity
COPY devices ./devices
COPY gateway ./gateway
COPY services ./services
COPY grafana_view ./grafana_view
# A non-editable install: the final stage needs the environment only, not the sources.
RUN /opt/smartcity/bin/pip install --no-cache-dir /src \
    && /opt/smartcity/bin/smartcity --help > /dev/null

FROM ${PYTHON_IMAGE} AS platform
LABEL org.opencontainers.image.title="smartcity" \
      org.opencontainers.image.description="Smart-city IoT platform: simulator, ingest gateway, workers, planning API"
ENV PATH=/opt/smartcity/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# One numeric user and group (no login shell, no home outside the data directory); the directories the deployment
# mounts volumes on are created here, owned by it, so a fresh named volume takes that ownership.
RUN groupadd --system --gid 10001 smartcity \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/smartcity --shell /usr/sbin/nologin smartcity \
    && mkdir -p /var/lib/smartcity/broker /var/lib/smartcity/broker-data /var/lib/smartcity/gateway \
        /var/lib/smartcity/rollup /var/lib/smartcity/quality /var/lib/smartcity/api \
    && chown -R 10001:10001 /var/lib/smartcity
COPY --from=build /opt/smartcity /opt/smartcity
USER 10001:10001
WORKDIR /var/lib/smartcity
ENTRYPOINT ["smartcity"]
CMD ["--help"]
