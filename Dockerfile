# iron-cds: CDS Hooks service for IV iron orders.
#   docker build -t iron-cds .
#   docker run -p 8080:8080 -e IRON_CDS_TRUSTED_ISSUERS='{"https://ehr.example.org": "https://ehr.example.org/jwks.json"}' iron-cds
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /src
COPY pyproject.toml setup.cfg README.md ./
COPY cds_service ./cds_service
COPY cards ./cards
COPY fhir_fixtures ./fhir_fixtures
RUN pip install . \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin iron \
 && mkdir -p /data /run/iron-cds-metrics \
 && chown iron /data /run/iron-cds-metrics

# The embedded SQLite store lives on a volume; set IRON_CDS_DATABASE_URL to PostgreSQL for replicas.
ENV IRON_CDS_DATABASE_URL=sqlite:////data/iron-cds.db \
    PROMETHEUS_MULTIPROC_DIR=/run/iron-cds-metrics \
    IRON_CDS_BIND=0.0.0.0:8080
VOLUME ["/data"]
WORKDIR /data
USER iron
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=3s --start-period=15s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/cds-services', timeout=2).status == 200 else 1)"

CMD ["gunicorn", "--config", "python:cds_service.ops.gunicorn_conf", "cds_service.app:create_app()"]
