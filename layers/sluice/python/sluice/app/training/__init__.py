"""TrainAndPromote: starting a run, the state machine's steps, making a candidate, the Fargate task."""
