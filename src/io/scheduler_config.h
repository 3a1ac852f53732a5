/*
 * A diffusers scheduler_config.json (DDPMScheduler, DDIMScheduler, PNDMScheduler) read into the schedule and the
 * sampling defaults it implies, as diffusers v0.21.4 reads it. Internal to the library.
 *
 * Keys read (all optional; a missing key takes diffusers' default for that class; a key the class's __init__ does
 * not take is ignored, as diffusers ignores it: e.g. variance_type in a DDIM config, rescale_betas_zero_snr in a DDPM
 * one):
 *   _class_name            "DDPMScheduler" -> sampler "ddpm", "DDIMScheduler" -> "ddim", "PNDMScheduler" -> "plms";
 *                          absent: DDPMScheduler; another *Scheduler name: DDPM_ERR_UNSUPPORTED naming it; any other
 *                          value: DDPM_ERR_CONFIG
 *   num_train_timesteps    integer 1 .. DDPM_MAX_TIMESTEPS (default 1000); beyond: DDPM_ERR_TOO_LARGE
 *   beta_start, beta_end   numbers (defaults 0.0001, 0.02); 0 < beta_start <= beta_end < 1 unless the schedule is
 *                          squaredcos_cap_v2 or trained_betas
 *   beta_schedule          "linear" | "scaled_linear" | "squaredcos_cap_v2" (-> DDPM_SCHEDULE_COSINE) | "sigmoid"
 *                          (DDPMScheduler only, as in diffusers); not read when trained_betas is a list
 *   trained_betas          null, or a list of exactly num_train_timesteps numbers in (0, 1] -> DDPM_SCHEDULE_CUSTOM;
 *                          more than DDPM_MAX_TIMESTEPS entries: DDPM_ERR_TOO_LARGE
 *   variance_type          DDPM: "fixed_small" | "fixed_small_log" -> FIXED_SMALL, "fixed_large" | "fixed_large_log"
 *                          -> FIXED_LARGE; "learned", "learned_range": DDPM_ERR_UNSUPPORTED
 *   clip_sample (bool), clip_sample_range (number in (0, 100])      DDPM, DDIM (default true, 1)
 *   prediction_type        "epsilon" | "sample" | "v_prediction" (PNDM: epsilon or v_prediction, as its step)
 *   timestep_spacing       "leading" | "trailing" | "linspace"
 *   steps_offset           integer 0 .. num_train_timesteps - 1
 *   set_alpha_to_one       bool: DDIM (default true), PNDM (default false); DDPM: 1 (its last step ends at abar = 1)
 *   thresholding           DDPM, DDIM: false, or true: DDPM_ERR_UNSUPPORTED (dynamic thresholding is not implemented)
 *   rescale_betas_zero_snr DDIM: bool (default false)
 *   skip_prk_steps         PNDM: must be true (PRK warm-up steps are not implemented); false, or absent (diffusers'
 *                          default is false): DDPM_ERR_UNSUPPORTED
 *   Other keys (_diffusers_version, dynamic_thresholding_ratio, sample_max_value, ...) are ignored.
 * A value of the wrong JSON type or outside its range is DDPM_ERR_CONFIG, with a message that names the key and the
 * value (scheduler_config.json: beta_schedule = "foo": expected linear, ...); text that is not JSON, or whose root
 * is not an object, DDPM_ERR_FORMAT; more than DDPM_MAX_TIMESTEPS + 1024 JSON values DDPM_ERR_TOO_LARGE. The
 * schedule is computed the diffusers way (ddpm_schedule_params.float32 = 1), and a config whose schedule
 * ddpm_schedule_create would refuse is DDPM_ERR_CONFIG.
 */
#ifndef DDPM_IO_SCHEDULER_CONFIG_H
#define DDPM_IO_SCHEDULER_CONFIG_H

#include "core/internal.h"

typedef struct ddpm_scheduler_config {
    char class_name[32];          /* as given, or "DDPMScheduler" when absent */
    const char *sampler;          /* static string: "ddpm", "ddim" or "plms" */
    ddpm_schedule_params schedule;/* float32 = 1; CUSTOM: betas points at `betas` below */
    double *betas;                /* trained_betas, num_timesteps entries (malloc'd), or NULL */
    ddpm_prediction prediction;
    ddpm_variance variance;
    int clip_sample;              /* 0 / 1 (DDPM, DDIM default 1; PNDM has none: 0) */
    double clip_sample_range;     /* default 1 */
    ddpm_spacing spacing;         /* default leading */
    int steps_offset;             /* default 0 */
    int set_alpha_to_one;         /* DDIM default 1, PNDM default 0; DDPM 1 */
} ddpm_scheduler_config;

/* Fills *out from text[0..len) (need not be NUL-terminated). On error nothing is left allocated and *out holds
 * ddpm_scheduler_config_default()'s values. */
ddpm_status ddpm_scheduler_config_parse(const char *text, size_t len, ddpm_scheduler_config *out, ddpm_error *err);
/* The defaults of a DDPMScheduler with no config at all (what diffusers' DDPMScheduler() gives). */
void ddpm_scheduler_config_default(ddpm_scheduler_config *out);
/* Frees betas; accepts NULL. */
void ddpm_scheduler_config_free(ddpm_scheduler_config *c);

#endif
