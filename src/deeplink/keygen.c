/* SPDX-License-Identifier: MIT */
/*
 * `ltigate keygen` (a new tool key pair, like KAF's "Generate key pair
 * here") and `ltigate canvas-json` (the developer-key JSON on standard
 * output).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "lti/tool.h"

static const char keygen_usage[] =
    "usage: ltigate keygen [--bits 2048|3072|4096] --out FILE [--public FILE]\n"
    "\n"
    "Writes a new RSA private key to FILE (PEM, mode 0600) and its public key to\n"
    "FILE.pub (or --public FILE), then prints the public JWK. Existing files are\n"
    "never overwritten. Set hosted.lti13ServicePrivateKey (or\n"
    "lti13ServiceNextPrivateKey during a rotation) to FILE.\n"
    "\n"
    "  --bits N       key size in bits: 2048 (default), 3072 or 4096\n"
    "  --out FILE     private key file to create\n"
    "  --public FILE  public key file to create (default FILE.pub)\n";

static const char canvas_json_usage[] =
    "usage: ltigate canvas-json --config FILE [--redirect-uris] [--inline-jwk]\n"
    "\n"
    "Prints the Canvas developer-key JSON for this instance on standard output, to\n"
    "paste into Admin > Developer Keys > + LTI Key > Paste JSON.\n"
    "\n"
    "  -c, --config FILE  ltigate configuration\n"
    "  --redirect-uris    print the Redirect URIs for the key instead, one per line\n"
    "  --inline-jwk       put the current public key in public_jwk instead of\n"
    "                     public_jwk_url (then each key rotation needs a JSON update)\n";

/* Creates `path` with O_EXCL and `mode` and writes the private or the
 * public PEM of `key`; removes the file again when writing fails. */
static int write_new_file(const char *path, mode_t mode, EVP_PKEY *key, int private_part)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) {
        fprintf(stderr, "ltigate keygen: cannot create %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (existing keys are never overwritten; choose another name)"
                                : "");
        return -1;
    }
    FILE *fp = fdopen(fd, "w");
    int ok = fp != NULL && (private_part ? PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL)
                                         : PEM_write_PUBKEY(fp, key)) == 1;
    if (fp != NULL)
        ok = fclose(fp) == 0 && ok;
    else
        close(fd);
    if (!ok) {
        fprintf(stderr, "ltigate keygen: writing %s failed\n", path);
        unlink(path);
    }
    return ok ? 0 : -1;
}

int lti_keygen_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"bits", required_argument, NULL, 'b'},
        {"out", required_argument, NULL, 'o'},
        {"public", required_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL, *public_path = NULL;
    char public_default[4200];
    unsigned bits = 2048;
    int c;

    optind = 1;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (strcmp(optarg, "2048") != 0 && strcmp(optarg, "3072") != 0 &&
                strcmp(optarg, "4096") != 0) {
                fprintf(stderr, "ltigate keygen: --bits must be 2048, 3072 or 4096\n");
                return 2;
            }
            bits = (unsigned)atoi(optarg);
            break;
        case 'o': out = optarg; break;
        case 'p': public_path = optarg; break;
        case 'h': fputs(keygen_usage, stdout); return 0;
        default: fputs(keygen_usage, stderr); return 2;
        }
    }
    if (out == NULL || optind < argc) {
        fputs(keygen_usage, stderr);
        return 2;
    }
    if (public_path == NULL) {
        if (strlen(out) + 5 > sizeof(public_default)) {
            fprintf(stderr, "ltigate keygen: --out path is too long\n");
            return 2;
        }
        snprintf(public_default, sizeof(public_default), "%s.pub", out);
        public_path = public_default;
    }

    EVP_PKEY *key = EVP_RSA_gen(bits);
    if (key == NULL) {
        fprintf(stderr, "ltigate keygen: RSA key generation failed\n");
        return 1;
    }
    int rc = 1;
    json_t *jwk = NULL;
    if (write_new_file(out, 0600, key, 1) != 0)
        goto out;
    if (write_new_file(public_path, 0644, key, 0) != 0) {
        unlink(out);
        goto out;
    }
    jwk = lti_jwk_public(key);
    char *text = jwk != NULL ? json_dumps(jwk, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    if (text != NULL) {
        puts(text);
        fprintf(stderr, "ltigate keygen: wrote %s (private, %u bits) and %s (public)\n", out,
                bits, public_path);
        rc = 0;
    }
    free(text);
out:
    json_decref(jwk);
    EVP_PKEY_free(key);
    return rc;
}

int lti_canvas_json_main(int argc, char **argv)
{
    static const struct option options[] = {
        {"config", required_argument, NULL, 'c'},
        {"redirect-uris", no_argument, NULL, 'r'},
        {"inline-jwk", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *path = NULL;
    int redirect_uris = 0, inline_jwk = 0, c;
    char errbuf[1024];

    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", options, NULL)) != -1) {
        switch (c) {
        case 'c': path = optarg; break;
        case 'r': redirect_uris = 1; break;
        case 'i': inline_jwk = 1; break;
        case 'h': fputs(canvas_json_usage, stdout); return 0;
        default: fputs(canvas_json_usage, stderr); return 2;
        }
    }
    if (path == NULL || optind < argc) {
        fputs(canvas_json_usage, stderr);
        return 2;
    }
    lti_config_t *cfg = lti_config_load(path, errbuf, sizeof(errbuf));
    if (cfg == NULL) {
        fprintf(stderr, "ltigate canvas-json: %s\n", errbuf);
        return 1;
    }
    int rc = 1;
    if (redirect_uris) {
        json_t *uris = lti_devkey_redirect_uris(cfg);
        for (size_t i = 0; i < json_array_size(uris); i++)
            puts(json_string_value(json_array_get(uris, i)));
        rc = uris != NULL ? 0 : 1;
        json_decref(uris);
    } else {
        json_t *doc = lti_devkey_build(cfg, inline_jwk);
        char *text = doc != NULL ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (text != NULL) {
            puts(text);
            rc = 0;
        } else {
            fprintf(stderr, "ltigate canvas-json: cannot build the JSON\n");
        }
        free(text);
        json_decref(doc);
    }
    lti_config_free(cfg);
    return rc;
}
