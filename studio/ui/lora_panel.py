"""Advanced → LoRAs: pick LoRAs of the library (searchable), set their strengths, add trigger words in one click.

The job's LoRAs travel as one text, "name:strength[:strength_low], ...", the form the CLI's --lora and
batch files use, so the API takes the same string (`loras` parameter of /generate and /submit). The
panel only builds that text; the studio validates it (unknown names, strengths, files) on Generate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from ..errors import StudioError
from ..loras import LoraEntry
from ..request import parse_loras
from ..service import Studio
from . import formatting as fmt
from .system_tab import shown_folder


@dataclass
class LoraPanel:
    loras: gr.Textbox  # the job's LoRAs: the value the request takes
    pick: gr.Dropdown
    gallery: gr.Gallery
    triggers: gr.Button
    info: gr.Markdown


def build(studio: Studio, prompt: gr.Textbox) -> LoraPanel:
    """The panel's components and wiring; call inside the Advanced accordion."""
    with gr.Accordion("LoRAs", open=False, elem_id="lora_panel"):
        pick = gr.Dropdown(choices=_choices(studio), value=None, label="Add a LoRA (type to search)",
                           filterable=True, elem_id="lora_pick")
        loras = gr.Textbox(value="", label="LoRAs of this job", elem_id="loras",
                           placeholder="name:strength, or name:high:low for separate expert strengths",
                           info="Strength 1.0 unless given; -4 to 4. A pair's or a file's low-noise expert takes "
                                "the second strength.")
        gallery = gr.Gallery(_thumbnails(studio), label="LoRAs with a picture (click to add)", columns=6,
                             height=140, allow_preview=False, elem_id="lora_gallery", visible=bool(_thumbnails(studio)))
        triggers = gr.Button("Add their trigger words to the prompt", elem_id="lora_triggers", size="sm")
        info = gr.Markdown(library_text(studio), elem_id="lora_info")
    pick.focus(lambda: gr.update(choices=_choices(studio)), None, pick, queue=False, show_progress="hidden",
               api_visibility="private")
    pick.input(add_lora, [loras, pick], [loras, pick], queue=False, show_progress="hidden", api_visibility="private")

    def picked(text: str, event: gr.SelectData) -> str:
        shown = _thumbnails(studio)
        return add_lora(text, shown[event.index][1])[0] if 0 <= event.index < len(shown) else text

    gallery.select(picked, loras, loras, queue=False, show_progress="hidden", api_visibility="private")
    triggers.click(lambda text, current: add_triggers(studio, text, current), [loras, prompt], prompt, queue=False,
                   show_progress="hidden", api_visibility="private")
    return LoraPanel(loras, pick, gallery, triggers, info)


def _choices(studio: Studio) -> list[tuple[str, str]]:
    return [(_label(entry), entry.name) for entry in studio.loras.entries() if not entry.error]


def _thumbnails(studio: Studio) -> list[tuple[str, str]]:
    """(image, name) of the usable entries that have a picture beside them."""
    return [(str(e.thumbnail), e.name) for e in studio.loras.entries() if e.thumbnail and not e.error]


def _label(entry: LoraEntry) -> str:
    words = f" · {', '.join(entry.trigger_words[:3])}" if entry.trigger_words else ""
    return f"{entry.name} (rank {entry.rank}, {'+'.join(entry.experts)}){words}"


def add_lora(text: str, name: str | None) -> tuple[str, None]:
    """The picked LoRA appended at strength 1.0 (once); the picker is emptied for the next one."""
    if not name:
        return text, None
    try:
        names = {item[0].casefold() for item in parse_loras(text or "")}
    except StudioError:
        names = set()
    if name.casefold() in names:
        return text, None
    return (f"{text.strip().rstrip(',')}, {name}:1.0" if (text or "").strip() else f"{name}:1.0"), None


def add_triggers(studio: Studio, text: str, prompt: str) -> str:
    """The chosen LoRAs' trigger words appended to the prompt, each once."""
    try:
        chosen = [studio.loras.get(name) for name, _, _ in parse_loras(text or "")]
    except StudioError as exc:
        raise gr.Error(str(exc)) from None
    words = [w for entry in chosen for w in entry.trigger_words if w.casefold() not in (prompt or "").casefold()]
    if not words:
        gr.Info("The chosen LoRAs have no trigger words that the prompt lacks.")
        return prompt
    return f"{(prompt or '').rstrip().rstrip(',')}, {', '.join(dict.fromkeys(words))}".lstrip(", ")


def library_text(studio: Studio) -> str:
    """What the library holds, where, and the files it cannot use, with the reason."""
    entries = studio.loras.entries()
    # As the System tab shows the outputs folder: never an absolute path on a public page. Inside a code span
    # Markdown escapes show as typed, so the name is shown as it is, less any backtick.
    folders = ", ".join(f"`{shown_folder(folder).replace('`', '')}`" for folder in studio.loras.folders)
    if not entries:
        return f"No LoRA yet: put `.safetensors` LoRAs in {folders} (`python -m studio loras` lists them)."
    lines = [f"{len(entries)} in {folders}:"]
    for entry in entries:
        if entry.error:
            lines.append(f"- **{fmt.plain(entry.name)}**: unusable: {fmt.plain(entry.error)}")
        else:
            words = f"; triggers: {fmt.plain(', '.join(entry.trigger_words))}" if entry.trigger_words else ""
            words += f"; base model: {fmt.plain(entry.base_model)}" if entry.base_model else ""
            lines.append(f"- **{fmt.plain(entry.name)}**: rank {entry.rank}, {'+'.join(entry.experts)}, "
                         f"{entry.size / 2**20:.1f} MB{words}")
    return "\n".join(lines)


def lora_text(loras: Any) -> str:
    """A stored request's LoRAs as this panel writes them (History's "Use these settings" and "Re-run")."""
    return ", ".join(f"{name}:{strength:g}" + (f":{low:g}" if low is not None else "") for name, strength, low in loras or ())


def fast_mode_text(studio: Studio) -> tuple[bool, str]:
    """Whether fast mode can run, and the mode choice's words: which LoRA it uses, or why it is off."""
    try:
        return True, f"Fast: 4 steps with {studio.fast_lora()}, 8-bit attention and a BF16 decode. "
    except StudioError:
        return False, ("Fast mode (4 steps) is off: it needs a step-distilled LoRA; put one (lightx2v, lightning, "
                       "4step in its name) in the LoRA library, or set STUDIO_FAST_LORA to its .safetensors file. ")
