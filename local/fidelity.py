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
LAMBDA_MEMORY = Doc(
    "Configure Lambda function memory", "https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html"
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

SM_TRAFFIC_ROUTING = Doc(
    "TrafficRoutingConfig - Amazon SageMaker API Reference",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html",
)
SM_BLUE_GREEN_POLICY = Doc(
    "BlueGreenUpdatePolicy - Amazon SageMaker API Reference",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BlueGreenUpdatePolicy.html",
)
SM_PRODUCTION_VARIANT = Doc(
    "ProductionVariant - Amazon SageMaker API Reference",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html",
)
SM_RUNS_IMAGE = Doc(
    "How Amazon SageMaker AI Runs Your Training Image",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-dockerfile.html",
)
SM_INVOKE = Doc(
    "InvokeEndpoint - Amazon SageMaker Runtime API Reference",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html",
)
SM_DESCRIBE_ENDPOINT = Doc(
    "DescribeEndpoint - Amazon SageMaker API Reference",
    "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html",
)
SM_TRAINING_INFO = Doc(
    "How Amazon SageMaker Provides Training Information",
    "https://docs.aws.amazon.com/sagemaker/latest/dg/your-algorithms-training-algo-running-container.html",
)
SFN_STRUCTURE = Doc(
    "State machine structure in Amazon States Language for Step Functions workflows",
    "https://docs.aws.amazon.com/step-functions/latest/dg/statemachine-structure.html",
)
S3_EVENT_SHAPE = Doc(
    "Amazon EventBridge event message structure for Amazon S3: Object Created",
    "https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html",
)

IAM_EVALUATION = Doc(
    "Policy evaluation logic - AWS Identity and Access Management",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html",
)
IAM_CONDITIONS = Doc(
    "IAM JSON policy elements: Condition operators",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html",
)
IAM_PASS_ROLE = Doc(
    "Grant a user permissions to pass a role to an AWS service",
    "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html",
)
LAMBDA_EXECUTION_ROLE = Doc(
    "Defining Lambda function permissions with an execution role",
    "https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html",
)
SFN_LAMBDA_IAM = Doc(
    "IAM policies for invoking AWS Lambda functions - AWS Step Functions",
    "https://docs.aws.amazon.com/step-functions/latest/dg/lambda-iam.html",
)
EVENTS_RESOURCE_POLICY = Doc(
    "Using resource-based policies for Amazon EventBridge",
    "https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html",
)
FIREHOSE_S3_ACCESS = Doc(
    "Grant Firehose access to an Amazon S3 destination",
    "https://docs.aws.amazon.com/firehose/latest/dev/controlling-access.html#using-iam-s3",
)
ATHENA_GLUE_ACCESS = Doc(
    "Configure access to databases and tables in the AWS Glue Data Catalog - Amazon Athena",
    "https://docs.aws.amazon.com/athena/latest/ug/fine-grained-access-to-glue-resources.html",
)
S3_GET_OBJECT = Doc(
    "GetObject - Amazon Simple Storage Service API Reference",
    "https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html",
)
ATHENA_JSON_SERDE = Doc(
    "OpenX JSON SerDe - Amazon Athena", "https://docs.aws.amazon.com/athena/latest/ug/openx-json-serde.html"
)
ATHENA_BAD_DATA = Doc(
    'How do I resolve the error "HIVE_BAD_DATA: Error parsing field value" in Athena? (AWS re:Post Knowledge Center)',
    "https://repost.aws/knowledge-center/athena-hive-bad-data-error",
)
TRINO_DATETIME = Doc(
    "Athena engine version 3 - Amazon Athena (its functions are Trino's: date and time functions)",
    "https://docs.aws.amazon.com/athena/latest/ug/engine-versions-reference-0003.html",
)
ATHENA_SELECT = Doc(
    'SELECT - Amazon Athena (examples: the Amazon S3 file location of a row\'s data, "$path")',
    "https://docs.aws.amazon.com/athena/latest/ug/select.html",
)
TRINO_CONVERSION = Doc(
    "Athena engine version 3 - Amazon Athena (its functions are Trino's: conversion functions, cast and try_cast)",
    "https://docs.aws.amazon.com/athena/latest/ug/engine-versions-reference-0003.html",
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
LAMBDA_MEMORY_LIMIT = Rule(
    "lambda.memory-limit",
    "a function whose memory goes over its MemorySize is killed (Runtime.ExitError, signal: killed) and its "
    "execution environment replaced; the invocation fails (async: retried as any function error)",
    LAMBDA_MEMORY,
    "tests/local/test_lambda_memory.py::test_a_function_over_its_memory_is_killed_and_replaced",
    "the resident set is sampled every 50 ms and read at its peak after each answer, not enforced by a cgroup",
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

SM_CANARY_SIZE = Rule(
    "sagemaker.canary-size",
    "a CANARY's CanarySize must be at most 50% of the new variant's instances and a LINEAR step 10-50% of them, so "
    "no canary is valid on one instance: UpdateEndpoint/CreateEndpoint answer ValidationException",
    SM_TRAFFIC_ROUTING,
    "tests/local/engines/test_sagemaker_deployment.py::test_sizes_beyond_sagemakers_limits_are_refused",
    "how SageMaker rounds CAPACITY_PERCENT to instances is not documented: the engine rounds up",
)
SM_DEPLOYMENT_RANGES = Rule(
    "sagemaker.deployment-config-ranges",
    "TrafficRoutingConfiguration is required; Type is ALL_AT_ONCE, CANARY or LINEAR with its size; "
    "WaitIntervalInSeconds and TerminationWaitInSeconds 0-3600; MaximumExecutionTimeoutInSeconds 600-28800",
    SM_BLUE_GREEN_POLICY,
    "tests/local/engines/test_sagemaker_deployment.py::test_documented_ranges_and_required_members",
    "'the timeout should exceed the waits' is not refused at request time (the docs say should; the engine rolls "
    "back when it passes); RollingUpdatePolicy runs as all at once",
)
SM_VARIANT_INSTANCES = Rule(
    "sagemaker.variant-instances",
    "CreateEndpointConfig: each instance-based variant needs VariantName, InstanceType and InitialInstanceCount >= 1",
    SM_PRODUCTION_VARIANT,
    "tests/local/engines/test_sagemaker_deployment.py::test_a_variant_needs_an_instance",
    "serverless variants, instance pools and instance quotas",
)
SM_TRAFFIC_STEPS = Rule(
    "sagemaker.traffic-steps",
    "traffic shifts in whole instances of the new variant: ALL_AT_ONCE bakes WaitIntervalInSeconds with all "
    "traffic, CANARY bakes the canary's instances then shifts the rest, LINEAR adds one step per bake",
    SM_BLUE_GREEN,
    "tests/local/engines/test_sagemaker_engine.py::test_linear_steps_through_the_instances",
    "whether the last step gets a bake of its own is not documented: the engine bakes it with the termination wait",
)
SM_ENDPOINT_ENV = Rule(
    "sagemaker.endpoint-environment",
    "an endpoint container gets the Model's Environment and SAGEMAKER_BIND_TO_PORT, no AWS_REGION or "
    "AWS_DEFAULT_REGION unless the model sets them: a model that logs to Firehose without them fails its health check",
    SM_PING,
    "tests/local/engines/test_sagemaker_engine.py::test_a_model_without_a_region_fails_its_health_check_as_on_aws",
    "AWS_ENDPOINT_URL and local credentials stand for the instance's network and its role (instance metadata)",
)
SM_IMAGE_CONTENTS = Rule(
    "sagemaker.image-contents",
    "a training job or an endpoint runs the code its image holds: the image asset of the URI's tag, staged at synth "
    "as its Dockerfile lays out /opt/program (container/ and contract/), is the process's working directory and the "
    "only code on its PYTHONPATH; a Lambda function runs its staged asset only (the handlers with contract/)",
    SM_RUNS_IMAGE,
    "tests/local/test_deployable_contents.py::test_the_images_build_context_is_what_the_engine_runs",
    "the image is not built: its Python packages are this machine's (requirements.txt is not installed); an engine "
    "no stack registered images with (its own tests) runs the repository's tree",
)
SM_TRAINING_ENV = Rule(
    "sagemaker.training-environment",
    "a training container gets TRAINING_JOB_NAME, TRAINING_JOB_ARN and the job's Environment: no region and none of "
    "the training toolkit's SM_* variables",
    SM_TRAINING_INFO,
    "tests/local/engines/test_sagemaker_engine.py::test_a_training_container_gets_sagemakers_variables_and_no_region",
)
SM_REPLACE_UNHEALTHY = Rule(
    "sagemaker.replace-unhealthy-instance",
    "SageMaker launches a new inference container to replace an unhealthy instance: a serving container whose "
    "process exited gets no traffic and is replaced by a new instance with the same Model Environment and execution "
    "role on a fresh disk (its SM_ML_ROOT and TMPDIR start empty: nothing of the dead instance's local files), "
    "which takes traffic once it passes GET /ping",
    SM_PING,
    f"{_SM_TESTS}::test_a_dead_container_is_replaced_and_the_outage_shows",
    "a path outside SM_ML_ROOT and TMPDIR that the Model's Environment names (DECISIONS_LOG_PATH=/a/host/file) is "
    "this machine's disk and outlives the instance, unlike an instance's volume on AWS; a replacement that fails "
    "its health check is retried every 5 s (SageMaker's retry policy is not documented)",
)
SM_PING_UNHEALTHY = Rule(
    "sagemaker.ping-health-check",
    "a serving container is pinged (GET /ping, 2 s timeout) while in service; one that stops answering is unhealthy "
    "and replaced: stopped with SIGTERM (SIGKILL 30 s later) and a new instance started",
    SM_PING,
    f"{_SM_TESTS}::test_a_container_that_stops_answering_ping_is_replaced",
    "how often SageMaker pings and how many failures make an instance unhealthy are not documented: the engine "
    "pings every second and replaces after 3 failures in a row",
)
SM_OUTAGE_STATUS = Rule(
    "sagemaker.outage-status",
    "while no instance of an in-service endpoint is healthy, DescribeEndpoint says so: EndpointStatus OutOfService "
    '("not available to take incoming requests"), the variant\'s CurrentInstanceCount 0 with a VariantStatus '
    "Creating that names why; InService again once the replacement passes its health check",
    SM_DESCRIBE_ENDPOINT,
    f"{_SM_TESTS}::test_a_dead_container_is_replaced_and_the_outage_shows",
    "the status SageMaker reports during an instance replacement is not documented: the engine applies the "
    "documented meanings of OutOfService/InService; UpdateEndpoint is refused while OutOfService, as for any status "
    "but InService",
)
SM_INVOKE_UNAVAILABLE = Rule(
    "sagemaker.invoke-no-healthy-instance",
    'InvokeEndpoint to an endpoint with no healthy instance answers ServiceUnavailable (HTTP 503, "The service is '
    "unavailable. Try your call again\", which the SDKs retry), not ModelError (424: the model's own 4xx/5xx)",
    SM_INVOKE,
    f"{_SM_TESTS}::test_a_dead_container_is_replaced_and_the_outage_shows",
    "SageMaker's message text for it is not documented: the engine names the endpoint and its variants",
)
SFN_TIMEOUT = Rule(
    "states.execution-timeout",
    "an execution past the state machine's TimeoutSeconds ends TIMED_OUT and runs no Catch (so the run lock is "
    "taken over by the next trigger)",
    SFN_STRUCTURE,
    "tests/pipeline/test_trigger.py::test_a_lock_stranded_by_a_timed_out_execution_is_taken_over",
)
S3_EVENT_DETAIL = Rule(
    "s3.event-detail",
    "an Object Created event carries detail.object.etag without quotes, a sequencer that grows with every PUT of a "
    "key, version-id only on a versioned bucket, request-id, requester, source-ip-address and reason",
    S3_EVENT_SHAPE,
    "tests/local/test_events.py::test_s3_events_have_awss_shape_and_a_new_sequencer_per_put",
    "multipart uploads and CopyObject are delivered as PutObject",
)

IAM_POLICY_LOGIC = Rule(
    "iam.evaluation",
    "a call is allowed only by an Allow in an identity-based or (same account) resource-based policy and no explicit "
    "Deny; actions match case-insensitively, resources case-sensitively, `*` and `?` are the only wildcards; the "
    "condition operators the template uses (String*, Arn*, Bool, Null, IfExists, set qualifiers) as IAM applies them",
    IAM_EVALUATION,
    "tests/local/test_iam_policies.py::test_explicit_deny_wins_over_any_allow",
    "permissions boundaries, SCPs and session policies (the stack uses none); unknown condition operators are refused",
)
IAM_CONDITION_OPERATORS = Rule(
    "iam.conditions",
    "an Allow whose condition fails does not apply (another Allow still allows); negated operators hold when the key "
    "is absent; IfExists",
    IAM_CONDITIONS,
    "tests/local/test_iam_policies.py::test_an_allow_whose_condition_fails_does_not_deny_another_allow",
)
IAM_FUNCTION_ROLE = Rule(
    "iam.function-role",
    "a handler's AWS calls are authorized as its execution role (credentials issued for the role); a call the role "
    "does not allow answers AccessDenied naming the assumed role, the action and the resource",
    LAMBDA_EXECUTION_ROLE,
    "tests/local/test_iam_enforcement.py::test_the_role_gets_what_its_policy_allows_and_an_aws_access_denied_otherwise",
    "requests with credentials the runtime did not issue (tests, the simulator, a person's CLI) act as an "
    "administrator; Lambda's own log and X-Ray writes are not checked",
)
IAM_UNMAPPED_CALL = Rule(
    "iam.unmapped-call-refused",
    "a role's call the runtime cannot map to an IAM action and resource is refused, never passed unchecked",
    LAMBDA_EXECUTION_ROLE,
    "tests/local/test_iam_enforcement.py::test_a_call_the_runtime_cannot_map_is_refused_not_passed",
)
IAM_PASS_ROLE_RULE = Rule(
    "iam.pass-role",
    "CreateTrainingJob's RoleArn and CreateModel's ExecutionRoleArn need iam:PassRole on that role with "
    "iam:PassedToService sagemaker.amazonaws.com; Tags need sagemaker:AddTags",
    IAM_PASS_ROLE,
    "tests/local/engines/test_sagemaker_iam.py::test_the_functions_may_pass_the_execution_role_to_sagemaker_only",
)
IAM_TRUST = Rule(
    "iam.trust-policy",
    "a service uses a role only if the role's trust policy lets it assume it (Lambda at provisioning, SageMaker at "
    "CreateTrainingJob/CreateModel with its ValidationException 'Could not assume role', Firehose at delivery)",
    IAM_EVALUATION,
    "tests/local/test_iam_enforcement.py::test_sagemaker_refuses_a_role_it_cannot_assume",
    "Step Functions' and EventBridge's own assume-role checks",
)
SM_EXECUTION_ROLE_IO = Rule(
    "iam.sagemaker-execution-role",
    "a training job's RoleArn must pull the image from ECR, list and read each input channel and put the artifact; "
    "an endpoint model's ExecutionRoleArn must pull the image and read ModelDataUrl; the serving container calls "
    "Firehose as that role",
    SM_TRAINING,
    "tests/local/engines/test_sagemaker_iam.py::test_a_training_job_reads_its_channels_and_writes_its_artifact_as_its_role",
    "S3 is checked per channel/artifact path, not per object; an image that is not an ECR URI is not checked",
)
SM_ALARMS_READABLE = Rule(
    "iam.rollback-alarms-readable",
    "with AutoRollbackConfiguration the execution role must allow cloudwatch:DescribeAlarms on each alarm; without "
    "it the update rolls back naming the denied action",
    SM_ROLLBACK,
    "tests/local/engines/test_sagemaker_iam.py::test_without_the_grant_the_update_rolls_back_naming_the_denied_action",
    "AWS does not document whether UpdateEndpoint is refused at once or rolled back: locally it rolls back",
)
SFN_TASK_ROLE = Rule(
    "iam.state-machine-role",
    "a Lambda task is invoked with the state machine's role: lambda:InvokeFunction on the function",
    SFN_LAMBDA_IAM,
    "tests/local/test_iam_enforcement.py::test_step_functions_tasks_invoke_as_the_state_machine_role",
)
EVENTS_LAMBDA_PERMISSION = Rule(
    "iam.events-lambda-permission",
    "EventBridge invokes a Lambda target as events.amazonaws.com, allowed only by the function's resource policy "
    "(AWS::Lambda::Permission) with aws:SourceArn the rule; a denial is a failed delivery",
    EVENTS_RESOURCE_POLICY,
    "tests/local/test_iam_enforcement.py::test_eventbridge_invokes_a_function_only_as_its_permission_allows",
)
FAILURE_DESTINATIONS_AUTH = Rule(
    "iam.failure-destinations",
    "Lambda sends an OnFailure record with the function's role (sqs:SendMessage); EventBridge sends to a target's "
    "dead-letter queue as events.amazonaws.com, allowed by the queue policy",
    LAMBDA_EXECUTION_ROLE,
    "tests/local/test_iam_enforcement.py::test_failure_destinations_are_sent_as_their_senders",
)
FIREHOSE_DELIVERY_ROLE = Rule(
    "iam.firehose-delivery-role",
    "Firehose writes each object with the S3 destination's RoleARN (s3:PutObject); a denial drops the records and "
    "counts them",
    FIREHOSE_S3_ACCESS,
    "tests/local/test_iam_enforcement.py::test_firehose_delivers_only_what_its_role_may_write",
    "Firehose retries a failed delivery for 24 hours; locally the records are dropped at once; permissions other "
    "than PutObject",
)
ATHENA_CALLER_PERMISSIONS = Rule(
    "iam.athena-caller",
    "a query reads Glue (GetTable on catalog, database, table) and S3 (ListBucket, GetObject on the table "
    "location) and writes results and UNLOAD output with the caller's permissions",
    ATHENA_GLUE_ACCESS,
    "tests/local/test_iam_athena.py::test_a_table_outside_the_granted_prefixes_is_denied",
    "glue:GetPartitions (projection needs none)",
)
S3_MISSING_KEY = Rule(
    "iam.s3-missing-key",
    "GetObject of a missing key answers 403 AccessDenied unless the caller may also s3:ListBucket (then 404)",
    S3_GET_OBJECT,
    "tests/local/test_iam_enforcement.py::test_a_missing_key_is_403_without_list_bucket_and_404_with_it",
)
S3_BUCKET_POLICY = Rule(
    "iam.bucket-policy",
    "the bucket policy is evaluated with every request on the bucket, its SSL-only Deny included (SDK calls carry "
    "aws:SecureTransport true; the gateway's plain HTTP on loopback stands in for TLS)",
    IAM_EVALUATION,
    "tests/local/test_iam_policies.py::test_secure_transport_deny_in_a_bucket_policy",
)
ATHENA_SERDE_TYPES = Rule(
    "athena.serde-typed-columns",
    'the OpenX JSON SerDe reads each field into the Glue column\'s type; a JSON value that does not convert ("abc" '
    "or true in a double, 0.54 in an int) fails the whole query with HIVE_BAD_DATA even with ignore.malformed.json; "
    "use.null.for.invalid.data reads it as NULL; a line that is not JSON is a row of NULLs only with "
    "ignore.malformed.json",
    ATHENA_BAD_DATA,
    "tests/local/engines/test_athena_engine.py::test_a_value_that_does_not_fit_its_typed_column_fails_the_query",
    "keys match case-sensitively (the SerDe ignores case by default); a duplicate key takes the first value (Athena "
    "the last); a JSON array line is NULLs (Athena maps by position)",
)
ATHENA_SERDE_CONVERSIONS = Rule(
    "athena.serde-conversions",
    "a JSON string holding a number reads into a double or int column; numbers, booleans and objects in a string "
    "column read as their text",
    ATHENA_JSON_SERDE,
    "tests/local/engines/test_athena_engine.py::test_typed_columns_convert_as_the_openx_serde_does",
)
TRINO_ISO_TIMESTAMP = Rule(
    "athena.trino-iso8601",
    "from_iso8601_timestamp fails the query on a string that is not ISO-8601 (INVALID_FUNCTION_ARGUMENT); try() "
    "makes it NULL",
    TRINO_DATETIME,
    "tests/local/engines/test_athena_engine.py::test_from_iso8601_timestamp_fails_the_query_on_a_bad_string",
    "reduced ISO forms Trino accepts (2026-11, 2026-11-23T00) fail locally",
)
TRINO_CAST = Rule(
    "athena.trino-cast",
    "CAST of a string that is not of the type fails the query (INVALID_CAST_ARGUMENT); try_cast returns NULL",
    TRINO_CONVERSION,
    "tests/local/engines/test_athena_engine.py::test_cast_of_a_bad_string_fails_and_try_cast_is_null",
    "DuckDB's try_cast accepts a few strings Java refuses (1_000, inf) and refuses 1.5d",
)
ATHENA_TOKEN = Rule(
    "athena.client-request-token",
    "StartQueryExecution with a ClientRequestToken already used: the same request returns the same QueryExecutionId, "
    "a changed one fails with InvalidRequestException (Idempotent parameters do not match)",
    ATHENA_START,
    "tests/local/engines/test_athena_engine.py::test_a_client_request_token_binds_its_request",
    "how long Athena remembers a token is not documented: locally for the runtime's lifetime",
)
ATHENA_PATH = Rule(
    "athena.path-pseudo-column",
    '"$path" is the S3 URI (s3://bucket/key) of the object a row was read from, in every table reference that names '
    "it; the join orders rewards by the Firehose arrival time in that key",
    ATHENA_SELECT,
    "tests/local/engines/test_athena_engine.py::test_path_pseudo_column_is_the_s3_uri_of_the_rows_object",
    'a view that carries "$path" (a query naming it) also lists it in SELECT *, where Athena hides it; '
    '"$file_size" and "$file_modified_time" are not provided',
)

READ_FROM_TEMPLATE = frozenset({"AWS::Lambda::Permission"})
"""Resource types with nothing to provision whose rules an engine applies by reading them from the template (the IAM
authorizer evaluates a function's permissions from it)."""

_ROLE = (IAM_FUNCTION_ROLE, IAM_POLICY_LOGIC)
"""Every API call a handler makes is authorized as its function's role."""

SUBJECTS: dict[str, Coverage] = {
    # --- CloudFormation resource types ---------------------------------------------------------------------------
    "AWS::S3::Bucket": Coverage(
        rules=(S3_OBJECT_CREATED,),
        not_emulated="server access logging, lifecycle expiry, versioning and SSE have no local effect",
    ),
    "AWS::S3::BucketPolicy": Coverage(rules=(S3_BUCKET_POLICY,)),
    "AWS::IAM::Role": Coverage(
        rules=(IAM_POLICY_LOGIC, IAM_CONDITION_OPERATORS, IAM_TRUST),
        not_emulated="permissions boundaries and session policies (the stack uses none)",
    ),
    "AWS::IAM::Policy": Coverage(rules=(IAM_POLICY_LOGIC, IAM_CONDITION_OPERATORS)),
    "AWS::IAM::ManagedPolicy": Coverage(rules=(IAM_POLICY_LOGIC, IAM_CONDITION_OPERATORS)),
    "AWS::Logs::LogGroup": Coverage(
        not_emulated="moto log groups; retention is not applied, function logs go to files under local/.state"
    ),
    "AWS::Logs::LogStream": Coverage(not_emulated="moto log streams; Firehose writes no delivery errors to them"),
    "AWS::KinesisFirehose::DeliveryStream": Coverage(
        rules=(FIREHOSE_KEY_LAYOUT, FIREHOSE_APPEND_DELIMITER, FIREHOSE_DELIVERY_ROLE),
        not_emulated="buffering interval is 1 s locally instead of the template's; compression, ErrorOutputPrefix, "
        "CloudWatch logging and processors other than AppendDelimiterToRecord are ignored",
    ),
    "AWS::Glue::Database": Coverage(not_emulated="moto Glue; read by the Athena engine only"),
    "AWS::Glue::Table": Coverage(
        rules=(ATHENA_SERDE_TYPES, ATHENA_SERDE_CONVERSIONS),
        not_emulated="moto Glue; the Athena engine reads the columns, SerDe and partition projection from it",
    ),
    "AWS::Athena::WorkGroup": Coverage(
        not_emulated="moto work group: its result location is used; the scan cutoff and engine version are not"
    ),
    "AWS::DynamoDB::Table": Coverage(
        rules=(DDB_CONDITIONAL_WRITE,),
        not_emulated="point-in-time recovery, SSE and TTL expiry (moto stores the TTL setting, deletes nothing)",
    ),
    "AWS::Lambda::Function": Coverage(
        rules=(LAMBDA_ENVIRONMENT, LAMBDA_FUNCTION_ERROR, LAMBDA_MEMORY_LIMIT, IAM_FUNCTION_ROLE, IAM_TRUST),
        not_emulated="layers are not mounted (the venv provides Powertools), X-Ray tracing is off, no reserved "
        "concurrency; at most 4 workers per function",
    ),
    "AWS::Lambda::EventInvokeConfig": Coverage(
        rules=(LAMBDA_ASYNC_RETRIES, FAILURE_DESTINATIONS_AUTH),
        not_emulated="retry delays are 1 s and 2 s instead of about 1 and 2 minutes",
    ),
    "AWS::Lambda::Permission": Coverage(
        rules=(EVENTS_LAMBDA_PERMISSION,),
        not_emulated="nothing is created: the authorizer reads the permission from the template",
    ),
    "AWS::Lambda::LayerVersion": Coverage(
        not_emulated="layers are not mounted; the venv provides Powertools and boto3"
    ),
    "AWS::SQS::Queue": Coverage(not_emulated="moto SQS; KMS-managed SSE and retention are not applied"),
    "AWS::SQS::QueuePolicy": Coverage(rules=(FAILURE_DESTINATIONS_AUTH,)),
    "AWS::StepFunctions::StateMachine": Coverage(
        rules=(SFN_NAME_UNIQUE, SFN_TIMEOUT, SFN_TASK_ROLE, SFN_STATUS_EVENTS, SFN_STOP_ABORTS),
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
        rules=(
            UNLOAD_TARGET_EMPTY,
            ATHENA_FAILED_QUERY,
            ATHENA_TOKEN,
            ATHENA_PATH,
            ATHENA_SERDE_TYPES,
            TRINO_ISO_TIMESTAMP,
            TRINO_CAST,
            ATHENA_CALLER_PERMISSIONS,
            *_ROLE,
        ),
        not_emulated="DuckDB runs the SQL (Trino dialect shims); the work group's scan cutoff is not applied",
    ),
    "athena:GetQueryExecution": Coverage(rules=(ATHENA_FAILED_QUERY, *_ROLE)),
    "athena:GetQueryResults": Coverage(rules=(ATHENA_RESULT_PAGES, *_ROLE)),
    "dynamodb:GetItem": Coverage(rules=_ROLE, not_emulated="moto's DynamoDB semantics"),
    "dynamodb:PutItem": Coverage(rules=(DDB_CONDITIONAL_WRITE, *_ROLE)),
    "dynamodb:UpdateItem": Coverage(rules=(DDB_CONDITIONAL_WRITE, *_ROLE)),
    "dynamodb:DeleteItem": Coverage(rules=(DDB_CONDITIONAL_WRITE, *_ROLE)),
    "dynamodb:TransactWriteItems": Coverage(
        rules=_ROLE,
        not_emulated="moto's transactions (TransactionCanceledException with reasons); no local test shows a "
        f"cancelled transaction yet ({DDB_TRANSACT.url})",
    ),
    "s3:GetObject": Coverage(rules=(S3_MISSING_KEY, S3_BUCKET_POLICY, *_ROLE), not_emulated="moto's S3"),
    "states:StartExecution": Coverage(rules=(SFN_NAME_UNIQUE, *_ROLE)),
    "states:DescribeExecution": Coverage(rules=_ROLE, not_emulated="moto's execution status"),
    "sagemaker:CreateTrainingJob": Coverage(
        rules=(
            SM_JOB_NAME_UNIQUE,
            SM_JOB_FAILURE,
            SM_MAX_RUNTIME,
            SM_TRAINING_ENV,
            IAM_PASS_ROLE_RULE,
            IAM_TRUST,
            SM_EXECUTION_ROLE_IO,
            *_ROLE,
        ),
        not_emulated="the container runs as a local process, not on the requested instance type",
    ),
    "sagemaker:DescribeTrainingJob": Coverage(rules=(SM_JOB_FAILURE, *_ROLE)),
    "sagemaker:CreateModel": Coverage(
        rules=(SM_ENDPOINT_ENV, IAM_PASS_ROLE_RULE, IAM_TRUST, *_ROLE),
        not_emulated="names are checked for uniqueness only",
    ),
    "sagemaker:CreateEndpointConfig": Coverage(rules=(SM_VARIANT_INSTANCES, *_ROLE)),
    "sagemaker:CreateEndpoint": Coverage(
        rules=(
            SM_PING_ROLLBACK,
            SM_ENDPOINT_ENV,
            SM_DEPLOYMENT_RANGES,
            SM_EXECUTION_ROLE_IO,
            SM_REPLACE_UNHEALTHY,
            SM_PING_UNHEALTHY,
            *_ROLE,
        )
    ),
    "sagemaker:UpdateEndpoint": Coverage(
        rules=(
            SM_PING_ROLLBACK,
            SM_CANARY,
            SM_CANARY_SIZE,
            SM_DEPLOYMENT_RANGES,
            SM_TRAFFIC_STEPS,
            SM_ROLLBACK_ERRORS,
            SM_ROLLBACK_ALARM,
            SM_ALARMS_READABLE,
            *_ROLE,
        )
    ),
    "sagemaker:DescribeEndpoint": Coverage(rules=(SM_PING_ROLLBACK, SM_OUTAGE_STATUS, *_ROLE)),
    "sagemaker:InvokeEndpoint": Coverage(
        rules=(SM_INVOKE_UNAVAILABLE, SM_REPLACE_UNHEALTHY, SM_PING_UNHEALTHY),
        not_emulated="one serving process stands for all the instances of a variant, so one death takes the "
        "variant down where SageMaker would route to its other instances",
    ),
    "sagemaker:DescribeEndpointConfig": Coverage(
        rules=_ROLE, not_emulated="the engine answers with the stored request (ProductionVariants, ModelName)"
    ),
    "sagemaker:DescribeModel": Coverage(
        rules=_ROLE, not_emulated="the engine answers with the stored request (PrimaryContainer.Environment)"
    ),
    "firehose:PutRecordBatch": Coverage(
        rules=(FIREHOSE_BATCH_LIMITS, FIREHOSE_UNKNOWN_STREAM, SM_EXECUTION_ROLE_IO),
        not_emulated="the 4 MiB per-call limit and the per-stream throughput quota are not enforced (throttling "
        "only as an injected fault)",
    ),
    # --- calls services make for the stack ------------------------------------------------------------------------
    "firehose -> s3:PutObject": Coverage(
        rules=(FIREHOSE_KEY_LAYOUT, FIREHOSE_APPEND_DELIMITER, S3_FIREHOSE_NOTIFIES, FIREHOSE_DELIVERY_ROLE)
    ),
    "s3 -> events:PutEvents": Coverage(rules=(S3_OBJECT_CREATED, S3_EVENT_DETAIL)),
    "states -> events:PutEvents": Coverage(rules=(SFN_STATUS_EVENTS, SFN_STOP_ABORTS)),
    "events -> lambda:InvokeFunction": Coverage(
        rules=(EVENTS_PATTERN, RECONCILE_AFTER_STOP, EVENTS_TARGET_DLQ, LAMBDA_ASYNC_RETRIES, EVENTS_LAMBDA_PERMISSION)
    ),
    "events -> sqs:SendMessage": Coverage(rules=(EVENTS_TARGET_DLQ, FAILURE_DESTINATIONS_AUTH)),
    "lambda -> sqs:SendMessage": Coverage(rules=(LAMBDA_DESTINATION_RECORD, FAILURE_DESTINATIONS_AUTH)),
    "states -> lambda:InvokeFunction": Coverage(rules=(SFN_INVOKES_LAMBDA, SFN_TASK_ROLE)),
    "sagemaker -> s3:GetObject": Coverage(
        rules=(SM_EXECUTION_ROLE_IO,), not_emulated="checked per channel or artifact path, not per object"
    ),
    "sagemaker -> s3:PutObject": Coverage(rules=(SM_EXECUTION_ROLE_IO,)),
    "sagemaker -> ecr:BatchGetImage": Coverage(
        rules=(SM_EXECUTION_ROLE_IO, SM_IMAGE_CONTENTS),
        not_emulated="no image is pulled (the container code runs from the staged image asset); the pull's "
        "permissions are checked",
    ),
    "sagemaker -> cloudwatch:DescribeAlarms": Coverage(rules=(SM_ROLLBACK_ALARM, SM_ALARMS_READABLE)),
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
