#ifndef CALLHOOK_CCURL_SHIM_H
#define CALLHOOK_CCURL_SHIM_H
// libcurl from the system (Debian: libcurl4-openssl-dev), found through pkg-config (libcurl).
// curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: these typed wrappers can.
#include <curl/curl.h>

static inline CURLcode callhook_curl_setopt_long(CURL *curl, CURLoption option, long value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode callhook_curl_setopt_pointer(CURL *curl, CURLoption option, void *value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode callhook_curl_setopt_string(CURL *curl, CURLoption option, const char *value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode callhook_curl_setopt_offset(CURL *curl, CURLoption option, curl_off_t value) {
    return curl_easy_setopt(curl, option, value);
}

static inline CURLcode callhook_curl_setopt_write_function(
    CURL *curl, size_t (*function)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, function);
}

static inline CURLcode callhook_curl_setopt_header_function(
    CURL *curl, size_t (*function)(char *, size_t, size_t, void *)) {
    return curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, function);
}

static inline CURLcode callhook_curl_setopt_prereq_function(
    CURL *curl, int (*function)(void *, char *, char *, int, int)) {
    return curl_easy_setopt(curl, CURLOPT_PREREQFUNCTION, function);
}

static inline CURLcode callhook_curl_getinfo_long(CURL *curl, CURLINFO info, long *value) {
    return curl_easy_getinfo(curl, info, value);
}

static inline CURLcode callhook_curl_getinfo_double(CURL *curl, CURLINFO info, double *value) {
    return curl_easy_getinfo(curl, info, value);
}

/// "7.88.1": the libcurl the process runs with.
static inline const char *callhook_curl_version(void) {
    return curl_version_info(CURLVERSION_NOW)->version;
}
#endif
