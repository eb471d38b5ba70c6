#!/bin/sh
# diff_r1_r2.sh DIFFKIT SRC: `diffkit diff experiments/R1.lua experiments/R2.lua
# --preset paper` prints one line (KEY  A  ->  B) per changed leaf: the
# wrapper/preconditioner, the learned variance, the sigma density and its
# stratification, EMA, clipping, flips, sampler, its schedule, steps and noise.
# The optimizer is the same in both (R2 keeps DiT's AdamW, HDiT paper footnote
# 3), so it has no line; exit status 0. Usage errors exit 2.
set -u
dk="$1"; src="$2"
out=$("$dk" diff "$src/experiments/R1.lua" "$src/experiments/R2.lua" --preset paper 2>&1); st=$?
printf '%s\n' "$out"
fail=0
[ "$st" -eq 0 ] || { echo "FAIL: exit status $st"; fail=1; }
for re in \
  '^R1 \(.*R1.lua\) vs R2 \(.*R2.lua\), preset paper: [0-9]+ leaves differ$' \
  '^precond.name +"ddpm_learned_var"  ->  "ddpm_eps"$' \
  '^model.opts.learn_sigma +true  ->  false$' \
  '^train_sigma.name +"ddpm-uniform-t"  ->  "cosine-interpolated"$' \
  '^stratified +false  ->  true$' \
  '^ema.decay +0.9999[0-9]*  ->  false$' \
  '^ema.power +\(unset\)  ->  0.75$' \
  '^clip_norm +0  ->  1$' \
  '^hflip +true  ->  false$' \
  '^sample.sampler.name +"ddpm_ancestral"  ->  "dpmpp_3m_sde"$' \
  '^sample.schedule.name +"ddpm"  ->  "karras"$' \
  '^sample.steps +250  ->  50$' \
  '^sample.noise +"iid"  ->  "brownian"$'; do
  printf '%s\n' "$out" | grep -Eq -- "$re" || { echo "FAIL: no line matching: $re"; fail=1; }
done
if printf '%s\n' "$out" | grep -Eq '^optim\.'; then echo "FAIL: an optim line (R2 keeps DiT's optimizer)"; fail=1; fi
"$dk" diff "$src/experiments/R1.lua" >/dev/null 2>&1; st=$?
[ "$st" -eq 2 ] || { echo "FAIL: one experiment: exit status $st, want 2"; fail=1; }
"$dk" diff "$src/experiments/R1.lua" "$src/experiments/nonexistent.lua" >/dev/null 2>&1; st=$?
[ "$st" -ne 0 ] || { echo "FAIL: a missing script: exit status 0"; fail=1; }
[ "$fail" -eq 0 ] && echo ok
exit "$fail"
