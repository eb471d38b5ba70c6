"""Stand-in for scikit-image: k_diffusion/augmentation.py does
`from skimage import transform` at import time (used only by the training
augmentation pipeline, not on the golden code path)."""
from . import transform
