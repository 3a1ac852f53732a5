/*
 * The model config stored in a weights file's __metadata__ (keys listed under "Weights file" in ddpm.h).
 * Internal to the library.
 */
#ifndef DDPM_IO_CONFIG_H
#define DDPM_IO_CONFIG_H

#include "io/safetensors.h"

/*
 * Checks a config (status, in this order of checks):
 *   in_channels, out_channels         1 .. DDPM_MAX_CHANNELS
 *   base_channels                     even, 4 .. DDPM_MAX_CHANNELS (the sinusoidal embedding divides by C/2 - 1)
 *   num_levels                        1 .. DDPM_MAX_LEVELS
 *   channel_mult[i]                   >= 1, base_channels * mult <= DDPM_MAX_CHANNELS; channel_mult[0] == 1
 *                                     (training/model.py applies norm_out / conv_out with C channels to the output
 *                                     of level 0)
 *   num_res_blocks                    1 .. 16
 *   groups                            >= 1, divides base_channels * channel_mult[i] for every level
 *   num_classes                       0 .. 100000
 *   image_size                        1 .. DDPM_MAX_IMAGE_SIZE; the resolution of every level but the last is even
 *                                     (stride-2 conv gives r -> (r + 1) / 2, the decoder doubles)
 *   num_attn_resolutions              0 .. DDPM_MAX_LEVELS, each entry 1 .. image_size, no duplicates
 *   prediction, variance, schedule.kind  known enum values
 *   schedule.num_timesteps            1 .. DDPM_MAX_TIMESTEPS
 *   schedule.beta_start, beta_end     finite, 0 < beta_start <= beta_end < 1 (checked for every kind)
 *   schedule.rescale_zero_snr         0 or 1
 * Values above a DDPM_MAX_* limit give DDPM_ERR_TOO_LARGE, every other violation DDPM_ERR_CONFIG; the message names
 * the field and the value.
 */
ddpm_status ddpm_config_validate(const ddpm_model_config *cfg, ddpm_error *err);

/* Fills cfg->arch from the own-format fields (base_channels, channel_mult, attn_resolutions, groups): the wiring
 * training/model.py builds. The fields must already be in range (ddpm_config_from_metadata checks them first). */
void ddpm_config_native_arch(ddpm_model_config *cfg);

/*
 * Fills *cfg from f's metadata and validates it with ddpm_config_validate.
 *   ddpm.format                       required; must be "1" (any other value: DDPM_ERR_UNSUPPORTED)
 *   integers                          strict decimal: optional '-', digits, no leading zeros, no spaces or '+', fits
 *                                     in int
 *   ddpm.channel_mult                 one or more integers separated by ',' (no spaces, no empty items)
 *   ddpm.attn_resolutions             zero or more integers separated by ','; "" is the empty list
 *   ddpm.beta_start, ddpm.beta_end    JSON number syntax (e.g. "0.0001", "1e-4"); optional for "cosine" (defaults
 *                                     1e-4 and 0.02), required otherwise
 *   ddpm.rescale_zero_snr             optional, "0" or "1" (default 0)
 *   ddpm.variance                     optional, "fixed_small" (default) or "fixed_large"
 * A missing required key is DDPM_ERR_CONFIG naming the key; a malformed value is DDPM_ERR_CONFIG naming the key and
 * the value. Keys not listed here are ignored (they stay readable as metadata). On error *cfg is unspecified.
 */
ddpm_status ddpm_config_from_metadata(const ddpm_st_file *f, ddpm_model_config *cfg, ddpm_error *err);

#endif
