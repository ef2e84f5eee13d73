/* SPDX-License-Identifier: MIT */
/* Arena allocation for jansson trees: where allocations go, mixed trees,
 * nesting, and chunks larger than the default. The sanitizer pass of
 * `make test` runs this too, so a wrong free or a leak fails there. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <jansson.h>
#include "lti/jarena.h"

static char *read_claims(size_t *len)
{
    const char *dir = getenv("LTIGATE_SOURCE_DIR");
    char path[1024];
    snprintf(path, sizeof(path), "%s/tests/data/launch/canvas_claims.json", dir ? dir : ".");
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = malloc(65536);
    *len = fread(buf, 1, 65536, fp);
    fclose(fp);
    return buf;
}

/* Inside a scope the parse lands in the arena; outside it does not. */
static void parse_goes_to_the_current_arena(void **state)
{
    size_t len;
    char *text = read_claims(&len);
    lti_jarena_t arena = {0};

    lti_jarena_t *previous = lti_jarena_enter(&arena);
    json_t *claims = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    lti_jarena_leave(previous);
    assert_non_null(claims);
    size_t used = lti_jarena_size(&arena);
    assert_true(used > 0);

    json_t *heap_copy = json_loadb(text, len, 0, NULL);
    assert_non_null(heap_copy);
    assert_int_equal(lti_jarena_size(&arena), used);
    assert_true(json_equal(claims, heap_copy));
    json_decref(heap_copy);

    previous = lti_jarena_enter(&arena);
    json_decref(claims);
    lti_jarena_leave(previous);
    lti_jarena_release(&arena);
    assert_int_equal(lti_jarena_size(&arena), 0);
    free(text);
}

/* A heap object linked into an arena tree is freed with the tree. An arena
 * object referenced from a heap tree survives until its own decref. */
static void mixed_trees_free_correctly(void **state)
{
    lti_jarena_t arena = {0};
    lti_jarena_t *previous = lti_jarena_enter(&arena);
    json_t *tree = json_loads("{\"a\": {\"b\": \"arena string\"}}", 0, NULL);
    lti_jarena_leave(previous);
    assert_non_null(tree);

    /* Made outside the scope: heap memory. Linking them in grows the
     * tree's table, so that happens inside the scope. */
    json_t *heap[20];
    for (int i = 0; i < 20; i++)
        heap[i] = json_string("heap value");
    previous = lti_jarena_enter(&arena);
    for (int i = 0; i < 20; i++) {
        char key[16];
        snprintf(key, sizeof(key), "heap%d", i);
        assert_int_equal(json_object_set_new(tree, key, heap[i]), 0);
    }
    lti_jarena_leave(previous);
    json_t *holder = json_object();
    json_object_set(holder, "b", json_object_get(json_object_get(tree, "a"), "b"));

    previous = lti_jarena_enter(&arena);
    json_decref(tree);
    lti_jarena_leave(previous);
    assert_string_equal(json_string_value(json_object_get(holder, "b")), "arena string");

    previous = lti_jarena_enter(&arena);
    json_decref(holder);
    lti_jarena_leave(previous);
    lti_jarena_release(&arena);
}

/* Scopes nest, and leaving one makes the outer arena current again. */
static void scopes_nest(void **state)
{
    lti_jarena_t outer = {0}, inner = {0};
    lti_jarena_t *previous = lti_jarena_enter(&outer);
    json_t *a = json_string("outer");
    lti_jarena_t *saved = lti_jarena_enter(&inner);
    json_t *b = json_string("inner");
    lti_jarena_leave(saved);
    json_t *c = json_string("outer again");
    lti_jarena_leave(previous);
    size_t outer_size = lti_jarena_size(&outer), inner_size = lti_jarena_size(&inner);
    assert_true(outer_size > 0);
    assert_true(inner_size > 0);

    previous = lti_jarena_enter(&outer);
    json_decref(a);
    json_decref(c);
    lti_jarena_leave(previous);
    previous = lti_jarena_enter(&inner);
    json_decref(b);
    lti_jarena_leave(previous);
    lti_jarena_release(&outer);
    lti_jarena_release(&inner);
}

/* Values larger than a chunk get a chunk of their own. */
static void large_values_fit(void **state)
{
    size_t n = 200 * 1024;
    char *text = malloc(n + 3);
    text[0] = '"';
    memset(text + 1, 'x', n);
    text[n + 1] = '"';
    text[n + 2] = '\0';

    lti_jarena_t arena = {0};
    lti_jarena_t *previous = lti_jarena_enter(&arena);
    json_t *big = json_loads(text, JSON_DECODE_ANY, NULL);
    json_t *list = json_array();
    for (int i = 0; i < 5000; i++)
        json_array_append_new(list, json_integer(i));
    lti_jarena_leave(previous);
    assert_non_null(big);
    assert_int_equal(json_string_length(big), n);
    assert_int_equal(json_array_size(list), 5000);
    assert_int_equal(json_integer_value(json_array_get(list, 4999)), 4999);
    assert_true(lti_jarena_size(&arena) > n);

    previous = lti_jarena_enter(&arena);
    json_decref(big);
    json_decref(list);
    lti_jarena_leave(previous);
    lti_jarena_release(&arena);
    free(text);
}

int main(void)
{
    /* As in ltigate: before any jansson object exists. */
    lti_jarena_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_goes_to_the_current_arena),
        cmocka_unit_test(mixed_trees_free_correctly),
        cmocka_unit_test(scopes_nest),
        cmocka_unit_test(large_values_fit),
    };
    return cmocka_run_group_tests_name("jarena", tests, NULL, NULL);
}
