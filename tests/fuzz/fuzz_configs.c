/*
 * libFuzzer target for the diffusers JSON configs: the input is a UNet2DModel config.json and, after the first NUL
 * byte (if any), a scheduler_config.json. Each goes through its parser (ddpm_diffusers_config_parse,
 * ddpm_scheduler_config_parse); a config that parses is planned (ddpm_unet_plan) and its workspace and cost are
 * sized, so absurd sizes must be refused before any arithmetic overflows. Seeds: tests/fuzz/corpus-configs/;
 * dictionary: tests/fuzz/configs.dict.
 *
 *     ./fuzz_configs -max_total_time=30 -dict=tests/fuzz/configs.dict /tmp/corpus tests/fuzz/corpus-configs
 *
 * Besides the sanitizers, the target traps when a contract is broken: an error without a one-line message, a
 * parsed config that ddpm_config_validate refuses, a plan that fails on a validated config.
 */
#include "io/config.h"
#include "io/diffusers_config.h"
#include "io/scheduler_config.h"
#include "unet/unet.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void require(int cond) {
    if (!cond) __builtin_trap();
}

static void check_err(ddpm_status st, const ddpm_error *err) {
    require(err->status == st || st == DDPM_OK);
    require(memchr(err->message, '\0', sizeof err->message) != NULL);
    if (st != DDPM_OK) require(err->message[0] != '\0' && strchr(err->message, '\n') == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, 0, size);
    const size_t a = nul ? (size_t)(nul - data) : size;
    ddpm_error err;
    ddpm_model_config cfg;
    ddpm_status st = ddpm_diffusers_config_parse((const char *)data, a, &cfg, &err);
    check_err(st, &err);
    if (st == DDPM_OK) {
        require(ddpm_config_validate(&cfg, &err) == DDPM_OK);
        static ddpm_unet u;
        require(ddpm_unet_plan(&u, &cfg, &err) == DDPM_OK);
        (void)ddpm_unet_workspace_floats(&u, 1, 1);
        (void)ddpm_unet_workspace_floats(&u, 8, 4);
        require(ddpm_unet_flops(&u) >= 0.0);
    }
    if (nul) {
        ddpm_scheduler_config sc;
        st = ddpm_scheduler_config_parse((const char *)nul + 1, size - a - 1, &sc, &err);
        check_err(st, &err);
        if (st == DDPM_OK) {
            ddpm_schedule *s = NULL;
            ddpm_status s2 = ddpm_schedule_create(&sc.schedule, &s, &err);
            check_err(s2, &err);
            ddpm_schedule_free(s);
            ddpm_scheduler_config_free(&sc);
        }
    }
    return 0;
}
