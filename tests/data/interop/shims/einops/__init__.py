"""Minimal pure-torch stand-in for einops (not installable here).

Implements the general `rearrange(tensor, pattern, **axes_lengths)` semantics
(named axes, parenthesised groups, one optional `...`) by reshape -> permute
-> reshape, which is exactly what einops does for rearrange.  `repeat` and
`reduce` are not used on the code paths of the goldens and raise.
"""
import math

__all__ = ["rearrange", "repeat"]


def _parse_side(side):
    groups, cur, i = [], None, 0
    toks = side.replace("(", " ( ").replace(")", " ) ").split()
    for t in toks:
        if t == "(":
            assert cur is None, "nested parentheses"
            cur = []
        elif t == ")":
            groups.append(cur)
            cur = None
        else:
            if cur is not None:
                cur.append(t)
            else:
                groups.append([t] if t != "..." else "...")
    assert cur is None, "unbalanced parentheses"
    return groups


def rearrange(tensor, pattern, **axes_lengths):
    left, right = pattern.split("->")
    lg, rg = _parse_side(left), _parse_side(right)
    shape = list(tensor.shape)
    n_ell = 0
    if "..." in lg:
        n_ell = len(shape) - (len(lg) - 1)
    else:
        assert len(lg) == len(shape), f"pattern {pattern} vs shape {shape}"
    sizes = dict(axes_lengths)
    elem = []          # elementary axis names in input order
    dim = 0
    for g in lg:
        if g == "...":
            for j in range(n_ell):
                name = f"...{j}"
                sizes[name] = shape[dim]
                elem.append(name)
                dim += 1
            continue
        total = shape[dim]
        unknown = [a for a in g if a not in sizes]
        known = math.prod(sizes[a] for a in g if a in sizes)
        assert len(unknown) <= 1, f"cannot infer axes {unknown} in {pattern}"
        if unknown:
            assert total % known == 0
            sizes[unknown[0]] = total // known
        else:
            assert known == total, f"axis sizes {g} do not match {total} in {pattern}"
        elem.extend(g)
        dim += 1
    x = tensor.reshape([sizes[a] for a in elem])
    r_elem = []
    for g in rg:
        if g == "...":
            r_elem.extend(f"...{j}" for j in range(n_ell))
        else:
            r_elem.extend(g)
    assert sorted(r_elem) == sorted(elem), f"axes mismatch in {pattern}"
    x = x.permute([elem.index(a) for a in r_elem])
    out_shape = []
    for g in rg:
        if g == "...":
            out_shape.extend(sizes[f"...{j}"] for j in range(n_ell))
        else:
            out_shape.append(math.prod(sizes[a] for a in g))
    return x.reshape(out_shape)


def repeat(*args, **kwargs):
    raise NotImplementedError("einops shim: repeat is not used on the golden code path")
