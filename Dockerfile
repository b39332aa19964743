# The bot in a container: `docker build -t mjbot .`, then see compose.yaml and README "Operating it".
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir uv==0.13.9

WORKDIR /app
# Dependencies first (a layer that changes only with the lockfile), then the bot itself.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY bot ./bot
COPY cogs ./cogs
RUN uv sync --locked --no-dev

RUN useradd --system --uid 10001 --home-dir /app mjbot \
    && mkdir /data && chown mjbot /data
USER mjbot

ENV PATH=/app/.venv/bin:$PATH \
    MJBOT_STORE_PATH=/data/mjbot.sqlite3 \
    MJBOT_WEB_HOST=0.0.0.0 \
    MJBOT_WEB_PORT=8080
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
# SIGTERM (docker stop) is a graceful shutdown of at most 10 s.
ENTRYPOINT ["mjbot"]
CMD ["run"]
