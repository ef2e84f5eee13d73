/* SPDX-License-Identifier: MIT */
/*
 * Public API of lti_sim, the test-side simulators:
 *  - a Canvas-like LTI 1.3 platform (OIDC authorize endpoint, JWKS with
 *    past/present/future keys, id_tokens signed with libjwt) served by h2o
 *    on a loopback port from its own thread;
 *  - a scripted browser (libcurl) that plays one launch end to end against
 *    that platform and a tool;
 *  - helpers that build compact JWS tokens with OpenSSL directly, for
 *    headers and signatures that libjwt cannot produce.
 * None of this code shares validation logic with ltigate, so one bug cannot
 * sit on both sides of a test.
 */
#ifndef LTI_SIM_H
#define LTI_SIM_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <openssl/evp.h>

#define SIM_DEFAULT_ISSUER "https://canvas.instructure.com"
#define SIM_DEFAULT_CLIENT_ID "170000000000123"
#define SIM_DEFAULT_DEPLOYMENT_ID "42:0a1b2c3d4e5f60718293a4b5c6d7e8f901234567"
#define SIM_DEFAULT_TOOL_BASE "http://127.0.0.1:8080"
#define SIM_LOGIN_PATH "/hosted/index/oidc-login"
#define SIM_LAUNCH_PATH "/hosted/index/oauth2-launch"
#define SIM_CONTEXT_PATH "/hosted/index/launch-context"
#define SIM_AUTHORIZE_PATH "/api/lti/authorize_redirect"
#define SIM_JWKS_PATH "/api/lti/security/jwks"
/* The frame name Canvas gives as lti_storage_target. */
#define SIM_STORAGE_TARGET "post_message_forwarding"
/* Canvas keeps a launch behind an lti_message_hint for 5 minutes. */
#define SIM_DEFAULT_HINT_LIFETIME 300
/* Canvas serves its JWKS with this max-age (10 days). */
#define SIM_JWKS_MAX_AGE 864000
#define SIM_DEFAULT_SLOW_MS 10000

/* ---- platform ---------------------------------------------------------- */

typedef struct sim_platform sim_platform_t;

typedef struct sim_platform_opts {
    const char *listen_host;     /* NULL = "127.0.0.1"; only loopback addresses are accepted */
    uint16_t port;               /* 0 = a free port chosen by the kernel */
    const char *issuer;          /* NULL = SIM_DEFAULT_ISSUER */
    int issuer_is_base_url;      /* 1 = the issuer is the platform's own base URL */
    const char *client_id;       /* NULL = SIM_DEFAULT_CLIENT_ID */
    const char *deployment_id;   /* NULL = SIM_DEFAULT_DEPLOYMENT_ID */
    const char *tool_login_url;  /* NULL = SIM_DEFAULT_TOOL_BASE SIM_LOGIN_PATH */
    const char *tool_launch_url; /* NULL = SIM_DEFAULT_TOOL_BASE SIM_LAUNCH_PATH; also the only
                                    redirect_uri the authorize endpoint accepts */
    const char *state_dir;       /* NULL = keys live in memory only; else keys.json there */
    unsigned hint_lifetime;      /* seconds a launch waits for its authorize; 0 = 300 */
    const char *tool_jwks_url;   /* the tool's public_jwk_url; NULL = deep-linking responses
                                    are recorded but not verified */
} sim_platform_opts_t;

typedef enum sim_jwks_mode {
    SIM_JWKS_UP = 0, /* serve the key set */
    SIM_JWKS_DOWN,   /* respond 503 */
    SIM_JWKS_SLOW,   /* serve the key set after a delay, without blocking the loop */
} sim_jwks_mode_t;

typedef struct sim_platform_stats {
    unsigned long jwks_hits;              /* GET /api/lti/security/jwks, any mode */
    unsigned long authorize;              /* requests to the authorize endpoint */
    unsigned long logins;                 /* launches started with /sim/launch */
    unsigned long id_tokens;              /* id_tokens issued */
    unsigned long deep_linking_responses; /* JWT posts received */
} sim_platform_stats_t;

/* Generates the three signing keys (or loads them from opts->state_dir),
 * binds the listening socket and starts the event loop on a new thread.
 * Returns NULL with a message in `errbuf` when the address is not loopback,
 * the port is taken or a key cannot be made. */
sim_platform_t *sim_platform_start(const sim_platform_opts_t *opts, char *errbuf, size_t errlen);
/* Stops the loop, closes every connection, joins the thread and frees `p`. */
void sim_platform_stop(sim_platform_t *p);

/* Returns "http://127.0.0.1:PORT", valid until sim_platform_stop. */
const char *sim_platform_base_url(const sim_platform_t *p);
uint16_t sim_platform_port(const sim_platform_t *p);
/* Returns the issuer placed in logins and id_tokens. */
const char *sim_platform_issuer(const sim_platform_t *p);

/* Replaces the tool login URL and launch URL (NULL keeps the current one),
 * for tests that start the tool after the platform. */
int sim_platform_set_tool(sim_platform_t *p, const char *login_url, const char *launch_url);

/* Rotates keys. publish=1 does what Canvas does: present becomes past,
 * future becomes present and signs, a new future key is published.
 * publish=0 makes a new key that signs from now on although no key set
 * served before this call contained it (present becomes past; future stays).
 * Writes the new signing kid to `kid`. Returns 0 or -1. */
int sim_platform_rotate(sim_platform_t *p, int publish, char *kid, size_t kid_len);
/* `delay_ms` applies to SIM_JWKS_SLOW; 0 = SIM_DEFAULT_SLOW_MS. */
void sim_platform_set_jwks_mode(sim_platform_t *p, sim_jwks_mode_t mode, unsigned delay_ms);
/* Makes the next authorize request return this OAuth error code
 * (launch_no_longer_valid, login_required, invalid_request_object,
 * unauthorized_client) instead of an id_token. Returns -1 for other codes. */
int sim_platform_set_next_error(sim_platform_t *p, const char *error);
void sim_platform_get_stats(sim_platform_t *p, sim_platform_stats_t *out);
/* Returns a new reference to the current signing key and copies its kid. */
EVP_PKEY *sim_platform_signing_key(sim_platform_t *p, char *kid, size_t kid_len);
/* Returns the JWKS document currently served (malloc'd). */
char *sim_platform_jwks_json(sim_platform_t *p);
/* Returns the JWT field of the last deep-linking response (malloc'd), or NULL. */
char *sim_platform_last_deep_linking_jwt(sim_platform_t *p);
/* Returns the verification report of the last deep-linking response (see
 * sim_dl_verify), or NULL when none was verified. New reference. */
json_t *sim_platform_last_deep_linking_result(sim_platform_t *p);
/* Sets the tool's public_jwk_url used to verify deep-linking responses. */
int sim_platform_set_tool_jwks(sim_platform_t *p, const char *url);

/* ---- compact JWS helpers (OpenSSL, no libjwt) -------------------------- */

/* Signs base64url(header) "." base64url(payload) with RS256 over the exact
 * bytes given, so callers can send duplicate members, odd typ values or
 * crit. Returns a malloc'd token, or NULL. */
char *sim_jws_sign_rs256_raw(EVP_PKEY *key, const char *header, const char *payload);
/* As above with HMAC-SHA256 keyed by `secret` (alg-confusion tests). */
char *sim_jws_sign_hs256_raw(const unsigned char *secret, size_t secret_len, const char *header,
                             const char *payload);
/* Returns "b64(header).b64(payload)." with an empty signature, the
 * unsecured form used with alg "none". */
char *sim_jws_unsecured_raw(const char *header, const char *payload);
/* Returns the public key of `key` as a SubjectPublicKeyInfo PEM (malloc'd). */
char *sim_public_pem(EVP_PKEY *key);
/* Decodes segment `index` (0 header, 1 payload, 2 signature) of a compact
 * JWS. Returns a malloc'd NUL-terminated buffer and its length, or NULL. */
unsigned char *sim_jws_segment(const char *token, int index, size_t *len);

/* ---- browser ----------------------------------------------------------- */

typedef enum sim_outcome {
    SIM_LAUNCHED = 0, /* the landing page after the launch returned 200 */
    SIM_REJECTED,     /* the tool returned 4xx or 5xx */
    SIM_ERROR,        /* no connection, timeout, or a response out of protocol */
} sim_outcome_t;

typedef struct sim_launch_opts {
    const char *platform; /* platform base URL, e.g. "http://127.0.0.1:PORT" (required) */
    /* Launch parameters passed to /sim/launch; NULL = the platform default. */
    const char *user, *name, *email, *role, *placement, *course, *message_type;
    const char *claims_json;  /* JSON object merged into the id_token payload */
    const char *target;       /* target_link_uri other than the tool launch URL */
    const char *kid;          /* kid placed in the header instead of the signing kid */
    const char *exp_offset;   /* seconds from iat to exp, as a decimal string */
    const char *iat_offset;   /* seconds added to now for iat, as a decimal string */
    const char *extra_params; /* raw "k=v&k=v" appended to the /sim/launch query */
    int replay;               /* after a launch, post the same id_token and state again */
    int bad_state;            /* replace the state before the launch POST */
    int no_cookies;           /* never store or send cookies (Safari with ITP) */
    long timeout_ms;          /* connect and total timeout per request; 0 = 10000 */
    /* Called with the id_token about to be posted to the tool; a non-NULL
     * malloc'd return value replaces it. */
    char *(*edit_id_token)(void *arg, const char *id_token);
    void *edit_arg;
    /* Deep linking: on the tool's picker page, select these entries
     * (comma-separated ids) or cancel, and follow the response form to the
     * platform's return URL. */
    const char *dl_pick;
    int dl_cancel;
} sim_launch_opts_t;

typedef struct sim_launch_result {
    sim_outcome_t outcome;
    long status;     /* HTTP status of the response that decided the outcome */
    char reason[64]; /* X-LTI-Reason of a rejection, "" when none */
    char error[512]; /* what went wrong, for SIM_ERROR */
    /* Facts from the tool's launch-context JSON, NULL when absent. With
     * replay they describe the first launch, and outcome the second. */
    char *user_id, *app_role, *placement, *page, *name, *context_title, *message_type;
    char *context_json; /* the launch-context body as received */
    char *body;         /* body of the deciding response (at most 1 MiB) */
    char *id_token;     /* the id_token posted to the tool, after edit_id_token */
    char *landing_url;  /* last URL requested */
    int first_outcome;  /* with replay: outcome of the first launch */
    long dl_status;     /* with dl_pick or dl_cancel: HTTP status of the platform's return URL */
    char *dl_report;    /* its body: the platform's verification report (JSON) */
    int session_after_reject; /* a rejected launch POST still left a session: the tool's
                                 launch-context then returned 200 */
    char *session_cookie; /* "ltigate_session=VALUE" from the jar after the launch, or NULL,
                             for requests a test makes as the same user */
} sim_launch_result_t;

/* Runs one launch: /sim/launch on the platform, the login POST to the tool,
 * the authorize request, the launch POST, the landing page, and the
 * launch-context JSON. Only loopback URLs are requested. Returns the
 * outcome, also stored in `res`; call sim_launch_result_clear afterwards. */
sim_outcome_t sim_launch(const sim_launch_opts_t *opts, sim_launch_result_t *res);
void sim_launch_result_clear(sim_launch_result_t *res);
/* Returns the one-object JSON report printed by `ltisim launch --json`. */
char *sim_launch_result_json(const sim_launch_result_t *res);
/* Returns "launched", "rejected" or "error". */
const char *sim_outcome_name(sim_outcome_t outcome);

#endif
