"""What every job of the image shares: the policy, featurizer, records, settings, artifact layout and split."""
