/* SPDX-License-Identifier: MIT */
/* Login-state helpers (lti/oidc.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>
#include <openssl/rand.h>
#include "lti/jwt.h"
#include "lti/oidc.h"

int lti_oidc_random(char out[LTI_OIDC_RANDOM_LEN])
{
    unsigned char bytes[LTI_OIDC_RANDOM_BYTES];
    if (RAND_bytes(bytes, sizeof(bytes)) != 1)
        return -1;
    lti_b64url_encode(bytes, sizeof(bytes), out);
    return 0;
}

void lti_oidc_state_cookie_name(const char *state, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s%.16s", LTI_OIDC_COOKIE_PREFIX, state);
}

int lti_oidc_target_is_ours(const lti_config_t *cfg, const char *target)
{
    size_t n = strlen(cfg->base_url);
    if (strncmp(target, cfg->base_url, n) != 0)
        return 0;
    /* "https://kaf.example.com.evil" and "https://kaf.example.com@evil" must
     * not pass as a prefix match. */
    return target[n] == '\0' || target[n] == '/' || target[n] == '?';
}

char *lti_oidc_record_encode(size_t platform_index, const char *nonce, const char *target,
                             const char *deployment_hint, long long created)
{
    json_t *obj = json_pack("{s:I, s:s, s:s, s:I}", "p", (json_int_t)platform_index, "n", nonce,
                            "t", target, "c", (json_int_t)created);
    if (obj == NULL)
        return NULL;
    if (deployment_hint != NULL)
        json_object_set_new(obj, "d", json_string(deployment_hint));
    char *text = json_dumps(obj, JSON_COMPACT);
    json_decref(obj);
    return text;
}

int lti_oidc_record_decode(const lti_config_t *cfg, const char *buf, size_t len,
                           lti_oidc_record_t *out)
{
    memset(out, 0, sizeof(*out));
    json_t *obj = json_loadb(buf, len, JSON_REJECT_DUPLICATES, NULL);
    json_t *p = json_object_get(obj, "p"), *n = json_object_get(obj, "n");
    json_t *t = json_object_get(obj, "t"), *c = json_object_get(obj, "c");
    json_t *d = json_object_get(obj, "d");
    if (!json_is_integer(p) || !json_is_string(n) || !json_is_string(t) || !json_is_integer(c) ||
        json_integer_value(p) < 0 || (size_t)json_integer_value(p) >= cfg->n_platforms ||
        (d != NULL && !json_is_string(d))) {
        json_decref(obj);
        return -1;
    }
    out->platform_index = (size_t)json_integer_value(p);
    out->nonce = json_string_value(n);
    out->target_link_uri = json_string_value(t);
    out->deployment_hint = d != NULL ? json_string_value(d) : NULL;
    out->created = json_integer_value(c);
    out->json = obj;
    return 0;
}

void lti_oidc_record_clear(lti_oidc_record_t *record)
{
    json_decref(record->json);
    record->json = NULL;
}
