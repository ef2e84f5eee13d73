/* SPDX-License-Identifier: MIT */
/*
 * The tool's published documents: its public keys as a JWK set (the
 * developer key's public_jwk_url), the Canvas developer-key JSON, and the
 * media catalog that the deep-linking picker offers. All of them are built
 * once at start from the config and served from memory.
 */
#ifndef LTI_TOOL_H
#define LTI_TOOL_H

#include <stddef.h>
#include <jansson.h>
#include <openssl/evp.h>
#include "lti/config.h"

#define LTI_TOOL_JWKS_PATH "/hosted/index/jwks"
#define LTI_TOOL_DEVKEY_PATH "/canvas/config/create-json-for-instance"
#define LTI_JWK_KID_LEN 44 /* base64url of a SHA-256 digest (43) plus NUL */

/* Writes the RFC 7638 JWK thumbprint of an RSA key, base64url(SHA-256 of
 * {"e":..,"kty":"RSA","n":..}), used as the key's kid. Returns 0 or -1. */
int lti_jwk_thumbprint(EVP_PKEY *key, char kid[LTI_JWK_KID_LEN]);
/* Returns the public JWK of an RSA key with exactly kty, alg (RS256), use
 * (sig), kid (the thumbprint), n and e; never a private member. NULL on
 * failure. */
json_t *lti_jwk_public(EVP_PKEY *key);

/* One media entry of the sample catalog. */
typedef struct lti_media_entry {
    char *id;          /* Kaltura-style entry id, "1_abcd1234" */
    char *title;
    char *description; /* may be "" */
    char *thumbnail;   /* https URL */
    char *type;        /* "video" */
    int duration;      /* seconds */
} lti_media_entry_t;

typedef struct lti_catalog {
    lti_media_entry_t *entries;
    size_t n;
} lti_catalog_t;

#define LTI_CATALOG_MAX_ENTRIES 1000
#define LTI_ENTRY_ID_MAX 64

/* Returns 1 when `id` has the shape of an entry id: 1 to 64 characters of
 * [A-Za-z0-9_], so it can be placed in URLs and HTML unescaped. */
int lti_entry_id_valid(const char *id);
/* Loads a catalog file: a JSON object {"entries": [{"id", "title",
 * "duration", "thumbnail", "type", ...}]} with at most
 * LTI_CATALOG_MAX_ENTRIES entries and unique valid ids. Members other than
 * those listed (such as a quiz answer key) are ignored. Returns NULL with
 * a message in `errbuf`. */
lti_catalog_t *lti_catalog_load(const char *path, char *errbuf, size_t errlen);
const lti_media_entry_t *lti_catalog_find(const lti_catalog_t *catalog, const char *id);
void lti_catalog_free(lti_catalog_t *catalog);

/* Builds the developer-key JSON for this instance from the config: title,
 * description, login and launch URLs, public_jwk_url (or, with
 * `inline_jwk`, public_jwk of the current key), scopes, the Canvas
 * extension with the configured placements, and the custom fields.
 * Returns a new object or NULL. */
json_t *lti_devkey_build(const lti_config_t *cfg, int inline_jwk);
/* Returns the redirect URIs an admin enters on the developer key, one per
 * array item (the launch URL). */
json_t *lti_devkey_redirect_uris(const lti_config_t *cfg);

/* The published documents, built by lti_tool_new. */
typedef struct lti_tool {
    EVP_PKEY *signing_key;         /* borrowed from the config: the current key */
    char kid[LTI_JWK_KID_LEN];     /* its thumbprint, the kid of every signed token */
    char *jwks_json;               /* {"keys":[current, next]} */
    size_t jwks_len;
    char *devkey_json;             /* lti_devkey_build(cfg, 0), pretty-printed */
    lti_catalog_t *catalog;        /* never NULL; empty without mediaCatalogFile */
} lti_tool_t;

/* Builds the key set, the developer-key JSON and loads the catalog.
 * Returns NULL with a message in `errbuf`. */
lti_tool_t *lti_tool_new(const lti_config_t *cfg, char *errbuf, size_t errlen);
void lti_tool_free(lti_tool_t *tool);

/* Command-line entry points of `ltigate keygen` and `ltigate canvas-json`;
 * argv[0] is the subcommand name. Return the process exit status. */
int lti_keygen_main(int argc, char **argv);
int lti_canvas_json_main(int argc, char **argv);

#endif
