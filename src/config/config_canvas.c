/* SPDX-License-Identifier: MIT */
/*
 * Checks of the canvas section, which shapes the developer-key JSON that a
 * Canvas admin pastes (privacy level, the placements offered, sub-account
 * mode).
 */
#include <stdio.h>
#include <string.h>
#include "config_int.h"

static const char *const privacy_levels[] = {"anonymous", "name_only", "email_only", "public"};
static const char *const placements[] = {"course_navigation", "global_navigation",
                                         "editor_button", "link_selection",
                                         "assignment_selection"};

static int in_list(const char *value, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(value, list[i]) == 0)
            return 1;
    return 0;
}

int cfg_check_privacy_level(const yaml_node_t *node, const char *value, char *msg,
                            size_t msglen)
{
    if (in_list(value, privacy_levels, 4))
        return 0;
    snprintf(msg, msglen,
             "'%s' is not a Canvas privacy level; use anonymous, name_only, email_only or public",
             value);
    return -1;
}

int cfg_check_placement(const yaml_node_t *node, const char *value, char *msg, size_t msglen)
{
    if (in_list(value, placements, 5))
        return 0;
    snprintf(msg, msglen,
             "'%s' is not a placement ltigate serves; use course_navigation, global_navigation, "
             "editor_button, link_selection or assignment_selection",
             value);
    return -1;
}

int cfg_check_canvas(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                     const lti_config_t *cfg)
{
    const yaml_node_t *mode = nodes[cfg_row_index(&cfg_canvas_section, "subAccountMode")];

    /* The list loader already rejects a placement listed twice. */
    if (cfg->canvas_sub_account_mode && cfg->n_canvas_placements != 1)
        return cfg_fail(ctx, mode != NULL ? mode : where, "canvas.subAccountMode",
                        "is true but canvas.placements lists %zu placements; in sub-account "
                        "mode each developer key carries exactly one, so list one",
                        cfg->n_canvas_placements);
    return 0;
}
