# Wan Studio on a CUDA machine.
#   docker build -t wan-studio .
#   docker run --gpus all -p 7860:7860 -v wan-hf:/data/hf -v wan-out:/data/outputs wan-studio
# Weights download into the /data/hf volume on first use (or mount a folder that already holds them).
FROM pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HOME=/data/hf \
    STUDIO_OUTPUTS=/data/outputs \
    GRADIO_ANALYTICS_ENABLED=False

RUN useradd --create-home --uid 1000 studio \
    && mkdir -p /data/hf /data/outputs \
    && chown -R 1000:1000 /data
WORKDIR /app

# Dependencies first (a layer that survives code changes), pinned by constraints.txt; torch comes from the base image.
COPY requirements.txt requirements-gpu.txt constraints.txt ./
RUN pip install -r requirements.txt -r requirements-gpu.txt -c constraints.txt
COPY --chown=1000:1000 . .

USER 1000
VOLUME ["/data/hf", "/data/outputs"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=180s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"]
CMD ["python", "app.py", "--host", "0.0.0.0"]
