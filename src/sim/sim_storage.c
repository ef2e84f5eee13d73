/* SPDX-License-Identifier: MIT */
/*
 * A Canvas-like course page for browser tests of LTI Platform Storage.
 *
 * GET /sim/course?answer=1|0&user=..&role=..&placement=..&message_type=.. frames the tool's
 * launch (always offered lti_storage_target, as cloud Canvas does) and, with
 * answer=1, answers lti.capabilities and hosts the post_message_forwarding
 * frame, which answers lti.put_data and lti.get_data from memory. With
 * answer=0 nothing answers, like a mobile app that sends
 * lti_storage_target without supporting it. With answer=forge the course
 * page, whose origin is not the platform's authentication origin, answers
 * every lti.get_data first with a wrong value (the forwarding frame tells it
 * the message_id and answers 300 ms later); the tool must ignore it.
 *
 * Open the course page on a different site from the tool (the tool on
 * 127.0.0.1, the page on localhost) so the tool's frame is third-party. The
 * forwarding frame is served from the platform's own base URL, the origin of
 * its authentication endpoint, which is where the tool sends its messages.
 *
 * Every message answered is appended to window.simLog in the course page
 * ("capabilities", "put_data", "get_data:hit", "get_data:miss",
 * "forged_get_data", "resize:<height>"), which the browser test reads.
 * These pages carry inline script: they stand in for Canvas, not ltigate.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "sim_platform_int.h"

static const char course_script[] =
    "window.simLog = [];\n"
    "window.addEventListener('message', function (ev) {\n"
    "  var m = ev.data;\n"
    "  if (!m || typeof m !== 'object' || typeof m.subject !== 'string') return;\n"
    "  if (m.subject === 'sim.log') { window.simLog.push(m.what); return; }\n"
    "  if (m.subject === 'sim.forge') {\n"
    "    window.simLog.push('forged_get_data');\n"
    "    document.getElementById('tool').contentWindow.postMessage({\n"
    "      subject: 'lti.get_data.response', message_id: m.message_id, key: m.key,\n"
    "      value: 'forged' }, '*');\n"
    "    return;\n"
    "  }\n"
    "  if (m.subject === 'lti.frameResize') {\n"
    "    window.simLog.push('resize:' + m.height + (m.token ? ':token' : ''));\n"
    "    document.getElementById('tool').style.height = (m.height + 20) + 'px';\n"
    "    return;\n"
    "  }\n"
    "  if (m.subject === 'lti.capabilities' && ANSWER) {\n"
    "    window.simLog.push('capabilities');\n"
    "    ev.source.postMessage({ subject: 'lti.capabilities.response', message_id: m.message_id,\n"
    "      supported_messages: [{ subject: 'lti.capabilities' },\n"
    "        { subject: 'lti.put_data', frame: 'post_message_forwarding' },\n"
    "        { subject: 'lti.get_data', frame: 'post_message_forwarding' },\n"
    "        { subject: 'lti.frameResize' }] }, ev.origin);\n"
    "  }\n"
    "});\n";

static const char forwarding_script[] =
    "var data = {}, forge = location.search.indexOf('forge=1') >= 0;\n"
    "function log(what) { window.parent.postMessage({ subject: 'sim.log', what: what }, '*'); }\n"
    "window.addEventListener('message', function (ev) {\n"
    "  var m = ev.data;\n"
    "  if (!m || typeof m !== 'object' || typeof m.key !== 'string') return;\n"
    "  if (m.subject === 'lti.put_data') {\n"
    "    data[m.key] = m.value;\n"
    "    log('put_data');\n"
    "    ev.source.postMessage({ subject: 'lti.put_data.response', message_id: m.message_id,\n"
    "      key: m.key, value: m.value }, ev.origin);\n"
    "  } else if (m.subject === 'lti.get_data') {\n"
    "    var v = Object.prototype.hasOwnProperty.call(data, m.key) ? data[m.key] : null;\n"
    "    log(v === null ? 'get_data:miss' : 'get_data:hit');\n"
    "    var answer = function () {\n"
    "      ev.source.postMessage({ subject: 'lti.get_data.response', message_id: m.message_id,\n"
    "        key: m.key, value: v }, ev.origin);\n"
    "    };\n"
    "    if (!forge) { answer(); return; }\n"
    "    window.parent.postMessage({ subject: 'sim.forge', message_id: m.message_id,\n"
    "      key: m.key }, '*');\n"
    "    setTimeout(answer, 300);\n"
    "  }\n"
    "});\n";

static int respond_page(h2o_req_t *req, sim_buf_t *b)
{
    if (b->overflow || b->data == NULL) {
        sim_buf_free(b);
        return sim_server_respond(req, 500, "text/plain", "page too large\n", 15);
    }
    sim_server_respond(req, 200, "text/html; charset=utf-8", b->data, strlen(b->data));
    sim_buf_free(b);
    return 0;
}

/* The course page. `base` is the platform's own base URL. */
static int course_page(const char *base, h2o_req_t *req, const sim_params_t *params)
{
    const char *answer = sim_params_get(params, "answer");
    int answers = answer != NULL && (strcmp(answer, "1") == 0 || strcmp(answer, "forge") == 0);
    int forge = answer != NULL && strcmp(answer, "forge") == 0;
    static const char *const passed[] = {"user", "role", "placement", "name", "course",
                                         "message_type"};
    sim_buf_t b;

    sim_buf_init(&b, 1 << 16);
    sim_buf_puts(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<title>Course</title></head><body>\n<h1>Course</h1>\n<script>var ANSWER = ");
    sim_buf_puts(&b, answers ? "true" : "false");
    sim_buf_puts(&b, ";\n");
    sim_buf_puts(&b, course_script);
    sim_buf_puts(&b, "</script>\n");
    if (answers) {
        sim_buf_puts(&b, "<iframe name=\"post_message_forwarding\" title=\"forwarding\" "
                         "style=\"display:none\" src=\"");
        sim_buf_put_html(&b, base);
        sim_buf_puts(&b, forge ? "/sim/post_message_forwarding?forge=1\"></iframe>\n"
                               : "/sim/post_message_forwarding\"></iframe>\n");
    }
    sim_buf_puts(&b, "<iframe id=\"tool\" name=\"tool\" title=\"tool\" "
                     "style=\"width:100%;height:400px;border:0\" "
                     "allow=\"storage-access\" src=\"");
    sim_buf_t src;
    sim_buf_init(&src, 4096);
    sim_buf_printf(&src, "%s/sim/launch?storage=1", base);
    for (size_t i = 0; i < sizeof(passed) / sizeof(passed[0]); i++) {
        const char *v = sim_params_get(params, passed[i]);
        if (v == NULL)
            continue;
        sim_buf_printf(&src, "&%s=", passed[i]);
        sim_buf_put_urlenc(&src, v);
    }
    sim_buf_put_html(&b, src.data != NULL ? src.data : "");
    sim_buf_free(&src);
    sim_buf_puts(&b, "\"></iframe>\n</body></html>\n");
    return respond_page(req, &b);
}

static int script_page(h2o_req_t *req, const char *title, const char *script)
{
    sim_buf_t b;
    sim_buf_init(&b, 1 << 14);
    sim_buf_printf(&b, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                       "<title>%s</title></head><body>\n<script>\n",
                   title);
    sim_buf_puts(&b, script);
    sim_buf_puts(&b, "</script>\n</body></html>\n");
    return respond_page(req, &b);
}

int sim_storage_route(const char *base, h2o_req_t *req, const sim_params_t *params, int *rc)
{
    h2o_iovec_t path = req->path_normalized;
    int get = h2o_memis(req->method.base, req->method.len, H2O_STRLIT("GET"));
#define IS(lit) h2o_memis(path.base, path.len, H2O_STRLIT(lit))
    if (IS("/sim/course")) {
        *rc = get ? course_page(base, req, params)
                  : sim_server_respond(req, 405, "text/plain", "use GET\n", 8);
    } else if (IS("/sim/post_message_forwarding")) {
        *rc = get ? script_page(req, "post_message_forwarding", forwarding_script)
                  : sim_server_respond(req, 405, "text/plain", "use GET\n", 8);
    } else {
        return 0;
    }
#undef IS
    return 1;
}
