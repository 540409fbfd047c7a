#pragma once
// Internal to harvest_html: libxml2 initialization and error silencing.

#include <libxml/xmlerror.h>

#include <string>

namespace harvest::pipelines::html_detail {

// xmlInitParser() once per process. libxml2 is never cleaned up here: other users of the
// library (structured data) may still hold documents.
void ensure_libxml_initialized();

// For the lifetime of this object, libxml2 errors on this thread go to `sink` (the last
// message, when non-null) instead of stderr. libxml2 keeps its handlers per thread; the previous
// ones are restored on destruction, so nesting and other libxml2 users are unaffected.
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
