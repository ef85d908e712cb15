// What templates see of a RequestHandler: the objects behind `handler`,
// `request`, `locale` and `modules` in RequestHandler::get_template_namespace,
// and the built-in UI modules (linkify, xsrf_form_html, Template).
#pragma once

#include <memory>
#include <string_view>

#include "tornado/template.h"

namespace tornado::locale {
class Locale;
}

namespace tornado::web {
class RequestHandler;
class UIModule;
}  // namespace tornado::web

namespace tornado::detail {

/// `handler`: settings, request, current_user, locale, static_url(),
/// reverse_url(), xsrf_form_html(), get_argument()... of `handler`, which
/// must outlive the render.
template_::Value handler_object(web::RequestHandler& handler);
/// `request`: method, uri, path, host, headers, arguments, full_url()...
template_::Value request_object(web::RequestHandler& handler);
/// `modules` (and Tornado's `_tt_modules`): `modules.Name(args)` renders UI
/// module Name through the handler.
template_::Value modules_object(web::RequestHandler& handler);
/// `locale`: code, name, rtl, translate(), pgettext(), format_date(),
/// format_day(), list() and friendly_number() of `locale`.
template_::Value locale_object(std::shared_ptr<const locale::Locale> locale);
/// The built-in UI module `name` for `handler`, or nullptr.
std::unique_ptr<web::UIModule> builtin_ui_module(std::string_view name,
                                                 web::RequestHandler& handler);

}  // namespace tornado::detail
