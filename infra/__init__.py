"""CDK constructs and the stack of the bandit retraining pipeline."""
