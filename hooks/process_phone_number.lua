-- process_phone_number: write every client number in one format before it reaches the CRM.
--
-- Input:  {params = {phone = "8 (916) 123-45-67"}}
-- Output: {data = {phone = "+79161234567"}, state = "success"}
--
-- Russian numbers arrive as +7XXXXXXXXXX, 8XXXXXXXXXX or XXXXXXXXXX (ten digits, no prefix). This script
-- writes them all in the format named by hooks.settings.phone_format:
--   "+7" (the default) -> +79161234567     "8" -> 89161234567     "7" -> 79161234567
-- Internal extensions and other numbers it does not recognise pass unchanged.

local prefixes = {["+7"] = "+7", ["8"] = "8", ["7"] = "7"}

return function(input)
  local phone = input.params.phone
  local digits = phone:gsub("%D", "")
  local national
  if #digits == 11 and (digits:sub(1, 1) == "7" or digits:sub(1, 1) == "8") then
    national = digits:sub(2)
  elseif #digits == 10 then
    national = digits
  end
  if not national then
    return {data = {phone = phone}, state = "success"}
  end
  local prefix = prefixes[callhook.config.phone_format or "+7"]
  if not prefix then
    callhook.log.warn("unknown phone_format, using +7", {phone_format = callhook.config.phone_format})
    prefix = "+7"
  end
  return {data = {phone = prefix .. national}, state = "success"}
end
