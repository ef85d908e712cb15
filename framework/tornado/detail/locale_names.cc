// The languages' names in their own language, by locale code (Locale::name()).
// Generated from the language names Tornado 6.2 reports for the same codes,
// so Locale::name() agrees with Python's.
#include "tornado/detail/locale_names.h"

#include <algorithm>
#include <array>
#include <utility>

namespace tornado::detail {

namespace {
constexpr std::pair<std::string_view, std::string_view> kNames[] = {
    {"af_ZA", "Afrikaans"},
    {"am_ET", "\xe1\x8a\xa0\xe1\x88\x9b\xe1\x88\xad\xe1\x8a\x9b"},
    {"ar_AR", "\xd8\xa7\xd9\x84\xd8\xb9\xd8\xb1\xd8\xa8\xd9\x8a\xd8\xa9"},
    {"bg_BG", "\xd0\x91\xd1\x8a\xd0\xbb\xd0\xb3\xd0\xb0\xd1\x80\xd1\x81\xd0\xba\xd0\xb8"},
    {"bn_IN", "\xe0\xa6\xac\xe0\xa6\xbe\xe0\xa6\x82\xe0\xa6\xb2\xe0\xa6\xbe"},
    {"bs_BA", "Bosanski"},
    {"ca_ES", "Catal\xc3\xa0"},
    {"cs_CZ",
     "\xc4\x8c"
     "e\xc5\xa1tina"},
    {"cy_GB", "Cymraeg"},
    {"da_DK", "Dansk"},
    {"de_DE", "Deutsch"},
    {"el_GR", "\xce\x95\xce\xbb\xce\xbb\xce\xb7\xce\xbd\xce\xb9\xce\xba\xce\xac"},
    {"en_GB", "English (UK)"},
    {"en_US", "English (US)"},
    {"es_ES",
     "Espa\xc3\xb1ol (Espa\xc3\xb1"
     "a)"},
    {"es_LA", "Espa\xc3\xb1ol"},
    {"et_EE", "Eesti"},
    {"eu_ES", "Euskara"},
    {"fa_IR", "\xd9\x81\xd8\xa7\xd8\xb1\xd8\xb3\xdb\x8c"},
    {"fi_FI", "Suomi"},
    {"fr_CA",
     "Fran\xc3\xa7"
     "ais (Canada)"},
    {"fr_FR",
     "Fran\xc3\xa7"
     "ais"},
    {"ga_IE", "Gaeilge"},
    {"gl_ES", "Galego"},
    {"he_IL", "\xd7\xa2\xd7\x91\xd7\xa8\xd7\x99\xd7\xaa"},
    {"hi_IN", "\xe0\xa4\xb9\xe0\xa4\xbf\xe0\xa4\xa8\xe0\xa5\x8d\xe0\xa4\xa6\xe0\xa5\x80"},
    {"hr_HR", "Hrvatski"},
    {"hu_HU", "Magyar"},
    {"id_ID", "Bahasa Indonesia"},
    {"is_IS", "\xc3\x8dslenska"},
    {"it_IT", "Italiano"},
    {"ja_JP", "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"},
    {"ko_KR", "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4"},
    {"lt_LT", "Lietuvi\xc5\xb3"},
    {"lv_LV", "Latvie\xc5\xa1u"},
    {"mk_MK", "\xd0\x9c\xd0\xb0\xd0\xba\xd0\xb5\xd0\xb4\xd0\xbe\xd0\xbd\xd1\x81\xd0\xba\xd0\xb8"},
    {"ml_IN", "\xe0\xb4\xae\xe0\xb4\xb2\xe0\xb4\xaf\xe0\xb4\xbe\xe0\xb4\xb3\xe0\xb4\x82"},
    {"ms_MY", "Bahasa Melayu"},
    {"nb_NO", "Norsk (bokm\xc3\xa5l)"},
    {"nl_NL", "Nederlands"},
    {"nn_NO", "Norsk (nynorsk)"},
    {"pa_IN", "\xe0\xa8\xaa\xe0\xa9\xb0\xe0\xa8\x9c\xe0\xa8\xbe\xe0\xa8\xac\xe0\xa9\x80"},
    {"pl_PL", "Polski"},
    {"pt_BR", "Portugu\xc3\xaas (Brasil)"},
    {"pt_PT", "Portugu\xc3\xaas (Portugal)"},
    {"ro_RO", "Rom\xc3\xa2n\xc4\x83"},
    {"ru_RU", "\xd0\xa0\xd1\x83\xd1\x81\xd1\x81\xd0\xba\xd0\xb8\xd0\xb9"},
    {"sk_SK", "Sloven\xc4\x8dina"},
    {"sl_SI", "Sloven\xc5\xa1\xc4\x8dina"},
    {"sq_AL", "Shqip"},
    {"sr_RS", "\xd0\xa1\xd1\x80\xd0\xbf\xd1\x81\xd0\xba\xd0\xb8"},
    {"sv_SE", "Svenska"},
    {"sw_KE", "Kiswahili"},
    {"ta_IN", "\xe0\xae\xa4\xe0\xae\xae\xe0\xae\xbf\xe0\xae\xb4\xe0\xaf\x8d"},
    {"te_IN", "\xe0\xb0\xa4\xe0\xb1\x86\xe0\xb0\xb2\xe0\xb1\x81\xe0\xb0\x97\xe0\xb1\x81"},
    {"th_TH",
     "\xe0\xb8\xa0\xe0\xb8\xb2\xe0\xb8\xa9\xe0\xb8\xb2\xe0\xb9\x84\xe0\xb8\x97\xe0\xb8\xa2"},
    {"tl_PH", "Filipino"},
    {"tr_TR",
     "T\xc3\xbcrk\xc3\xa7"
     "e"},
    {"uk_UA", "\xd0\xa3\xd0\xba\xd1\x80\xd0\xb0\xd1\x97\xd0\xbd\xd1\x81\xd1\x8c\xd0\xba\xd0\xb0"},
    {"vi_VN", "Ti\xe1\xba\xbfng Vi\xe1\xbb\x87t"},
    {"zh_CN", "\xe4\xb8\xad\xe6\x96\x87(\xe7\xae\x80\xe4\xbd\x93)"},
    {"zh_TW", "\xe4\xb8\xad\xe6\x96\x87(\xe7\xb9\x81\xe9\xab\x94)"},
};
}  // namespace

std::string_view locale_name(std::string_view code) {
  auto it = std::lower_bound(std::begin(kNames), std::end(kNames), code,
                             [](const auto& entry, std::string_view c) { return entry.first < c; });
  if (it == std::end(kNames) || it->first != code) return "Unknown";
  return it->second;
}

}  // namespace tornado::detail
