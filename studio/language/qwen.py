"""The `qwen` translator: Qwen2.5-1.5B-Instruct (Apache-2.0) rewrites prompts into Chinese.

An instruction model understands prompt jargon and loose word lists better than an MT model, and
it can also *enrich*: add the lighting, shot and motion details Wan2.2 responds to, in the spirit
of the official Wan2.2 prompt extender. Enrichment is appended as its own span and shown before
use, never mixed into the user's words. (The 3B and 72B Qwen2.5 models have other licences.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .languages import NAMES
from .loading import load_pretrained
from .seq2seq import output_budget

QWEN = "Qwen/Qwen2.5-1.5B-Instruct"
TRANSLATE_SYSTEM = (
    "You translate prompts for a text-to-video model into Simplified Chinese. Translate faithfully and "
    "completely, keep names, numbers and camera terms as written, add nothing, explain nothing. "
    "Reply with the Chinese translation only."
)
ENRICH_SYSTEM = (
    "你是视频生成提示词的扩写助手。用户给出一段中文视频提示词。请用一到两句简洁的中文补充画面细节："
    "光线（时间、光源、色调）、镜头（景别、机位、运镜）和运动（主体与环境的动态）。"
    "不要重复或改写原提示词，不要加入与原意矛盾的内容，只输出补充的句子。"
)
ENRICH_MAX_NEW_TOKENS = 160  # about two sentences of added detail
_QUOTES = "\"'“”‘’「」『』"


@dataclass(frozen=True)
class QwenTranslator:
    """Chat-template prompts to a causal LM: one for translation, one for enrichment."""

    model_id: str = QWEN
    device: str = "cpu"
    name: ClassVar[str] = "qwen"
    notice: ClassVar[str | None] = None

    def translate(self, texts: list[str], source: str) -> list[str]:
        _, tokenizer = self._load()
        language = NAMES.get(source, "the following language")
        return [
            self._chat(
                TRANSLATE_SYSTEM, f"Translate this {language} prompt into Chinese:\n{text}",
                output_budget(len(tokenizer(text)["input_ids"])),
            )
            for text in texts
        ]

    def enrich(self, prompt: str) -> str:
        """One or two Chinese sentences of lighting, shot and motion that fit `prompt` (Chinese)."""
        return self._chat(ENRICH_SYSTEM, prompt, ENRICH_MAX_NEW_TOKENS)

    def _load(self) -> tuple[Any, Any]:
        return load_pretrained("AutoModelForCausalLM", "AutoTokenizer", self.model_id, self.device)

    def _chat(self, system: str, user: str, max_new_tokens: int) -> str:
        import torch

        model, tokenizer = self._load()
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
        inputs = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
        ).to(model.device)
        with torch.inference_mode():
            output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
        reply = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
        return reply.strip().strip(_QUOTES).strip()
