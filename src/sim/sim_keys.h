/* SPDX-License-Identifier: MIT */
/*
 * The platform's signing keys, kept the way Canvas keeps them: three RSA-2048
 * keys called past, present and future, all published, present signing.
 * Key ids are ISO-8601 timestamps of key creation, as Canvas's are.
 */
#ifndef LTI_SIM_KEYS_H
#define LTI_SIM_KEYS_H

#include <stdint.h>
#include <openssl/evp.h>

enum { SIM_KEY_PAST = 0, SIM_KEY_PRESENT, SIM_KEY_FUTURE, SIM_KEY_SLOTS };

#define SIM_KID_MAX 32

typedef struct sim_key {
    char kid[SIM_KID_MAX];
    EVP_PKEY *pkey;
    char *pem; /* PKCS#8 private key, the form libjwt takes */
} sim_key_t;

typedef struct sim_keyring {
    sim_key_t slot[SIM_KEY_SLOTS];
    int64_t last_kid_time; /* seconds; a new kid is at least one second later */
    char *path;            /* keys.json in the state directory, or NULL */
} sim_keyring_t;

/* Loads the keys from `state_dir`/keys.json when that file exists, else
 * generates three keys (and writes the file when `state_dir` is set).
 * Returns 0, or -1 with a message in `err`. */
int sim_keyring_init(sim_keyring_t *ring, const char *state_dir, char *err, size_t errlen);
void sim_keyring_clear(sim_keyring_t *ring);
/* See sim_platform_rotate for what publish=0 and publish=1 do. */
int sim_keyring_rotate(sim_keyring_t *ring, int publish);
/* Returns the JWKS document, {"keys":[past, present, future]} (malloc'd). */
char *sim_keyring_jwks(const sim_keyring_t *ring);
/* Signs `payload_json` RS256 with the present key through libjwt. The
 * header kid is `kid_override` when non-NULL, else the present kid.
 * Returns a malloc'd token, or NULL. */
char *sim_keyring_sign(const sim_keyring_t *ring, const char *payload_json,
                       const char *kid_override);

#endif
