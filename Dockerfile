# One image for every Driveguard process (API, Airflow components, emulator); see docker-compose.yml.
# Dependencies come from uv.lock exactly (`uv sync --frozen`, no dev group); the project itself is
# installed as a package (not editable), so its SQL files, migrations and page assets are read from
# site-packages like any wheel install. Only the DAG and plugin files stay as files: Airflow reads
# them from its folders. Processes run as an unprivileged user.
FROM python:3.11-slim AS build
ENV UV_PROJECT_ENVIRONMENT=/opt/venv UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
# The dependencies first (cached until the lock file changes), then the project.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY driveguard ./driveguard
COPY api ./api
COPY emulator ./emulator
RUN uv sync --frozen --no-dev --no-editable

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 AIRFLOW_HOME=/opt/airflow DRIVEGUARD_VAR_DIR=/opt/driveguard/var
RUN groupadd --system --gid 10001 driveguard \
    && useradd --system --uid 10001 --gid driveguard --home-dir /opt/driveguard --create-home driveguard \
    && mkdir -p /opt/airflow /opt/driveguard/var \
    && chown driveguard:driveguard /opt/airflow /opt/driveguard/var
COPY --from=build /opt/venv /opt/venv
COPY dags /opt/driveguard/dags
COPY plugins /opt/driveguard/plugins
USER driveguard
WORKDIR /opt/driveguard
EXPOSE 8000 8080
CMD ["python", "-m", "api"]
