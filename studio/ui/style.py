"""Theme and CSS: calm, dark-on-light, readable on a phone."""

from __future__ import annotations

import gradio as gr

FONTS = ["Inter", "ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"]
MONO = ["ui-monospace", "SFMono-Regular", "Menlo", "monospace"]


def theme() -> gr.themes.Base:
    """No web fonts: the studio must look right offline and on a Space alike."""
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="violet", neutral_hue="slate", font=FONTS,
                          font_mono=MONO, radius_size="md")


CSS = """
/* overflow: clip, not Gradio's hidden, which would make the container a scroller and stop #output sticking */
.gradio-container { max-width: 1440px !important; margin: 0 auto !important; overflow: clip !important; }
#header h1 { margin: 0; font-size: 1.6rem; letter-spacing: -0.01em; }
#header p { margin: 0.15rem 0 0; color: var(--body-text-color-subdued); }
#tiny_banner { border-left: 4px solid #f59e0b; background: #fffbeb; padding: 0.6rem 0.9rem; border-radius: 8px; }
#tiny_banner p { margin: 0; color: #78350f; }
#tiny_banner code { white-space: normal; overflow-wrap: anywhere; }
#language_panel { padding: 0.2rem 0.4rem; }
#language_info p, #preset_info p, #settings_summary p { margin: 0.2rem 0; font-size: 0.9rem; }
#settings_summary p { color: var(--body-text-color-subdued); }
#presets .thumbnail-item { border-radius: 10px; }
/* the chosen style is obvious: a thick accent ring, the other cards dimmed a little */
#presets .thumbnail-item.selected { outline: 3px solid #6366f1; outline-offset: 2px; }
#presets:has(.thumbnail-item.selected) .thumbnail-item:not(.selected) { opacity: 0.75; }
#preset_changes_row { align-items: center; background: #eef2ff; border-radius: 8px; padding: 0.2rem 0.6rem; }
#preset_changes p { margin: 0; font-size: 0.9rem; }
#presets .caption-label { display: none; }  /* the cards carry their titles */
#presets .grid-container { grid-template-columns: repeat(5, minmax(0, 1fr)) !important; }
#presets .grid-wrap, #history_gallery .grid-wrap { height: auto !important; min-height: 0 !important; max-height: none !important; }
#presets .gallery-item, #history_gallery .gallery-item { height: auto !important; }
#history_gallery .thumbnail-item { aspect-ratio: 16 / 9 !important; height: auto !important; }
#history_gallery .grid-container { grid-auto-rows: min-content !important; }
#presets .grid-container { grid-auto-rows: min-content !important; padding-top: 0.4rem !important; }
#presets .thumbnail-item { aspect-ratio: 3 / 2 !important; height: auto !important; }
/* example prompts wrap: a long one must not widen a phone's page (mobile browsers zoom out to fit it) */
#examples button, #examples .gallery { white-space: normal !important; max-width: 100%; text-align: left; }
/* the queue's table never widens the page: long prompts wrap, the table scrolls inside its own box */
#queue_table, #scene_shots { max-width: 100%; min-width: 0; overflow-x: auto; }
#queue_table td .cell-wrap, #queue_table td span, #scene_shots td .cell-wrap, #scene_shots td span {
  white-space: normal !important; overflow-wrap: anywhere; }
/* a dropdown's text stops short of its arrow */
#create_row .wrap-inner input { text-overflow: ellipsis; min-width: 0; padding-right: 0.25rem; }
#generate { min-height: 52px; font-size: 1.05rem; font-weight: 600; }
/* Generate stays in reach while the settings above it scroll by (the issue: below the fold at 1440x900) */
#actions { position: sticky; bottom: 0; z-index: 1000; padding: 8px 0; background: var(--body-background-fill); }
#cancel { min-height: 52px; }
.ws-status { padding: 0.35rem 0.2rem; }
.ws-status p { margin: 0.35rem 0 0; font-size: 0.95rem; }
.ws-bar { height: 8px; border-radius: 999px; background: var(--neutral-200); overflow: hidden; }
.ws-bar span { display: block; height: 100%; background: linear-gradient(90deg, #6366f1, #8b5cf6);
  transition: width 0.3s ease; }
.ws-done .ws-bar span { background: #10b981; }
.ws-warn p { color: #b45309; }
.ws-error p { color: #b91c1c; }
#preview img { object-fit: contain; }
/* Wide text (the doctor's table) scrolls inside its own block: no tab scrolls sideways on a phone */
#doctor, #job_info { min-width: 0; max-width: 100%; }
/* width 0 + min-width 100%: the block adds nothing to its column's minimum width, then fills the column */
#doctor pre, #job_info pre { overflow-x: auto; width: 0; min-width: 100%; white-space: pre; }
/* On a wide screen the output column stays in view while the settings column scrolls: the preview
   is visible from the Generate button at the bottom of a long settings column. */
#history_gallery .caption-label { left: 6px !important; right: 6px !important; max-width: none !important;
  white-space: pre !important; font-size: 0.8rem; line-height: 1.3; }
#history_favourites { display: flex !important; align-items: flex-end; }
#history_page { text-align: center; }
#history_pager { justify-content: space-between; }
#history_delete.stop { background: #dc2626; border-color: #dc2626; color: #fff; }
@media (max-width: 640px) { #history_page { order: -1; flex-basis: 100% !important; } }
@media (min-width: 1024px) { #output { position: sticky; top: 0.75rem; align-self: flex-start; } }
@media (max-width: 640px) {
  #header h1 { font-size: 1.3rem; }
  /* preset cards: two rows that swipe sideways, each card wide enough for its title to be read */
  #presets .grid-container { grid-template-columns: none !important; grid-template-rows: repeat(2, auto);
    grid-auto-flow: column; grid-auto-columns: 42%; overflow-x: auto; scroll-snap-type: x proximity; }
  #presets .thumbnail-item { scroll-snap-align: start; }
  #history_gallery .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
  /* the sticky bar stays one short row on a phone */
  #actions { flex-wrap: nowrap !important; gap: 6px; }
  #actions button { min-width: 0 !important; min-height: 46px; padding-left: 4px; padding-right: 4px;
    font-size: 0.95rem !important; }
}
"""


# Ctrl+Enter (Cmd+Enter on a Mac) in the prompt presses Generate, as in chat and code tools.
HEAD = """<script>
document.addEventListener("keydown", (event) => {
  if ((event.ctrlKey || event.metaKey) && event.key === "Enter" && event.target.closest("#prompt")) {
    event.preventDefault();
    document.querySelector("#generate")?.click();
  }
});
</script>"""
