# The svhn-reader dashboard with the shipped models (artifacts/, run on ONNX Runtime) and the embedded synthetic
# sample, prepared at build time (/app/sample; copied into /app/data on the first page, in about a second).
#
#   docker build -t svhn-reader .
#   docker run -p 8501:8501 svhn-reader                                    # or -e PORT=9000 -p 9000:9000
#   docker run -p 8000:8000 svhn-reader svhn serve                         # the JSON API (POST /read; /docs)
#   docker run --rm -v "$PWD:/photos:ro" svhn-reader svhn predict /photos/photo.png    # the CLI (or docker exec)
#   mkdir -p data && docker run -p 8501:8501 --user "$(id -u):$(id -g)" -v "$PWD/data:/app/data" svhn-reader
#
# The last form keeps the data folder on the host (and shows your own prepared stores): --user makes the
# container write as you, so the folder stays yours. A named volume (-v svhn-data:/app/data) needs no --user.
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HOME=/tmp \
    SVHN_SERVE_HOST=0.0.0.0 \
    SVHN_DATA=/app/data \
    SVHN_BUNDLED_SAMPLE=/app/sample

WORKDIR /app

# What serving needs, pinned with hashes (requirements.lock; scripts/lock.sh refreshes it): the models run on
# ONNX Runtime, so no TensorFlow and no Keras (training is a job outside the image). Then, in the same layer,
# what serving never uses goes (about 90 MB): the libraries' test suites, pydeck (only Streamlit's demo imports
# it), pyarrow's Flight and S3 modules and C++ headers, and ONNX Runtime's model-conversion tools.
COPY requirements.lock ./
RUN python3 -m pip install --require-hashes -r requirements.lock \
    && python3 -m pip uninstall -q -y pydeck \
    && site=$(python3 -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
    && rm -rf "$site"/*/tests "$site"/pandas/tests "$site"/pyarrow/include "$site"/pyarrow/src \
        "$site"/pyarrow/*flight* "$site"/pyarrow/*s3* \
        "$site"/onnxruntime/transformers "$site"/onnxruntime/tools "$site"/onnxruntime/quantization \
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
# is downloaded to build it.
# Then the embedded synthetic sample, prepared once here rather than in every new container.
RUN python3 -m pip install -q --no-deps --no-build-isolation -e . \
    && svhn --help > /dev/null \
    && SVHN_DATA=/app/sample svhn prepare --source synthetic --json > /dev/null \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /app/data && chown app /app/data && chmod 1777 /app/data
USER app

# PORT is left unset: the dashboard's default is 8501, `svhn serve`'s 8000 (-e PORT=... sets either); the health
# check asks whichever of the two runs.
EXPOSE 8501 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s \
    CMD python3 -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8501\")}/_stcore/health', timeout=2)" \
     || python3 -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8000\")}/health', timeout=2)"

CMD ["sh", "-c", "exec streamlit run dashboard/app.py --server.address=0.0.0.0 --server.port=${PORT:-8501} --server.headless=true --browser.gatherUsageStats=false"]
