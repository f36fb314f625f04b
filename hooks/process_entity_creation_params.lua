-- process_entity_creation_params: name the lead Callhook creates for an unknown number, and set its source,
-- by the line (trunk) the call came in on.
--
-- Input:  {params = {type = "lead", TITLE = "", SOURCE_ID = "7", PHONE = {{VALUE = "83432872875"}},
--                    ASSIGNED_BY_ID = 238, OPENED = "Y", COMMENTS = "", conversation = {trunk = ..., ...}}}
-- Output: the lead fields: {data = {TITLE = "Сайт: звонок 83432872875", SOURCE_ID = "WEB", ...}, state = "success"}
--
-- hooks.settings.lines maps a line number to its title and CRM source (a STATUS_ID of the SOURCE list):
--   lines:
--     "74951234567": {title: "Сайт", source: "WEB"}
--     "78001234567": {title: "Реклама", source: "ADVERTISING"}
-- Calls on other lines get the title "Входящий звонок" and the source CALL.

return function(input)
  local p = input.params
  local trunk = p.conversation and p.conversation.trunk or ""
  local lines = callhook.config.lines
  local line = lines and lines[trunk]
  local phone = p.PHONE and p.PHONE[1] and p.PHONE[1].VALUE or ""
  p.TITLE = string.format("%s: звонок %s", line and line.title or "Входящий звонок", phone)
  p.SOURCE_ID = line and line.source or "CALL"
  return {data = p, state = "success"}
end
