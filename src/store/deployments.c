/* SPDX-License-Identifier: MIT */
/*
 * Deployment allow-lists and the accept-and-record policy (lti/deployments.h).
 * Recorded files hold one deployment_id per line; lines are appended with a
 * single write(2) each, so a crash leaves at most one partial last line,
 * which the loader skips.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "lti/deployments.h"
#include "lti/log.h"

#define MAX_DEPLOYMENT_ID 255

typedef struct id_set {
    char **ids;
    size_t n, cap;
} id_set_t;

typedef struct pending {
    struct pending *next;
    size_t index;
    char id[];
} pending_t;

struct lti_deployments {
    const lti_config_t *cfg;
    id_set_t *sets; /* one per registration: configured plus recorded ids */
    pthread_mutex_t lock;
    pthread_cond_t wake, idle;
    pending_t *queue_head, *queue_tail;
    int writing, stopping;
    int writer_started;
    pthread_t writer;
};

static int set_contains(const id_set_t *set, const char *id)
{
    for (size_t i = 0; i < set->n; i++)
        if (strcmp(set->ids[i], id) == 0)
            return 1;
    return 0;
}

static int set_add(id_set_t *set, const char *id)
{
    if (set->n == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 8;
        char **ids = realloc(set->ids, cap * sizeof(*ids));
        if (ids == NULL)
            return -1;
        set->ids = ids;
        set->cap = cap;
    }
    if ((set->ids[set->n] = strdup(id)) == NULL)
        return -1;
    set->n++;
    return 0;
}

/* A recorded line is kept only when it is a plausible deployment_id: the
 * same 1-255 printable ASCII rule the launch applies. */
static int valid_id(const char *id)
{
    size_t len = strlen(id);
    if (len == 0 || len > MAX_DEPLOYMENT_ID)
        return 0;
    for (const unsigned char *p = (const unsigned char *)id; *p != '\0'; p++)
        if (*p < 0x20 || *p > 0x7e)
            return 0;
    return 1;
}

static int load_file(id_set_t *set, const char *path, char *errbuf, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        if (errno == ENOENT)
            return 0;
        snprintf(errbuf, errlen, "%s: cannot read recorded deployments: %s", path, strerror(errno));
        return -1;
    }
    char line[MAX_DEPLOYMENT_ID + 3];
    while (fgets(line, sizeof(line), fp) != NULL) {
        size_t len = strlen(line);
        if (len == 0 || line[len - 1] != '\n')
            continue; /* partial last line or an over-long one */
        line[len - 1] = '\0';
        if (valid_id(line) && !set_contains(set, line) && set_add(set, line) != 0)
            break;
    }
    fclose(fp);
    return 0;
}

static void append_line(const char *path, const char *id)
{
    char line[MAX_DEPLOYMENT_ID + 2];
    int len = snprintf(line, sizeof(line), "%s\n", id);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0 || write(fd, line, (size_t)len) != len || fsync(fd) != 0)
        lti_log(LTI_LOG_ERROR, "deploy", "cannot record deployment in %s: %s", path,
                strerror(errno));
    if (fd >= 0)
        close(fd);
}

static void *writer_thread(void *arg)
{
    lti_deployments_t *self = arg;

    pthread_mutex_lock(&self->lock);
    for (;;) {
        while (self->queue_head == NULL && !self->stopping)
            pthread_cond_wait(&self->wake, &self->lock);
        if (self->queue_head == NULL)
            break;
        pending_t *p = self->queue_head;
        self->queue_head = p->next;
        if (self->queue_head == NULL)
            self->queue_tail = NULL;
        self->writing = 1;
        pthread_mutex_unlock(&self->lock);

        append_line(self->cfg->platforms[p->index].deployments_file, p->id);
        free(p);

        pthread_mutex_lock(&self->lock);
        self->writing = 0;
        pthread_cond_broadcast(&self->idle);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

lti_deployments_t *lti_deployments_new(const lti_config_t *cfg, char *errbuf, size_t errlen)
{
    lti_deployments_t *self = calloc(1, sizeof(*self));
    if (self == NULL || (self->sets = calloc(cfg->n_platforms + 1, sizeof(id_set_t))) == NULL) {
        free(self);
        snprintf(errbuf, errlen, "out of memory");
        return NULL;
    }
    self->cfg = cfg;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    pthread_cond_init(&self->idle, NULL);
    for (size_t i = 0; i < cfg->n_platforms; i++) {
        const lti_platform_cfg_t *p = &cfg->platforms[i];
        for (size_t j = 0; j < p->n_deployment_ids; j++)
            set_add(&self->sets[i], p->deployment_ids[j]);
        if (p->deployment_policy == LTI_DEPLOY_RECORD && p->deployments_file != NULL &&
            load_file(&self->sets[i], p->deployments_file, errbuf, errlen) != 0) {
            lti_deployments_free(self);
            return NULL;
        }
    }
    if (pthread_create(&self->writer, NULL, writer_thread, self) != 0) {
        snprintf(errbuf, errlen, "cannot start the deployment writer thread");
        lti_deployments_free(self);
        return NULL;
    }
    self->writer_started = 1;
    return self;
}

void lti_deployments_flush(lti_deployments_t *self)
{
    pthread_mutex_lock(&self->lock);
    while (self->queue_head != NULL || self->writing)
        pthread_cond_wait(&self->idle, &self->lock);
    pthread_mutex_unlock(&self->lock);
}

void lti_deployments_free(lti_deployments_t *self)
{
    if (self == NULL)
        return;
    pthread_mutex_lock(&self->lock);
    self->stopping = 1;
    pthread_cond_signal(&self->wake);
    pthread_mutex_unlock(&self->lock);
    if (self->writer_started)
        pthread_join(self->writer, NULL);
    for (size_t i = 0; i < self->cfg->n_platforms; i++) {
        for (size_t j = 0; j < self->sets[i].n; j++)
            free(self->sets[i].ids[j]);
        free(self->sets[i].ids);
    }
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->wake);
    pthread_cond_destroy(&self->idle);
    free(self->sets);
    free(self);
}

lti_reason_t lti_deployments_check(lti_deployments_t *self, size_t index,
                                   const char *deployment_id, lti_err_t *err)
{
    const lti_platform_cfg_t *platform = &self->cfg->platforms[index];
    lti_reason_t reason = LTI_R_ok;
    int recorded = 0;

    pthread_mutex_lock(&self->lock);
    if (set_contains(&self->sets[index], deployment_id))
        goto out;
    if (platform->deployment_policy != LTI_DEPLOY_RECORD) {
        reason = lti_err_set(err, LTI_R_deployment_unknown, "deployment_id '%s' is not in deploymentIds",
                             deployment_id);
        goto out;
    }
    size_t len = strlen(deployment_id);
    pending_t *p = malloc(sizeof(*p) + len + 1);
    if (p == NULL || set_add(&self->sets[index], deployment_id) != 0) {
        free(p);
        reason = lti_err_set(err, LTI_R_internal_error, "out of memory recording a deployment");
        goto out;
    }
    p->index = index;
    p->next = NULL;
    memcpy(p->id, deployment_id, len + 1);
    if (self->queue_tail != NULL)
        self->queue_tail->next = p;
    else
        self->queue_head = p;
    self->queue_tail = p;
    pthread_cond_signal(&self->wake);
    recorded = 1;
out:
    pthread_mutex_unlock(&self->lock);
    if (recorded) {
        const char *kv[] = {"iss", platform->issuer, "client_id", platform->client_id,
                            "deployment_id", deployment_id, NULL};
        lti_log_kv(LTI_LOG_INFO, "deploy", "new deployment accepted and recorded", kv);
    }
    return reason;
}
