# Wan Studio on a CUDA machine: docker build -t wan-studio . && docker run --gpus all -p 7860:7860 -v hf:/data/hf wan-studio
FROM pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime

ENV PYTHONUNBUFFERED=1 \
    HF_HOME=/data/hf \
    STUDIO_OUTPUTS=/data/outputs \
    GRADIO_ANALYTICS_ENABLED=False

RUN useradd --create-home --uid 1000 studio && mkdir -p /data/hf /data/outputs && chown -R studio /data
WORKDIR /app
COPY --chown=studio requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt
COPY --chown=studio . .

USER studio
VOLUME ["/data/hf", "/data/outputs"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/', timeout=4)"
CMD ["python", "app.py", "--host", "0.0.0.0"]
