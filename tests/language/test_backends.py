"""The marian, m2m100 and qwen backends run their real loading and generate() code on tiny checkpoints."""

from __future__ import annotations

from pathlib import Path

from studio.language import LanguageLayer
from studio.language.languages import language_name
from studio.language.marian import SIMPLIFIED_CHINESE, MarianTranslator, marian_translate
from studio.language.loading import load_pretrained


def test_marian_english_direct_and_pivot_for_other_languages(tiny_marian_dir: Path, tmp_path: Path) -> None:
    layer = LanguageLayer(
        MarianTranslator(model_id=str(tiny_marian_dir), pivot_model_id=str(tiny_marian_dir)), cache_dir=tmp_path
    )
    english = layer.prepare("a cat on the beach, 4K")
    french = layer.prepare("un chat sur la plage")
    assert english.translated and english.model_prompt.endswith(", 4K") and english.backend == "marian"
    assert french.translated and french.language == "fr" and french.model_prompt != "un chat sur la plage"
    assert layer.prepare("一只猫").model_prompt == "一只猫"


def test_marian_model_id_is_a_local_folder(tiny_marian_dir: Path, tmp_path: Path) -> None:
    prepared = LanguageLayer("marian", model_id=str(tiny_marian_dir), cache_dir=tmp_path).prepare("sunset over the sea")
    assert prepared.translated and prepared.model_id == str(tiny_marian_dir) and prepared.notice is None


def test_marian_adds_the_simplified_chinese_token_when_the_model_has_it(tiny_marian_dir: Path) -> None:
    model, tokenizer = load_pretrained("MarianMTModel", "MarianTokenizer", str(tiny_marian_dir), "cpu")
    assert SIMPLIFIED_CHINESE not in tokenizer.supported_language_codes
    tokenizer.supported_language_codes.append(SIMPLIFIED_CHINESE)
    try:
        assert isinstance(marian_translate((model, tokenizer), ["a cat"], max_new_tokens=4)[0], str)
    finally:
        tokenizer.supported_language_codes.remove(SIMPLIFIED_CHINESE)


def test_m2m100(tiny_m2m100_dir: Path, tmp_path: Path) -> None:
    layer = LanguageLayer("m2m100", model_id=str(tiny_m2m100_dir), cache_dir=tmp_path)
    prepared = layer.prepare("Une grue blanche s'envole d'un lac brumeux, 35mm")
    assert prepared.translated and prepared.language == "fr" and prepared.model_prompt.endswith(", 35mm")
    assert "__zh__" not in prepared.model_prompt
    assert layer.prepare("Une grue blanche s'envole d'un lac brumeux, 35mm").cached


def test_qwen_translates_and_enriches_as_a_separate_span(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    layer = LanguageLayer("qwen", model_id=str(tiny_qwen_dir), cache_dir=tmp_path, enrich=True)
    prepared = layer.prepare("赛博朋克 city at night")
    kinds = [span.kind for span in prepared.spans]
    assert kinds == ["chinese", "keep", "text", "enrichment"]
    assert prepared.spans[0].output == "赛博朋克" and prepared.spans[-1].output.startswith("，")
    assert prepared.model_prompt.startswith("赛博朋克 ") and prepared.translated


def test_qwen_enrich_keeps_chinese_verbatim(tiny_qwen_dir: Path, tmp_path: Path) -> None:
    prepared = LanguageLayer("qwen", model_id=str(tiny_qwen_dir), cache_dir=tmp_path, enrich=True).prepare("一只猫")
    assert prepared.model_prompt.startswith("一只猫，") and prepared.spans[0].output == "一只猫"
    plain = LanguageLayer("qwen", model_id=str(tiny_qwen_dir), cache_dir=tmp_path).prepare("一只猫")
    assert plain.model_prompt == "一只猫" and not plain.translated


def test_m2m100_reads_each_language_with_its_own_source_code(tiny_m2m100_dir: Path, tmp_path: Path) -> None:
    """Issue 20: Turkish, Hindi, Thai, Vietnamese ... reach m2m100 with their codes (its tokenizer's src_lang)."""
    layer = LanguageLayer("m2m100", model_id=str(tiny_m2m100_dir), cache_dir=tmp_path)
    _, tokenizer = load_pretrained("M2M100ForConditionalGeneration", "M2M100Tokenizer", str(tiny_m2m100_dir), "cpu")
    for prompt, code in [("Kedi plajda uyuyor", "tr"), ("समुद्र तट पर सोती हुई बिल्ली", "hi"),
                         ("แมวนอนบนชายหาด", "th"), ("con mèo ngủ trên bãi biển", "vi")]:
        prepared = layer.prepare(prompt)
        assert prepared.translated and prepared.language == code and tokenizer.src_lang == code
        assert prepared.summary == f"{language_name(code)}, translated to Chinese with m2m100"
