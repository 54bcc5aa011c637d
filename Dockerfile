# One image for all three services; compose picks the service with `command`.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/venv
RUN pip install --no-cache-dir uv

WORKDIR /app
COPY pyproject.toml uv.lock ./
COPY shared shared
COPY services services
RUN uv sync --frozen --no-dev

ENV PATH="/opt/venv/bin:$PATH"
RUN useradd --system --uid 10001 app
USER app
EXPOSE 8001 8002 8003
CMD ["python", "-m", "scheduler"]
