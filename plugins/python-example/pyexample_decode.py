"""`pyexample.argmax`: CLS-Raw in Python, what `decode.argmax` computes."""

import numpy as np

import emoflow_sdk as ef
from emoflow_sdk.decode import Codebooks, decode_and_average


@ef.kind(
    "pyexample.argmax",
    inputs=[
        ef.Input("posteriors", ef.port.POSTERIORS, "class posteriors per task"),
        ef.Input("codebook", ef.port.CODEBOOK, "class means and priors per dimension and task"),
    ],
    outputs=[ef.Output("predictions", ef.port.SERIES, "one series per utterance and dimension")],
)
def argmax(ctx: ef.Context, params, inputs):
    """CLS-Raw: divides the posteriors by the class priors, takes each
    frame's most likely class, maps it to its cluster mean and averages the
    tasks of each utterance."""
    codebooks = Codebooks.from_table(inputs["codebook"])

    def on_row(row: int, rows: int) -> None:
        ctx.check_cancelled()
        ctx.progress(row, rows, "decoding")

    # np.argmax takes the first of equal scores, as decode.argmax does.
    predictions = decode_and_average(inputs["posteriors"], codebooks,
                                     lambda row, emissions: np.argmax(emissions, axis=1), on_row)
    return {"predictions": predictions}
