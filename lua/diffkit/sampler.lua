-- diffkit/sampler.lua: dk.sampler(name, opts), a sampler plugin spec (see spec.lua).
return require("diffkit.spec").sampler
