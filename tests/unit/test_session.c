/* SPDX-License-Identifier: MIT */
/* Session cookies, login-state helpers and the landing-page rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include "lti/jwt.h"
#include "lti/oidc.h"
#include "lti/session.h"

static lti_config_t cfg;
static lti_platform_cfg_t platform = {.issuer = "https://canvas.instructure.com",
                                      .client_id = "170000000000123"};

static int setup(void **state)
{
    memset(&cfg, 0, sizeof(cfg));
    memset(cfg.session_secret, 7, 32);
    cfg.session_secret_len = 32;
    cfg.session_lifetime = 600;
    cfg.base_url = "https://kaf.example.com";
    cfg.platforms = &platform;
    cfg.n_platforms = 1;
    return 0;
}

static json_t *sample_facts(int64_t now)
{
    lti_launch_t launch = {.platform = &platform,
                           .message_type = LTI_MSG_RESOURCE_LINK,
                           .user_id = "jdoe",
                           .app_role = "instructor",
                           .placement = "course_navigation",
                           .deployment_id = "42:abc"};
    return lti_session_from_launch(&cfg, &launch, "/hosted/media-gallery", now);
}

static void session_round_trip(void **state)
{
    json_t *facts = sample_facts(1000);
    char *cookie = lti_session_encode(&cfg, facts);
    lti_err_t err = {0};
    assert_non_null(cookie);
    json_t *back = lti_session_decode(&cfg, cookie, strlen(cookie), 1001, &err);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(back, "user_id")), "jdoe");
    assert_string_equal(json_string_value(json_object_get(back, "page")), "/hosted/media-gallery");
    json_decref(back);
    json_decref(facts);
    free(cookie);
}

static void session_tampered_rejected(void **state)
{
    json_t *facts = sample_facts(1000);
    char *cookie = lti_session_encode(&cfg, facts);
    lti_err_t err = {0};
    cookie[3] = cookie[3] == 'A' ? 'B' : 'A';
    assert_null(lti_session_decode(&cfg, cookie, strlen(cookie), 1001, &err));
    assert_int_equal(err.reason, LTI_R_session_invalid);
    json_decref(facts);
    free(cookie);
}

static void session_other_secret_rejected(void **state)
{
    json_t *facts = sample_facts(1000);
    char *cookie = lti_session_encode(&cfg, facts);
    lti_err_t err = {0};
    cfg.session_secret[0] ^= 1;
    assert_null(lti_session_decode(&cfg, cookie, strlen(cookie), 1001, &err));
    assert_int_equal(err.reason, LTI_R_session_invalid);
    json_decref(facts);
    free(cookie);
}

static void session_expired_rejected(void **state)
{
    json_t *facts = sample_facts(1000);
    char *cookie = lti_session_encode(&cfg, facts);
    lti_err_t err = {0};
    assert_null(lti_session_decode(&cfg, cookie, strlen(cookie), 1600, &err));
    assert_int_equal(err.reason, LTI_R_session_expired);
    json_decref(facts);
    free(cookie);
}

static void landing_page_by_placement_and_target(void **state)
{
    lti_launch_t l = {0};
    l.placement = "global_navigation";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/my-media");
    l.placement = "course_navigation";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/media-gallery");
    l.placement = "link_selection";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/resource");
    l.placement = NULL;
    l.target_link_uri = "https://kaf.example.com/hosted/index/oauth2-launch?placement=my_media";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/my-media");
    l.target_link_uri = "https://kaf.example.com/hosted/media-gallery";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/media-gallery");
    l.target_link_uri = "https://kaf.example.com/hosted/index/oauth2-launch";
    assert_string_equal(lti_session_landing_page(&l), "/hosted/resource");
}

static void target_must_be_ours(void **state)
{
    assert_true(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com"));
    assert_true(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com/hosted/index/oauth2-launch"));
    assert_true(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com?x=1"));
    assert_false(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com.evil/x"));
    assert_false(lti_oidc_target_is_ours(&cfg, "https://kaf.example.com@evil.example/"));
    assert_false(lti_oidc_target_is_ours(&cfg, "http://kaf.example.com/"));
    assert_false(lti_oidc_target_is_ours(&cfg, "https://evil.example/https://kaf.example.com"));
}

static void random_values_are_unique(void **state)
{
    char a[LTI_OIDC_RANDOM_LEN], b[LTI_OIDC_RANDOM_LEN];
    assert_int_equal(lti_oidc_random(a), 0);
    assert_int_equal(lti_oidc_random(b), 0);
    assert_int_equal(strlen(a), 43);
    assert_string_not_equal(a, b);
}

static void record_round_trip_and_bounds(void **state)
{
    lti_oidc_record_t rec;
    char *text = lti_oidc_record_encode(0, "nonce1", "https://kaf.example.com/x", "42:abc", NULL, 5);
    assert_int_equal(lti_oidc_record_decode(&cfg, text, strlen(text), &rec), 0);
    assert_string_equal(rec.nonce, "nonce1");
    assert_string_equal(rec.deployment_hint, "42:abc");
    lti_oidc_record_clear(&rec);
    free(text);
    text = lti_oidc_record_encode(3, "n", "t", NULL, NULL, 5); /* platform index beyond config */
    assert_int_equal(lti_oidc_record_decode(&cfg, text, strlen(text), &rec), -1);
    free(text);
}

/* Every JSON type the cookie body can carry comes back equal. */
static void session_body_keeps_every_type(void **state)
{
    json_t *facts = json_pack("{s:s, s:I, s:I, s:n, s:b, s:b, s:f, s:{s:s, s:[s, s]}, s:s}",
                              "user_id", "jdoe@example.edu", "exp", (json_int_t)2000, "neg",
                              (json_int_t)-5, "placement", "t", 1, "f", 0, "score", 0.75, "ags",
                              "lineitem", "https://canvas.example/li/1", "scope", "a", "b",
                              "name", "J\u00f6rg \u2603");
    assert_non_null(facts);
    char *cookie = lti_session_encode(&cfg, facts);
    assert_non_null(cookie);
    lti_err_t err = {0};
    json_t *back = lti_session_decode(&cfg, cookie, strlen(cookie), 1001, &err);
    assert_non_null(back);
    assert_true(json_equal(facts, back));
    json_decref(back);
    json_decref(facts);
    free(cookie);
}

/* Signs `body` as the server would, so that only the body format is tested. */
static char *sign_body(const unsigned char *body, size_t len)
{
    char *cookie = malloc((len + 2) / 3 * 4 + 1 + 44 + 1);
    size_t n = lti_b64url_encode(body, len, cookie);
    unsigned char tag[32];
    unsigned int tag_len = sizeof(tag);
    /* The MAC covers the kind, a NUL byte, then the encoded body. */
    size_t input_len = sizeof(LTI_SESSION_TOKEN_SESSION) + n;
    unsigned char *input = malloc(input_len);
    memcpy(input, LTI_SESSION_TOKEN_SESSION, sizeof(LTI_SESSION_TOKEN_SESSION));
    memcpy(input + sizeof(LTI_SESSION_TOKEN_SESSION), cookie, n);
    HMAC(EVP_sha256(), cfg.session_secret, (int)cfg.session_secret_len, input, input_len, tag,
         &tag_len);
    free(input);
    cookie[n++] = '.';
    lti_b64url_encode(tag, sizeof(tag), cookie + n);
    return cookie;
}

/* A body with a valid MAC but a broken layout is session_invalid, never
 * read past its end. */
static void session_malformed_body_rejected(void **state)
{
    static const struct {
        const char *what;
        const char *bytes;
        size_t len;
    } cases[] = {
        {"empty", "", 0},
        {"version only", "\x01", 1},
        {"other version", "\x02" "o" "\x00", 3},
        {"top level not an object", "\x01" "s" "\x01" "x", 4},
        {"unknown type", "\x01" "o" "\x01" "\x01" "kZ", 6},
        {"string longer than the body", "\x01" "o" "\x01" "\x01" "ks" "\x7f" "xy", 8},
        {"count longer than the body", "\x01" "o" "\x05" "\x01" "kn", 6},
        {"NUL in a string", "\x01" "o" "\x01" "\x01" "ks" "\x02" "x" "\x00", 8},
        {"NUL in a key", "\x01" "o" "\x01" "\x02" "k" "\x00" "n", 7},
        {"duplicate key", "\x01" "o" "\x02" "\x01" "kn" "\x01" "kn", 8},
        {"bytes after the object", "\x01" "o" "\x00" "n", 4},
        {"truncated integer", "\x01" "o" "\x01" "\x01" "ki" "\x00" "\x00", 7},
        {"count of four bytes", "\x01" "o" "\xff" "\xff" "\xff" "\x01", 6},
        {"five levels deep",
         "\x01" "o" "\x01" "\x01" "ko" "\x01" "\x01" "ko" "\x01" "\x01" "ko" "\x01" "\x01" "ko"
         "\x00",
         19},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *cookie = sign_body((const unsigned char *)cases[i].bytes, cases[i].len);
        lti_err_t err = {0};
        json_t *facts = lti_session_decode(&cfg, cookie, strlen(cookie), 1001, &err);
        if (facts != NULL)
            fail_msg("accepted: %s", cases[i].what);
        assert_int_equal(err.reason, LTI_R_session_invalid);
        free(cookie);
    }
    /* Four levels are allowed, and a well-formed body is accepted: the cases
     * above fail for their one defect. */
    static const unsigned char four[] =
        "\x01" "o" "\x02" "\x03" "expi" "\x00\x00\x00\x00\x00\x00\x07\xd0"
        "\x01" "ko" "\x01" "\x01" "ko" "\x01" "\x01" "ko" "\x00";
    char *deep = sign_body(four, sizeof(four) - 1);
    lti_err_t deep_err = {0};
    json_t *deep_facts = lti_session_decode(&cfg, deep, strlen(deep), 1001, &deep_err);
    assert_non_null(deep_facts);
    json_decref(deep_facts);
    free(deep);
    static const unsigned char good[] =
        "\x01" "o" "\x01" "\x03" "expi" "\x00\x00\x00\x00\x00\x00\x07\xd0";
    char *cookie = sign_body(good, sizeof(good) - 1);
    lti_err_t err = {0};
    json_t *facts = lti_session_decode(&cfg, cookie, strlen(cookie), 1001, &err);
    assert_non_null(facts);
    assert_int_equal(json_integer_value(json_object_get(facts, "exp")), 2000);
    json_decref(facts);
    free(cookie);
}

/* The MAC part is decoded only at the length of a tag: longer parts, which
 * would not fit the decode buffer, are session_invalid like any other. */
static void session_mac_part_length_checked(void **state)
{
    json_t *facts = sample_facts(1000);
    char *cookie = lti_session_encode(&cfg, facts);
    char *dot = strchr(cookie, '.');
    assert_int_equal(strlen(dot + 1), 43);
    static const size_t lengths[] = {0, 1, 42, 44, 46, 48, 100, 1000};
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        size_t body = (size_t)(dot - cookie) + 1;
        char *forged = malloc(body + lengths[i] + 1);
        memcpy(forged, cookie, body);
        memset(forged + body, 'Q', lengths[i]);
        forged[body + lengths[i]] = '\0';
        lti_err_t err = {0};
        assert_null(lti_session_decode(&cfg, forged, strlen(forged), 1001, &err));
        assert_int_equal(err.reason, LTI_R_session_invalid);
        free(forged);
    }
    free(cookie);
    json_decref(facts);
}

/* A selection cookie never passes as a session cookie, nor the reverse,
 * although both are signed with the session secret. */
static void cookie_kinds_do_not_mix(void **state)
{
    json_t *facts = sample_facts(1000);
    char *session = lti_session_encode(&cfg, facts);
    char *selection = lti_session_encode_kind(&cfg, LTI_SESSION_TOKEN_SELECTION, facts);
    lti_err_t err = {0};
    json_t *back = lti_session_decode_kind(&cfg, LTI_SESSION_TOKEN_SELECTION, selection,
                                           strlen(selection), 1001, &err);
    assert_non_null(back);
    json_decref(back);
    assert_null(lti_session_decode(&cfg, selection, strlen(selection), 1001, &err));
    assert_int_equal(err.reason, LTI_R_session_invalid);
    assert_null(lti_session_decode_kind(&cfg, LTI_SESSION_TOKEN_SELECTION, session,
                                        strlen(session), 1001, &err));
    assert_int_equal(err.reason, LTI_R_session_invalid);
    free(session);
    free(selection);
    json_decref(facts);
}

static void random_pair_values_differ(void **state)
{
    char a[LTI_OIDC_RANDOM_LEN], b[LTI_OIDC_RANDOM_LEN];
    assert_int_equal(lti_oidc_random_pair(a, b), 0);
    assert_int_equal(strlen(a), 43);
    assert_int_equal(strlen(b), 43);
    assert_string_not_equal(a, b);
}

/* Stored records come from the store, which another instance or an
 * operator may have written: every malformed one is refused. */
static void record_decode_rejects_malformed(void **state)
{
    static const char *bad[] = {
        "",
        "r1",
        "r2 0 5 1:n 1:t -",
        "r1 0 5 1:n 1:t",
        "r1 0 5 1:n 1:t - ",
        "r1 x 5 1:n 1:t -",
        "r1 0 5 2:n 1:t -",
        "r1 0 5 1:n 9:t -",
        "r1 0 5 1:n 1:t 3:ab",
        "r1 0 5 1:n 1:t 1:ab",
        "r1 0 5 1:n1:t -",
        "r1 0 99999999999999999999 1:n 1:t -",
        "{\"p\":0,\"n\":\"n\",\"t\":\"t\",\"c\":5}",
        "r1 0 5 1:n 1:t - -x",
        "r1 0 5 1:n 1:t - - ",
        "r1 0 5 1:n 1:t -- -",
        "r1 0 5 1:n 1:t - 2:x",
        "r1 0 5 1:n 1:t - 1:x -",
    };
    lti_oidc_record_t rec;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (lti_oidc_record_decode(&cfg, bad[i], strlen(bad[i]), &rec) == 0)
            fail_msg("accepted record %zu: %s", i, bad[i]);
        assert_null(rec.owned);
    }
    /* A NUL byte inside a string is refused too. */
    static const char nul[] = "r1 0 5 1:\0 1:t - -";
    assert_int_equal(lti_oidc_record_decode(&cfg, nul, sizeof(nul) - 1, &rec), -1);
    /* Separators and length digits inside strings are data. */
    char *text = lti_oidc_record_encode(0, "n", "https://kaf.example.com/a b 3:c -", "4:x y",
                                        "post_message_forwarding", 7);
    assert_int_equal(lti_oidc_record_decode(&cfg, text, strlen(text), &rec), 0);
    assert_string_equal(rec.target_link_uri, "https://kaf.example.com/a b 3:c -");
    assert_string_equal(rec.deployment_hint, "4:x y");
    assert_string_equal(rec.storage_target, "post_message_forwarding");
    assert_int_equal(rec.created, 7);
    lti_oidc_record_clear(&rec);
    free(text);
    text = lti_oidc_record_encode(0, "n", "t", NULL, NULL, 7);
    assert_int_equal(lti_oidc_record_decode(&cfg, text, strlen(text), &rec), 0);
    assert_null(rec.deployment_hint);
    assert_null(rec.storage_target);
    lti_oidc_record_clear(&rec);
    free(text);
    text = lti_oidc_record_encode(0, "n", "t", NULL, "_parent", 7);
    assert_int_equal(lti_oidc_record_decode(&cfg, text, strlen(text), &rec), 0);
    assert_null(rec.deployment_hint);
    assert_string_equal(rec.storage_target, "_parent");
    lti_oidc_record_clear(&rec);
    free(text);
}

/* Session tokens: sealed, bound to their kind, limited by
 * sessionTokenLifetime and by the session's own exp. */
static void token_round_trip_and_kind(void **state)
{
    cfg.session_token_lifetime = 300;
    json_t *facts = sample_facts(1000);
    lti_err_t err = {0};
    char *token = lti_session_token_seal(&cfg, LTI_SESSION_TOKEN_SESSION, facts, 1000);
    assert_non_null(token);
    /* Encrypted: no fact reads through the base64url. */
    json_t *back = lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, token,
                                          strlen(token), 1100, &err);
    assert_non_null(back);
    assert_string_equal(json_string_value(json_object_get(back, "user_id")), "jdoe");
    assert_int_equal(json_integer_value(json_object_get(back, "exp")), 1600);
    assert_null(json_object_get(back, "token_iat"));
    json_decref(back);

    back = lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SELECTION, token, strlen(token), 1100,
                                  &err);
    assert_null(back);
    assert_int_equal(err.reason, LTI_R_session_invalid);

    /* Two seals of one session differ (fresh IV). */
    char *again = lti_session_token_seal(&cfg, LTI_SESSION_TOKEN_SESSION, facts, 1000);
    assert_string_not_equal(token, again);
    free(again);
    free(token);
    json_decref(facts);
}

static void token_tampered_or_foreign_rejected(void **state)
{
    cfg.session_token_lifetime = 300;
    json_t *facts = sample_facts(1000);
    lti_err_t err = {0};
    char *token = lti_session_token_seal(&cfg, LTI_SESSION_TOKEN_SESSION, facts, 1000);
    char *cookie = lti_session_encode(&cfg, facts);
    size_t n = strlen(token);
    for (size_t i = 0; i < n; i += n / 7 + 1) {
        char saved = token[i];
        token[i] = saved == 'A' ? 'B' : 'A';
        assert_null(lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, token, n, 1100, &err));
        assert_int_equal(err.reason, LTI_R_session_invalid);
        token[i] = saved;
    }
    /* A session cookie is not a token, and a token is not a cookie. */
    assert_null(lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, cookie, strlen(cookie),
                                       1100, &err));
    assert_null(lti_session_decode(&cfg, token, n, 1100, &err));
    /* Another secret opens nothing. */
    lti_config_t other = cfg;
    memset(other.session_secret, 8, 32);
    assert_null(lti_session_token_open(&other, LTI_SESSION_TOKEN_SESSION, token, n, 1100, &err));
    assert_null(lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, "", 0, 1100, &err));
    assert_null(lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, "a.b", 3, 1100, &err));
    free(cookie);
    free(token);
    json_decref(facts);
}

/* The largest session that still fits a cookie also fits a token, so a
 * browser without cookies never loses a session that a cookie would hold. */
static void token_holds_largest_cookie_session(void **state)
{
    cfg.session_token_lifetime = 300;
    json_t *facts = sample_facts(1000);
    char *cookie = NULL, *bigger = NULL;
    size_t pad = 0;
    for (size_t n = 16; n < 4000; n += 16) {
        char *text = malloc(n + 1);
        memset(text, 'x', n);
        text[n] = '\0';
        json_object_set_new(facts, "context_title", json_string(text));
        free(text);
        bigger = lti_session_encode(&cfg, facts);
        if (bigger == NULL)
            break;
        free(cookie);
        cookie = bigger;
        pad = n;
    }
    assert_null(bigger);
    assert_non_null(cookie);
    assert_true(strlen(cookie) > LTI_SESSION_MAX_COOKIE - 64);

    char *text = malloc(pad + 1);
    memset(text, 'x', pad);
    text[pad] = '\0';
    json_object_set_new(facts, "context_title", json_string(text));
    free(text);
    char *token = lti_session_token_seal(&cfg, LTI_SESSION_TOKEN_SESSION, facts, 1000);
    assert_non_null(token);
    assert_true(strlen(token) <= LTI_SESSION_MAX_TOKEN);
    lti_err_t err = {0};
    json_t *back = lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, token, strlen(token),
                                          1100, &err);
    assert_non_null(back);
    assert_int_equal(json_string_length(json_object_get(back, "context_title")), pad);
    json_decref(back);
    free(token);
    free(cookie);
    json_decref(facts);
}

static void token_lifetime_rules(void **state)
{
    cfg.session_token_lifetime = 300;
    json_t *facts = sample_facts(1000); /* session exp 1600 */
    lti_err_t err = {0};
    char *token = lti_session_token_seal(&cfg, LTI_SESSION_TOKEN_SESSION, facts, 1000);
    size_t n = strlen(token);
    json_t *back = lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, token, n, 1299, &err);
    assert_non_null(back);
    json_decref(back);
    assert_null(lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, token, n, 1300, &err));
    assert_int_equal(err.reason, LTI_R_session_expired);
    /* Lowering the lifetime shortens tokens already issued. */
    cfg.session_token_lifetime = 60;
    assert_null(lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, token, n, 1100, &err));
    assert_int_equal(err.reason, LTI_R_session_expired);
    /* Issued in the future beyond the clock skew. */
    cfg.session_token_lifetime = 300;
    cfg.clock_skew = 10;
    assert_null(lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, token, n, 980, &err));
    free(token);
    /* The session's exp still bounds the token. */
    token = lti_session_token_seal(&cfg, LTI_SESSION_TOKEN_SESSION, facts, 1500);
    assert_null(lti_session_token_open(&cfg, LTI_SESSION_TOKEN_SESSION, token, strlen(token),
                                       1600, &err));
    assert_int_equal(err.reason, LTI_R_session_expired);
    free(token);
    /* Lifetime 0: no token is made or accepted. */
    cfg.session_token_lifetime = 0;
    assert_null(lti_session_token_seal(&cfg, LTI_SESSION_TOKEN_SESSION, facts, 1000));
    json_decref(facts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(session_round_trip, setup),
        cmocka_unit_test_setup(token_round_trip_and_kind, setup),
        cmocka_unit_test_setup(token_tampered_or_foreign_rejected, setup),
        cmocka_unit_test_setup(token_holds_largest_cookie_session, setup),
        cmocka_unit_test_setup(token_lifetime_rules, setup),
        cmocka_unit_test_setup(session_tampered_rejected, setup),
        cmocka_unit_test_setup(session_other_secret_rejected, setup),
        cmocka_unit_test_setup(session_expired_rejected, setup),
        cmocka_unit_test_setup(landing_page_by_placement_and_target, setup),
        cmocka_unit_test_setup(target_must_be_ours, setup),
        cmocka_unit_test_setup(random_values_are_unique, setup),
        cmocka_unit_test_setup(record_round_trip_and_bounds, setup),
        cmocka_unit_test_setup(session_body_keeps_every_type, setup),
        cmocka_unit_test_setup(session_malformed_body_rejected, setup),
        cmocka_unit_test_setup(session_mac_part_length_checked, setup),
        cmocka_unit_test_setup(cookie_kinds_do_not_mix, setup),
        cmocka_unit_test_setup(random_pair_values_differ, setup),
        cmocka_unit_test_setup(record_decode_rejects_malformed, setup),
    };
    return cmocka_run_group_tests_name("session", tests, NULL, NULL);
}
