#ifndef CALLHOOK_LUA_H
#define CALLHOOK_LUA_H
// The only interface Swift has to Lua. Every function here returns normally: each Lua call that can raise an
// error runs inside lua_pcall, so no longjmp ever crosses a Swift frame. A vm is not thread-safe: one owner
// calls it at a time.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct callhook_vm callhook_vm;

typedef enum {
    CALLHOOK_OK = 0,
    /// The script does not compile (syntax error, or a binary chunk, which is refused).
    CALLHOOK_ERR_SYNTAX = 1,
    /// The script raised an error (error(), a bad index, a refused library function...).
    CALLHOOK_ERR_RUNTIME = 2,
    /// The time budget ran out.
    CALLHOOK_ERR_TIMEOUT = 3,
    /// The state's memory cap was reached.
    CALLHOOK_ERR_MEMORY = 4,
    /// The script returned something that is not a hook result: not a table, a cycle, a function, NaN...
    CALLHOOK_ERR_RESULT = 5,
    /// The input could not be decoded (a bug on the Swift side, never the script's fault).
    CALLHOOK_ERR_INPUT = 6,
    /// No script is loaded in that slot.
    CALLHOOK_ERR_NOT_LOADED = 7,
    /// The chunk ran but did not return a function.
    CALLHOOK_ERR_NOT_A_FUNCTION = 8,
} callhook_status;

/// Levels handed to the log callback.
typedef enum {
    CALLHOOK_LOG_DEBUG = 0,
    CALLHOOK_LOG_INFO = 1,
    CALLHOOK_LOG_WARN = 2,
    CALLHOOK_LOG_ERROR = 3,
    /// A warning from Lua itself, e.g. an error inside a __gc metamethod.
    CALLHOOK_LOG_LUA_WARNING = 4,
} callhook_log_level;

/// Receives callhook.log.* and print() lines. `fields_json` is a JSON object (or NULL). Must not call back
/// into the vm.
typedef void (*callhook_log_fn)(void *ctx, int level, const char *msg, size_t msg_len, const char *fields_json,
                                size_t fields_len);

typedef struct {
    /// Bytes the state may hold; 0 means no cap.
    size_t memory_limit;
    /// Instructions between two checks of the deadline (the count hook); 0 picks 1000.
    int instruction_step;
    /// Largest JSON result accepted, in bytes; 0 picks 16 MiB.
    size_t max_output;
    callhook_log_fn log_fn;
    void *log_ctx;
} callhook_vm_options;

typedef struct {
    callhook_status status;
    /// What went wrong, for people (valid until the next call on the vm).
    const char *message;
    size_t message_len;
    /// "chunkname:line" of the script line that failed, or "" (valid until the next call).
    const char *where;
    /// A Lua traceback, or "" (valid until the next call).
    const char *traceback;
    /// The JSON result, on CALLHOOK_OK from callhook_vm_call (valid until the next call).
    const char *output;
    size_t output_len;
} callhook_outcome;

/// Creates a state with the sandbox. Returns NULL, with a reason in `error` (static text), on failure.
callhook_vm *callhook_vm_new(const callhook_vm_options *options, const char **error);
/// Closes the state (running pending finalizers under a short time budget) and frees everything.
void callhook_vm_free(callhook_vm *vm);

/// Sets `callhook.config` from a JSON object. A NULL or empty text gives an empty config.
void callhook_vm_set_config(callhook_vm *vm, const char *json, size_t len, callhook_outcome *out);

/// Compiles a text chunk and runs it once (with the time budget) to obtain the hook function, kept in
/// `slot`. On any failure the slot keeps what it had.
void callhook_vm_load(callhook_vm *vm, int slot, const char *chunkname, const char *source, size_t len,
                      double timeout_seconds, callhook_outcome *out);
/// Compiles a text chunk without running it: a syntax check.
void callhook_vm_check(callhook_vm *vm, const char *chunkname, const char *source, size_t len,
                       callhook_outcome *out);
/// Forgets the function in `slot`.
void callhook_vm_unload(callhook_vm *vm, int slot);
/// Whether `slot` holds a function.
int callhook_vm_loaded(callhook_vm *vm, int slot);

/// Calls the function in `slot` with the JSON `input` (an object, usually {"params": ...}) decoded to a table,
/// in a fresh _ENV, within `timeout_seconds`; encodes what it returns as JSON into `out->output`.
void callhook_vm_call(callhook_vm *vm, int slot, const char *input, size_t len, double timeout_seconds,
                      callhook_outcome *out);

/// Bytes the state holds now.
size_t callhook_vm_memory(callhook_vm *vm);
/// A full garbage collection, under a short time budget for finalizers.
void callhook_vm_collect(callhook_vm *vm);

/// Decodes `input` JSON into Lua and encodes it back into `out->output`: the codec alone, for tests.
void callhook_vm_roundtrip(callhook_vm *vm, const char *input, size_t len, callhook_outcome *out);

/// "Lua 5.4.4": the Lua the process runs with.
const char *callhook_lua_release(void);

/// Number of hook slots a vm has.
#define CALLHOOK_SLOTS 32

#ifdef __cplusplus
}
#endif
#endif
