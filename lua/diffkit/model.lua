-- diffkit/model.lua: dk.model(name, opts), a model plugin spec (see spec.lua).
return require("diffkit.spec").model
