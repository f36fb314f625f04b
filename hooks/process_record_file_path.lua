-- process_record_file_path: tell Callhook where the recording really is.
--
-- Input:  {params = {call_id = "1764058502.1042", from = "+79161234567", to = "101",
--                    path = "/var/spool/asterisk/monitor/2026/11/24/in-...-1764058502.1042.wav"}}
-- Output: {data = {path = "/mnt/records/2026/11/24/in-...-1764058502.1042.mp3"}, state = "success"}
--
-- Asterisk writes recordings under /var/spool/asterisk/monitor; often a nightly job moves them elsewhere or
-- converts them to mp3. hooks.settings.records tells this script what changed:
--   records: {from: "/var/spool/asterisk/monitor/", to: "/mnt/records/", extension: "mp3"}
-- Without settings the path is kept.

local function escape(text)
  return (text:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

return function(input)
  local path = input.params.path
  local records = callhook.config.records
  if records == nil then
    return {data = {path = path}, state = "success"}
  end
  if records.from and records.to then
    path = path:gsub("^" .. escape(records.from), (records.to:gsub("%%", "%%%%")))
  end
  if records.extension then
    path = path:gsub("%.[%w]+$", "." .. records.extension)
  end
  return {data = {path = path}, state = "success"}
end
