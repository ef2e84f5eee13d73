/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer harness: everything that reads back what ltigate itself wrote
 * and a browser or the store returns: session cookies (lti_session_decode),
 * session tokens (lti_session_token_open), the binary facts body without
 * its MAC (lti_session_unpack) and stored login records
 * (lti_oidc_record_decode). The first input byte picks the reader.
 *
 * A body that unpacks must pack again to bytes that unpack to an equal
 * object, so the two directions agree.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "lti/log.h"
#include "lti/oidc.h"
#include "lti/session.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static lti_config_t cfg;
static lti_platform_cfg_t platform = {.issuer = "https://canvas.instructure.com",
                                      .client_id = "170000000000123"};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    lti_log_open("/dev/null", LTI_LOG_ERROR);
    memset(cfg.session_secret, 7, 32);
    cfg.session_secret_len = 32;
    cfg.session_token_lifetime = 900;
    cfg.platforms = &platform;
    cfg.n_platforms = 1;
    return 0;
}

static void check_round_trip(json_t *facts)
{
    size_t len = 0;
    unsigned char *body = lti_session_pack(facts, 65536, &len);
    if (body == NULL)
        abort(); /* an unpacked object always packs */
    json_t *again = lti_session_unpack(body, len);
    if (again == NULL || !json_equal(facts, again))
        abort();
    json_decref(again);
    free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    /* The readers take C strings or byte ranges; a NUL-terminated copy
     * serves both and lets ASan see reads past the end. */
    char *text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    size_t len = size - 1;
    lti_err_t err = {0};
    json_t *facts = NULL;
    lti_oidc_record_t record;

    switch (data[0] % 4) {
    case 0:
        facts = lti_session_decode(&cfg, text, len, 1000, &err);
        break;
    case 1:
        facts = lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, text, len, 1000, &err);
        break;
    case 2:
        facts = lti_session_unpack((const unsigned char *)text, len);
        if (facts != NULL)
            check_round_trip(facts);
        break;
    case 3:
        if (lti_oidc_record_decode(&cfg, text, len, &record) == 0) {
            if (record.nonce == NULL || record.target_link_uri == NULL)
                abort();
            lti_oidc_record_clear(&record);
        }
        break;
    }
    json_decref(facts);
    free(text);
    return 0;
}
