-- Argo CD health of an orgops object (AwsAccount, PermissionSetRequest,
-- SubdomainDelegation, SecurityBaseline), from its Ready and Synced conditions. Argo CD
-- runs it with the object in the global `obj`.
local health = {}

local function condition(conditionType)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

local generation = obj.metadata.generation
if obj.status == nil or obj.status.observedGeneration == nil
  or (generation ~= nil and obj.status.observedGeneration < generation) then
  health.status = "Progressing"
  health.message = "orgops has not yet observed this generation"
  return health
end

local ready = condition("Ready")
local synced = condition("Synced")
local observeOnly = obj.spec ~= nil and obj.spec.managementPolicy == "ObserveOnly"

if synced ~= nil and synced.status == "False" then
  if synced.reason == "DriftDetected" and observeOnly then
    health.status = "Suspended"
  elseif synced.reason == "Retrying" then
    -- Throttling, 5xx, a limit: orgops retries with backoff, and after ten minutes the
    -- reason becomes RetryingTooLong, which is Degraded.
    health.status = "Progressing"
  else
    health.status = "Degraded"
  end
  health.message = describe(synced)
  return health
end

if ready == nil then
  health.status = "Progressing"
  health.message = "orgops has not yet reported readiness"
elseif ready.status == "True" then
  health.status = "Healthy"
  health.message = describe(ready)
elseif ready.reason == "Creating" or ready.reason == "Updating" or ready.reason == "Deleting" then
  health.status = "Progressing"
  health.message = describe(ready)
else
  health.status = "Degraded"
  health.message = describe(ready)
end
return health
