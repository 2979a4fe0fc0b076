-- Tests of health.lua with Lua 5.1, as Argo CD's interpreter runs it:
--   lua5.1 health_test.lua   (from this directory)
-- Each case is an object in one state and the health Argo CD must show.
local script = assert(loadfile("health.lua"))

local function object(generation, status, spec)
  return { metadata = { name = "x", namespace = "payroll", generation = generation }, spec = spec or {}, status = status }
end

local function conditions(generation, ready, synced)
  local list = {}
  if ready ~= nil then
    table.insert(list, { type = "Ready", status = ready[1], reason = ready[2], message = ready[3] or "" })
  end
  if synced ~= nil then
    table.insert(list, { type = "Synced", status = synced[1], reason = synced[2], message = synced[3] or "" })
  end
  return { observedGeneration = generation, conditions = list }
end

local cases = {
  { "new, no status yet", object(1, nil), "Progressing" },
  { "status of an older generation", object(2, conditions(1, { "True", "Available" }, { "True", "ReconcileSuccess" })), "Progressing" },
  { "ready and synced", object(3, conditions(3, { "True", "Available" }, { "True", "ReconcileSuccess" })), "Healthy" },
  { "creating in AWS", object(1, conditions(1, { "False", "Creating", "CreateAccount requested" }, { "True", "ReconcileSuccess" })), "Progressing" },
  { "deleting in AWS", object(1, conditions(1, { "False", "Deleting" }, { "True", "ReconcileSuccess" })), "Progressing" },
  { "observed, no conditions yet", object(1, { observedGeneration = 1 }), "Progressing" },
  { "forbidden by the platform policy", object(1, conditions(1, { "False", "Forbidden" }, { "False", "Forbidden", "outside the grants" })), "Degraded" },
  { "invalid spec", object(1, conditions(1, { "False", "Invalid" }, { "False", "Invalid", "spec.template.key" })), "Degraded" },
  { "an AWS error", object(1, conditions(1, { "True", "Available" }, { "False", "ReconcileError", "AccessDenied" })), "Degraded" },
  { "throttled, retrying", object(1, conditions(1, { "True", "Available" }, { "False", "Retrying", "Throttling" })), "Progressing" },
  { "retrying for too long", object(1, conditions(1, { "True", "Available" }, { "False", "RetryingTooLong", "503" })), "Degraded" },
  { "updating in AWS", object(1, conditions(1, { "False", "Updating", "MoveAccount" }, { "True", "ReconcileSuccess" })), "Progressing" },
  { "unavailable in AWS", object(1, conditions(1, { "False", "Unavailable", "SUSPENDED" }, { "True", "ReconcileSuccess" })), "Degraded" },
  { "drift reported under Full management", object(1, conditions(1, { "True", "Available" }, { "False", "DriftDetected" })), "Degraded" },
  { "drift under ObserveOnly", object(1, conditions(1, { "True", "Available" }, { "False", "DriftDetected" }), { managementPolicy = "ObserveOnly" }), "Suspended" },
}

local failures = 0
for _, case in ipairs(cases) do
  obj = case[2]
  local health = script()
  if health.status ~= case[3] then
    failures = failures + 1
    print("FAIL " .. case[1] .. ": got " .. tostring(health.status) .. ", want " .. case[3])
  elseif health.message == nil then
    failures = failures + 1
    print("FAIL " .. case[1] .. ": no message")
  end
end
print(#cases - failures .. "/" .. #cases .. " health cases pass")
if failures > 0 then
  os.exit(1)
end
