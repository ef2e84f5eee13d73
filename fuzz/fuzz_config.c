/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the YAML config loader (lti_config_load). Each input is
 * written to an anonymous memory file and loaded through its /proc path.
 * NOTE: a fuzzed config may name other files (tool key, session secret);
 * the loader only reads them.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "lti/config.h"
#include "lti/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lti_log_open("/dev/null", LTI_LOG_ERROR);
    fd = memfd_create("ltigate-fuzz-config", 0);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64], err[512];
    if (fd < 0 || ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
        return 0;
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    lti_config_t *cfg = lti_config_load(path, err, sizeof(err));
    if (cfg != NULL)
        lti_config_free(cfg);
    return 0;
}
