"""Which diffusers pipeline runs a job with a start image.

I2V-A14B loads as a `WanImageToVideoPipeline` (its experts take the image's latents and a mask concatenated
to the noise). TI2V-5B loads as a `WanPipeline` for text-to-video; with an image, the same components run in
a `WanImageToVideoPipeline` view (`expand_timesteps`: the image's latent replaces the first latent frame and
its timestep is 0), built once per loaded pipeline and sharing every module, so nothing loads twice.
"""

from __future__ import annotations

from diffusers import WanImageToVideoPipeline

_VIEW = "_studio_image_view"


def image_pipeline(pipe) -> WanImageToVideoPipeline:
    """The pipeline that conditions `pipe`'s model on a start image (`pipe` itself for I2V-A14B)."""
    if isinstance(pipe, WanImageToVideoPipeline):
        return pipe
    if not pipe.config.get("expand_timesteps"):
        raise ValueError("this pipeline takes no start image (GenerationRequest refuses images for it)")
    view = getattr(pipe, _VIEW, None)
    if view is None:
        source = pipe  # where it computes is the loaded pipeline's answer (memory plans may set it)
        view_class = type("WanImageToVideoPipeline", (WanImageToVideoPipeline,),
                          {"_execution_device": property(lambda self: source._execution_device)})
        view = view_class(
            tokenizer=pipe.tokenizer, text_encoder=pipe.text_encoder, vae=pipe.vae, scheduler=pipe.scheduler,
            transformer=pipe.transformer, transformer_2=None, boundary_ratio=None, expand_timesteps=True,
        )
        view.set_progress_bar_config(disable=True)
        setattr(pipe, _VIEW, view)
    view.scheduler = pipe.scheduler  # the runner may have rebuilt it for this job's flow shift
    return view
