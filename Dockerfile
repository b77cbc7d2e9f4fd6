# riskwatch: the receiver, the agents, the exporters and the demo, in one image.
FROM python:3.11.9-slim-bookworm

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
RUN pip install . && useradd --system --uid 10001 riskwatch
USER riskwatch
ENTRYPOINT ["riskwatch"]
CMD ["--help"]
