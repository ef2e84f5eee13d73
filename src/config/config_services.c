/* SPDX-License-Identifier: MIT */
/*
 * Checks of the Canvas REST API keys of the canvas section: the module
 * needs the API developer key's id, its secret file and the Canvas URL.
 */
#include "config_int.h"

int cfg_check_canvas_rest(cfg_ctx_t *ctx, const yaml_node_t *where, const yaml_node_t **nodes,
                          const lti_config_t *cfg)
{
    static const char *const needed[] = {"customAppId", "customAppKeyFile", "apiUrl"};
    const void *values[] = {cfg->canvas_custom_app_id, cfg->canvas_custom_app_key_file,
                            cfg->canvas_api_url};
    const yaml_node_t *flag = nodes[cfg_row_index(&cfg_canvas_section, "useScopedKey")];

    if (!cfg->canvas_use_scoped_key)
        return 0;
    for (size_t i = 0; i < 3; i++)
        if (values[i] == NULL)
            return cfg_fail(ctx, flag != NULL ? flag : where, "canvas.useScopedKey",
                            "is true but canvas.%s is missing; set customAppId, "
                            "customAppKeyFile and apiUrl for the Canvas API developer key, or "
                            "set useScopedKey to false", needed[i]);
    return 0;
}
