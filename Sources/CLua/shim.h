#ifndef CALLHOOK_CLUA_SHIM_H
#define CALLHOOK_CLUA_SHIM_H
// Lua 5.4 headers, found through pkg-config (lua5.4). Only CLuaShim includes them: Swift code never calls
// the Lua API directly, because most of it can raise (longjmp) and Swift frames must never be unwound.
#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>
#endif
