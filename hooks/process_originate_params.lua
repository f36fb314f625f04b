-- process_originate_params: shape a click-to-call from the CRM before it becomes an Originate on Asterisk.
--
-- Input:  {params = {caller_id = "101", channel = "PJSIP/101", context = "from-internal",
--                    extension = "+79161234567", priority = "1"}}
-- Output: the same fields, changed: {data = {..., extension = "89161234567"}, state = "success"}
--
-- Many trunks want the dialled number as 8 and ten digits: strip the +, keep the last ten digits, prefix 8.
-- Some users must call out through another route: hooks.settings.originate.contexts maps an extension to
-- the dialplan context (and so the trunk) its calls leave through, e.g.
--   originate: {contexts: {"102": "from-internal-sales"}}

return function(input)
  local p = input.params
  local digits = tostring(p.extension):gsub("%D", "")
  if #digits >= 10 then
    p.extension = "8" .. digits:sub(-10)
  end
  local settings = callhook.config.originate
  local context = settings and settings.contexts and settings.contexts[tostring(p.caller_id)]
  if context then
    p.context = context
  end
  return {data = p, state = "success"}
end
