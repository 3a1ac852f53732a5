/*
 * A Hugging Face diffusers UNet2DModel config.json read into a ddpm_model_config. Internal to the library.
 *
 * Keys (diffusers v0.1 .. v0.3x spell them the same; defaults are UNet2DModel's):
 *   _class_name            "UNet2DModel" when present; "UNet2DConditionModel" is refused (a latent text-to-image
 *                          UNet, as in Stable Diffusion) and so is any other class: DDPM_ERR_UNSUPPORTED
 *   sample_size            required; an integer, or [h, w] with h == w
 *   in_channels, out_channels                 default 3
 *   block_out_channels     1 .. DDPM_MAX_LEVELS integers (default 224, 448, 672, 896)
 *   down_block_types       as many entries, each "DownBlock2D" or "AttnDownBlock2D"
 *   up_block_types         as many entries, each "UpBlock2D" or "AttnUpBlock2D"
 *   layers_per_block       1 .. 16 (default 2)
 *   mid_block_type         "UNetMidBlock2D" (default); null or anything else is refused
 *   mid_block_scale_factor number > 0 (default 1)
 *   downsample_padding     1 (default) or 0 (one-sided)
 *   downsample_type, upsample_type            "conv" (default); "resnet" is refused
 *   act_fn                 "silu" or "swish" (default silu)
 *   attention_head_dim     null (one head) or an integer that divides the channels of every attention block
 *                          (default 8)
 *   norm_num_groups        integer >= 1 dividing every level's channels (default 32)
 *   attn_norm_num_groups   null (default: norm_num_groups) or an integer
 *   norm_eps               number > 0 (default 1e-5)
 *   resnet_time_scale_shift "default"; "scale_shift" and others are refused
 *   add_attention          bool (default true)
 *   class_embed_type       null; "timestep", "identity" and others are refused
 *   num_class_embeds       null or 1 .. 100000
 *   time_embedding_type    "positional"; "fourier" and "learned" are refused
 *   time_embedding_dim     null (4 * block_out_channels[0]) or an integer
 *   flip_sin_to_cos        bool (default true)
 *   freq_shift             integer (default 0); block_out_channels[0] / 2 - freq_shift must be >= 1
 *   center_input_sample    bool (default false)
 *   dropout, num_train_timesteps              read and ignored (inference)
 *   keys starting with '_' are ignored; any other key is refused with DDPM_ERR_UNSUPPORTED naming it, since it may
 *   change the network in a way this engine does not know.
 * A value of the wrong JSON type is DDPM_ERR_CONFIG naming the key; sizes past the DDPM_MAX_* limits
 * DDPM_ERR_TOO_LARGE; text that is not JSON or whose root is not an object DDPM_ERR_FORMAT. The schedule, prediction
 * and variance fields of *cfg are left as the DDPMScheduler defaults; the scheduler config sets them.
 */
#ifndef DDPM_IO_DIFFUSERS_CONFIG_H
#define DDPM_IO_DIFFUSERS_CONFIG_H

#include "core/internal.h"

ddpm_status ddpm_diffusers_config_parse(const char *text, size_t len, ddpm_model_config *cfg, ddpm_error *err);

#endif
