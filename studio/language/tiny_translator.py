"""The `tiny` translator: a real MarianMTModel with random weights, built in code in well under a second.

Its sentencepiece vocabularies are trained on lexicon.PROMPT_WORDS (source: the six Latin-script
languages, target: Chinese), so tokenization, `generate()` and decoding all run for real with no
download. The output is Chinese-looking noise: it proves the code path, not a translation, and
every result carries a notice that says so. Same seed, same model, same output.
"""

from __future__ import annotations

import io
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .lexicon import LATIN_LANGUAGES, chinese_words, known_words
from .loading import load_once
from .marian import marian_translate

TINY_MODEL_ID = "studio/tiny-marian"
TINY_NOTICE = (
    "tiny translator: this Chinese comes from a MarianMT model with random weights; it proves the code "
    "path, not a translation. For real translations start the studio with --translator marian (or m2m100, "
    "qwen; STUDIO_TRANSLATOR): the System tab lists what each needs."
)
SEED = 0
_SOURCE_VOCAB = 300
_TARGET_VOCAB = 400


def _train_sentencepiece(lines: list[str], vocab_size: int) -> bytes:
    import sentencepiece

    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, unk_id=0, bos_id=-1, eos_id=-1, pad_id=-1,
        num_threads=1, minloglevel=2,
    )
    return model.getvalue()


def build_tiny_marian(workdir: Path, device: str = "cpu") -> tuple[Any, Any]:
    """(MarianMTModel, MarianTokenizer) with random weights; tokenizer files are written to `workdir`."""
    import sentencepiece
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    source_lines = sorted({word for code in LATIN_LANGUAGES for word in known_words(code)})
    spms = {"source.spm": _train_sentencepiece(source_lines, _SOURCE_VOCAB),
            "target.spm": _train_sentencepiece(chinese_words(), _TARGET_VOCAB)}
    vocab = {"</s>": 0, "<unk>": 1, "<pad>": 2}
    pieces = {}
    for name, proto in spms.items():
        (workdir / name).write_bytes(proto)
        processor = sentencepiece.SentencePieceProcessor(model_proto=proto)
        pieces[name] = [processor.id_to_piece(i) for i in range(processor.get_piece_size())]
        for piece in pieces[name]:
            vocab.setdefault(piece, len(vocab))
    (workdir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), "utf-8")
    tokenizer = MarianTokenizer(
        source_spm=str(workdir / "source.spm"), target_spm=str(workdir / "target.spm"),
        vocab=str(workdir / "vocab.json"),
    )
    config = MarianConfig(
        vocab_size=len(vocab), d_model=32, encoder_layers=2, decoder_layers=2, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=64, decoder_ffn_dim=64, max_position_embeddings=512,
        pad_token_id=2, eos_token_id=0, decoder_start_token_id=2, forced_eos_token_id=0,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = MarianMTModel(config)
    # Decode into the target vocabulary only, so the noise at least looks like Chinese.
    source_only = {vocab[piece] for piece in pieces["source.spm"]} - {vocab[piece] for piece in pieces["target.spm"]}
    model.generation_config.suppress_tokens = sorted(source_only)
    return model.to(device).eval(), tokenizer


@dataclass(frozen=True)
class TinyTranslator:
    """Every language -> random-weight Chinese, through the same code as the `marian` backend."""

    workdir: Path | None = None
    device: str = "cpu"
    name: ClassVar[str] = "tiny"
    model_id: ClassVar[str] = TINY_MODEL_ID
    notice: ClassVar[str | None] = TINY_NOTICE

    def translate(self, texts: list[str], source: str) -> list[str]:
        loaded = load_once((TINY_MODEL_ID, self.device), self._build)
        return marian_translate(loaded, texts, max_new_tokens=24, min_new_tokens=2, num_beams=1)

    def _build(self) -> tuple[Any, Any]:
        if self.workdir is not None:
            folder = self.workdir / "tiny-marian"
            folder.mkdir(parents=True, exist_ok=True)
            return build_tiny_marian(folder, self.device)
        with tempfile.TemporaryDirectory(prefix="tiny-marian-") as folder:
            return build_tiny_marian(Path(folder), self.device)
