"""Live data quality, in the spirit of SageMaker Model Monitor's data-quality job: a baseline of the
training data stored with each version (statistics.json, constraints.json), the requests validation
rejected (captured beside the predictions), and each check's verdict on a window of traffic."""
