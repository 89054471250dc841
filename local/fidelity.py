"""The fidelity registry: which AWS rules the local runtime enforces, for every resource type and API call it serves.

One table, `SUBJECTS`, keyed by what the stack puts in front of AWS:

- a CloudFormation resource type of the synthesized template (`AWS::S3::Bucket`);
- an API operation the deployed code calls, as `service:Operation` with the IAM prefix (`dynamodb:UpdateItem`,
  `states:StartExecution`): the Lambda handlers' calls (derived statically, tests/infra/handler_actions.py) and the
  serving container's (`firehose:PutRecordBatch`, found in container/ the same way);
- a call a service makes for the stack, as `caller -> service:Operation` (`firehose -> s3:PutObject`,
  `states -> lambda:InvokeFunction`, `sagemaker -> ecr:BatchGetImage`).

Each subject has a `Coverage`: the `Rule`s the local runtime enforces for it (each with the AWS documentation it comes
from and the test that shows it enforced) and what is still not emulated. A subject with no rules must say why in
`not_emulated`. Resource types that are not provisioned locally are those without a provisioner in
`local.provision.PROVISIONERS`; provisioning skips them with this table's reason (`local.provision.NOT_EMULATED`).

Adding a row is one entry: `SUBJECTS["svc:Op"] = Coverage(rules=(Rule(...),), not_emulated="...")`, or one more
`Rule` in an existing subject's `rules`. tests/local/test_fidelity.py fails when the template or the code gains a
subject this table does not have, and when a rule cites a test that does not exist; docs/local-runtime.md's section
"AWS rules the local runtime enforces" is `render_markdown()`'s output (the test compares them).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Doc:
    """An AWS documentation page: its title as AWS gives it, and its address."""

    title: str
    url: str


@dataclass(frozen=True)
class Rule:
    """One AWS behaviour the local runtime applies as AWS does.

    `test` is `path::function` of the test that fails when the runtime stops enforcing it; `not_emulated` is what
    of this rule the local runtime still does not apply (empty when it applies all of it).
    """

    id: str
    text: str
    doc: Doc
    test: str
    not_emulated: str = ""


@dataclass(frozen=True)
class Coverage:
    """What the local runtime enforces for one subject, and what of AWS's behaviour it still does not."""

    rules: tuple[Rule, ...] = ()
    not_emulated: str = ""

    def __post_init__(self) -> None:
        if not self.rules and not self.not_emulated.strip():
            raise ValueError("a subject without rules must say what is not emulated and why")


# --- AWS documentation ------------------------------------------------------------------------------------------

ATHENA_UNLOAD = Doc("UNLOAD - Amazon Athena", "https://docs.aws.amazon.com/athena/latest/ug/unload.html")
ATHENA_HIVE_PATH = Doc(
    'Why does my Athena query fail with the error "HIVE_PATH_ALREADY_EXISTS"? (AWS re:Post Knowledge Center)',
    "https://repost.aws/knowledge-center/athena-hive-path-already-exists",
)
ATHENA_START = Doc(
    "StartQueryExecution - Amazon Athena API Reference",
    "https://docs.aws.amazon.com/athena/latest/APIReference/API_StartQueryExecution.html",
)
ATHENA_RESULTS = Doc(
    "GetQueryResults - Amazon Athena API Reference",
    "https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryResults.html",
)
ATHENA_GET = Doc(
    "GetQueryExecution - Amazon Athena API Reference",
    "https://docs.aws.amazon.com/athena/latest/APIReference/API_GetQueryExecution.html",
)
SFN_START = Doc(
    "StartExecution - AWS Step Functions API Reference",
    "https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html",
)
SFN_LAMBDA = Doc(
    "Invoke an AWS Lambda function with Step Functions",
    "https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html",
)
SFN_EVENTBRIDGE = Doc(
    "Automating Step Functions event delivery with EventBridge",
    "https://docs.aws.amazon.com/step-functions/latest/dg/eventbridge-integration.html",
)
SFN_EVENTS_REF = Doc(
    "AWS Step Functions events - Amazon EventBridge",
    "https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-states.html",
)
SFN_STOP = Doc(
    "StopExecution - AWS Step Functions API Reference",
    "https://docs.aws.amazon.com/step-functions/latest/apireference/API_StopExecution.html",
)
LAMBDA_INVOKE = Doc(
    "Invoke - AWS Lambda API Reference", "https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html"
)
LAMBDA_ASYNC = Doc(
    "How Lambda handles errors and retries with asynchronous invocation",
    "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-error-handling.html",
)
LAMBDA_DESTINATIONS = Doc(
    "Capturing records of Lambda asynchronous invocations",
    "https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html",
)
LAMBDA_ENV = Doc(
    "Working with Lambda environment variables: defined runtime environment variables",
    "https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime",
)
EVENTS_DLQ = Doc(
    "Using dead-letter queues to process undelivered events in EventBridge",
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html",
)
EVENTS_PATTERNS = Doc(
    "Creating event patterns in Amazon EventBridge",
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html",
)
S3_EVENTBRIDGE = Doc(
    "Using EventBridge - Amazon Simple Storage Service",
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/EventBridge.html",
)
FIREHOSE_BATCH = Doc(
    "PutRecordBatch - Amazon Data Firehose API Reference",
    "https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecordBatch.html",
)
FIREHOSE_RECORD = Doc(
    "PutRecord - Amazon Data Firehose API Reference",
    "https://docs.aws.amazon.com/firehose/latest/APIReference/API_PutRecord.html",
)
FIREHOSE_KEYS = Doc(
    "Configure Amazon S3 object name format - Amazon Data Firehose",
    "https://docs.aws.amazon.com/firehose/latest/dev/s3-object-name.html",
)
FIREHOSE_PROCESSOR = Doc(
    "Processor - Amazon Data Firehose API Reference",
    "https://docs.aws.amazon.com/firehose/latest/APIReference/API_Processor.html",
)
DDB_CONDITIONS = Doc(
    "Condition expressions - Amazon DynamoDB",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Expressions.ConditionExpressions.html",
)
DDB_TRANSACT = Doc(
    "TransactWriteItems - Amazon DynamoDB API Reference",
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html",
)
SM_TRAINING = Doc(
    "CreateTrainingJob - Amazon SageMaker API Reference",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html",
)
SM_STOPPING = Doc(
    "StoppingCondition - Amazon SageMaker API Reference",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html",
)
SM_DESCRIBE_JOB = Doc(
    "DescribeTrainingJob - Amazon SageMaker API Reference",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeTrainingJob.html",
)
SM_BLUE_GREEN = Doc(
    "Use blue/green deployments - Amazon SageMaker AI",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green.html",
)
SM_ROLLBACK = Doc(
    "Auto-Rollback Configuration and Monitoring - Amazon SageMaker AI",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html",
)
SM_PING = Doc(
    "Custom Inference Code with Hosting Services: how your container should respond to health check (ping) requests",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-inference-code.html",
)
SM_UPDATE = Doc(
    "UpdateEndpoint - Amazon SageMaker API Reference",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html",
)

# --- tests that show a rule enforced ------------------------------------------------------------------------------

_ATHENA_TESTS = "tests/local/engines/test_athena_engine.py"
_SM_TESTS = "tests/local/engines/test_sagemaker_engine.py"
_GATEWAY_TESTS = "tests/local/test_gateway.py"
_EVENTS_TESTS = "tests/local/test_events.py"
_FIREHOSE_TESTS = "tests/local/test_firehose_limits.py"

# --- rules ------------------------------------------------------------------------------------------------------

UNLOAD_TARGET_EMPTY = Rule(
    "athena.unload-target-empty",
    "UNLOAD into a prefix that already holds objects fails with HIVE_PATH_ALREADY_EXISTS (nothing is overwritten)",
    ATHENA_UNLOAD,
    f"{_ATHENA_TESTS}::test_unload_of_the_join_writes_json_lines_and_reads_only_the_window",
    "formats other than JSON, TEXTFILE and PARQUET and compressions other than GZIP and NONE are refused locally",
)
ATHENA_FAILED_QUERY = Rule(
    "athena.failed-query",
    "a query that cannot run ends FAILED with StateChangeReason and AthenaError (TABLE_NOT_FOUND for an unknown "
    "table); GetQueryResults on it and GetQueryExecution of an unknown id raise InvalidRequestException",
    ATHENA_GET,
    f"{_ATHENA_TESTS}::test_bad_sql_fails_with_a_reason",
)
ATHENA_RESULT_PAGES = Rule(
    "athena.result-pages",
    "GetQueryResults answers in pages (header row first, NULL as a Datum without VarCharValue, NextToken until the "
    "last page)",
    ATHENA_RESULTS,
    f"{_ATHENA_TESTS}::test_select_with_default_database_nulls_and_paging",
)
SFN_NAME_UNIQUE = Rule(
    "states.execution-name-unique",
    "a second StartExecution with the name of an existing execution raises ExecutionAlreadyExists",
    SFN_START,
    f"{_GATEWAY_TESTS}::test_step_functions_execute_and_call_lambda_back_through_the_gateway",
)
SFN_INVOKES_LAMBDA = Rule(
    "states.lambda-invoke",
    "a Task on arn:aws:states:::lambda:invoke runs the function and puts its answer in the state output",
    SFN_LAMBDA,
    f"{_GATEWAY_TESTS}::test_step_functions_execute_and_call_lambda_back_through_the_gateway",
)
SFN_STATUS_EVENTS = Rule(
    "states.status-change-events",
    "every status change of a standard workflow's execution (RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED) puts a "
    "`Step Functions Execution Status Change` event (source aws.states, resources [executionArn], detail with "
    "executionArn, stateMachineArn, name, status, input, output, error, cause and epoch-millisecond dates) on the "
    "default bus; express workflows send none",
    SFN_EVENTBRIDGE,
    "tests/local/test_sfn_events.py::test_a_failing_execution_sends_failed_with_its_error",
    "RUNNING may arrive after the end event of a very short execution; PENDING_REDRIVE is never sent; input and "
    "output over 256 KiB are not truncated (inputDetails.included stays true)",
)
SFN_STOP_ABORTS = Rule(
    "states.stop-execution-aborts",
    "StopExecution ends a running execution ABORTED, which sends its status-change event; a task in flight "
    "finishes first",
    SFN_STOP,
    "tests/local/test_sfn_events.py::test_stop_execution_sends_running_then_aborted",
)
RECONCILE_AFTER_STOP = Rule(
    "events.states-status-to-lambda",
    "a rule on aws.states status changes of one state machine and the statuses ABORTED, TIMED_OUT, FAILED delivers "
    "the ended execution's event to its Lambda target (reconcile), at least once",
    SFN_EVENTS_REF,
    "tests/local/test_reconcile_e2e.py::test_a_run_stopped_by_hand_mid_deployment_leaves_registry_and_lock_consistent",
    "delivery is exactly once unless duplicates are injected (local.faults); AWS delivers best effort",
)
LAMBDA_FUNCTION_ERROR = Rule(
    "lambda.function-error",
    "a handler exception answers 200 with X-Amz-Function-Error: Unhandled and {errorMessage, errorType}; a run over "
    "the function's Timeout is Sandbox.Timedout",
    LAMBDA_INVOKE,
    f"{_GATEWAY_TESTS}::test_handler_errors_and_timeouts_are_function_errors",
)
LAMBDA_NOT_FOUND = Rule(
    "lambda.not-found",
    "invoking a function that does not exist raises ResourceNotFoundException (404)",
    LAMBDA_INVOKE,
    f"{_GATEWAY_TESTS}::test_unknown_function_is_resource_not_found",
)
LAMBDA_ENVIRONMENT = Rule(
    "lambda.environment",
    "the handler sees the template's Environment (intrinsic functions resolved) plus the variables Lambda defines "
    "(AWS_LAMBDA_FUNCTION_NAME, AWS_REGION, ...); the context's remaining time counts down from the Timeout",
    LAMBDA_ENV,
    f"{_GATEWAY_TESTS}::test_invoke_runs_the_handler_with_the_function_environment",
)
LAMBDA_ASYNC_RETRIES = Rule(
    "lambda.async-retries",
    "an asynchronous invocation that fails is retried MaximumRetryAttempts times (default 2), then its OnFailure "
    "destination gets the invocation record with requestContext.condition RetriesExhausted",
    LAMBDA_ASYNC,
    f"{_EVENTS_TESTS}::test_undeliverable_events_and_failed_async_invocations_go_to_the_dead_letter_queue",
    "retries come after 1 s and 2 s instead of about 1 and 2 minutes",
)
LAMBDA_DESTINATION_RECORD = Rule(
    "lambda.destination-record",
    "the OnFailure record carries requestPayload and responsePayload as Lambda's destination record does",
    LAMBDA_DESTINATIONS,
    f"{_EVENTS_TESTS}::test_undeliverable_events_and_failed_async_invocations_go_to_the_dead_letter_queue",
)
EVENTS_TARGET_DLQ = Rule(
    "events.target-dlq",
    "an event EventBridge cannot deliver to its target (function missing) is retried, then sent to the target's "
    "DeadLetterConfig queue",
    EVENTS_DLQ,
    f"{_EVENTS_TESTS}::test_undeliverable_events_and_failed_async_invocations_go_to_the_dead_letter_queue",
    "at most 3 attempts 1/2/4 s apart, not the target's RetryPolicy (24 hours, 185 attempts by default)",
)
EVENTS_PATTERN = Rule(
    "events.pattern",
    "only events matching the rule's pattern (bucket, key prefix) reach the target",
    EVENTS_PATTERNS,
    f"{_EVENTS_TESTS}::test_objects_outside_the_pattern_are_not_delivered",
)
S3_OBJECT_CREATED = Rule(
    "s3.eventbridge-object-created",
    "with EventBridge notifications on, every PutObject (also Firehose's deliveries) sends an Object Created event "
    "in EventBridge's shape (detail-type, source aws.s3, time as ISO-8601)",
    S3_EVENTBRIDGE,
    f"{_EVENTS_TESTS}::test_s3_object_created_reaches_the_rules_lambda_target",
)
S3_FIREHOSE_NOTIFIES = Rule(
    "s3.firehose-objects-notify",
    "objects Firehose delivers raise the same Object Created events as any PutObject",
    S3_EVENTBRIDGE,
    f"{_EVENTS_TESTS}::test_firehose_objects_notify_too",
)
FIREHOSE_BATCH_LIMITS = Rule(
    "firehose.batch-limits",
    "PutRecordBatch takes 1 to 500 records, each at most 1,000 KiB, else ValidationException (nothing is accepted)",
    FIREHOSE_BATCH,
    f"{_FIREHOSE_TESTS}::test_put_record_batch_refuses_batches_and_records_over_the_limits",
    "the 4 MiB limit per call is not checked",
)
FIREHOSE_UNKNOWN_STREAM = Rule(
    "firehose.unknown-stream",
    "a put to a stream that does not exist raises ResourceNotFoundException",
    FIREHOSE_RECORD,
    f"{_GATEWAY_TESTS}::test_firehose_buffers_records_into_json_lines_under_the_hour_prefix",
)
FIREHOSE_KEY_LAYOUT = Rule(
    "firehose.s3-key-layout",
    "delivered objects are named <Prefix>YYYY/MM/DD/HH/<stream>-<version>-<UTC time>-<uuid>, records concatenated "
    "as sent (no delimiter added unless the stream has the AppendDelimiterToRecord processor)",
    FIREHOSE_KEYS,
    f"{_GATEWAY_TESTS}::test_firehose_buffers_records_into_json_lines_under_the_hour_prefix",
    "objects are flushed after 1 s (the local interval) instead of the stream's BufferingHints interval",
)
FIREHOSE_APPEND_DELIMITER = Rule(
    "firehose.append-delimiter",
    "with an enabled ProcessingConfiguration holding the AppendDelimiterToRecord processor every delivered record "
    "ends with its delimiter (a newline by default); without it records are concatenated as sent",
    FIREHOSE_PROCESSOR,
    "tests/local/test_firehose_delimiter.py::test_append_delimiter_processor_keeps_two_producers_records_on_two_lines",
    "other processors (Lambda, Decompression, MetadataExtraction, ...) are ignored",
)
DDB_CONDITIONAL_WRITE = Rule(
    "dynamodb.conditional-write",
    "a write whose ConditionExpression is false raises ConditionalCheckFailedException (moto's DynamoDB, the backend "
    "the gateway serves): of concurrent triggers exactly one takes the run lock",
    DDB_CONDITIONS,
    "tests/pipeline/test_trigger.py::test_concurrent_triggers_start_exactly_one_execution",
)
SM_JOB_NAME_UNIQUE = Rule(
    "sagemaker.training-job-name-unique",
    "a training job name is unique in the account and region: a second CreateTrainingJob with it raises ResourceInUse",
    SM_TRAINING,
    f"{_SM_TESTS}::test_training_job_runs_the_container_and_uploads_the_model",
)
SM_JOB_FAILURE = Rule(
    "sagemaker.training-job-failure",
    "a job whose container exits non-zero ends Failed with the container's failure text as FailureReason",
    SM_DESCRIBE_JOB,
    f"{_SM_TESTS}::test_a_failing_job_reports_the_failure_text",
)
SM_MAX_RUNTIME = Rule(
    "sagemaker.max-runtime",
    "StoppingCondition.MaxRuntimeInSeconds stops a job over the limit (Stopped, SecondaryStatus MaxRuntimeExceeded); "
    "StopTrainingJob stops a running one",
    SM_STOPPING,
    f"{_SM_TESTS}::test_stop_and_max_runtime",
)
SM_PING_ROLLBACK = Rule(
    "sagemaker.green-health-check",
    "UpdateEndpoint starts a green fleet that must answer GET /ping with 200; if it does not, the endpoint keeps "
    "blue and returns to InService with a FailureReason",
    SM_PING,
    f"{_SM_TESTS}::test_green_failing_ping_is_rolled_back_while_blue_serves",
)
SM_CANARY = Rule(
    "sagemaker.canary",
    "a CANARY blue/green update sends the canary share to green, waits, then shifts all traffic and stops blue",
    SM_BLUE_GREEN,
    f"{_SM_TESTS}::test_canary_shifts_to_green_and_stops_blue",
    "the canary size is not checked against the variant's instance count",
)
SM_ROLLBACK_ERRORS = Rule(
    "sagemaker.rollback-on-errors",
    "green answering 5XX during the bake counts as Invocation5XXErrors and the update rolls back to blue",
    SM_ROLLBACK,
    f"{_SM_TESTS}::test_errors_on_green_roll_back",
)
SM_ROLLBACK_ALARM = Rule(
    "sagemaker.rollback-on-alarm",
    "an AutoRollbackConfiguration alarm in ALARM during the update rolls the endpoint back to blue",
    SM_ROLLBACK,
    f"{_SM_TESTS}::test_an_alarm_in_alarm_state_rolls_back",
)

_IAM = "IAM policies are stored, not evaluated: a call the role does not allow succeeds locally"

SUBJECTS: dict[str, Coverage] = {
    # --- CloudFormation resource types ---------------------------------------------------------------------------
    "AWS::S3::Bucket": Coverage(
        rules=(S3_OBJECT_CREATED,),
        not_emulated="server access logging, lifecycle expiry, versioning and SSE have no local effect",
    ),
    "AWS::S3::BucketPolicy": Coverage(
        not_emulated="moto stores the policy without its SSL-only statement (the gateway is plain HTTP); bucket "
        "policies are otherwise moto's"
    ),
    "AWS::IAM::Role": Coverage(not_emulated=f"roles exist so ARNs resolve; {_IAM}"),
    "AWS::IAM::Policy": Coverage(not_emulated=_IAM),
    "AWS::IAM::ManagedPolicy": Coverage(not_emulated=_IAM),
    "AWS::Logs::LogGroup": Coverage(
        not_emulated="moto log groups; retention is not applied, function logs go to files under local/.state"
    ),
    "AWS::Logs::LogStream": Coverage(not_emulated="moto log streams; Firehose writes no delivery errors to them"),
    "AWS::KinesisFirehose::DeliveryStream": Coverage(
        rules=(FIREHOSE_KEY_LAYOUT, FIREHOSE_APPEND_DELIMITER),
        not_emulated="buffering interval is 1 s locally instead of the template's; compression, ErrorOutputPrefix, "
        "CloudWatch logging and processors other than AppendDelimiterToRecord are ignored",
    ),
    "AWS::Glue::Database": Coverage(not_emulated="moto Glue; read by the Athena engine only"),
    "AWS::Glue::Table": Coverage(
        not_emulated="moto Glue; the Athena engine reads the columns, SerDe and partition projection from it"
    ),
    "AWS::Athena::WorkGroup": Coverage(
        not_emulated="moto work group: its result location is used; the scan cutoff and engine version are not"
    ),
    "AWS::DynamoDB::Table": Coverage(
        rules=(DDB_CONDITIONAL_WRITE,),
        not_emulated="point-in-time recovery, SSE and TTL expiry (moto stores the TTL setting, deletes nothing)",
    ),
    "AWS::Lambda::Function": Coverage(
        rules=(LAMBDA_ENVIRONMENT, LAMBDA_FUNCTION_ERROR),
        not_emulated="layers are not mounted (the venv provides Powertools), X-Ray tracing is off, no reserved "
        "concurrency; at most 4 workers per function",
    ),
    "AWS::Lambda::EventInvokeConfig": Coverage(
        rules=(LAMBDA_ASYNC_RETRIES,), not_emulated="retry delays are 1 s and 2 s instead of about 1 and 2 minutes"
    ),
    "AWS::Lambda::Permission": Coverage(
        not_emulated="resource-based policies are not enforced; rule targets reach the function through the "
        "gateway's EventBridge hook"
    ),
    "AWS::Lambda::LayerVersion": Coverage(
        not_emulated="layers are not mounted; the venv provides Powertools and boto3"
    ),
    "AWS::SQS::Queue": Coverage(not_emulated="moto SQS; KMS-managed SSE and retention are not applied"),
    "AWS::SQS::QueuePolicy": Coverage(not_emulated=f"queue policies are stored, not evaluated; {_IAM}"),
    "AWS::StepFunctions::StateMachine": Coverage(
        rules=(SFN_NAME_UNIQUE, SFN_STATUS_EVENTS, SFN_STOP_ABORTS),
        not_emulated="moto's ASL interpreter: logging and tracing configuration have no effect; Wait and Retry "
        "intervals sleep in real time",
    ),
    "AWS::Events::Rule": Coverage(rules=(EVENTS_PATTERN, EVENTS_TARGET_DLQ)),
    "AWS::CloudWatch::Alarm": Coverage(
        not_emulated="moto stores alarms but does not evaluate them; alarm state is what the SageMaker engine sets"
    ),
    "AWS::CloudWatch::Dashboard": Coverage(not_emulated="stored only"),
    "AWS::CDK::Metadata": Coverage(not_emulated="CDK version reporting"),
    "AWS::KMS::Key": Coverage(not_emulated="encryption at rest is not emulated; moto stores data unencrypted"),
    "AWS::KMS::Alias": Coverage(not_emulated="encryption at rest is not emulated"),
    "AWS::EC2::VPC": Coverage(not_emulated="no networking is emulated; every process talks over loopback"),
    # --- API operations the Lambda handlers and the serving container call -------------------------------------------
    "athena:StartQueryExecution": Coverage(
        rules=(UNLOAD_TARGET_EMPTY, ATHENA_FAILED_QUERY),
        not_emulated="DuckDB runs the SQL (Trino dialect shims); the work group's scan cutoff is not applied; "
        f"{_IAM} (Athena's S3 and Glue reads for the caller included)",
    ),
    "athena:GetQueryExecution": Coverage(rules=(ATHENA_FAILED_QUERY,), not_emulated=_IAM),
    "athena:GetQueryResults": Coverage(rules=(ATHENA_RESULT_PAGES,), not_emulated=_IAM),
    "dynamodb:GetItem": Coverage(not_emulated=f"moto's DynamoDB semantics; {_IAM}"),
    "dynamodb:PutItem": Coverage(rules=(DDB_CONDITIONAL_WRITE,), not_emulated=_IAM),
    "dynamodb:UpdateItem": Coverage(rules=(DDB_CONDITIONAL_WRITE,), not_emulated=_IAM),
    "dynamodb:DeleteItem": Coverage(rules=(DDB_CONDITIONAL_WRITE,), not_emulated=_IAM),
    "dynamodb:TransactWriteItems": Coverage(
        not_emulated=f"moto's transactions (TransactionCanceledException with reasons); no local test shows a "
        f"cancelled transaction yet ({DDB_TRANSACT.url}); {_IAM}"
    ),
    "s3:GetObject": Coverage(not_emulated=f"moto's S3; {_IAM}"),
    "states:StartExecution": Coverage(rules=(SFN_NAME_UNIQUE,), not_emulated=_IAM),
    "states:DescribeExecution": Coverage(not_emulated=f"moto's execution status; {_IAM}"),
    "sagemaker:CreateTrainingJob": Coverage(
        rules=(SM_JOB_NAME_UNIQUE, SM_JOB_FAILURE, SM_MAX_RUNTIME),
        not_emulated=f"the container runs as a local process, not on the requested instance type; {_IAM}",
    ),
    "sagemaker:DescribeTrainingJob": Coverage(rules=(SM_JOB_FAILURE,), not_emulated=_IAM),
    "sagemaker:CreateModel": Coverage(not_emulated=f"names are checked for uniqueness only; {_IAM}"),
    "sagemaker:CreateEndpointConfig": Coverage(not_emulated=f"names are checked for uniqueness only; {_IAM}"),
    "sagemaker:CreateEndpoint": Coverage(rules=(SM_PING_ROLLBACK,), not_emulated=_IAM),
    "sagemaker:UpdateEndpoint": Coverage(
        rules=(SM_PING_ROLLBACK, SM_CANARY, SM_ROLLBACK_ERRORS, SM_ROLLBACK_ALARM), not_emulated=_IAM
    ),
    "sagemaker:DescribeEndpoint": Coverage(rules=(SM_PING_ROLLBACK,), not_emulated=_IAM),
    "sagemaker:DescribeEndpointConfig": Coverage(
        not_emulated=f"the engine answers with the stored request (ProductionVariants, ModelName); {_IAM}"
    ),
    "sagemaker:DescribeModel": Coverage(
        not_emulated=f"the engine answers with the stored request (PrimaryContainer.Environment); {_IAM}"
    ),
    "firehose:PutRecordBatch": Coverage(
        rules=(FIREHOSE_BATCH_LIMITS, FIREHOSE_UNKNOWN_STREAM),
        not_emulated="the 4 MiB per-call limit and the per-stream throughput quota are not enforced (throttling "
        "only as an injected fault); the serving container calls it with the gateway's credentials, not the "
        f"SageMaker role's; {_IAM}",
    ),
    # --- calls services make for the stack ------------------------------------------------------------------------
    "firehose -> s3:PutObject": Coverage(
        rules=(FIREHOSE_KEY_LAYOUT, FIREHOSE_APPEND_DELIMITER, S3_FIREHOSE_NOTIFIES),
        not_emulated="delivery runs in-process with no role: the delivery role's policy is not evaluated",
    ),
    "s3 -> events:PutEvents": Coverage(rules=(S3_OBJECT_CREATED,)),
    "states -> events:PutEvents": Coverage(rules=(SFN_STATUS_EVENTS, SFN_STOP_ABORTS)),
    "events -> lambda:InvokeFunction": Coverage(
        rules=(EVENTS_PATTERN, RECONCILE_AFTER_STOP, EVENTS_TARGET_DLQ, LAMBDA_ASYNC_RETRIES),
        not_emulated="the function's resource policy (AWS::Lambda::Permission) is not checked",
    ),
    "events -> sqs:SendMessage": Coverage(
        rules=(EVENTS_TARGET_DLQ,), not_emulated="the queue policy allowing EventBridge is not checked"
    ),
    "lambda -> sqs:SendMessage": Coverage(
        rules=(LAMBDA_DESTINATION_RECORD,), not_emulated="the function role's sqs:SendMessage is not checked"
    ),
    "states -> lambda:InvokeFunction": Coverage(
        rules=(SFN_INVOKES_LAMBDA,), not_emulated="the state machine role's lambda:InvokeFunction is not checked"
    ),
    "sagemaker -> s3:GetObject": Coverage(
        not_emulated="the engine reads training channels and model artifacts itself; the SageMaker role's S3 "
        "permissions are not checked"
    ),
    "sagemaker -> s3:PutObject": Coverage(
        not_emulated="the engine uploads model.tar.gz itself; the SageMaker role's S3 permissions are not checked"
    ),
    "sagemaker -> ecr:BatchGetImage": Coverage(
        not_emulated="no image is pulled: the container code runs from the repository; ECR permissions are not checked"
    ),
    "sagemaker -> cloudwatch:DescribeAlarms": Coverage(
        rules=(SM_ROLLBACK_ALARM,), not_emulated="the role's cloudwatch:DescribeAlarms is not checked"
    ),
}
"""Every subject the stack presents to AWS, with what the local runtime enforces for it."""


def coverage(subject: str) -> Coverage | None:
    return SUBJECTS.get(subject)


def uncovered(subjects: set[str]) -> set[str]:
    """Subjects the table does not list (neither enforced nor named as not emulated)."""
    return {s for s in subjects if s not in SUBJECTS}


def not_emulated_types(provisioned: set[str]) -> dict[str, str]:
    """Resource types of the table without a local provisioner, with the reason (provisioning skips them)."""
    return {
        subject: cov.not_emulated
        for subject, cov in SUBJECTS.items()
        if subject.startswith("AWS::") and subject not in provisioned
    }


def rules() -> dict[str, Rule]:
    """Every rule once, by id."""
    found: dict[str, Rule] = {}
    for cov in SUBJECTS.values():
        for rule in cov.rules:
            if found.setdefault(rule.id, rule) != rule:
                raise ValueError(f"rule id {rule.id} names two different rules")
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    """The tables of docs/local-runtime.md: one row per rule, then one per subject with the rules that apply."""
    lines = ["| rule | AWS documentation | test | not emulated |", "|---|---|---|---|"]
    for rule in rules().values():
        lines.append(
            f"| `{rule.id}`: {_cell(rule.text)} | [{_cell(rule.doc.title)}]({rule.doc.url}) | `{rule.test}` | "
            f"{_cell(rule.not_emulated) or '-'} |"
        )
    lines += ["", "| resource type, API call or service call | rules enforced | not emulated |", "|---|---|---|"]
    for subject, cov in SUBJECTS.items():
        enforced = ", ".join(f"`{rule.id}`" for rule in cov.rules) or "none"
        lines.append(f"| `{subject}` | {enforced} | {_cell(cov.not_emulated) or '-'} |")
    return "\n".join(lines) + "\n"


DOC_BEGIN = "<!-- fidelity table: generated by `python -m local.fidelity --write docs/local-runtime.md` -->"
DOC_END = "<!-- end of fidelity table -->"


def render_doc_section(document: str) -> str:
    """`document` with the text between DOC_BEGIN and DOC_END replaced by the current table."""
    try:
        head, rest = document.split(DOC_BEGIN, 1)
        _, tail = rest.split(DOC_END, 1)
    except ValueError:
        raise ValueError(f"the document has no {DOC_BEGIN!r} ... {DOC_END!r} block") from None
    return f"{head}{DOC_BEGIN}\n{render_markdown()}{DOC_END}{tail}"


def main(argv: list[str]) -> int:
    if argv[:1] == ["--write"] and len(argv) == 2:
        path = Path(argv[1])
        path.write_text(render_doc_section(path.read_text()))
        return 0
    if argv:
        print("usage: python -m local.fidelity [--write docs/local-runtime.md]", file=sys.stderr)
        return 2
    print(render_markdown(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
