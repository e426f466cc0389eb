"""The limits of a training run that the weights file's reader checks too: one place, below
both `train` (which enforces them) and `weights` (which refuses files beyond them)."""

# The largest image side a run may use: 4x the default, 16x its work per image (a forward
# pass of 16 images at 512x512 takes seconds on a laptop CPU). Far beyond it mlx-data's
# resize fails inside a worker thread and kills the whole process (seen at 100000), which
# no error message can explain afterwards; so the limit is checked first.
MAX_IMAGE_SIZE = 512
# numpy's legacy seeding (np.random.seed) takes 32-bit seeds.
MAX_SEED = 2**32 - 1
