"""What the two HTTP APIs (the prediction API, entrypoints/api; the console, entrypoints/console) share:
the one mapping from exceptions to status codes and its error body (errors.py), reading JSON bodies
(bodies.py). Nothing here imports the serving code (ONNX Runtime, numpy): the console's cold start
must not pay for it."""
