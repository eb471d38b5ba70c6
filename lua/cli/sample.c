/* sample.c: `diffkit sample CHECKPOINT --n N --out OUT [...]`: samples from a
 * diffkit, k-diffusion or DiT checkpoint into PNGs, an .npz or a grid. The
 * work (argument parsing included, so the help lives in one place) is in
 * lua/diffkit/sample_cmd.lua; docs/interop.md. */
#include "cli.h"

static const char sample_help[] =
    "usage: diffkit sample CHECKPOINT --n N --out DIR|FILE.npz|GRID.png [options]\n"
    "\n"
    "Samples N images from a checkpoint, batched, with a progress line:\n"
    "  - a diffkit training checkpoint (ckpt_*.safetensors, or a run folder: its\n"
    "    latest checkpoint): the experiment its config describes, EMA weights;\n"
    "  - a k-diffusion HDiT checkpoint (image_transformer_v2): train.py's .pth\n"
    "    (config + model_ema) or convert_for_inference.py's .safetensors;\n"
    "  - a facebookresearch/DiT checkpoint in pixel space (the HDiT paper's R1):\n"
    "    train.py's .pt (ema) or a bare state dict.\n"
    "Each samples with its own procedure unless told otherwise (docs/interop.md).\n"
    "\n"
    "  --n N           number of images (required)\n"
    "  --out PATH      FILE.npz: uint8 [N, H, W, C] in arr_0 (+ int64 labels in arr_1),\n"
    "                  what the ADM evaluation suite (DiT's) and clean-fid read;\n"
    "                  FILE.png: one grid; anything else: a folder of PNGs\n"
    "                  (PATH/000000.png, ... and labels.txt), created if missing\n"
    "  --sampler NAME  a sampler plugin with its default options (diffkit plugins sampler)\n"
    "  --steps K       sampling steps\n"
    "  --cfg W         classifier-free guidance scale (1 = off)\n"
    "  --seed S        seed of the noise (default 0)\n"
    "  --labels L      class labels of a class-conditional model: cycle (default:\n"
    "                  0, 1, ..., K-1, 0, ...), random, one class C, or a comma list of N\n"
    "  --batch B       images per batch (default 64)\n"
    "  --device D      cpu (default), cuda or cuda:N\n"
    "  --no-ema        the raw weights instead of the EMA weights\n"
    "  --key KEY       which weights of a PyTorch checkpoint (default: model_ema or\n"
    "                  ema, else model; a bare state dict is taken as it is)\n"
    "  --heads H       attention heads of a DiT whose size is not S/B/L/XL\n"
    "  --force         write into a folder that already holds samples\n"
    "  --quiet         no progress line\n"
    "\n"
    "Reproducible: the same arguments give the same images, on any machine.\n"
    "Image i starts from position i of the seed's noise stream, so a deterministic\n"
    "sampler (lms, heun, dpmpp_2m, ddim, ...) gives image i whatever --batch is;\n"
    "a stochastic sampler draws its step noise per batch (Brownian noise per image),\n"
    "so its images also depend on --batch. Under mpirun the batches are split over\n"
    "the ranks and the files are those of one process (docs/distributed.md).\n"
    "\n"
    "exit status: 0 success, 1 failure, 2 usage error\n";

static int cmd_sample(int argc, char **argv) { return dk_cli_lua_module("sample", "diffkit.sample_cmd", argc, argv); }

DK_CLI_COMMAND("sample", "sample images from a checkpoint: diffkit sample CKPT --n N --out OUT", sample_help, cmd_sample)
