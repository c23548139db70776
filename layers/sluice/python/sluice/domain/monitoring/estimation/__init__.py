"""Performance estimated without labels, as NannyML 0.13 estimates it: CBPE for classifiers (a
calibration of the model's probabilities learnt on its holdout, an expected confusion matrix per
window) and DLE for regressors (a loss model learnt on its holdout predicting each row's error), each
metric with a band of ±3 sampling errors. `fit` learns the basis at training; `cbpe` and `dle` use it
in the drift check; `notes` says what the estimates mean."""
