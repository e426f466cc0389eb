"""The Classify tab: a photo in; Menny's probabilities, where it looked and what each
conv layer sees out (menny_core.explain_photo), answered by the visitor's own model."""

from __future__ import annotations

import gradio as gr

from menny_app.analysis import erf_and_shift_panels
from menny_app.inputs import for_people, load_image
from menny_app.session import Session, with_session
from menny_core.explain_photo import explain_photo
from menny_core.lessons import classify_lesson, verdict


@for_people
def classify(session: Session, image_path, request: gr.Request = None):
    """Class probabilities, Menny's answer in words, saliency overlay (with the face box),
    feature sheet, Learn text, which model answered, and the detector's answer as data:
    {"verdict", "face", "box"} (None each for a classifier's weights)."""
    image, _note = load_image(image_path, "upload a photo or pick a bundled portrait first")
    predictor, model_note = session.model_for(request)
    seen = explain_photo(predictor, image)  # one forward and one backward pass
    probabilities = seen.prediction.probabilities
    return (
        probabilities,
        verdict(seen.prediction, predictor.unsure_below),
        seen.overlay,
        seen.feature_sheet,
        classify_lesson(probabilities, seen.image_size, seen.layers),
        model_note,
        {k: v for k, v in seen.prediction.to_dict().items() if k in ("verdict", "face", "box")},
    )


def classify_tab(app: gr.Blocks, session: Session, portraits: list[str]) -> None:
    """The tab's widgets; a click on a bundled portrait classifies it at once."""
    with gr.Tab("Classify", id="classify") as tab:
        with gr.Row():
            with gr.Column(scale=1):
                photo = gr.Image(
                    type="filepath",
                    label="Photo",
                    height=260,
                    sources=["upload", "clipboard"],
                    elem_id="photo",
                )
                examples = portraits
                picked = None
                if examples:
                    picked = gr.Examples(
                        examples, inputs=photo, label="Bundled portraits", elem_id="portraits"
                    )
                button = gr.Button("Classify", variant="primary")
                model_note = gr.Markdown(elem_id="model-note")
            with gr.Column(scale=1):
                label = gr.Label(label="Menny thinks", num_top_classes=5, elem_id="label")
                unsure = gr.Markdown(elem_id="unsure")
                saliency = gr.Image(  # a photo: JPEG encodes in a fraction of PNG's time
                    label="Where it looked (saliency) and where it found the face (green box)",
                    format="jpeg",
                    elem_id="saliency",
                    height=320,
                )
        maps = gr.Image(
            label="What each conv layer sees (a row per layer: its first channels)",
            format="png",
            elem_id="feature-sheet",
            elem_classes="pixelated",
        )
        with gr.Accordion("Learn", open=False):
            learn = gr.Markdown()
        erf_and_shift_panels(session, photo)  # what the units listen to; moving the face
        with gr.Accordion("The detector's answer as data", open=False):
            detection = gr.JSON(label="verdict, face probability, box [x, y, w, h] in pixels")
    event = dict(
        fn=with_session(classify, session),
        inputs=photo,
        outputs=[label, unsure, saliency, maps, learn, model_note, detection],
        preprocess=False,  # see uploaded_file()
        # ~60 ms of MLX per photo: one at a time leaves a core for Gradio's event loop and the
        # other tabs, at the same throughput as two (bench/load.py: 6.2 vs 6.0 calls/s).
        concurrency_limit=1,
        concurrency_id="classify",
    )
    gr.on([button.click, photo.upload], api_name="classify", **event)
    # Which model answers changes when a run finishes: say it afresh on every visit.
    gr.on(
        [app.load, tab.select],
        session.describe_model,
        None,
        model_note,
        api_visibility="undocumented",
    )
    if picked is not None:  # a click on a bundled portrait classifies it at once
        picked.load_input_event.then(api_visibility="undocumented", **event)
