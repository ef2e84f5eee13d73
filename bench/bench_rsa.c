/* SPDX-License-Identifier: MIT */
/*
 * bench_rsa: the per-core physical limits of a launch, measured with
 * OpenSSL in this process on one thread: RSA-2048 PKCS#1 v1.5 SHA-256
 * (RS256) signatures and verifications per second, and SHA-256 hashes per
 * second of a token-sized input. Prints one JSON object.
 *
 * Usage: bench_rsa [SECONDS_PER_MEASURE]   (default 2)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

/* A Canvas id_token is about 1.5 KB; its signing input (header.payload in
 * base64url) is about 1.2 KB of that. */
#define TOKEN_INPUT_LEN 1200

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int sign_once(EVP_PKEY *key, const unsigned char *msg, size_t len, unsigned char *sig,
                     size_t *siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestSign(ctx, sig, siglen, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

static int verify_once(EVP_PKEY *key, const unsigned char *msg, size_t len,
                       const unsigned char *sig, size_t siglen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx != NULL && EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1;
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    unsigned char msg[TOKEN_INPUT_LEN], sig[512], digest[32];
    size_t siglen = sizeof(sig);
    unsigned long n;
    double t0, sign_s, verify_s, sha_s;
    unsigned long signs = 0, verifies = 0, hashes = 0;

    if (!(seconds > 0) || seconds > 60) {
        fprintf(stderr, "bench_rsa: SECONDS_PER_MEASURE must be more than 0 and at most 60\n");
        return 2;
    }
    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)('A' + i % 26);
    EVP_PKEY *key = EVP_RSA_gen(2048);
    if (key == NULL || sign_once(key, msg, sizeof(msg), sig, &siglen) != 0) {
        fprintf(stderr, "bench_rsa: RSA-2048 key generation or signing failed\n");
        return 1;
    }

    t0 = now_s();
    do {
        for (n = 0; n < 50; n++) {
            size_t len = sizeof(sig);
            if (sign_once(key, msg, sizeof(msg), sig, &len) != 0)
                return 1;
        }
        signs += n;
    } while ((sign_s = now_s() - t0) < seconds);

    t0 = now_s();
    do {
        for (n = 0; n < 500; n++)
            if (verify_once(key, msg, sizeof(msg), sig, siglen) != 0)
                return 1;
        verifies += n;
    } while ((verify_s = now_s() - t0) < seconds);

    t0 = now_s();
    do {
        for (n = 0; n < 5000; n++) {
            unsigned int dlen = 0;
            EVP_Digest(msg, sizeof(msg), digest, &dlen, EVP_sha256(), NULL);
            msg[0] ^= digest[0]; /* keeps the compiler from hoisting the call */
        }
        hashes += n;
    } while ((sha_s = now_s() - t0) < seconds);

    printf("{\"rsa2048_sign_per_s\":%.0f,\"rsa2048_verify_per_s\":%.0f,"
           "\"sha256_per_s\":%.0f,\"sha256_input_bytes\":%d}\n",
           (double)signs / sign_s, (double)verifies / verify_s, (double)hashes / sha_s,
           TOKEN_INPUT_LEN);
    EVP_PKEY_free(key);
    return 0;
}
