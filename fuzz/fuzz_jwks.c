/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the JWK set parser and the JWK to EVP_PKEY conversion
 * (lti_keyset_parse, lti_keyset_find).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lti/jwks.h"
#include "lti/log.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lti_log_open("/dev/null", LTI_LOG_ERROR);
    return 0;
}

static void on_skip(void *arg, size_t index, const char *kid, const char *why)
{
    (void)index;
    (void)kid;
    *(size_t *)arg += strlen(why);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size > 0 ? size : 1);
    lti_keyset_t set;
    char why[256];
    size_t skipped = 0;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    memset(&set, 0, sizeof(set));
    if (lti_keyset_parse(copy, size, 20, &set, on_skip, &skipped, why, sizeof(why)) == 0) {
        for (size_t i = 0; i < set.n_keys; i++) {
            int ambiguous = 0;
            EVP_PKEY *key = lti_keyset_find(&set, set.keys[i].kid, &ambiguous);
            if (key == NULL && !ambiguous)
                abort(); /* every parsed key is found by its own kid */
        }
        lti_keyset_clear(&set);
    }
    free(copy);
    return 0;
}
