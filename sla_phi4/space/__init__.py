"""The demo Space: a Gradio app that scores one speaking test session with any SLA model.

This package is self-contained: its modules import one another relatively and only installed libraries (gradio,
transformers, matplotlib), never the rest of `sla_phi4`, and its wording is data (`words.json`). `sla demo-space` runs
it from here; `sla push --demo-space` copies it into the Space as the package `sla_space`, where `sla_phi4` is not
installed and the model is loaded from the Hub through `trust_remote_code`.

    session.py     the answers a person gives -> a session dict for the pipeline
    scorer.py      the model's pipeline and test format; scores answers
    explain.py     a pipeline result -> a report in plain words (scores, levels, intervals, referral, warnings)
    render.py      the report as HTML, with data attributes a browser test reads
    chart.py       a bar chart of the part scores on the format's scale
    interface.py   the Gradio Blocks: one group of answers per part of the test, and the scoring API
"""
