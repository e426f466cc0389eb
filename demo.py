"""Menny: learn CNNs hands-on. Start with `python demo.py` (see README.md).

The full multi-tab app is being built; this entry point already starts a server.
"""

import kernels_playground  # noqa: F401  (first: gives MLX a fast BLAS, see fast_blas.py)
import gradio as gr

from kernels_playground.arithmetic import conv_output_formula


def build_app() -> gr.Blocks:
    with gr.Blocks(title="Menny") as app:
        gr.Markdown("# Menny\nConvolution arithmetic: " + conv_output_formula(256, 3, padding=1))
    return app


if __name__ == "__main__":
    build_app().launch()
