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

# Non-root at run time; /data is where the payment sandbox keeps its state (a volume).
RUN useradd --create-home --uid 10001 --user-group aftersales \
    && mkdir -p /data \
    && chown aftersales:aftersales /data
USER aftersales

EXPOSE 8000
CMD ["python", "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "0.0.0.0", "--port", "8000"]
