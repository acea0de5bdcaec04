# The bot (`ruta serve`: Telegram and WhatsApp webhooks, /healthz, the staff console) for compose.yaml.
# Build: docker build -t ruta-emprende-atacama .   Run: see the README, "Deployment".
FROM python:3.11-slim-bookworm

# WeasyPrint (the route as a PDF, reports) loads Pango and HarfBuzz at run time and needs the fonts the
# templates name (Liberation Sans, DejaVu Sans); curl-free health check below, so nothing else.
RUN apt-get update \
    && apt-get install -y --no-install-recommends \
        libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 \
        fonts-liberation fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    RUTA_HOME=/data

WORKDIR /app
COPY . /app
# Installed in place (-e): the package reads domain.yml and a few data files from the source tree, so the
# source stays at /app. psycopg is the PostgreSQL driver of RUTA_DATABASE_URL=postgresql+psycopg://...
RUN pip install -e /app "psycopg[binary]>=3.1,<4" \
    && useradd --system --uid 10001 --home-dir /data --create-home ruta \
    && mkdir -p /data && chown ruta:ruta /data

# RUTA_HOME: the embedded NLU's model cache, PDFs of `ruta chat`, and the pseudonym key file only if
# RUTA_PSEUDONYM_KEY is not set (set it: see .env.example).
VOLUME ["/data"]
USER ruta
EXPOSE 8080

# 200 when the database answers, 503 when it does not (the body says which part is down).
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

CMD ["ruta", "serve", "--host", "0.0.0.0", "--port", "8080"]
