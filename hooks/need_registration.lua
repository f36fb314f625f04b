-- need_registration: decide whether a call goes to the CRM at all (black and white lists).
--
-- Input:  {params = {conversation = {from = "+79161234567", to = "101", from_local = false, to_local = true,
--                                     trunk = "74951234567", type = 2, ...}}}
-- Output: {data = {result = true}, state = "success"}   -- false: the call is left out of the CRM
--
-- The lists are read from hooks.settings.registration, the same settings Callhook's built-in default uses:
--   registration:
--     extensions: {allow: [...], deny: [...]}   -- local extensions (e.g. a fax on 555)
--     trunks:     {allow: [...], deny: [...]}   -- the trunk / line number the call came through
--     internal_calls: false                     -- calls between two extensions
-- Entries here match exactly (the built-in default also understands FreePBX patterns such as _1XX).
-- On top of the lists, this script leaves out calls from hidden numbers, which no CRM can match.

local function contains(list, value)
  if list == nil or value == nil or value == "" then return false end
  for _, item in ipairs(list) do
    if tostring(item) == value then return true end
  end
  return false
end

-- Whether the lists `rules` ({allow = ..., deny = ...}) let the given values through.
local function admitted(rules, values)
  if rules == nil then return true end
  for _, v in ipairs(values) do
    if contains(rules.deny, v) then return false end
  end
  if rules.allow == nil or #rules.allow == 0 or #values == 0 then return true end
  for _, v in ipairs(values) do
    if contains(rules.allow, v) then return true end
  end
  return false
end

return function(input)
  local c = input.params.conversation
  local rules = callhook.config.registration or {}

  if c.type == 1 or (c.from_local and c.to_local) then
    return {data = {result = rules.internal_calls == true}, state = "success"}
  end

  local client = c.from_local and c.to or c.from
  local digits = (client or ""):gsub("%D", "")
  if digits == "" or client == "anonymous" then
    callhook.log.info("call from a hidden number is not registered", {call = c.id})
    return {data = {result = false}, state = "success"}
  end

  local extensions = {}
  if c.from_local then extensions[#extensions + 1] = c.from end
  if c.to_local then extensions[#extensions + 1] = c.to end
  local ok = admitted(rules.extensions, extensions) and admitted(rules.trunks, {c.trunk})
  return {data = {result = ok}, state = "success"}
end
