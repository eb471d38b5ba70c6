def _na(*a, **k):
    raise NotImplementedError("dctorch shim: DCT losses are not used on the golden code path")
dct = dct2 = dct3 = idct = idct2 = idct3 = _na
