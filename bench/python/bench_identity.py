"""`bench.identity_py`: returns its features unchanged, for the crossing
cost of Python kinds (nodes/python/examples/crossing.rs)."""

import emoflow_sdk as ef


@ef.kind("bench.identity_py",
         inputs=[ef.Input("features", ef.port.FEATURES, "any features")],
         outputs=[ef.Output("features", ef.port.FEATURES, "the same features")])
def identity(ctx, params, inputs):
    """Returns its input."""
    return {"features": inputs["features"]}
