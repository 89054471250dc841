"""The retraining workflow: six Lambda functions and the Step Functions state machine that drives them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from contract import environment as env
from infra import access, nag, powertools
from infra.assets import stage_lambda_code, staging_dir
from infra.data_lake import (
    ATHENA_RESULTS_PREFIX,
    DECISIONS_PREFIX,
    DELIVERY_MARGIN_SECONDS,
    EVALUATIONS_PREFIX,
    FIREHOSE_BUFFER_SECONDS,
    JOINED_PREFIX,
    QUARANTINE_PREFIX,
    REWARDS_PREFIX,
    DataLake,
)
from infra.endpoint_alarms import EndpointAlarms
from infra.log_groups import log_group
from infra.metadata import Metadata
from infra.model import PolicyModel
from infra.names import ASL_FUNCTION_SUBSTITUTIONS, FUNCTION_KEYS, METRICS_NAMESPACE, ResourceNames
from infra.settings import Settings

POWERTOOLS_LAYER_NAME = powertools.LAYER_NAME

INVOKED_BY_STATE_MACHINE = ("join", "train", "evaluate", "deploy", "finalize")


@dataclass(frozen=True)
class FunctionSpec:
    """Sizing of one handler; every call is a short start or status check (long work runs in Athena/SageMaker)."""

    description: str
    timeout_seconds: int = 60
    memory_mib: int = 512


FUNCTION_SPECS: dict[str, FunctionSpec] = {
    "trigger": FunctionSpec("Counts reward records once per S3 object and starts a retraining run at the threshold"),
    "join": FunctionSpec("Starts and checks the Athena UNLOAD that joins decisions with rewards", 120),
    "train": FunctionSpec("Starts and checks the SageMaker training job of a candidate policy"),
    "evaluate": FunctionSpec("Starts and checks the counterfactual evaluation job; reads its verdict"),
    "deploy": FunctionSpec("Creates model and endpoint config, rolls the endpoint blue/green, watches the rollout"),
    "finalize": FunctionSpec("Records the run in the registry, moves the watermark, releases the run lock"),
    # Waits in-process while a stopped run's rollout settles (canary and termination waits), up to Lambda's maximum.
    "reconcile": FunctionSpec("Makes the registry agree with the endpoint after a run ends without finalize", 900),
}


class Pipeline(Construct):
    """Lambdas (Python 3.12, Powertools layer, X-Ray, own log group and role each) and the `retrain` state machine.

    Every function gets the same environment (names only, no secrets; docs/contracts.md) so a handler or a shared
    helper never misses a name; what each function may do is decided by its own role, granted statement by statement.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: Settings,
        names: ResourceNames,
        data_lake: DataLake,
        metadata: Metadata,
        model: PolicyModel,
        alarms: EndpointAlarms,
        lambdas_dir: Path,
        contract_dir: Path,
        statemachine_path: Path,
        log_retention: logs.RetentionDays,
    ):
        super().__init__(scope, construct_id)
        self.names = names
        self.roles: dict[str, iam.Role] = {}
        """function key -> its Lambda execution role (typed, unlike `Function.role`)"""
        stack = Stack.of(self)
        # Known before the state machine exists: the trigger's policy cannot reference the state machine resource,
        # because the state machine references the trigger's ARN (`${TriggerFunctionArn}`).
        self.state_machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=names.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.executions_arn = stack.format_arn(
            service="states",
            resource="execution",
            resource_name=f"{names.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.environment = {
            env.SETTINGS_JSON: settings.to_json(),
            env.BUCKET_NAME: data_lake.bucket.bucket_name,
            env.GLUE_DATABASE: names.glue_database,
            env.GLUE_DECISIONS_TABLE: names.glue_decisions_table,
            env.GLUE_REWARDS_TABLE: names.glue_rewards_table,
            env.ATHENA_WORKGROUP: names.athena_workgroup,
            env.EXPERIMENTS_TABLE: metadata.experiments.table_name,
            env.MODELS_TABLE: metadata.models.table_name,
            env.JOINS_TABLE: metadata.joins.table_name,
            env.STATE_TABLE: metadata.state.table_name,
            env.IDEMPOTENCY_TABLE: metadata.idempotency.table_name,
            env.STATE_MACHINE_ARN: self.state_machine_arn,
            env.TRAINING_IMAGE_URI: model.image_uri,
            env.TRAINING_ROLE_ARN: model.training_role.role_arn,
            env.EVALUATION_ROLE_ARN: model.evaluation_role.role_arn,
            env.ENDPOINT_ROLE_ARN: model.endpoint_role.role_arn,
            env.ENDPOINT_NAME: names.endpoint_name,
            env.ROLLBACK_ALARMS: ",".join(alarms.alarm_names),
            env.DECISIONS_STREAM: names.decisions_stream,
            env.DELIVERY_LAG_SECONDS: str(FIREHOSE_BUFFER_SECONDS + DELIVERY_MARGIN_SECONDS),
            env.POWERTOOLS_SERVICE_NAME: names.experiment_id,
            env.POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
            env.POWERTOOLS_LOG_LEVEL: "INFO",
        }

        layer = self._powertools_layer()
        code = lambda_.Code.from_asset(str(stage_lambda_code(lambdas_dir, contract_dir, staging_dir(self, "lambdas"))))
        self.functions: dict[str, lambda_.Function] = {
            key: self._function(key, code=code, layer=layer, log_retention=log_retention) for key in FUNCTION_KEYS
        }

        bucket = data_lake.bucket
        # trigger: read the new reward object, count it once (idempotency), bump the counter, take the lock, start.
        trigger = self.functions["trigger"]
        access.read_prefixes(trigger, bucket, [REWARDS_PREFIX])
        access.table_items(trigger, metadata.state, ["GetItem", "PutItem", "UpdateItem", "DeleteItem"])
        access.table_items(trigger, metadata.idempotency, ["GetItem", "PutItem", "UpdateItem", "DeleteItem"])
        access.table_items(trigger, metadata.experiments, ["GetItem", "UpdateItem"])  # watermark; stale-lock record
        trigger.add_to_role_policy(
            iam.PolicyStatement(actions=["states:StartExecution"], resources=[self.state_machine_arn])
        )
        # Lock recovery: is the lock holder's execution still running (stopped by hand, finalize never ran)?
        trigger.add_to_role_policy(
            iam.PolicyStatement(actions=["states:DescribeExecution"], resources=[self.executions_arn])
        )
        nag.acknowledge_resources(
            self.roles["trigger"],
            [f"arn:<AWS::Partition>:states:<AWS::Region>:<AWS::AccountId>:execution:{names.state_machine_name}:*"],
            "Executions of this one state machine, named by run id at start time; read-only status check.",
        )
        nag.acknowledge_prefixes(
            self.roles["trigger"],
            bucket,
            [REWARDS_PREFIX],
            "The trigger reads the reward objects Firehose delivers; names are generated.",
        )

        # join: Athena over the Glue tables; Athena reads and writes S3 with the caller's permissions.
        join = self.functions["join"]
        data_lake.grant_query(join)
        join_read = [DECISIONS_PREFIX, REWARDS_PREFIX, JOINED_PREFIX, ATHENA_RESULTS_PREFIX]
        join_write = [JOINED_PREFIX, ATHENA_RESULTS_PREFIX, QUARANTINE_PREFIX]
        access.read_prefixes(join, bucket, join_read)
        access.write_prefixes(join, bucket, join_write)
        access.table_items(join, metadata.joins, ["GetItem", "PutItem", "UpdateItem"])
        access.table_items(join, metadata.experiments, ["GetItem"])
        nag.acknowledge_prefixes(
            self.roles["join"],
            bucket,
            sorted(set(join_read + join_write)),
            "Athena scans the hour partitions of decisions/ and rewards/ and writes UNLOAD output, query results and "
            "quarantined lines under run-specific keys; access is limited to these prefixes.",
        )

        # train / evaluate: SageMaker training jobs named with the experiment prefix, each run under its own role.
        for key, job_role in (("train", model.training_role), ("evaluate", model.evaluation_role)):
            fn = self.functions[key]
            fn.add_to_role_policy(
                iam.PolicyStatement(
                    actions=[
                        "sagemaker:CreateTrainingJob",
                        "sagemaker:DescribeTrainingJob",
                        "sagemaker:AddTags",
                    ],
                    resources=[self._sagemaker_arn("training-job", f"{names.sagemaker_prefix}-*")],
                )
            )
            self._grant_pass_role(fn, job_role)
            # train registers the candidate (PutItem); evaluate records its scores (UpdateItem).
            access.table_items(fn, metadata.models, ["GetItem", "UpdateItem"] + (["PutItem"] if key == "train" else []))
            access.table_items(fn, metadata.experiments, ["GetItem"])
            nag.acknowledge_resources(
                self.roles[key],
                [self._sagemaker_arn_text("training-job", f"{names.sagemaker_prefix}-*")],
                "Training and evaluation jobs get a new name per run; all start with the experiment prefix.",
            )

        # evaluate reads the job's report (`evaluations/<job>/output/model.tar.gz`) to decide the promotion.
        evaluate = self.functions["evaluate"]
        access.read_prefixes(evaluate, bucket, [EVALUATIONS_PREFIX])
        nag.acknowledge_prefixes(
            self.roles["evaluate"], bucket, [EVALUATIONS_PREFIX], "Reads the evaluation report under the job-named key."
        )

        # deploy: Model + EndpointConfig per candidate, then UpdateEndpoint (or CreateEndpoint on bootstrap).
        deploy = self.functions["deploy"]
        sagemaker_resources = [
            ("model", f"{names.sagemaker_prefix}-*"),
            ("endpoint-config", f"{names.sagemaker_prefix}-*"),
            ("endpoint", names.endpoint_name.lower()),
        ]
        deploy.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "sagemaker:CreateModel",
                    "sagemaker:CreateEndpointConfig",
                    "sagemaker:CreateEndpoint",
                    "sagemaker:UpdateEndpoint",
                    "sagemaker:DescribeEndpoint",
                    "sagemaker:AddTags",
                ],
                resources=[self._sagemaker_arn(kind, name) for kind, name in sagemaker_resources],
            )
        )
        self._grant_pass_role(deploy, model.endpoint_role)
        access.table_items(deploy, metadata.models, ["GetItem", "PutItem"])
        access.table_items(deploy, metadata.experiments, ["GetItem"])
        nag.acknowledge_resources(
            self.roles["deploy"],
            [self._sagemaker_arn_text(kind, name) for kind, name in sagemaker_resources[:2]],
            "Each rollout creates a new model and endpoint config named after the candidate model; all start with "
            "the experiment prefix.",
        )

        # finalize: registry, watermark, run lock.
        finalize = self.functions["finalize"]
        access.table_items(finalize, metadata.experiments, ["UpdateItem"])
        access.table_items(finalize, metadata.models, ["UpdateItem"])
        access.table_items(finalize, metadata.state, ["UpdateItem", "DeleteItem"])  # counter and lock, one transaction

        self._grant_reconcile(metadata)
        self.state_machine = self._state_machine(statemachine_path, settings=settings, log_retention=log_retention)

    def _grant_reconcile(self, metadata: Metadata) -> None:
        """reconcile: read which model the endpoint really serves, fix the registry, release the ended run's lock."""
        reconcile = self.functions["reconcile"]
        resources = [
            ("endpoint", self.names.endpoint_name.lower()),
            ("endpoint-config", f"{self.names.sagemaker_prefix}-*"),
            ("model", f"{self.names.sagemaker_prefix}-*"),
        ]
        reconcile.add_to_role_policy(
            iam.PolicyStatement(
                actions=["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"],
                resources=[self._sagemaker_arn(kind, name) for kind, name in resources],
            )
        )
        access.table_items(reconcile, metadata.models, ["GetItem", "UpdateItem"])
        access.table_items(reconcile, metadata.experiments, ["GetItem", "UpdateItem"])
        access.table_items(reconcile, metadata.state, ["GetItem", "DeleteItem"])  # read the lock, release it if held
        nag.acknowledge_resources(
            self.roles["reconcile"],
            [self._sagemaker_arn_text(kind, name) for kind, name in resources[1:]],
            "Reads the endpoint configs and models the rollouts created; all start with the experiment prefix.",
        )

    def _powertools_layer(self) -> lambda_.ILayerVersion:
        """The public Powertools layer of the stack's region (infra/powertools.py: fails where none is published)."""
        return powertools.powertools_layer(self, "Powertools")

    def _function(
        self, key: str, *, code: lambda_.Code, layer: lambda_.ILayerVersion, log_retention: logs.RetentionDays
    ) -> lambda_.Function:
        spec = FUNCTION_SPECS[key]
        name = self.names.function(key)
        title = key.capitalize()
        role = iam.Role(
            self,
            f"{title}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Lambda {name}: only what the {key} step needs",
        )
        self.roles[key] = role
        logs_of_function = log_group(
            self, f"{title}Logs", name=f"/aws/lambda/{name}", retention=log_retention, writer=role
        )
        fn = lambda_.Function(
            self,
            title,
            function_name=name,
            description=spec.description,
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.X86_64,
            handler=f"{key}.handler",
            code=code,
            layers=[layer],
            role=role,
            log_group=logs_of_function,
            tracing=lambda_.Tracing.ACTIVE,
            timeout=Duration.seconds(spec.timeout_seconds),
            memory_size=spec.memory_mib,
            environment=self.environment,
        )
        nag.acknowledge_star(role, "X-Ray PutTraceSegments/PutTelemetryRecords have no resource-level permissions.")
        nag.acknowledge(
            fn,
            "AwsSolutions-L1",
            "Pinned to Python 3.12: the Powertools layer used is the python312 build, and the handlers are tested "
            "on 3.11/3.12; moving runtimes is a deliberate upgrade of both.",
        )
        return fn

    def _sagemaker_arn(self, kind: str, name: str) -> str:
        return Stack.of(self).format_arn(service="sagemaker", resource=kind, resource_name=name)

    @staticmethod
    def _sagemaker_arn_text(kind: str, name: str) -> str:
        """The ARN as cdk-nag prints it (pseudo parameters in angle brackets)."""
        return f"arn:<AWS::Partition>:sagemaker:<AWS::Region>:<AWS::AccountId>:{kind}/{name}"

    @staticmethod
    def _grant_pass_role(fn: lambda_.Function, role: iam.IRole) -> None:
        """Pass one SageMaker execution role (the one this step's jobs or models run under), and only to SageMaker."""
        fn.add_to_role_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
            )
        )

    def _state_machine(
        self, statemachine_path: Path, *, settings: Settings, log_retention: logs.RetentionDays
    ) -> sfn.StateMachine:
        """The ASL file as written (tests read the same file), with ARNs, the poll interval and the execution's
        `TimeoutSeconds` substituted."""
        # The vended-logs prefix keeps Step Functions' log delivery within the account's resource-policy limit.
        execution_logs = log_group(
            self, "RetrainLogs", name=f"/aws/vendedlogs/states/{self.names.state_machine_name}", retention=log_retention
        )
        substitutions = {name: self.functions[key].function_arn for name, key in ASL_FUNCTION_SUBSTITUTIONS.items()}
        substitutions["PollSeconds"] = str(settings.poll_seconds)
        substitutions["RunTimeoutSeconds"] = str(settings.run_timeout_seconds)
        state_machine = sfn.StateMachine(
            self,
            "Retrain",
            state_machine_name=self.names.state_machine_name,
            state_machine_type=sfn.StateMachineType.STANDARD,
            definition_body=sfn.DefinitionBody.from_string(statemachine_path.read_text()),
            definition_substitutions=substitutions,
            logs=sfn.LogOptions(destination=execution_logs, level=sfn.LogLevel.ALL, include_execution_data=True),
            tracing_enabled=True,
        )
        for key in INVOKED_BY_STATE_MACHINE:
            self.functions[key].grant_invoke(state_machine)
        nag.acknowledge_star(
            state_machine.role,
            "CloudWatch Logs delivery (logs:*LogDelivery*, resource policies) and X-Ray actions have no "
            "resource-level permissions.",
        )
        nag.acknowledge_resources(
            state_machine.role,
            [f"<{nag.logical_id(self.functions[key])}.Arn>:*" for key in INVOKED_BY_STATE_MACHINE],
            "Invoking a function ARN with any version/alias qualifier; the functions themselves are named exactly.",
        )
        return state_machine
