def __getattr__(name):
    raise NotImplementedError(f"skimage shim: skimage.transform.{name} not available")
