# The svhn-reader dashboard with the shipped models (artifacts/, run on ONNX Runtime) and the embedded synthetic
# sample's archives, rendered at build time (/app/sample); the first page copies them into /app/data and
# prepares their store there (seconds; docs/design.md, "The Docker image").
#
#   docker build -t svhn-reader .
#   docker run -p 8501:8501 svhn-reader                                    # or -e PORT=9000 -p 9000:9000
#   docker run -p 8000:8000 svhn-reader svhn serve                         # the JSON API (POST /read; /docs)
#   docker run --rm -v "$PWD:/photos:ro" svhn-reader svhn predict /photos/photo.png    # the CLI (or docker exec)
#   mkdir -p data && docker run -p 8501:8501 --user "$(id -u):$(id -g)" -v "$PWD/data:/app/data" svhn-reader
#
# The last form keeps the data folder on the host (and shows your own prepared stores): --user makes the
# container write as you, so the folder stays yours. A named volume (-v svhn-data:/app/data) needs no --user.

# Build stage: everything is installed into /venv, which the final stage copies; nothing of this stage's
# own tools (pip, setuptools, wheel) is copied.
FROM python:3.11-slim AS build
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/venv/bin:$PATH
WORKDIR /app
RUN apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*

# What serving needs, pinned with hashes (requirements.lock; scripts/lock.sh refreshes it): the models run on
# ONNX Runtime, so no TensorFlow and no Keras (training is a job outside the image); no byte-code is compiled
# (the image holds none). Then what serving never uses goes: the libraries' test suites, type stubs and Cython
# sources, pydeck (only Streamlit's demo imports it), pyarrow's Flight and S3 modules, C++ headers and the
# copies of libarrow_python under its link names, ONNX Runtime's model-conversion tools and its C-API library
# (the Python module does not load it), and Plotly's JavaScript bundles (for HTML files and Jupyter: the
# dashboard's charts are drawn by Streamlit's own Plotly.js); and pyarrow's libraries are stripped of their
# symbol tables (binutils, installed above in this stage only; not the libraries auditwheel patched, which
# stripping breaks).
COPY requirements.lock ./
RUN python3 -m venv /venv \
    && python3 -m pip install --no-compile --require-hashes -r requirements.lock \
    && python3 -m pip uninstall -q -y pydeck \
    && site=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
    && find "$site" -depth -type d -name tests -exec rm -rf {} + \
    && find "$site" -type f \( -name "*.pyi" -o -name "*.pxd" -o -name "*.pyx" -o -name "*.pxi" \) -delete \
    && rm -rf "$site"/pyarrow/include "$site"/pyarrow/src "$site"/pyarrow/*flight* "$site"/pyarrow/*s3* \
        "$site"/pyarrow/libarrow_python.so "$site"/pyarrow/libarrow_python.so.*.*.* \
        "$site"/pyarrow/libarrow_python_parquet_encryption.so \
        "$site"/onnxruntime/transformers "$site"/onnxruntime/tools "$site"/onnxruntime/quantization \
        "$site"/onnxruntime/capi/libonnxruntime.so.* \
        "$site"/plotly/package_data/plotly.min.js "$site"/plotly/package_data/widgetbundle.js \
        "$site"/plotly/labextension \
    && find "$site"/pyarrow -type f -name "*.so*" -exec strip --strip-unneeded {} + \
    && python3 -c "import onnxruntime, streamlit, pandas, pyarrow, pyarrow.fs, plotly, h5py, PIL" \
    && ! python3 -c "import tensorflow" 2>/dev/null

# Only what the dashboard runs: the library, the app, its settings and the shipped models.
COPY pyproject.toml README.md ./
COPY .streamlit ./.streamlit
COPY svhn_api ./svhn_api
COPY dashboard ./dashboard
COPY artifacts ./artifacts

# The `svhn` command (`docker exec CONTAINER svhn predict photo.png`): the project installed in place (editable:
# the one copy in /app serves both the dashboard and the command), without its dependencies (the lock's are
# there). Its build requirements (setuptools, wheel) are the lock's, pinned with their hashes: nothing unpinned
# is downloaded to build it; they, and pip, are uninstalled once it is built (the editable install's finder
# needs none of them).
# Then the embedded synthetic sample, rendered once here rather than in every new container; only its
# archives are kept (the Preprocessing page and whole-photo evaluation read the original photos from them),
# their store is prepared from them on the first page.
RUN python3 -m pip install -q --no-compile --no-deps --no-build-isolation -e . \
    && SVHN_DATA=/app/sample svhn prepare --source synthetic --json > /dev/null \
    && rm /app/sample/synthetic/synthetic_union.h5 \
    && python3 -m pip uninstall -q -y setuptools wheel pip \
    && svhn --help > /dev/null

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/venv/bin:$PATH \
    HOME=/tmp \
    SVHN_SERVE_HOST=0.0.0.0 \
    SVHN_DATA=/app/data \
    SVHN_BUNDLED_SAMPLE=/app/sample
WORKDIR /app

# The base image's own pip and setuptools are uninstalled too (their files stay in its layer: no space is
# saved, but its Python has no pip left).
RUN python3 -m pip uninstall -q -y pip setuptools wheel 2>/dev/null; \
    useradd --create-home --uid 10001 app \
    && mkdir -p /app/data && chown app /app/data && chmod 1777 /app/data
COPY --from=build /venv /venv
COPY --from=build /app /app
USER app

# PORT is left unset: the dashboard's default is 8501, `svhn serve`'s 8000 (-e PORT=... sets either); the health
# check asks whichever of the two runs.
EXPOSE 8501 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python3 -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8501\")}/_stcore/health', timeout=2)" \
     || python3 -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/health', timeout=2)"

CMD ["sh", "-c", "exec streamlit run dashboard/app.py --server.address=0.0.0.0 --server.port=${PORT:-8501} --server.headless=true --browser.gatherUsageStats=false"]
