# The one image of the engine: the API by default; the worker, the migrations, the payment
# sandbox and the Temporal admin job run it with another command (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Everything is fetched at build time; nothing is downloaded when a container runs.
COPY . .
RUN pip install . \
    && rm -rf build *.egg-info

# Non-root at run time, as uid and gid 10001 (deploy/k8s runs the pods as those ids); /data is
# where the sandboxes keep their state and the worker its bytecode cache (DATA_DIR).
RUN groupadd --gid 10001 aftersales \
    && useradd --create-home --uid 10001 --gid 10001 aftersales \
    && mkdir -p /data \
    && chown aftersales:aftersales /data
USER 10001:10001

EXPOSE 8000
CMD ["python", "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
