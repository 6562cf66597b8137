# LinkTime: the same steps as `make run` (install, migrate, one process for web + queue).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    INSTANCE_DIR=/data HOST=0.0.0.0 PORT=8080

RUN useradd --create-home --uid 1000 linktime && mkdir -p /data && chown linktime /data
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=linktime . .

USER linktime
EXPOSE 8080
VOLUME ["/data"]
# app.serve applies pending migrations, then serves HTTP and runs the queue consumer.
CMD ["python", "-m", "app.serve"]
