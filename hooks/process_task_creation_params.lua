-- process_task_creation_params: give the missed-call task a deadline the team can meet.
--
-- Input:  {params = {arNewTaskData = {TITLE = ..., DEADLINE = ..., RESPONSIBLE_ID = 1, CREATED_BY = 1,
--                                     UF_CRM_TASK = {"L_11201"}},
--                    conversation = {from = "+79161234567", ended_at = "2026-11-24T10:15:32+03:00", ...}}}
-- Output: {data = {arNewTaskData = {..., DEADLINE = "2026-11-24T12:15:32+03:00"}}, state = "success"}
--
-- The task is due `deadline_hours` after the call ended; if that falls outside working hours, it is due an
-- hour after the next working day starts (weekends are skipped). hooks.settings.tasks:
--   tasks: {deadline_hours: 2, workday_start: 9, workday_end: 18}

local function parse_iso(text)
  local y, mo, d, h, mi, s, offset = text:match("^(%d+)-(%d+)-(%d+)T(%d+):(%d+):(%d+)(.*)$")
  if not y then return nil end
  return {year = tonumber(y), month = tonumber(mo), day = tonumber(d), hour = tonumber(h), min = tonumber(mi),
          sec = tonumber(s)}, offset
end

return function(input)
  local task = input.params.arNewTaskData
  local c = input.params.conversation or {}
  local settings = callhook.config.tasks or {}
  local hours = settings.deadline_hours or 2
  local start_hour = settings.workday_start or 9
  local end_hour = settings.workday_end or 18

  local fields, offset = parse_iso(c.ended_at ~= "" and c.ended_at or c.started_at or "")
  if not fields then
    return {data = {arNewTaskData = task}, state = "success"}
  end
  -- Arithmetic on the call's own wall clock: os.time and os.date("*t") round-trip local fields.
  fields.hour = fields.hour + hours
  local due = os.date("*t", os.time(fields))
  if due.hour >= end_hour or due.hour < start_hour or due.wday == 1 or due.wday == 7 then
    if due.hour >= end_hour then due.day = due.day + 1 end
    due = os.date("*t", os.time({year = due.year, month = due.month, day = due.day, hour = start_hour + 1,
                                 min = 0, sec = 0}))
    while due.wday == 1 or due.wday == 7 do
      due = os.date("*t", os.time({year = due.year, month = due.month, day = due.day + 1,
                                   hour = start_hour + 1, min = 0, sec = 0}))
    end
  end
  task.DEADLINE = string.format("%04d-%02d-%02dT%02d:%02d:%02d%s", due.year, due.month, due.day, due.hour,
                                due.min, due.sec, offset)
  task.TITLE = "Перезвонить: " .. (c.from or "")
  return {data = {arNewTaskData = task}, state = "success"}
end
