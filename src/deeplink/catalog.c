/* SPDX-License-Identifier: MIT */
/* The sample media catalog offered by the deep-linking picker (lti/tool.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lti/tool.h"

#define CATALOG_FILE_MAX (1024 * 1024)
#define FIELD_MAX 1024

int lti_entry_id_valid(const char *id)
{
    size_t n = id != NULL ? strlen(id) : 0;
    if (n == 0 || n > LTI_ENTRY_ID_MAX)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return 0;
    }
    return 1;
}

/* Copies a string member of at most FIELD_MAX bytes; `required` makes an
 * absent member an error. Returns 0 or -1. */
static int take_string(json_t *obj, const char *key, int required, char **out)
{
    json_t *v = json_object_get(obj, key);
    if (v == NULL && !required) {
        *out = strdup("");
        return *out != NULL ? 0 : -1;
    }
    if (!json_is_string(v) || json_string_length(v) > FIELD_MAX ||
        (required && json_string_length(v) == 0))
        return -1;
    *out = strdup(json_string_value(v));
    return *out != NULL ? 0 : -1;
}

static int load_entry(json_t *obj, lti_media_entry_t *e, char *errbuf, size_t errlen, size_t i)
{
    static const char *const names[] = {"id", "title", "thumbnail", "type"};
    char **fields[] = {&e->id, &e->title, &e->thumbnail, &e->type};

    if (!json_is_object(obj)) {
        snprintf(errbuf, errlen, "entry %zu is not an object", i + 1);
        return -1;
    }
    for (size_t f = 0; f < 4; f++)
        if (take_string(obj, names[f], 1, fields[f]) != 0) {
            snprintf(errbuf, errlen, "entry %zu: '%s' is missing, empty, not a string or longer "
                                     "than %d bytes", i + 1, names[f], FIELD_MAX);
            return -1;
        }
    if (take_string(obj, "description", 0, &e->description) != 0) {
        snprintf(errbuf, errlen, "entry %zu: 'description' is not a string of at most %d bytes",
                 i + 1, FIELD_MAX);
        return -1;
    }
    if (!lti_entry_id_valid(e->id)) {
        snprintf(errbuf, errlen, "entry %zu: id '%.64s' must be 1 to %d characters of "
                                 "[A-Za-z0-9_]", i + 1, e->id, LTI_ENTRY_ID_MAX);
        return -1;
    }
    json_t *duration = json_object_get(obj, "duration");
    if (!json_is_integer(duration) || json_integer_value(duration) < 0 ||
        json_integer_value(duration) > 86400 * 7) {
        snprintf(errbuf, errlen, "entry %zu: 'duration' must be whole seconds, 0 to 604800",
                 i + 1);
        return -1;
    }
    e->duration = (int)json_integer_value(duration);
    return 0;
}

static char *read_file(const char *path, size_t *len, char *errbuf, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    if (fp == NULL) {
        snprintf(errbuf, errlen, "cannot open media catalog %s", path);
        return NULL;
    }
    buf = malloc(CATALOG_FILE_MAX + 1);
    *len = buf != NULL ? fread(buf, 1, CATALOG_FILE_MAX + 1, fp) : 0;
    fclose(fp);
    if (buf == NULL || *len > CATALOG_FILE_MAX) {
        snprintf(errbuf, errlen, "media catalog %s is larger than 1 MiB", path);
        free(buf);
        return NULL;
    }
    return buf;
}

lti_catalog_t *lti_catalog_load(const char *path, char *errbuf, size_t errlen)
{
    char why[160];
    size_t len = 0;
    char *text = read_file(path, &len, errbuf, errlen);
    json_error_t jerr;
    json_t *doc = NULL;
    lti_catalog_t *catalog = NULL;

    if (text == NULL)
        return NULL;
    doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    json_t *entries = json_object_get(doc, "entries");
    if (!json_is_array(entries) || json_array_size(entries) > LTI_CATALOG_MAX_ENTRIES) {
        snprintf(errbuf, errlen, "media catalog %s: %s", path,
                 doc == NULL ? jerr.text
                             : "expected an object with an 'entries' array of at most 1000 items");
        goto fail;
    }
    catalog = calloc(1, sizeof(*catalog));
    size_t n = json_array_size(entries);
    if (catalog == NULL || (n > 0 && (catalog->entries = calloc(n, sizeof(lti_media_entry_t))) ==
                                         NULL)) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        catalog->n = i + 1;
        json_t *item = json_array_get(entries, i);
        if (load_entry(item, &catalog->entries[i], why, sizeof(why), i) != 0) {
            snprintf(errbuf, errlen, "media catalog %s: %s", path, why);
            goto fail;
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(catalog->entries[j].id, catalog->entries[i].id) == 0) {
                snprintf(errbuf, errlen, "media catalog %s: id '%s' appears twice", path,
                         catalog->entries[i].id);
                goto fail;
            }
    }
    json_decref(doc);
    return catalog;
fail:
    json_decref(doc);
    lti_catalog_free(catalog);
    return NULL;
}

const lti_media_entry_t *lti_catalog_find(const lti_catalog_t *catalog, const char *id)
{
    for (size_t i = 0; catalog != NULL && id != NULL && i < catalog->n; i++)
        if (strcmp(catalog->entries[i].id, id) == 0)
            return &catalog->entries[i];
    return NULL;
}

void lti_catalog_free(lti_catalog_t *catalog)
{
    if (catalog == NULL)
        return;
    for (size_t i = 0; i < catalog->n; i++) {
        lti_media_entry_t *e = &catalog->entries[i];
        free(e->id);
        free(e->title);
        free(e->description);
        free(e->thumbnail);
        free(e->type);
    }
    free(catalog->entries);
    free(catalog);
}
