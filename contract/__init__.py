"""The contract the deployables share: standard library only, copied into the Lambda asset and the policy image.

- `records`: the decision and reward record fields, their Glue column types and their JSON encoding;
- `timefmt`: the one timestamp format (ISO-8601 UTC, milliseconds, `Z`) and the hour partitions;
- `settings`: the experiment's settings, their validation and the job hyperparameters they become;
- `bounds`: the choices and numeric ranges of every setting and hyperparameter;
- `environment`: the environment variable names the stack sets and the handlers and the container read;
- `firehose`: Firehose's record and batch limits;
- `retryable`: the AWS error codes worth retrying.

Infra, the Lambdas, the container, the simulator and the local runtime import it as the top-level `contract`
package; nothing here imports anything outside the standard library (`tests/contract/` checks).
"""
