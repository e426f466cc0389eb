"""The Gradio app: one module per tab, and the few pieces they share.

    inputs      what a visitor sends, checked: numbers, choices, files; errors for people
    playground  the kernel playground tab          shapes     the layer-shapes tab
    classify    the Classify tab                   training   the Train tab
    session     what Classify and Train share: the trainer, the visitors, the models
    layout      all tabs in one Blocks             server     the command line and launch

Tabs declare their widgets and wire events to plain handlers; every computation is a call
into `kernels_playground` or `menny_core`, which never import Gradio.
"""

# First, before any tab module imports mlx.core: menny_base gives MLX its fast BLAS (an app
# module importing mlx.core first would leave MLX on its slow reference BLAS: 2.5x slower).
import menny_base  # noqa: F401
