// A Lua state that runs hook scripts under limits.
//
// Every public function follows one shape: reset the outcome, arm the time budget, push a message handler and a
// C function, lua_pcall it, classify the result. Only functions that never raise (push of a light C function
// or light userdata, lua_pcall, lua_settop, lua_sethook, lua_gc, lua_close) are called outside the protected
// call, so no Lua error can unwind through the caller.
//
// Limits:
//   memory  the allocator refuses to grow the state past `limit` bytes (Lua then raises "not enough memory")
//   time    a count hook checks a monotonic deadline every `step` instructions; once it has passed, the hook
//           re-arms itself on every line and instruction, so a script's own pcall cannot swallow the error
#include "callhook_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char callhook_null_sentinel = 0;

#define MAX_LOG_LINES_PER_CALL 200
#define FINALIZER_BUDGET_SECONDS 0.2

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

const char *callhook_lua_release(void) { return LUA_RELEASE; }

callhook_vm *callhook_vm_from(lua_State *L) { return *(callhook_vm **)lua_getextraspace(L); }

// ---------------------------------------------------------------------------------------------------------
// Allocator, time budget, warnings, panic

static void *vm_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
    callhook_vm *vm = ud;
    size_t old = ptr ? osize : 0;  // with ptr == NULL, osize encodes an object type, not a size
    if (nsize == 0) {
        free(ptr);
        vm->used -= old;
        return NULL;
    }
    if (nsize > old && vm->limit && vm->used + (nsize - old) > vm->limit) {
        vm->memory_refused = 1;
        return NULL;
    }
    void *block = realloc(ptr, nsize);
    if (!block) {
        vm->memory_refused = 1;
        return NULL;
    }
    vm->used = vm->used - old + nsize;
    return block;
}

static void count_hook(lua_State *L, lua_Debug *ar) {
    (void)ar;
    callhook_vm *vm = callhook_vm_from(L);
    if (!vm->budget_active) return;
    if (vm->timed_out || now_ns() >= vm->deadline_ns) {
        vm->timed_out = 1;
        // From now on fire on every line and instruction: a pcall in the script may catch this error, but the
        // next thing it runs raises again.
        lua_sethook(L, count_hook, LUA_MASKCOUNT | LUA_MASKLINE, 1);
        luaL_error(L, "time budget of %d ms exceeded", (int)(vm->budget_seconds * 1000.0 + 0.5));
    }
}

static void arm_budget(callhook_vm *vm, double seconds) {
    if (seconds <= 0) seconds = 0.05;
    vm->budget_seconds = seconds;
    vm->deadline_ns = now_ns() + (uint64_t)(seconds * 1e9);
    vm->timed_out = 0;
    vm->budget_active = 1;
    lua_sethook(vm->L, count_hook, LUA_MASKCOUNT, vm->step);
}

static void disarm_budget(callhook_vm *vm) { vm->budget_active = 0; }

static void emit_log(callhook_vm *vm, int level, const char *msg, size_t len, const char *fields, size_t flen) {
    if (vm->log_fn) vm->log_fn(vm->log_ctx, level, msg, len, fields, flen);
}

// Lua warnings arrive in pieces; "@..." pieces are control messages. The only warnings a sandboxed script can
// cause come from Lua itself, such as an error in a __gc metamethod.
static void warn_fn(void *ud, const char *msg, int tocont) {
    callhook_vm *vm = ud;
    if (vm->warn.len == 0 && !tocont && msg[0] == '@') return;
    chb_append(&vm->warn, msg, strlen(msg));
    if (!tocont) {
        emit_log(vm, CALLHOOK_LOG_LUA_WARNING, vm->warn.data ? vm->warn.data : "", vm->warn.len, NULL, 0);
        chb_reset(&vm->warn);
    }
}

static int panic_fn(lua_State *L) {
    // Unreachable by construction (every raising call is protected); if it happens, stop loudly.
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "callhook: unprotected Lua error: %s\n", msg ? msg : "(not a string)");
    abort();
}

// ---------------------------------------------------------------------------------------------------------
// Error reporting

static void set_text(chb *b, const char *s, size_t n) {
    chb_reset(b);
    chb_append(b, s, n);
    chb_cstr(b);
}

static int p_describe_table(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_array_mt);
    callhook_json_encode(L, vm, 1, &vm->json, 2, "error object");
    lua_pushliteral(L, "error object ");
    lua_pushlstring(L, vm->json.data, vm->json.len);
    lua_concat(L, 2);
    return 1;
}

// Runs where the error was raised, before the stack unwinds: records the message, the script line and a
// traceback. Memory errors skip message handlers in Lua 5.4; they are described after the call.
static int message_handler(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    size_t len = 0;
    const char *msg = NULL;
    if (lua_type(L, 1) == LUA_TSTRING) {
        msg = lua_tolstring(L, 1, &len);
    } else if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) {
        msg = lua_tolstring(L, -1, &len);
    } else if (lua_type(L, 1) == LUA_TTABLE) {
        // error({code = 42}): show the table as JSON when it can be written, which is what the integrator meant.
        int saved = vm->encoding_result;
        vm->encoding_result = 0;
        lua_pushcfunction(L, p_describe_table);
        lua_pushvalue(L, 1);
        if (lua_pcall(L, 1, 1, 0) == LUA_OK) {
            msg = lua_tolstring(L, -1, &len);
        } else {
            msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
            len = strlen(msg);
        }
        vm->encoding_result = saved;
    } else {
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
        len = strlen(msg);
    }

    // The innermost script function on the stack is where the script went wrong (the sandbox's own Lua
    // wrappers are skipped). A location set before raising (syntax errors, bad results) is kept. The location
    // uses the full chunk name: Lua's short form cuts long paths to "...".
    int preset = vm->where.len > 0;
    lua_Debug ar;
    for (int level = 1; vm->where.len == 0 && lua_getstack(L, level, &ar); level++) {
        if (!lua_getinfo(L, "Sl", &ar)) break;
        if (strcmp(ar.source, "=sandbox") == 0) continue;
        if (ar.currentline > 0 && (strcmp(ar.what, "Lua") == 0 || strcmp(ar.what, "main") == 0)) {
            char line[32];
            snprintf(line, sizeof(line), ":%d", ar.currentline);
            const char *name = (ar.source[0] == '@' || ar.source[0] == '=') ? ar.source + 1 : ar.short_src;
            chb_append(&vm->where, name, strlen(name));
            chb_append(&vm->where, line, strlen(line));
            // Lua put "short_src:line: " in front of the message; the location now says it in full.
            char prefix[LUA_IDSIZE + 40];
            int n = snprintf(prefix, sizeof(prefix), "%s:%d: ", ar.short_src, ar.currentline);
            if (n > 0 && (size_t)n < sizeof(prefix) && len >= (size_t)n && memcmp(msg, prefix, (size_t)n) == 0) {
                msg += n;
                len -= (size_t)n;
            }
            break;
        }
    }
    chb_cstr(&vm->where);
    if (!preset || vm->msg.len == 0) set_text(&vm->msg, msg, len);

    luaL_traceback(L, L, NULL, 1);
    size_t tlen;
    const char *trace = lua_tolstring(L, -1, &tlen);
    set_text(&vm->trace, trace, tlen);
    lua_pop(L, 1);
    lua_settop(L, 1);
    return 1;
}

static void outcome_reset(callhook_vm *vm, callhook_outcome *out) {
    vm->flag = CALLHOOK_FLAG_NONE;
    vm->encoding_result = 0;
    vm->memory_refused = 0;
    vm->log_lines = 0;
    chb_reset(&vm->msg);
    chb_reset(&vm->where);
    chb_reset(&vm->trace);
    chb_reset(&vm->out);
    memset(out, 0, sizeof(*out));
}

static void outcome_fill(callhook_vm *vm, int status, callhook_outcome *out) {
    if (status == LUA_OK) {
        out->status = CALLHOOK_OK;
    } else if (vm->timed_out) {
        out->status = CALLHOOK_ERR_TIMEOUT;
    } else if (status == LUA_ERRMEM || (vm->memory_refused && (status == LUA_ERRERR ||
                                                               (vm->msg.len && strstr(chb_cstr(&vm->msg), "not enough memory"))))) {
        out->status = CALLHOOK_ERR_MEMORY;
        char text[96];
        int n = snprintf(text, sizeof(text), "memory limit of %zu KiB reached", vm->limit / 1024);
        set_text(&vm->msg, text, (size_t)n);
    } else {
        switch (vm->flag) {
            case CALLHOOK_FLAG_SYNTAX: out->status = CALLHOOK_ERR_SYNTAX; break;
            case CALLHOOK_FLAG_RESULT: out->status = CALLHOOK_ERR_RESULT; break;
            case CALLHOOK_FLAG_INPUT: out->status = CALLHOOK_ERR_INPUT; break;
            case CALLHOOK_FLAG_NOT_LOADED: out->status = CALLHOOK_ERR_NOT_LOADED; break;
            case CALLHOOK_FLAG_NOT_A_FUNCTION: out->status = CALLHOOK_ERR_NOT_A_FUNCTION; break;
            default: out->status = CALLHOOK_ERR_RUNTIME;
        }
        if (status == LUA_ERRERR && vm->msg.len == 0) set_text(&vm->msg, "error in the error handler", 26);
    }
    out->message = chb_cstr(&vm->msg);
    out->message_len = vm->msg.len;
    out->where = chb_cstr(&vm->where);
    out->traceback = chb_cstr(&vm->trace);
    if (status == LUA_OK) {
        out->output = chb_cstr(&vm->out);
        out->output_len = vm->out.len;
    } else {
        out->output = "";
        out->output_len = 0;
    }
}

// Fills `out` with an error if `slot` is not a valid slot number.
static int refuse_slot(callhook_vm *vm, int slot, callhook_outcome *out) {
    if (slot >= 0 && slot < CALLHOOK_SLOTS) return 0;
    outcome_reset(vm, out);
    set_text(&vm->msg, "slot out of range", 17);
    outcome_fill(vm, LUA_ERRRUN, out);
    out->status = CALLHOOK_ERR_NOT_LOADED;
    return 1;
}

// Runs f(args) protected, under the time budget, and fills `out`.
static void run_protected(callhook_vm *vm, lua_CFunction f, void *args, double timeout, callhook_outcome *out) {
    lua_State *L = vm->L;
    outcome_reset(vm, out);
    lua_settop(L, 0);
    arm_budget(vm, timeout);
    lua_pushcfunction(L, message_handler);
    lua_pushcfunction(L, f);
    lua_pushlightuserdata(L, args);
    int status = lua_pcall(L, 1, 0, 1);
    if (status != LUA_OK && lua_type(L, -1) == LUA_TSTRING && vm->msg.len == 0) {
        size_t len;
        const char *msg = lua_tolstring(L, -1, &len);
        set_text(&vm->msg, msg, len);
    }
    disarm_budget(vm);
    lua_settop(L, 0);
    outcome_fill(vm, status, out);
}

// ---------------------------------------------------------------------------------------------------------
// Native functions for the sandbox

static int l_json_encode(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_array_mt);
    int saved = vm->encoding_result;
    vm->encoding_result = 0;
    callhook_json_encode(L, vm, 1, &vm->json, 2, "callhook.json.encode: value");
    vm->encoding_result = saved;
    lua_pushlstring(L, vm->json.data ? vm->json.data : "", vm->json.len);
    return 1;
}

static int l_json_decode(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_array_mt);
    callhook_json_push(L, vm, s, len, 2, "callhook.json.decode");
    return 1;
}

// native.log(level, message, fields)
static int l_log(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    int level = (int)luaL_checkinteger(L, 1);
    lua_settop(L, 3);
    if (vm->log_lines >= MAX_LOG_LINES_PER_CALL) {
        if (vm->log_lines == MAX_LOG_LINES_PER_CALL) {
            const char *note = "further log lines of this call are dropped (limit reached)";
            emit_log(vm, CALLHOOK_LOG_WARN, note, strlen(note), NULL, 0);
            vm->log_lines++;
        }
        return 0;
    }
    vm->log_lines++;
    size_t len;
    const char *msg = luaL_tolstring(L, 2, &len);
    const char *fields = NULL;
    size_t flen = 0;
    if (lua_type(L, 3) == LUA_TTABLE) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_array_mt);
        int saved = vm->encoding_result;
        vm->encoding_result = 0;
        callhook_json_encode(L, vm, 3, &vm->json, -1, "callhook.log: fields");
        vm->encoding_result = saved;
        fields = chb_cstr(&vm->json);
        flen = vm->json.len;
    } else if (!lua_isnoneornil(L, 3)) {
        return luaL_error(L, "callhook.log: fields must be a table, got %s", luaL_typename(L, 3));
    }
    emit_log(vm, level, msg, len, fields, flen);
    return 0;
}

static int l_null_tostring(lua_State *L) {
    lua_pushliteral(L, "null");
    return 1;
}

// ---------------------------------------------------------------------------------------------------------
// Setting up a state

static int p_setup(lua_State *L) {
    callhook_vm *vm = lua_touserdata(L, 1);
    luaL_requiref(L, LUA_GNAME, luaopen_base, 1);
    luaL_requiref(L, LUA_STRLIBNAME, luaopen_string, 1);
    luaL_requiref(L, LUA_TABLIBNAME, luaopen_table, 1);
    luaL_requiref(L, LUA_MATHLIBNAME, luaopen_math, 1);
    luaL_requiref(L, LUA_UTF8LIBNAME, luaopen_utf8, 1);
    luaL_requiref(L, LUA_OSLIBNAME, luaopen_os, 1);
    luaL_requiref(L, LUA_COLIBNAME, luaopen_coroutine, 1);
    lua_settop(L, 1);

    // callhook.null prints as "null".
    lua_pushlightuserdata(L, (void *)&callhook_null_sentinel);
    lua_createtable(L, 0, 2);
    lua_pushcfunction(L, l_null_tostring);
    lua_setfield(L, -2, "__tostring");
    lua_pushboolean(L, 0);
    lua_setfield(L, -2, "__metatable");
    lua_setmetatable(L, -2);
    lua_pop(L, 1);

    lua_createtable(L, 0, 1);  // array marker; getmetatable(array) gives "callhook.array"
    lua_pushliteral(L, "callhook.array");
    lua_setfield(L, -2, "__metatable");
    lua_pushvalue(L, -1);
    vm->ref_array_mt = luaL_ref(L, LUA_REGISTRYINDEX);
    int array_mt = lua_gettop(L);

    lua_newtable(L);
    vm->ref_slots = luaL_ref(L, LUA_REGISTRYINDEX);

    if (luaL_loadbufferx(L, callhook_sandbox_source, strlen(callhook_sandbox_source), "=sandbox", "t") != LUA_OK)
        return lua_error(L);
    lua_createtable(L, 0, 6);
    lua_pushvalue(L, array_mt);
    lua_setfield(L, -2, "array_mt");
    lua_pushlightuserdata(L, (void *)&callhook_null_sentinel);
    lua_setfield(L, -2, "null");
    lua_pushcfunction(L, l_log);
    lua_setfield(L, -2, "log");
    lua_pushcfunction(L, l_json_encode);
    lua_setfield(L, -2, "json_encode");
    lua_pushcfunction(L, l_json_decode);
    lua_setfield(L, -2, "json_decode");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, "env_mt");
    vm->ref_env_mt = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_getfield(L, -1, "set_config");
    vm->ref_set_config = luaL_ref(L, LUA_REGISTRYINDEX);
    return 0;
}

callhook_vm *callhook_vm_new(const callhook_vm_options *options, const char **error) {
    callhook_vm *vm = calloc(1, sizeof(*vm));
    if (!vm) {
        *error = "out of memory";
        return NULL;
    }
    vm->limit = options->memory_limit;
    vm->step = options->instruction_step > 0 ? options->instruction_step : 1000;
    vm->max_output = options->max_output ? options->max_output : 16u << 20;
    vm->log_fn = options->log_fn;
    vm->log_ctx = options->log_ctx;
    vm->L = lua_newstate(vm_alloc, vm);
    if (!vm->L) {
        free(vm);
        *error = "cannot create a Lua state (memory limit too small?)";
        return NULL;
    }
    *(callhook_vm **)lua_getextraspace(vm->L) = vm;
    lua_atpanic(vm->L, panic_fn);
    lua_setwarnf(vm->L, warn_fn, vm);
    lua_gc(vm->L, LUA_GCGEN, 0, 0);

    callhook_outcome out;
    run_protected(vm, p_setup, vm, 1.0, &out);
    if (out.status != CALLHOOK_OK) {
        *error = out.status == CALLHOOK_ERR_MEMORY ? "the memory limit is too small for the sandbox"
                                                   : "the sandbox failed to start";
        callhook_vm_free(vm);
        return NULL;
    }
    return vm;
}

void callhook_vm_free(callhook_vm *vm) {
    if (!vm) return;
    if (vm->L) {
        // Finalizers run now; a looping __gc is cut short by the budget.
        arm_budget(vm, FINALIZER_BUDGET_SECONDS);
        lua_close(vm->L);
    }
    chb_free(&vm->out);
    chb_free(&vm->json);
    chb_free(&vm->scratch);
    chb_free(&vm->msg);
    chb_free(&vm->where);
    chb_free(&vm->trace);
    chb_free(&vm->warn);
    free(vm);
}

size_t callhook_vm_memory(callhook_vm *vm) { return vm->used; }

void callhook_vm_collect(callhook_vm *vm) {
    arm_budget(vm, FINALIZER_BUDGET_SECONDS);
    lua_gc(vm->L, LUA_GCCOLLECT);
    disarm_budget(vm);
}

// ---------------------------------------------------------------------------------------------------------
// Config

typedef struct {
    const char *json;
    size_t len;
} config_args;

static int p_set_config(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    config_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_set_config);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_array_mt);
    int array_mt = lua_gettop(L);
    if (a->json && a->len) {
        callhook_json_push(L, vm, a->json, a->len, array_mt, "config");
        if (!lua_istable(L, -1)) return luaL_error(L, "config: expected a JSON object");
    } else {
        lua_newtable(L);
    }
    lua_remove(L, array_mt);
    lua_call(L, 1, 0);
    return 0;
}

void callhook_vm_set_config(callhook_vm *vm, const char *json, size_t len, callhook_outcome *out) {
    config_args a = {json, len};
    run_protected(vm, p_set_config, &a, 1.0, out);
}

// ---------------------------------------------------------------------------------------------------------
// Loading scripts

typedef struct {
    int slot;
    const char *chunkname;
    const char *source;
    size_t len;
    int check_only;
} load_args;

// Splits a syntax error message ("hooks/x.lua:3: '=' expected near 'y'", with Lua's possibly shortened name)
// into the location, with the full chunk name, and the message.
static void where_from_message(callhook_vm *vm, const char *chunkname) {
    const char *msg = chb_cstr(&vm->msg);
    const char *colon = strchr(msg, ':');
    while (colon) {
        const char *p = colon + 1;
        const char *digits = p;
        while (*p >= '0' && *p <= '9') p++;
        if (p > digits && *p == ':') {
            const char *name = (chunkname[0] == '@' || chunkname[0] == '=') ? chunkname + 1 : chunkname;
            chb_reset(&vm->where);
            chb_append(&vm->where, name, strlen(name));
            chb_append(&vm->where, colon, (size_t)(p - colon));
            chb_cstr(&vm->where);
            const char *rest = p + 1;
            while (*rest == ' ') rest++;
            chb json = {0};
            chb_append(&json, rest, strlen(rest));
            set_text(&vm->msg, json.data ? json.data : "", json.len);
            chb_free(&json);
            return;
        }
        colon = strchr(colon + 1, ':');
    }
}

static int p_load(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    load_args *a = lua_touserdata(L, 1);
    int status = luaL_loadbufferx(L, a->source, a->len, a->chunkname, "t");
    if (status == LUA_ERRMEM) return lua_error(L);
    if (status != LUA_OK) {
        size_t len;
        const char *msg = lua_tolstring(L, -1, &len);
        set_text(&vm->msg, msg ? msg : "syntax error", msg ? len : 12);
        where_from_message(vm, a->chunkname);
        vm->flag = CALLHOOK_FLAG_SYNTAX;
        return lua_error(L);
    }
    if (a->check_only) return 0;
    int chunk = lua_gettop(L);
    // The chunk's only upvalue is its _ENV: give it an environment of its own for the top level.
    lua_createtable(L, 0, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_env_mt);
    lua_setmetatable(L, -2);
    lua_setupvalue(L, chunk, 1);
    lua_pushvalue(L, chunk);
    lua_call(L, 0, 1);
    if (lua_type(L, -1) != LUA_TFUNCTION) {
        vm->flag = CALLHOOK_FLAG_NOT_A_FUNCTION;
        return luaL_error(L, "%s: the script must return a function (return function(input) ... end), it returned %s",
                          a->chunkname[0] == '@' || a->chunkname[0] == '=' ? a->chunkname + 1 : a->chunkname,
                          luaL_typename(L, -1));
    }
    int fn = lua_gettop(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_slots);
    lua_pushvalue(L, fn);
    lua_rawseti(L, -2, 2 * a->slot + 1);
    lua_pushvalue(L, chunk);
    lua_rawseti(L, -2, 2 * a->slot + 2);
    return 0;
}

void callhook_vm_load(callhook_vm *vm, int slot, const char *chunkname, const char *source, size_t len,
                      double timeout_seconds, callhook_outcome *out) {
    if (refuse_slot(vm, slot, out)) return;
    load_args a = {slot, chunkname, source, len, 0};
    run_protected(vm, p_load, &a, timeout_seconds, out);
}

void callhook_vm_check(callhook_vm *vm, const char *chunkname, const char *source, size_t len,
                       callhook_outcome *out) {
    load_args a = {0, chunkname, source, len, 1};
    run_protected(vm, p_load, &a, 1.0, out);
}

typedef struct {
    int slot;
} slot_args;

static int p_unload(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    slot_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_slots);
    lua_pushnil(L);
    lua_rawseti(L, -2, 2 * a->slot + 1);
    lua_pushnil(L);
    lua_rawseti(L, -2, 2 * a->slot + 2);
    return 0;
}

void callhook_vm_unload(callhook_vm *vm, int slot) {
    if (slot < 0 || slot >= CALLHOOK_SLOTS) return;
    slot_args a = {slot};
    callhook_outcome out;
    run_protected(vm, p_unload, &a, 1.0, &out);
}

static int p_loaded(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    slot_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_slots);
    if (lua_rawgeti(L, -1, 2 * a->slot + 1) != LUA_TFUNCTION) return luaL_error(L, "empty");
    return 0;
}

int callhook_vm_loaded(callhook_vm *vm, int slot) {
    if (slot < 0 || slot >= CALLHOOK_SLOTS) return 0;
    slot_args a = {slot};
    callhook_outcome out;
    run_protected(vm, p_loaded, &a, 1.0, &out);
    return out.status == CALLHOOK_OK;
}

// ---------------------------------------------------------------------------------------------------------
// Calling a hook

typedef struct {
    int slot;
    const char *input;
    size_t len;
} call_args;

static int p_call(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    call_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_array_mt);  // 2
    int array_mt = 2;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_slots);      // 3
    if (lua_rawgeti(L, 3, 2 * a->slot + 1) != LUA_TFUNCTION) {  // 4: hook function
        vm->flag = CALLHOOK_FLAG_NOT_LOADED;
        return luaL_error(L, "no script is loaded for this hook");
    }
    lua_rawgeti(L, 3, 2 * a->slot + 2);  // 5: chunk
    // A fresh _ENV for this call: globals a script sets do not leak into the next call.
    lua_createtable(L, 0, 0);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_env_mt);
    lua_setmetatable(L, -2);
    lua_setupvalue(L, 5, 1);

    lua_pushvalue(L, 4);
    vm->flag = CALLHOOK_FLAG_INPUT;
    callhook_json_push(L, vm, a->input, a->len, array_mt, "input");
    vm->flag = CALLHOOK_FLAG_NONE;
    lua_call(L, 1, 1);
    int result = lua_gettop(L);
    if (!lua_istable(L, result)) {
        vm->flag = CALLHOOK_FLAG_RESULT;
        lua_Debug ar;
        lua_pushvalue(L, 4);
        lua_getinfo(L, ">S", &ar);
        char line[32];
        snprintf(line, sizeof(line), ":%d", ar.linedefined);
        set_text(&vm->where, ar.short_src, strlen(ar.short_src));
        chb_append(&vm->where, line, strlen(line));
        return luaL_error(L, "the hook returned %s; it must return a table {data = ..., state = \"success\"}",
                          luaL_typename(L, result));
    }
    vm->encoding_result = 1;
    callhook_json_encode(L, vm, result, &vm->out, array_mt, "result");
    vm->encoding_result = 0;
    return 0;
}

void callhook_vm_call(callhook_vm *vm, int slot, const char *input, size_t len, double timeout_seconds,
                      callhook_outcome *out) {
    if (refuse_slot(vm, slot, out)) return;
    call_args a = {slot, input, len};
    run_protected(vm, p_call, &a, timeout_seconds, out);
}

static int p_roundtrip(lua_State *L) {
    callhook_vm *vm = callhook_vm_from(L);
    call_args *a = lua_touserdata(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vm->ref_array_mt);
    vm->flag = CALLHOOK_FLAG_INPUT;
    callhook_json_push(L, vm, a->input, a->len, 2, "input");
    vm->flag = CALLHOOK_FLAG_NONE;
    vm->encoding_result = 1;
    callhook_json_encode(L, vm, -1, &vm->out, 2, "value");
    vm->encoding_result = 0;
    return 0;
}

void callhook_vm_roundtrip(callhook_vm *vm, const char *input, size_t len, callhook_outcome *out) {
    call_args a = {0, input, len};
    run_protected(vm, p_roundtrip, &a, 1.0, out);
}
