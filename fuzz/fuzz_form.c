/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: the application/x-www-form-urlencoded parser used for
 * query strings and form bodies (lti_form_parse, lti_form_get).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "../src/http/http_int.h"
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"id_token", "state", "iss", "login_hint", "error", ""};
    char *copy = malloc(size > 0 ? size : 1);
    h2o_mem_pool_t pool;
    lti_form_t *form = malloc(sizeof(*form));
    lti_err_t err = {0};

    if (copy == NULL || form == NULL) {
        free(copy);
        free(form);
        return 0;
    }
    memcpy(copy, data, size);
    h2o_mem_init_pool(&pool);
    if (lti_form_parse(&pool, copy, size, form, &err) == LTI_R_ok) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            size_t len = 0;
            int dup = 0;
            const char *v = lti_form_get(form, names[i], &len, &dup);
            if (v != NULL && strlen(v) > len)
                abort(); /* a decoded value must not run past its length */
        }
    }
    h2o_mem_clear_pool(&pool);
    free(form);
    free(copy);
    return 0;
}
