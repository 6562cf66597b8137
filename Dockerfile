# LinkTime: the same steps as `make run` (install, migrate, one process for web + queue), in production mode.
#
# Production is the default: the container refuses to start (exit 2, one message naming each missing setting)
# without SECRET_KEY, ENCRYPTION_KEY and BASE_URL, given in the environment or as NAME_FILE pointing at a file
# (e.g. a Docker secret under /run/secrets). Production keeps the outbound-request guard (no private
# addresses), the Secure session cookie and HSTS on; it never generates secrets. For a throw-away local try-out
# only: `docker run -e LINKTIME_ENV=development -p 127.0.0.1:8080:8080 ...`.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    LINKTIME_ENV=production INSTANCE_DIR=/data HOST=0.0.0.0 PORT=8080

# /data holds the database, the queue and (development only) mail: private to the linktime user.
RUN useradd --create-home --uid 1000 linktime && mkdir -p /data && chown linktime /data && chmod 0700 /data
WORKDIR /app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=linktime . .

USER linktime
EXPOSE 8080
VOLUME ["/data"]
# app.serve applies pending migrations, then serves HTTP and runs the queue consumer.
CMD ["python", "-m", "app.serve"]
