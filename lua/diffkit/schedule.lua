-- diffkit/schedule.lua: dk.schedule(name, opts), a schedule plugin spec (see spec.lua).
return require("diffkit.spec").schedule
