-- Tests for the Argo CD health check deploy/argocd/health.lua, run by a real Lua interpreter:
--
--   lua5.4 tests/argocd/run.lua        (or: make test-lua, which installs lua5.4 if missing)
--
-- Argo CD runs health scripts on gopher-lua (Lua 5.1) with the live object in the global `obj`;
-- here each sample object is given to the script the same way (a global in the chunk's own
-- environment). The samples mirror what src/engine/status.rs writes: the three kstatus
-- conditions, a condition that is off has reason Not<Type> and an empty message.
--
-- Prints one line per check and a last line "N passed, M failed"; exits 1 when M > 0.

-- Paths are relative to the repository root, found from this script's own path.
local root = ((arg and arg[0]) or ""):match("^(.-)tests/argocd/run%.lua$") or ""

local function read(path)
  local file, err = io.open(root .. path, "rb")
  if not file then
    error("cannot read " .. path .. ": " .. tostring(err))
  end
  local text = file:read("a")
  file:close()
  return text
end

local HEALTH = read("deploy/argocd/health.lua")
local CM_PATCH = read("deploy/argocd/argocd-cm-patch.yaml")
local CM_KEY = "resource.customizations.health.lambda.aliasset.dev_LambdaAliasSet"

-- Runs a health script body against one object, as Argo CD does: `obj` is a global.
local function health(source, object)
  local env = setmetatable({ obj = object }, { __index = _G })
  local chunk, err = load(source, "=health.lua", "t", env)
  if not chunk then
    error("health.lua does not compile: " .. err)
  end
  return chunk()
end

local passed, failed = 0, 0

local function check(name, ok, detail)
  if ok then
    passed = passed + 1
    print("ok   " .. name)
  else
    failed = failed + 1
    print("FAIL " .. name .. (detail and (": " .. detail) or ""))
  end
end

---------------------------------------------------------------------------------------------
-- Sample objects.

-- The conditions the controller writes for one health (see Health and condition() in
-- src/engine/status.rs): Ready always carries the reason and message.
local function conditions(ready, reconciling, stalled, reason, message)
  local function condition(kind, on)
    local c = {
      type = kind,
      status = on and "True" or "False",
      observedGeneration = 3,
      lastTransitionTime = "2026-05-01T10:00:00Z",
    }
    if on or kind == "Ready" then
      c.reason, c.message = reason, message
    else
      c.reason, c.message = "Not" .. kind, ""
    end
    return c
  end
  return { condition("Ready", ready), condition("Reconciling", reconciling), condition("Stalled", stalled) }
end

-- A LambdaAliasSet at metadata.generation 3 (or opts.generation). With opts.conditions it has
-- a status observed at opts.observed (default: the current generation).
local function las(opts)
  local generation = opts.generation or 3
  local object = {
    apiVersion = "lambda.aliasset.dev/v1alpha1",
    kind = "LambdaAliasSet",
    metadata = { name = "trivia", namespace = "skills", generation = generation },
    spec = {
      functionName = "trivia-backend",
      aliases = { "PROD1", "PROD2" },
      certification = { phase = "Development" },
      suspend = opts.suspend,
    },
  }
  if opts.conditions then
    object.status = {
      observedGeneration = opts.observed or generation,
      phase = "Development",
      functionArn = "arn:aws:lambda:eu-west-1:111122223333:function:trivia-backend",
      live = { alias = "PROD1", version = "3", summary = "PROD1:3" },
      candidate = { alias = "PROD2", version = "$LATEST", summary = "PROD2:$LATEST" },
      conditions = opts.conditions,
    }
  end
  return object
end

local CONVERGED = "AWS matches the spec"
local PROGRESSING = "applying changes to AWS"
local DRAINING = "the previously live alias keeps its version until 2026-05-01T10:05:00Z"
local INVALID = "spec.aliases: aliases must be exactly two distinct alias names"
local OWNED = "alias PROD1 is owned by LambdaAliasSet skills/other; two sets cannot manage one alias, "
  .. "nothing was written"
local DENIED = "UpdateAlias: access denied: grant lambda:UpdateAlias to the controller's role "
  .. "(User: arn:aws:sts::111122223333:assumed-role/lac/x is not authorized to perform: lambda:UpdateAlias)"
local THROTTLED = "GetPolicy: throttled by AWS, retry after 2s"
local MISMATCH = "certification.codeSha256 is q83v, but no published version has that code and $LATEST "
  .. "has 3q2+: deploy that code to the function; nothing was written"
local NOTHING = "phase is Certified but no version was frozen for certification: set "
  .. "certification.phase to Certifying first; nothing was written"
local SUSPENDED = "suspended: observing only, 2 change(s) not applied"
local SUSPEND_DEFAULT = "spec.suspend is true: the controller observes AWS and writes nothing"
local WAITING_STATUS = "waiting for the controller to report status"
local WAITING_GEN4 = "waiting for the controller to observe generation 4"

-- A Ready condition alone, for objects written by something other than this controller.
local function ready_only(status, reason, message)
  return { { type = "Ready", status = status, reason = reason, message = message } }
end

local function without_observed_generation(object)
  object.status.observedGeneration = nil
  return object
end

local function without_reconciling(object)
  object.status.conditions = { object.status.conditions[1], object.status.conditions[3] }
  return object
end

-- { name, object, expected status, expected message }
local cases = {
  -- Healthy.
  { "Ready=True Converged is Healthy", las({ conditions = conditions(true, false, false, "Converged", CONVERGED) }),
    "Healthy", CONVERGED },
  { "suspend: false does not suspend",
    las({ suspend = false, conditions = conditions(true, false, false, "Converged", CONVERGED) }),
    "Healthy", CONVERGED },

  -- Progressing.
  { "Reconciling=True Progressing is Progressing",
    las({ conditions = conditions(false, true, false, "Progressing", PROGRESSING) }), "Progressing", PROGRESSING },
  { "Draining is Progressing", las({ conditions = conditions(false, true, false, "Draining", DRAINING) }),
    "Progressing", DRAINING },
  { "Ready reason Draining without a Reconciling condition is Progressing",
    without_reconciling(las({ conditions = conditions(false, true, false, "Draining", DRAINING) })),
    "Progressing", DRAINING },
  { "Ready reason Progressing alone is Progressing",
    las({ conditions = ready_only("False", "Progressing", PROGRESSING) }), "Progressing", PROGRESSING },
  { "Throttled (Reconciling=True) is Progressing",
    las({ conditions = conditions(false, true, false, "Throttled", THROTTLED) }), "Progressing", THROTTLED },
  { "CodeMismatch (Reconciling=True, waiting for a deploy) is Progressing",
    las({ conditions = conditions(false, true, false, "CodeMismatch", MISMATCH) }), "Progressing", MISMATCH },
  { "no status yet is Progressing", las({}), "Progressing", WAITING_STATUS },
  { "a status without conditions is Progressing", las({ conditions = {} }), "Progressing", WAITING_STATUS },
  { "an object without spec, metadata or status is Progressing", {}, "Progressing", WAITING_STATUS },
  { "stale observedGeneration hides an old Stalled InvalidSpec",
    las({ generation = 4, observed = 3, conditions = conditions(false, false, true, "InvalidSpec", INVALID) }),
    "Progressing", WAITING_GEN4 },
  { "stale observedGeneration hides an old Ready=True",
    las({ generation = 4, observed = 3, conditions = conditions(true, false, false, "Converged", CONVERGED) }),
    "Progressing", WAITING_GEN4 },
  { "a status without observedGeneration is Progressing",
    without_observed_generation(las({ generation = 4,
      conditions = conditions(true, false, false, "Converged", CONVERGED) })),
    "Progressing", WAITING_GEN4 },

  -- Degraded.
  { "Stalled=True InvalidSpec is Degraded",
    las({ conditions = conditions(false, false, true, "InvalidSpec", INVALID) }), "Degraded", INVALID },
  { "Stalled=True OwnedByOther is Degraded",
    las({ conditions = conditions(false, false, true, "OwnedByOther", OWNED) }), "Degraded", OWNED },
  { "Ready=False AccessDenied with Stalled=True is Degraded",
    las({ conditions = conditions(false, false, true, "AccessDenied", DENIED) }), "Degraded", DENIED },
  { "Stalled=True NothingToPromote is Degraded",
    las({ conditions = conditions(false, false, true, "NothingToPromote", NOTHING) }), "Degraded", NOTHING },
  { "Stalled=True wins over Reconciling=True",
    las({ conditions = conditions(false, true, true, "AccessDenied", DENIED) }), "Degraded", DENIED },
  { "Stalled=True without a message reports its reason",
    las({ conditions = conditions(false, false, true, "FunctionNotFound", "") }), "Degraded", "FunctionNotFound" },
  { "Ready=False with neither Reconciling nor Stalled is Degraded",
    las({ conditions = conditions(false, false, false, "FunctionNotFound", "the function does not exist") }),
    "Degraded", "the function does not exist" },

  -- Suspended.
  { "spec.suspend with Ready reason Suspended is Suspended",
    las({ suspend = true, conditions = conditions(false, false, false, "Suspended", SUSPENDED) }),
    "Suspended", SUSPENDED },
  { "spec.suspend before the controller reported is Suspended", las({ suspend = true }),
    "Suspended", SUSPEND_DEFAULT },
  { "spec.suspend wins over a stale Stalled condition",
    las({ suspend = true, generation = 4, observed = 3,
      conditions = conditions(false, false, true, "InvalidSpec", INVALID) }),
    "Suspended", SUSPEND_DEFAULT },
}

---------------------------------------------------------------------------------------------
-- The cases.

local VALID = { Healthy = true, Progressing = true, Degraded = true, Suspended = true, Missing = true, Unknown = true }

for _, case in ipairs(cases) do
  local name, object, want_status, want_message = case[1], case[2], case[3], case[4]
  local ok, hs = pcall(health, HEALTH, object)
  if not ok then
    check(name, false, "the script raised an error: " .. tostring(hs))
  elseif type(hs) ~= "table" or not VALID[hs.status] then
    check(name, false, "not an Argo CD health status: " .. tostring(type(hs) == "table" and hs.status or hs))
  else
    check(
      name,
      hs.status == want_status and hs.message == want_message,
      string.format("want %s %q, got %s %q", want_status, want_message, tostring(hs.status), tostring(hs.message))
    )
  end
end

---------------------------------------------------------------------------------------------
-- The argocd-cm copy is the same script.

-- The value of a literal block scalar (`key: |`) in a YAML text: the more-indented lines that
-- follow the key, de-indented, with a single final newline (YAML's default "clip" chomping).
local function block_scalar(yaml, key)
  local lines = {}
  for line in (yaml .. "\n"):gmatch("(.-)\r?\n") do
    lines[#lines + 1] = line
  end
  local start
  for i, line in ipairs(lines) do
    local k = line:match("^%s*(%S+):%s*|%s*$")
    if k == key then
      start = i
      break
    end
  end
  if not start then
    return nil
  end
  local key_indent = #lines[start]:match("^(%s*)")
  local body, indent = {}, nil
  for i = start + 1, #lines do
    local line = lines[i]
    if line:match("^%s*$") then
      body[#body + 1] = ""
    else
      local this = #line:match("^(%s*)")
      indent = indent or this
      if this <= key_indent or this < indent then
        break
      end
      body[#body + 1] = line:sub(indent + 1)
    end
  end
  while #body > 0 and body[#body] == "" do
    body[#body] = nil
  end
  return table.concat(body, "\n") .. "\n"
end

local copy = block_scalar(CM_PATCH, CM_KEY)
check("argocd-cm-patch.yaml has the key " .. CM_KEY, copy ~= nil)
if copy then
  local first_difference = nil
  if copy ~= HEALTH then
    local a, b = {}, {}
    for line in copy:gmatch("(.-)\n") do a[#a + 1] = line end
    for line in HEALTH:gmatch("(.-)\n") do b[#b + 1] = line end
    for i = 1, math.max(#a, #b) do
      if a[i] ~= b[i] then
        first_difference = string.format("line %d: health.lua %q, argocd-cm %q", i, tostring(b[i]), tostring(a[i]))
        break
      end
    end
  end
  check("argocd-cm-patch.yaml carries health.lua verbatim", copy == HEALTH, first_difference)
end
check("argocd-cm-patch.yaml patches the argocd-cm ConfigMap",
  CM_PATCH:match("\nkind: ConfigMap\n") ~= nil and CM_PATCH:match("\n  name: argocd%-cm\n") ~= nil)

---------------------------------------------------------------------------------------------
-- Argo CD's gopher-lua is Lua 5.1: the script must not use what 5.2+ added.

do
  local found = {}
  local n = 0
  for line in (HEALTH .. "\n"):gmatch("(.-)\n") do
    n = n + 1
    -- Drop string literals, then comments.
    local code = line:gsub('"[^"]*"', '""'):gsub("%-%-.*$", "")
    for _, pattern in ipairs({ "goto%s", "::", "//", "<const>", "<close>", "&", "|", "<<", ">>", "~[^=]",
      "utf8%.", "math%.type", "table%.move", "table%.unpack", "table%.pack", "string%.pack" }) do
      if code:find(pattern) then
        found[#found + 1] = string.format("line %d: %s", n, line)
      end
    end
  end
  check("health.lua sticks to Lua 5.1 (gopher-lua)", #found == 0, table.concat(found, "; "))
end

print(string.format("%d passed, %d failed", passed, failed))
if failed > 0 then
  os.exit(1)
end
