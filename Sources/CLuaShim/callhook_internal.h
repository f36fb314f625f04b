#ifndef CALLHOOK_INTERNAL_H
#define CALLHOOK_INTERNAL_H

#include "callhook_lua.h"
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

/// A growable byte buffer outside the Lua allocator.
typedef struct {
    char *data;
    size_t len;
    size_t cap;
} chb;

int chb_reserve(chb *b, size_t extra);
int chb_append(chb *b, const char *s, size_t n);
int chb_putc(chb *b, char c);
void chb_reset(chb *b);
void chb_free(chb *b);
/// Makes `b` a NUL-terminated C string (the NUL is not counted in len).
const char *chb_cstr(chb *b);

/// Deepest JSON nesting the codec reads or writes.
#define CALLHOOK_JSON_MAX_DEPTH 256

/// Flags describing how the current protected operation failed, set just before raising.
enum {
    CALLHOOK_FLAG_NONE = 0,
    CALLHOOK_FLAG_SYNTAX,
    CALLHOOK_FLAG_RESULT,
    CALLHOOK_FLAG_INPUT,
    CALLHOOK_FLAG_NOT_LOADED,
    CALLHOOK_FLAG_NOT_A_FUNCTION,
};

struct callhook_vm {
    lua_State *L;
    size_t used;
    size_t limit;
    int memory_refused;      // the allocator refused a request during the current operation
    int step;                // instructions between deadline checks
    int budget_active;
    int timed_out;
    uint64_t deadline_ns;
    double budget_seconds;
    size_t max_output;
    int flag;                // CALLHOOK_FLAG_*
    int encoding_result;     // the encoder is writing the hook's result (its errors are CALLHOOK_ERR_RESULT)
    int log_lines;           // lines logged during the current operation
    callhook_log_fn log_fn;
    void *log_ctx;

    int ref_slots;           // registry ref: table {[2i+1] = hook function, [2i+2] = chunk closure}
    int ref_env_mt;          // registry ref: metatable of every script _ENV
    int ref_array_mt;        // registry ref: metatable marking JSON arrays
    int ref_set_config;      // registry ref: sandbox function replacing callhook.config

    chb out;                 // JSON result of the last call
    chb json;                // scratch for callhook.json.encode and log fields
    chb scratch;             // string unescaping while decoding
    chb msg;                 // error message of the last operation
    chb where;               // "chunk:line" of the error
    chb trace;               // traceback of the error
    chb warn;                // a Lua warning being assembled
};

/// Marks `null` in Lua: callhook.null is a light userdata pointing here.
extern const char callhook_null_sentinel;

callhook_vm *callhook_vm_from(lua_State *L);

// JSON <-> Lua (callhook_json.c). Both raise Lua errors; call them only inside a protected call.
/// Decodes JSON text and pushes the value. Arrays get the array metatable at stack index `array_mt`.
void callhook_json_push(lua_State *L, callhook_vm *vm, const char *s, size_t n, int array_mt, const char *what);
/// Encodes the value at `idx` into `b`, replacing its contents. `what` names the value in error messages.
void callhook_json_encode(lua_State *L, callhook_vm *vm, int idx, chb *b, int array_mt, const char *what);
/// Appends a JSON string literal; returns 0 if `s` is not valid UTF-8.
int callhook_json_append_string(chb *b, const char *s, size_t n);
/// The length of the valid UTF-8 prefix of s (n when all of it is valid).
size_t callhook_utf8_valid_prefix(const unsigned char *s, size_t n);

/// The sandbox bootstrap chunk (callhook_sandbox.c).
extern const char callhook_sandbox_source[];

#endif
