/* SPDX-License-Identifier: MIT */
/*
 * The one list of reason codes. Every rejection that ltigate sends to a
 * browser, writes to its log or reports in a test names one of these codes;
 * the simulators read the same list, so a code is spelled once, here.
 *
 * Each row: C identifier, HTTP status, and the sentence shown to the person
 * (usually a Canvas admin) who sees the error page. The sentence says what
 * to check; the detailed values go to the log only.
 */
#ifndef LTI_REASON_H
#define LTI_REASON_H

#define LTI_REASON_LIST(X)                                                                         \
    X(ok, 200, "The request succeeded.")                                                           \
    /* HTTP request shape */                                                                       \
    X(method_not_allowed, 405, "This endpoint does not accept that HTTP method.")                  \
    X(unsupported_media_type, 415,                                                                 \
      "The form must be sent as application/x-www-form-urlencoded.")                               \
    X(body_too_large, 413, "The request body is larger than this server accepts.")                 \
    X(param_missing, 400, "A required request parameter is missing.")                              \
    X(param_duplicate, 400, "A request parameter was sent more than once.")                        \
    X(param_invalid, 400, "A request parameter is malformed (bad percent-encoding or NUL byte).")  \
    X(param_too_long, 400, "A request parameter is longer than this server accepts.")              \
    X(not_found, 404, "There is no page at this address.")                                         \
    X(header_line_invalid, 400,                                                                    \
      "A request header line is malformed (folded onto the previous line, or without a name).")   \
    X(url_too_long, 414, "The request URL is longer than this server accepts.")                    \
    X(headers_too_large, 431, "The request headers are larger than this server accepts.")          \
    /* login initiation */                                                                         \
    X(registration_unknown, 400,                                                                   \
      "No platform registration matches this issuer and client_id. Check the issuer and "          \
      "lti13ClientID in the ltigate platforms list.")                                              \
    X(registration_ambiguous, 400,                                                                 \
      "Several registrations share this issuer and the login did not send client_id. Configure "   \
      "the platform to send client_id, or keep one registration per issuer.")                      \
    X(target_link_uri_invalid, 400,                                                                \
      "The target_link_uri is not an address of this tool. Check the target link URI on the "      \
      "developer key.")                                                                            \
    X(login_hint_missing, 400, "The login initiation did not include login_hint.")                 \
    X(login_rate_limited, 429,                                                                     \
      "Too many launches were started from this address. Try again in a few minutes.")             \
    /* state and browser binding */                                                                \
    X(platform_error, 400,                                                                         \
      "The platform returned an error instead of a launch. Close this page and start the launch "  \
      "again from the course.")                                                                    \
    X(state_missing, 400, "The launch did not include the state parameter.")                       \
    X(state_unknown, 401,                                                                          \
      "The launch state is unknown, expired or already used. Start the launch again from the "     \
      "course.")                                                                                   \
    X(state_cookie_missing, 401,                                                                   \
      "The browser did not return the login cookie. Allow cookies for this tool, or open it in a " \
      "new window.")                                                                               \
    X(store_unavailable, 503, "The state store is unavailable. Try again shortly.")                \
    X(store_full, 503, "Too many launches are in progress. Try again shortly.")                    \
    X(storage_binding_failed, 401,                                                                 \
      "The value read back from the platform's storage does not match this launch. Start the "     \
      "launch again from the course.")                                                             \
    X(completion_unknown, 401,                                                                     \
      "This launch completion is unknown, expired or already used. Start the launch again from "   \
      "the course.")                                                                               \
    /* token structure and header */                                                               \
    X(token_too_large, 413, "The id_token is larger than this server accepts.")                    \
    X(token_malformed, 401,                                                                        \
      "The id_token is not a compact JWS of three canonical base64url segments.")                  \
    X(header_invalid, 401, "The id_token header is not a valid JSON object.")                      \
    X(alg_not_allowed, 401, "The id_token is not signed with RS256, the only algorithm accepted.") \
    X(typ_invalid, 401, "The id_token header has a typ other than JWT.")                           \
    X(crit_unsupported, 401, "The id_token header lists critical extensions; none are supported.") \
    X(kid_missing, 401, "The id_token header has no kid.")                                         \
    X(kid_invalid, 401, "The id_token kid is not a short printable string.")                       \
    X(kid_unknown, 401,                                                                            \
      "The platform's key set has no key with the id_token's kid. Check lti13KeysUrl.")            \
    X(kid_ambiguous, 401, "The platform's key set has several keys with the id_token's kid.")      \
    X(jwks_unavailable, 503,                                                                       \
      "The platform's key set could not be fetched. Check lti13KeysUrl and try again shortly.")    \
    X(signature_invalid, 401, "The id_token signature does not verify with the platform's key.")   \
    X(payload_invalid, 401,                                                                        \
      "The id_token payload is not a valid JSON object (duplicate keys, NUL bytes or too deep).")  \
    /* claims */                                                                                   \
    X(iss_mismatch, 401, "The id_token issuer is not the registered platform issuer.")             \
    X(aud_invalid, 401, "The id_token aud claim is missing or not a string or array of strings.")  \
    X(aud_mismatch, 401, "The id_token aud does not contain this tool's client_id.")               \
    X(azp_missing, 401, "The id_token has several audiences but no azp claim.")                    \
    X(azp_mismatch, 401, "The id_token azp is not this tool's client_id.")                         \
    X(exp_invalid, 401, "The id_token exp claim is missing or not a number.")                      \
    X(token_expired, 401, "The id_token has expired. Check the platform's and this server's clocks.") \
    X(iat_invalid, 401, "The id_token iat claim is missing or not a number.")                      \
    X(iat_future, 401, "The id_token was issued in the future. Check the clocks.")                 \
    X(iat_too_old, 401, "The id_token was issued too long ago. Start the launch again.")           \
    X(nbf_future, 401, "The id_token is not valid yet (nbf). Check the clocks.")                   \
    X(lifetime_too_long, 401, "The id_token lifetime (exp - iat) is longer than allowed.")         \
    X(nonce_missing, 401, "The id_token has no nonce claim.")                                      \
    X(nonce_mismatch, 401, "The id_token nonce is not the one issued for this login.")             \
    X(nonce_reused, 401, "This id_token was already used. Start the launch again.")                \
    X(deployment_id_missing, 400, "The id_token has no deployment_id claim.")                      \
    X(deployment_id_invalid, 400, "The deployment_id is not 1 to 255 ASCII characters.")           \
    X(deployment_unknown, 403,                                                                     \
      "This deployment is not allowed for the registration. Add it to deploymentIds.")             \
    X(version_missing, 400, "The id_token has no LTI version claim.")                              \
    X(version_unsupported, 400, "The id_token LTI version is not 1.3.0.")                          \
    X(message_type_missing, 400, "The id_token has no message_type claim.")                        \
    X(message_type_unsupported, 400, "The id_token message_type is not supported by this tool.")   \
    X(roles_missing, 400, "The id_token has no roles claim (an array, possibly empty).")           \
    X(target_link_uri_mismatch, 400,                                                               \
      "The id_token target_link_uri differs from the one sent at login.")                          \
    X(resource_link_missing, 400, "The resource link launch has no resource_link id.")             \
    X(dl_settings_missing, 400,                                                                    \
      "The deep linking launch has no deep_linking_settings with deep_link_return_url.")           \
    X(sub_invalid, 400, "The id_token sub is empty, too long or not a string.")                    \
    X(claim_invalid, 400, "An LTI claim has the wrong JSON type.")                                 \
    X(user_id_missing, 400,                                                                        \
      "The configured user ID attribute is missing, empty or unsubstituted in this launch. Check " \
      "ltiUserIdAttribute and the developer key's custom fields.")                                 \
    X(dl_settings_invalid, 400,                                                                    \
      "The deep linking settings are malformed: accept_types, "                                    \
      "accept_presentation_document_targets or an optional field has the wrong type or size.")     \
    /* session after launch */                                                                     \
    X(session_missing, 401, "There is no ltigate session. Launch the tool from the course.")       \
    X(session_invalid, 401, "The ltigate session cookie is invalid. Launch the tool again.")       \
    X(session_expired, 401, "The ltigate session has expired. Launch the tool again.")             \
    X(csrf_invalid, 403, "The form's CSRF token is missing or wrong. Reload the page.")            \
    X(dl_request_unknown, 401,                                                                     \
      "This media selection is unknown or has expired. Open the media picker again from Canvas.")  \
    X(content_item_invalid, 400,                                                                   \
      "A content item is malformed, names an unknown media entry, or breaks the deep linking "     \
      "settings (count or presentation target).")                                                  \
    X(dl_type_not_accepted, 400,                                                                   \
      "The platform does not accept the content item type this tool returns for this placement.") \
    X(dl_request_used, 409,                                                                        \
      "This media selection was already sent to the platform. Open the media picker again from "  \
      "Canvas to add more.")                                                                       \
    X(session_too_large, 400,                                                                      \
      "The launch carries more than one session can hold (very long user, course or service "     \
      "values). Ask the Canvas administrator to check the developer key's custom fields.")         \
    /* platform services */                                                                        \
    X(service_not_offered, 400,                                                                    \
      "This launch does not offer the platform service needed here (no line item, line items "     \
      "container or roster URL). Launch the tool from an assignment or the course.")               \
    X(service_url_invalid, 400,                                                                    \
      "A platform service URL is not an https URL of the platform. Check the launch's "            \
      "service claims and allowHttpLoopback.")                                                     \
    X(service_token_failed, 502,                                                                   \
      "The platform refused the service access token. Check lti13AuthTokenUrl, the tool's "        \
      "public key on the developer key and the LTI Advantage scopes it enables.")                  \
    X(service_forbidden, 403,                                                                      \
      "The platform refused the service call with this tool's token. Check the scopes "            \
      "enabled on the developer key.")                                                             \
    X(service_rejected, 400,                                                                       \
      "The platform rejected the service request (for example an unknown line item or a "          \
      "score it does not accept).")                                                                \
    X(service_unavailable, 503,                                                                    \
      "The platform service could not be reached or failed. Try again shortly.")                   \
    X(service_response_invalid, 502,                                                               \
      "The platform service answered with a malformed or oversized response.")                     \
    X(score_api_unauthorized, 401,                                                                 \
      "The score API credential is missing or wrong. Check scoreApiSecretFile.")                   \
    X(quiz_unknown, 404, "This media entry has no quiz with an answer key.")                       \
    X(canvas_api_disabled, 404,                                                                    \
      "The Canvas REST API module is off. Set canvas.useScopedKey to use it.")                     \
    X(canvas_auth_required, 401,                                                                   \
      "ltigate needs your permission to use Canvas on your behalf. Open the authorization "        \
      "page and approve the request.")                                                             \
    X(canvas_oauth_failed, 502,                                                                    \
      "Canvas refused the authorization code or refresh token. Authorize again; if it keeps "      \
      "failing check canvas.customAppId and canvas.customAppKeyFile.")                             \
    X(canvas_scope_disabled, 403,                                                                  \
      "The user profile call is off. Set canvas.enableUserProfileScope to use it.")                \
    X(internal_error, 500, "ltigate hit an internal error; the log has the details.")

typedef enum lti_reason {
#define LTI_REASON_ENUM(name, status, text) LTI_R_##name,
    LTI_REASON_LIST(LTI_REASON_ENUM)
#undef LTI_REASON_ENUM
        LTI_R__COUNT
} lti_reason_t;

/* Returns the stable snake_case code, e.g. "nonce_reused". */
const char *lti_reason_code(lti_reason_t r);
/* Returns the HTTP status that a rejection with this reason gets. */
int lti_reason_status(lti_reason_t r);
/* Returns the fixed sentence shown on the error page. */
const char *lti_reason_text(lti_reason_t r);
/* Looks up a code by name; returns LTI_R__COUNT when it is not a known code. */
lti_reason_t lti_reason_from_code(const char *code);

#endif
