-- diffkit/precond.lua: dk.precond(name, opts), a precond plugin spec (see spec.lua).
return require("diffkit.spec").precond
