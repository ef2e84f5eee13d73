/* SPDX-License-Identifier: MIT */
/* Helpers shared by the files of src/launch/ and not part of the public API. */
#ifndef LTI_LAUNCH_INT_H
#define LTI_LAUNCH_INT_H

#include <string.h>
#include <jansson.h>
#include "lti/launch.h"

/* Maximum length in bytes of sub, resource_link.id, deployment_id and a mapped
 * user ID (OpenID Connect Core 1.0 §2 for sub, LTI Core 1.3 for the others). */
#define LTI_LAUNCH_ID_MAX 255

/* Returns the JSON type of `v` as a word for detail messages, or "missing"
 * for NULL. */
static inline const char *lti_json_type_name(const json_t *v)
{
    if (v == NULL)
        return "missing";
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "of unknown type";
}

/* Returns 1 when `v` is a JSON string whose bytes equal the C string `s`.
 * The length comparison makes a string with an embedded NUL never equal. */
static inline int lti_json_str_equal(const json_t *v, const char *s)
{
    if (!json_is_string(v) || s == NULL)
        return 0;
    size_t len = json_string_length(v);
    return len == strlen(s) && memcmp(json_string_value(v), s, len) == 0;
}

/* Does the work of lti_launch_map_user_id and also sets *from_fallback to 1
 * when the configured attribute was unusable and sub was taken instead. */
const char *lti_launch_map_user_id_ex(const lti_config_t *cfg, json_t *claims, int *from_fallback,
                                      lti_err_t *err);

#endif
