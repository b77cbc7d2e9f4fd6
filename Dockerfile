# riskwatch: the receiver, the agents, the exporters and the demo, in one image.
# Pinned by digest; tools/pin_images.sh (--check) compares it with the tag on a networked host.
FROM python:3.11.9-slim-bookworm@sha256:8fb099199b9f2d70342674bd9dbccd3ed03a258f26bbd1d556822c6dfc60c317

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    RISKWATCH_PROJECT_DIR=/opt/riskwatch

WORKDIR /opt/riskwatch
COPY pyproject.toml README.md ./
COPY src ./src
COPY agents ./agents
COPY exporters ./exporters
COPY alerts ./alerts
COPY policy.yaml ./
COPY dashboards ./dashboards
COPY prometheus.yml ./
# uid 10001: deploy/compose_secrets.py gives the services' secret files to it. The
# reports folder is its own, so a volume there is writable on a read-only root.
RUN pip install . && useradd --system --uid 10001 riskwatch \
    && mkdir -p reports && chown riskwatch: reports
USER riskwatch
ENTRYPOINT ["riskwatch"]
CMD ["--help"]
