# The svhn-reader dashboard with the shipped model (artifacts/). No data is baked in: on first start it
# renders and prepares the embedded synthetic sample into /app/data (mount a volume there to keep it, or to
# bring a prepared real SVHN store, e.g. -v $PWD/data:/app/data).
#
#   docker build -t svhn-reader .
#   docker run -p 8501:8501 svhn-reader            # or -e PORT=9000 -p 9000:9000
FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PORT=8501

WORKDIR /app

# Dependencies first, so code changes do not reinstall them (the README's Quickstart install).
COPY requirements.txt ./
RUN python3 -m pip install -r requirements.txt

COPY . .
RUN python3 -m pip install -r requirements.txt -e . \
    && useradd --create-home --uid 10001 app \
    && mkdir -p /app/data \
    && chown -R app /app/data
USER app

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD python3 -c "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"PORT\", \"8501\")}/_stcore/health', timeout=4)"

CMD ["sh", "-c", "exec streamlit run dashboard/app.py --server.address=0.0.0.0 --server.port=${PORT:-8501} --server.headless=true --browser.gatherUsageStats=false"]
