-- Argo CD health check for lambda.aliasset.dev/LambdaAliasSet.
--
-- Argo CD runs this script with the live object in the global `obj` and shows the
-- returned `hs.status` and `hs.message`. It runs on gopher-lua (Lua 5.1): keep to
-- Lua 5.1 (no goto, no integer division, no 5.3+ library functions).
--
-- The controller reports kstatus conditions Ready, Reconciling and Stalled (see
-- src/engine/status.rs). First matching rule wins:
--   1. spec.suspend is true                              -> Suspended
--   2. no Ready condition yet, or status.observedGeneration
--      older than metadata.generation                     -> Progressing (waiting for the controller)
--   3. Stalled=True: a person must act (InvalidSpec,
--      OwnedByOther, AccessDenied, FunctionNotFound, ...) -> Degraded
--   4. Ready=True (Converged)                             -> Healthy
--   5. Reconciling=True, or Ready reason Progressing or
--      Draining (changes or a drain timer in progress)    -> Progressing
--   6. anything else (Ready=False, nothing in progress)   -> Degraded
-- Messages are the controller's own condition messages.

local hs = {}

-- The condition of the given type, or nil.
local function condition(type_)
  if obj.status == nil or obj.status.conditions == nil then
    return nil
  end
  for _, c in ipairs(obj.status.conditions) do
    if c.type == type_ then
      return c
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

-- A condition's message, else its reason, else the fallback.
local function message_of(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil and c.reason ~= "" then
    return c.reason
  end
  return fallback
end

local ready = condition("Ready")
local reconciling = condition("Reconciling")
local stalled = condition("Stalled")

-- 1. Suspended: the controller observes and reports, and writes nothing to AWS.
if obj.spec ~= nil and obj.spec.suspend == true then
  hs.status = "Suspended"
  if ready ~= nil and ready.reason == "Suspended" then
    hs.message = message_of(ready, "suspended")
  else
    hs.message = "spec.suspend is true: the controller observes AWS and writes nothing"
  end
  return hs
end

-- 2. The controller has not reported on the current spec yet: older conditions are stale.
local generation = obj.metadata ~= nil and obj.metadata.generation or nil
local observed = obj.status ~= nil and obj.status.observedGeneration or nil
if ready == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to report status"
  return hs
end
if generation ~= nil and (observed == nil or observed < generation) then
  hs.status = "Progressing"
  hs.message = "waiting for the controller to observe generation " .. tostring(generation)
  return hs
end

-- 3. Stalled: retrying will not help, the spec or AWS (IAM, ownership, ...) must change.
if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = message_of(stalled, message_of(ready, "stalled"))
  return hs
end

-- 4. Converged: AWS matches the spec.
if is_true(ready) then
  hs.status = "Healthy"
  hs.message = message_of(ready, "ready")
  return hs
end

-- 5. Work in progress: writes pending, throttled, a code hash not deployed yet, or the
--    previously live alias draining until status.drainUntil.
if is_true(reconciling) or ready.reason == "Progressing" or ready.reason == "Draining" then
  hs.status = "Progressing"
  if is_true(reconciling) then
    hs.message = message_of(reconciling, message_of(ready, "reconciling"))
  else
    hs.message = message_of(ready, "reconciling")
  end
  return hs
end

-- 6. Not ready and nothing in progress.
hs.status = "Degraded"
hs.message = message_of(ready, "not ready")
return hs
