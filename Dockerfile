# syntax=docker/dockerfile:1
# One image for the three programs: `pymetallb controller`, `pymetallb speaker`, `pymetallb webhook`
# (the chart passes the subcommand as the first argument).
#
#   docker build -t pymetallb/pymetallb:0.1.0 .
#
# Stage 1 builds the wheel once, and wheels of its dependencies; stage 2 installs them offline into a clean
# image, so no compiler or source tree ships. The base is an exact Python release on Debian bookworm; pin it
# to a digest in your registry mirror with --build-arg PYTHON_IMAGE=python@sha256:... for byte-identical builds.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY crds ./crds
COPY reconciler ./reconciler
COPY speaker ./speaker
COPY webhooks ./webhooks
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip wheel --wheel-dir /wheels /wheels/pymetallb-*.whl

FROM ${PYTHON_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels pymetallb \
 && pymetallb --help > /dev/null
# nobody: the controller and the webhook run as this user. The speaker needs NET_RAW, which Kubernetes grants
# only to root (no ambient capabilities), so the chart runs it with runAsUser: 0 and every other capability dropped.
USER 65534:65534
ENTRYPOINT ["pymetallb"]
CMD ["--help"]
