#pragma once
// Internal to harvest_html: libxml2 initialization and error silencing.

#include <libxml/xmlerror.h>

#include <string>
#include <string_view>

namespace harvest::pipelines::html_detail {

// xmlInitParser() once per process. libxml2 is never cleaned up here: other users of the
// library (structured data) may still hold documents.
void ensure_libxml_initialized();

// For the lifetime of this object, libxml2 errors on this thread go to `sink` (the last
// message, when non-null) instead of stderr. libxml2 keeps its handlers per thread; the previous
// ones are restored on destruction, so nesting and other libxml2 users are unaffected.
// The page's bytes as the UTF-8 text html_document::parse gives libxml2 (encoding detection,
// decoding, invalid bytes and NUL as U+FFFD; see html.hpp). A view of `bytes` when they are
// already clean UTF-8, else of `storage`.
std::string_view clean_html_text(std::string_view bytes, std::string& storage);

class quiet_libxml {
  public:
    explicit quiet_libxml(std::string* sink = nullptr);
    ~quiet_libxml();
    quiet_libxml(const quiet_libxml&) = delete;
    quiet_libxml& operator=(const quiet_libxml&) = delete;

  private:
    xmlGenericErrorFunc generic_;
    void* generic_context_;
    xmlStructuredErrorFunc structured_;
    void* structured_context_;
};

}  // namespace harvest::pipelines::html_detail
