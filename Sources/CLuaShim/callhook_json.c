// JSON <-> Lua values, used for the hook input and result and for callhook.json.
//
// Mapping (documented in docs/hooks.md):
//   object -> table with string keys          array -> table 1..n marked with the array metatable
//   integer (no fraction/exponent, fits 64 bits) -> Lua integer;  any other number -> Lua float
//   null -> callhook.null (a light userdata);  strings -> Lua strings, byte for byte (valid UTF-8 required)
// Writing a table: marked or keys exactly 1..n -> array; empty and unmarked -> {}; otherwise an object whose
// keys are strings (integer keys are written in decimal). Functions, coroutines, userdata, NaN and infinities,
// cycles and non-UTF-8 strings are errors naming where in the value they are.
//
// Everything here may raise Lua errors and must run inside a protected call.

#include "callhook_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------------------
// Buffers

int chb_reserve(chb *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) {
        if (cap > ((size_t)-1) / 2) return 0;
        cap *= 2;
    }
    char *data = realloc(b->data, cap);
    if (!data) return 0;
    b->data = data;
    b->cap = cap;
    return 1;
}

int chb_append(chb *b, const char *s, size_t n) {
    if (!chb_reserve(b, n)) return 0;
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
    return 1;
}

int chb_putc(chb *b, char c) {
    if (!chb_reserve(b, 1)) return 0;
    b->data[b->len++] = c;
    return 1;
}

void chb_reset(chb *b) { b->len = 0; }

void chb_free(chb *b) {
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

const char *chb_cstr(chb *b) {
    if (!chb_reserve(b, 0)) return "";
    b->data[b->len] = '\0';
    return b->data;
}

// ---------------------------------------------------------------------------------------------------------
// UTF-8

size_t callhook_utf8_valid_prefix(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned int cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return i;
        }
        if (i + need >= n) return i;
        for (size_t k = 1; k <= need; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return i;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return i;
        i += need + 1;
    }
    return n;
}

static const char hexdigits[] = "0123456789abcdef";

int callhook_json_append_string(chb *b, const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    int ascii = 1;
    for (size_t i = 0; i < n; i++) {
        if (u[i] >= 0x80) {
            ascii = 0;
            break;
        }
    }
    if (!ascii && callhook_utf8_valid_prefix(u, n) != n) return 0;
    // Worst case every byte becomes \u00XX.
    if (!chb_reserve(b, n * 6 + 2)) return -1;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = u[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (i > run) {
            memcpy(o, s + run, i - run);
            o += i - run;
        }
        run = i + 1;
        *o++ = '\\';
        switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default:
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hexdigits[c >> 4];
                *o++ = hexdigits[c & 0xF];
        }
    }
    if (n > run) {
        memcpy(o, s + run, n - run);
        o += n - run;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 1;
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

typedef struct {
    lua_State *L;
    callhook_vm *vm;
    const char *s;
    size_t n;
    size_t i;
    int array_mt;
    const char *what;
} decoder;

static void decode_fail(decoder *d, const char *why) {
    // Line and column help an integrator find the problem in a test case file.
    size_t line = 1, col = 1;
    for (size_t k = 0; k < d->i && k < d->n; k++) {
        if (d->s[k] == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    luaL_error(d->L, "%s: invalid JSON: %s at line %d, column %d", d->what, why, (int)line, (int)col);
}

static inline void skip_ws(decoder *d) {
    while (d->i < d->n) {
        char c = d->s[d->i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            d->i++;
        else
            break;
    }
}

static void decode_value(decoder *d, int depth);

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static unsigned int read_hex4(decoder *d) {
    if (d->i + 4 > d->n) decode_fail(d, "truncated \\u escape");
    unsigned int v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(d->s[d->i + k]);
        if (h < 0) decode_fail(d, "invalid \\u escape");
        v = (v << 4) | (unsigned int)h;
    }
    d->i += 4;
    return v;
}

static void put_utf8(chb *b, unsigned int cp) {
    char t[4];
    size_t n;
    if (cp < 0x80) {
        t[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        t[0] = (char)(0xC0 | (cp >> 6));
        t[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        t[0] = (char)(0xE0 | (cp >> 12));
        t[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        t[0] = (char)(0xF0 | (cp >> 18));
        t[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        t[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        t[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    chb_append(b, t, n);
}

// Pushes the string starting after the opening quote.
static void decode_string(decoder *d) {
    size_t start = d->i;
    int ascii = 1;
    while (d->i < d->n) {
        unsigned char c = (unsigned char)d->s[d->i];
        if (c == '"') {
            size_t len = d->i - start;
            if (!ascii && callhook_utf8_valid_prefix((const unsigned char *)d->s + start, len) != len) {
                d->i = start + callhook_utf8_valid_prefix((const unsigned char *)d->s + start, len);
                decode_fail(d, "string is not valid UTF-8");
            }
            lua_pushlstring(d->L, d->s + start, len);
            d->i++;
            return;
        }
        if (c == '\\') break;
        if (c < 0x20) decode_fail(d, "control character in string");
        if (c >= 0x80) ascii = 0;
        d->i++;
    }
    if (d->i >= d->n) decode_fail(d, "unterminated string");
    chb *b = &d->vm->scratch;
    chb_reset(b);
    if (!chb_append(b, d->s + start, d->i - start)) luaL_error(d->L, "not enough memory");
    while (d->i < d->n) {
        unsigned char c = (unsigned char)d->s[d->i];
        if (c == '"') {
            if (callhook_utf8_valid_prefix((const unsigned char *)b->data, b->len) != b->len)
                decode_fail(d, "string is not valid UTF-8");
            lua_pushlstring(d->L, b->data, b->len);
            d->i++;
            return;
        }
        if (c < 0x20) decode_fail(d, "control character in string");
        if (c != '\\') {
            chb_putc(b, (char)c);
            d->i++;
            continue;
        }
        d->i++;
        if (d->i >= d->n) decode_fail(d, "unterminated string");
        char e = d->s[d->i++];
        switch (e) {
            case '"': chb_putc(b, '"'); break;
            case '\\': chb_putc(b, '\\'); break;
            case '/': chb_putc(b, '/'); break;
            case 'b': chb_putc(b, '\b'); break;
            case 'f': chb_putc(b, '\f'); break;
            case 'n': chb_putc(b, '\n'); break;
            case 'r': chb_putc(b, '\r'); break;
            case 't': chb_putc(b, '\t'); break;
            case 'u': {
                unsigned int cp = read_hex4(d);
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (d->i + 2 > d->n || d->s[d->i] != '\\' || d->s[d->i + 1] != 'u')
                        decode_fail(d, "lone surrogate in \\u escape");
                    d->i += 2;
                    unsigned int lo = read_hex4(d);
                    if (lo < 0xDC00 || lo > 0xDFFF) decode_fail(d, "invalid surrogate pair");
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    decode_fail(d, "lone surrogate in \\u escape");
                }
                put_utf8(b, cp);
                break;
            }
            default: d->i--; decode_fail(d, "invalid escape");
        }
    }
    decode_fail(d, "unterminated string");
}

static void decode_number(decoder *d) {
    size_t start = d->i;
    int is_float = 0;
    if (d->s[d->i] == '-') d->i++;
    if (d->i >= d->n) decode_fail(d, "invalid number");
    if (d->s[d->i] == '0') {
        d->i++;
        if (d->i < d->n && d->s[d->i] >= '0' && d->s[d->i] <= '9') decode_fail(d, "leading zero in number");
    } else if (d->s[d->i] >= '1' && d->s[d->i] <= '9') {
        while (d->i < d->n && d->s[d->i] >= '0' && d->s[d->i] <= '9') d->i++;
    } else {
        decode_fail(d, "invalid number");
    }
    if (d->i < d->n && d->s[d->i] == '.') {
        is_float = 1;
        d->i++;
        size_t digits = d->i;
        while (d->i < d->n && d->s[d->i] >= '0' && d->s[d->i] <= '9') d->i++;
        if (d->i == digits) decode_fail(d, "invalid number");
    }
    if (d->i < d->n && (d->s[d->i] == 'e' || d->s[d->i] == 'E')) {
        is_float = 1;
        d->i++;
        if (d->i < d->n && (d->s[d->i] == '+' || d->s[d->i] == '-')) d->i++;
        size_t digits = d->i;
        while (d->i < d->n && d->s[d->i] >= '0' && d->s[d->i] <= '9') d->i++;
        if (d->i == digits) decode_fail(d, "invalid number");
    }
    size_t len = d->i - start;
    char small[64];
    char *text = small;
    chb *b = NULL;
    if (len + 1 > sizeof(small)) {
        b = &d->vm->scratch;
        chb_reset(b);
        if (!chb_append(b, d->s + start, len)) luaL_error(d->L, "not enough memory");
        text = (char *)chb_cstr(b);
    } else {
        memcpy(small, d->s + start, len);
        small[len] = '\0';
    }
    // lua_stringtonumber gives an integer for integer text that fits, a float otherwise (also for integer text
    // past 64 bits), using Lua's own locale-independent conversion.
    if (lua_stringtonumber(d->L, text) == 0) decode_fail(d, "invalid number");
    if (lua_isinteger(d->L, -1) && is_float) {
        // Cannot happen for valid JSON text ("1.0" reads as a float), kept as a guard.
        lua_Number f = (lua_Number)lua_tointeger(d->L, -1);
        lua_pop(d->L, 1);
        lua_pushnumber(d->L, f);
    }
    if (!lua_isinteger(d->L, -1) && !isfinite(lua_tonumber(d->L, -1))) decode_fail(d, "number out of range");
}

static void expect_literal(decoder *d, const char *lit, size_t n) {
    if (d->i + n > d->n || memcmp(d->s + d->i, lit, n) != 0) decode_fail(d, "unexpected character");
    d->i += n;
}

static void decode_value(decoder *d, int depth) {
    lua_State *L = d->L;
    skip_ws(d);
    if (d->i >= d->n) decode_fail(d, "unexpected end of input");
    char c = d->s[d->i];
    switch (c) {
        case '{': {
            if (depth >= CALLHOOK_JSON_MAX_DEPTH) decode_fail(d, "nesting too deep");
            luaL_checkstack(L, 4, "JSON nesting");
            d->i++;
            lua_createtable(L, 0, 4);
            skip_ws(d);
            if (d->i < d->n && d->s[d->i] == '}') {
                d->i++;
                return;
            }
            for (;;) {
                skip_ws(d);
                if (d->i >= d->n) decode_fail(d, "unexpected end of input");
                if (d->s[d->i] != '"') decode_fail(d, "expected a string key");
                d->i++;
                decode_string(d);
                skip_ws(d);
                if (d->i >= d->n || d->s[d->i] != ':') decode_fail(d, "expected ':'");
                d->i++;
                decode_value(d, depth + 1);
                lua_rawset(L, -3);
                skip_ws(d);
                if (d->i >= d->n) decode_fail(d, "unexpected end of input");
                if (d->s[d->i] == ',') {
                    d->i++;
                    continue;
                }
                if (d->s[d->i] == '}') {
                    d->i++;
                    return;
                }
                decode_fail(d, "expected ',' or '}'");
            }
        }
        case '[': {
            if (depth >= CALLHOOK_JSON_MAX_DEPTH) decode_fail(d, "nesting too deep");
            luaL_checkstack(L, 4, "JSON nesting");
            d->i++;
            lua_createtable(L, 4, 0);
            lua_pushvalue(L, d->array_mt);
            lua_setmetatable(L, -2);
            skip_ws(d);
            if (d->i < d->n && d->s[d->i] == ']') {
                d->i++;
                return;
            }
            lua_Integer k = 1;
            for (;;) {
                decode_value(d, depth + 1);
                lua_rawseti(L, -2, k++);
                skip_ws(d);
                if (d->i >= d->n) decode_fail(d, "unexpected end of input");
                if (d->s[d->i] == ',') {
                    d->i++;
                    continue;
                }
                if (d->s[d->i] == ']') {
                    d->i++;
                    return;
                }
                decode_fail(d, "expected ',' or ']'");
            }
        }
        case '"':
            d->i++;
            decode_string(d);
            return;
        case 't': expect_literal(d, "true", 4); lua_pushboolean(L, 1); return;
        case 'f': expect_literal(d, "false", 5); lua_pushboolean(L, 0); return;
        case 'n': expect_literal(d, "null", 4); lua_pushlightuserdata(L, (void *)&callhook_null_sentinel); return;
        default:
            if (c == '-' || (c >= '0' && c <= '9')) {
                decode_number(d);
                return;
            }
            decode_fail(d, "unexpected character");
    }
}

void callhook_json_push(lua_State *L, callhook_vm *vm, const char *s, size_t n, int array_mt, const char *what) {
    decoder d = {L, vm, s, n, 0, lua_absindex(L, array_mt), what};
    decode_value(&d, 0);
    skip_ws(&d);
    if (d.i != d.n) decode_fail(&d, "trailing data after the JSON value");
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

typedef struct {
    int is_index;
    lua_Integer index;
    const char *key;
    size_t key_len;
} path_item;

typedef struct {
    lua_State *L;
    callhook_vm *vm;
    chb *b;
    int array_mt;
    const char *what;
    int depth;
    const void *seen[CALLHOOK_JSON_MAX_DEPTH + 1];
    path_item path[CALLHOOK_JSON_MAX_DEPTH + 1];
} encoder;

static void encode_fail(encoder *e, const char *fmt, const char *detail) {
    lua_State *L = e->L;
    luaL_Buffer where;
    luaL_buffinit(L, &where);
    luaL_addstring(&where, e->what);
    for (int k = 0; k < e->depth; k++) {
        path_item *p = &e->path[k];
        if (p->is_index) {
            lua_pushfstring(L, "[%I]", (LUAI_UACINT)p->index);
            luaL_addvalue(&where);
        } else {
            luaL_addchar(&where, '.');
            luaL_addlstring(&where, p->key, p->key_len > 64 ? 64 : p->key_len);
        }
    }
    luaL_pushresult(&where);
    if (e->vm->encoding_result) e->vm->flag = CALLHOOK_FLAG_RESULT;
    luaL_error(L, fmt, lua_tostring(L, -1), detail);
}

static void encode_value(encoder *e, int idx);

static void out_of_memory(encoder *e) { luaL_error(e->L, "not enough memory to encode %s", e->what); }

static void put(encoder *e, const char *s, size_t n) {
    if (e->b->len + n > e->vm->max_output) encode_fail(e, "%s: the JSON text exceeds the %s", "maximum result size");
    if (!chb_append(e->b, s, n)) out_of_memory(e);
}

static void encode_number(encoder *e, int idx) {
    char buf[64];
    int n;
    if (lua_isinteger(e->L, idx)) {
        n = snprintf(buf, sizeof(buf), LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(e->L, idx));
        put(e, buf, (size_t)n);
        return;
    }
    double v = (double)lua_tonumber(e->L, idx);
    if (!isfinite(v)) encode_fail(e, "%s: %s cannot be written as JSON", isnan(v) ? "NaN" : "an infinite number");
    // The shortest of %.15g..%.17g that reads back as the same double.
    for (int precision = 15; precision <= 17; precision++) {
        n = snprintf(buf, sizeof(buf), "%.*g", precision, v);
        if (strtod(buf, NULL) == v) break;
    }
    int has_mark = 0;
    for (int k = 0; k < n; k++) {
        if (buf[k] == ',') buf[k] = '.';  // a locale with a decimal comma
        if (buf[k] == '.' || buf[k] == 'e' || buf[k] == 'E') has_mark = 1;
    }
    // A float stays a float on the other side: 3.0 is written "3.0", not "3".
    if (!has_mark && n + 2 < (int)sizeof(buf)) {
        buf[n++] = '.';
        buf[n++] = '0';
    }
    put(e, buf, (size_t)n);
}

static void encode_string(encoder *e, int idx) {
    size_t len;
    const char *s = lua_tolstring(e->L, idx, &len);
    if (e->b->len + len > e->vm->max_output) encode_fail(e, "%s: the JSON text exceeds the %s", "maximum result size");
    int r = callhook_json_append_string(e->b, s, len);
    if (r == 0) encode_fail(e, "%s: string is not valid UTF-8 (%s)", "JSON text must be UTF-8");
    if (r < 0) out_of_memory(e);
}

// Pushes the table to encode in place of the one at idx: a read-only view (callhook.config) stands for the table
// it shows. Returns whether the table is marked as an array.
static int resolve_table(encoder *e, int idx) {
    lua_State *L = e->L;
    lua_pushvalue(L, idx);
    for (int hops = 0; hops < 8; hops++) {
        if (!lua_getmetatable(L, -1)) return 0;  // [table]
        if (lua_rawequal(L, -1, e->array_mt)) {
            lua_pop(L, 1);
            return 1;
        }
        lua_pushliteral(L, "__callhook_raw");
        if (lua_rawget(L, -2) != LUA_TTABLE) {  // [table, mt, raw?]
            lua_pop(L, 2);
            return 0;
        }
        lua_replace(L, -3);  // [raw, mt]
        lua_pop(L, 1);       // [raw]
    }
    return 0;
}

static void encode_table(encoder *e, int idx) {
    lua_State *L = e->L;
    luaL_checkstack(L, 6, "JSON nesting");
    int marked = resolve_table(e, idx);
    int t = lua_gettop(L);
    const void *ptr = lua_topointer(L, t);
    for (int k = 0; k < e->depth; k++) {
        if (e->seen[k] == ptr) encode_fail(e, "%s: %s", "the table contains itself (a cycle)");
    }
    if (e->depth >= CALLHOOK_JSON_MAX_DEPTH) encode_fail(e, "%s: %s", "nesting too deep");
    e->seen[e->depth] = ptr;

    // First pass: is it an array?
    lua_Integer count = 0, max = 0;
    int positive_integers = 1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        count++;
        if (positive_integers && lua_isinteger(L, -2)) {
            lua_Integer k = lua_tointeger(L, -2);
            if (k >= 1) {
                if (k > max) max = k;
            } else {
                positive_integers = 0;
            }
        } else {
            positive_integers = 0;
        }
        lua_pop(L, 1);
    }
    if (count == 0) {
        put(e, marked ? "[]" : "{}", 2);
        lua_settop(L, t - 1);
        return;
    }
    // A marked array may have holes (nil elements), written as null, unless it is absurdly sparse.
    int as_array = positive_integers && (max == count || (marked && max <= count * 4 + 16));
    if (as_array) {
        put(e, "[", 1);
        for (lua_Integer k = 1; k <= max; k++) {
            if (k > 1) put(e, ",", 1);
            e->path[e->depth] = (path_item){1, k - 1, NULL, 0};
            e->depth++;
            lua_rawgeti(L, t, k);
            if (lua_isnil(L, -1))
                put(e, "null", 4);
            else
                encode_value(e, lua_gettop(L));
            lua_pop(L, 1);
            e->depth--;
        }
        put(e, "]", 1);
        lua_settop(L, t - 1);
        return;
    }
    put(e, "{", 1);
    int first = 1;
    lua_pushnil(L);
    while (lua_next(L, t)) {
        int key = lua_gettop(L) - 1;
        if (!first) put(e, ",", 1);
        first = 0;
        size_t klen;
        const char *k;
        char numkey[32];
        if (lua_type(L, key) == LUA_TSTRING) {
            k = lua_tolstring(L, key, &klen);
        } else if (lua_isinteger(L, key)) {
            klen = (size_t)snprintf(numkey, sizeof(numkey), LUA_INTEGER_FMT, (LUAI_UACINT)lua_tointeger(L, key));
            k = numkey;
        } else {
            encode_fail(e, "%s: a table key of type %s cannot be a JSON object key", luaL_typename(L, key));
            return;
        }
        e->path[e->depth] = (path_item){0, 0, k, klen};
        int r = callhook_json_append_string(e->b, k, klen);
        if (r == 0) encode_fail(e, "%s: %s", "key is not valid UTF-8");
        if (r < 0) out_of_memory(e);
        put(e, ":", 1);
        e->depth++;
        encode_value(e, lua_gettop(L));
        e->depth--;
        lua_pop(L, 1);
    }
    put(e, "}", 1);
    lua_settop(L, t - 1);
}

static void encode_value(encoder *e, int idx) {
    lua_State *L = e->L;
    switch (lua_type(L, idx)) {
        case LUA_TNIL: put(e, "null", 4); return;
        case LUA_TBOOLEAN:
            if (lua_toboolean(L, idx))
                put(e, "true", 4);
            else
                put(e, "false", 5);
            return;
        case LUA_TNUMBER: encode_number(e, idx); return;
        case LUA_TSTRING: encode_string(e, idx); return;
        case LUA_TTABLE: encode_table(e, idx); return;
        case LUA_TLIGHTUSERDATA:
            if (lua_touserdata(L, idx) == (void *)&callhook_null_sentinel) {
                put(e, "null", 4);
                return;
            }
            /* fallthrough */
        default:
            encode_fail(e, "%s: a %s cannot be written as JSON", luaL_typename(L, idx));
    }
}

void callhook_json_encode(lua_State *L, callhook_vm *vm, int idx, chb *b, int array_mt, const char *what) {
    idx = lua_absindex(L, idx);
    array_mt = lua_absindex(L, array_mt);
    // On the C stack: nothing to free when an error unwinds through here.
    encoder e;
    e.L = L;
    e.vm = vm;
    e.b = b;
    e.array_mt = array_mt;
    e.what = what;
    e.depth = 0;
    chb_reset(b);
    encode_value(&e, idx);
}
