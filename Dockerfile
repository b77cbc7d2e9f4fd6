# riskwatch images, installed from the hashed lock files (requirements/, tools/lock.sh):
#   docker build --target receiver -t riskwatch-receiver .   the receiver and its console
#                                                             (the core only: slim)
#   docker build -t riskwatch .                               everything: the agents, the
#                                                             exporters, the report, the demo
# Pinned by digest; tools/pin_images.sh (--check) compares it with the tag on a networked host.
FROM python:3.11.9-slim-bookworm@sha256:8fb099199b9f2d70342674bd9dbccd3ed03a258f26bbd1d556822c6dfc60c317 AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RISKWATCH_PROJECT_DIR=/opt/riskwatch

WORKDIR /opt/riskwatch
# uid 10001: deploy/compose_secrets.py gives the services' secret files to it.
RUN useradd --system --uid 10001 riskwatch

# The slim image: the core's locked dependencies, then riskwatch without resolving any.
FROM base AS receiver
COPY requirements/core.lock requirements/
RUN pip install --require-hashes -r requirements/core.lock
COPY pyproject.toml README.md policy.yaml ./
COPY src ./src
COPY agents ./agents
COPY exporters ./exporters
RUN pip install --no-deps .
USER riskwatch
ENTRYPOINT ["riskwatch"]
CMD ["receiver", "--listen", "0.0.0.0:8080"]

# The full image (the default target): every extra's locked dependencies.
FROM base AS full
COPY requirements/all.lock requirements/
RUN pip install --require-hashes -r requirements/all.lock
COPY pyproject.toml README.md ./
COPY src ./src
COPY agents ./agents
COPY exporters ./exporters
COPY alerts ./alerts
COPY policy.yaml ./
COPY dashboards ./dashboards
COPY prometheus.yml ./
# The reports folder is its own, so a volume there is writable on a read-only root.
RUN pip install --no-deps . && mkdir -p reports && chown riskwatch: reports
USER riskwatch
ENTRYPOINT ["riskwatch"]
CMD ["--help"]
