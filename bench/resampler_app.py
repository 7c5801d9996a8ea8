"""plotly-resampler's way, for the chart benchmark: a Dash app with one ``FigureResampler``.

Served by gunicorn as ``bench.resampler_app:server``; it reads the same Parquet file as our
app (``BENCH_DATA_PATH``) and draws the same points per trace (``BENCH_POINTS``). Its figure
lives in the process that built it, so it is served by one worker (with two, a zoom answered by
the other worker finds no figure: plotly-resampler's issue #300).
"""

from __future__ import annotations

import os

import pandas as pd
import plotly.graph_objects as go
from dash import Dash, dcc
from plotly_resampler import FigureResampler

frame = pd.read_parquet(os.environ["BENCH_DATA_PATH"])
figure = FigureResampler(go.Figure(), default_n_shown_samples=int(os.environ.get("BENCH_POINTS", "4000")))
for column in frame.columns[1:]:
    figure.add_trace(go.Scattergl(name=column, mode="lines"), hf_x=frame[frame.columns[0]], hf_y=frame[column])

app = Dash(__name__)
app.layout = dcc.Graph(id="resampled", figure=figure, style={"height": "60vh"})
figure.register_update_graph_callback(app, "resampled")
server = app.server


@server.route("/healthz")
def healthz() -> str:
    return "OK"
