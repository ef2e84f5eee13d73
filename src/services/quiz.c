/* SPDX-License-Identifier: MIT */
/*
 * Video quizzes (lti/services.h): the answer keys read from the media
 * catalog, and grading on the server. A score always comes from here or
 * from an authenticated app, never from a number the browser sends.
 */
#include <stdio.h>
#include <string.h>
#include "lti/services.h"
#include "lti/tool.h"

#define MAX_QUESTIONS 50
#define MAX_CHOICES 10
#define MAX_TEXT 512

static int short_id(json_t *v)
{
    return json_is_string(v) && lti_entry_id_valid(json_string_value(v));
}

/* Checks one quiz; returns 0 or -1 with a message. */
static int check_quiz(const char *entry, json_t *quiz, char *errbuf, size_t errlen)
{
    json_t *questions = json_object_get(quiz, "questions");
    if (!json_is_array(questions) || json_array_size(questions) == 0 ||
        json_array_size(questions) > MAX_QUESTIONS) {
        snprintf(errbuf, errlen, "entry '%s': quiz.questions must be a list of 1 to %d "
                 "questions", entry, MAX_QUESTIONS);
        return -1;
    }
    size_t i;
    json_t *q;
    json_array_foreach(questions, i, q) {
        json_t *choices = json_object_get(q, "choices");
        json_t *answer = json_object_get(q, "answer");
        json_t *points = json_object_get(q, "points");
        json_t *text = json_object_get(q, "text");
        int answer_listed = 0;
        if (!short_id(json_object_get(q, "id")) || !json_is_string(text) ||
            json_string_length(text) > MAX_TEXT || !json_is_array(choices) ||
            json_array_size(choices) < 2 || json_array_size(choices) > MAX_CHOICES ||
            !short_id(answer) || (points != NULL && (!json_is_number(points) ||
                                                     json_number_value(points) <= 0 ||
                                                     json_number_value(points) > 1000))) {
            snprintf(errbuf, errlen, "entry '%s': question %zu needs id, text, 2 to %d choices, "
                     "an answer among them and positive points", entry, i + 1, MAX_CHOICES);
            return -1;
        }
        size_t j;
        json_t *c;
        json_array_foreach(choices, j, c) {
            json_t *cid = json_object_get(c, "id");
            json_t *label = json_object_get(c, "text");
            if (!short_id(cid) || !json_is_string(label) || json_string_length(label) > MAX_TEXT) {
                snprintf(errbuf, errlen, "entry '%s': question %zu choice %zu needs id and text",
                         entry, i + 1, j + 1);
                return -1;
            }
            answer_listed |= json_equal(cid, answer);
        }
        if (!answer_listed) {
            snprintf(errbuf, errlen, "entry '%s': question %zu: the answer is not a choice",
                     entry, i + 1);
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (json_equal(json_object_get(json_array_get(questions, k), "id"),
                           json_object_get(q, "id"))) {
                snprintf(errbuf, errlen, "entry '%s': question id repeated", entry);
                return -1;
            }
    }
    return 0;
}

json_t *lti_quiz_load(json_t *catalog, char *errbuf, size_t errlen)
{
    json_t *entries = json_object_get(catalog, "entries");
    json_t *out = json_object();
    size_t i;
    json_t *e;

    if (!json_is_array(entries)) {
        snprintf(errbuf, errlen, "the catalog has no entries list");
        json_decref(out);
        return NULL;
    }
    json_array_foreach(entries, i, e) {
        json_t *quiz = json_object_get(e, "quiz");
        const char *id = json_string_value(json_object_get(e, "id"));
        if (quiz == NULL || id == NULL)
            continue;
        if (!lti_entry_id_valid(id) || check_quiz(id, quiz, errbuf, errlen) != 0) {
            json_decref(out);
            return NULL;
        }
        json_object_set(out, id, quiz);
    }
    return out;
}

lti_reason_t lti_quiz_grade(json_t *quiz, const char *(*answer)(void *arg, const char *qid),
                            void *arg, double *given, double *maximum, lti_err_t *err)
{
    json_t *questions = json_object_get(quiz, "questions");
    size_t i;
    json_t *q;

    *given = 0;
    *maximum = 0;
    json_array_foreach(questions, i, q) {
        const char *qid = json_string_value(json_object_get(q, "id"));
        json_t *points = json_object_get(q, "points");
        double worth = points != NULL ? json_number_value(points) : 1.0;
        const char *chosen = answer(arg, qid);
        if (chosen == NULL)
            return lti_err_set(err, LTI_R_param_missing, "question '%s' has no answer", qid);
        *maximum += worth;
        if (strcmp(chosen, json_string_value(json_object_get(q, "answer"))) == 0)
            *given += worth;
    }
    return LTI_R_ok;
}
