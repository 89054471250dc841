"""Ask the endpoint for decisions and send their rewards: the SageMaker Python SDK, boto3, Firehose.

The same code runs against AWS and against the local runtime: with `AWS_ENDPOINT_URL=http://127.0.0.1:4566`
(what `python -m local up` prints) boto3, and the SDK on top of it, talk to the local gateway instead.
"""

import json
import os
from datetime import UTC, datetime

import boto3
from sagemaker.deserializers import JSONDeserializer
from sagemaker.predictor import Predictor
from sagemaker.serializers import JSONSerializer

ENDPOINT = os.environ.get("ENDPOINT_NAME", "bandit-demo-policy")
REWARDS_STREAM = os.environ.get("REWARDS_STREAM", "bandit-demo-rewards")

# One decision: a context and the candidate actions (ids, optional features per action).
request = {"context": {"hour": 9, "device": "mobile"}, "actions": ["banner-a", "banner-b", "banner-c"]}

# 1. The SageMaker Python SDK: a Predictor with JSON in and out.
predictor = Predictor(ENDPOINT, serializer=JSONSerializer(), deserializer=JSONDeserializer())
decision = predictor.predict(request)
print(decision["event_id"], decision["action"], decision["action_prob"], decision["model_id"])

# 2. boto3 alone: the same call, the body as JSON text.
runtime = boto3.client("sagemaker-runtime")
answer = runtime.invoke_endpoint(
    EndpointName=ENDPOINT, ContentType="application/json", Accept="application/json", Body=json.dumps(request)
)
decision_2 = json.loads(answer["Body"].read())

# 3. A batch: up to 1,000 requests as {"instances": [...]}, answered in order as {"predictions": [...]}.
batch = predictor.predict({"instances": [request] * 3})["predictions"]


# 4. Rewards: one JSON object per decision through Firehose, keyed by the decision's event_id. No newline: the
#    stream's AppendDelimiterToRecord processor delimits records in S3.
def reward_record(event_id: str, reward: float) -> dict:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    record = {"event_id": event_id, "reward": reward, "reward_time": now}
    return {"Data": json.dumps(record).encode("utf-8")}


firehose = boto3.client("firehose")
firehose.put_record(DeliveryStreamName=REWARDS_STREAM, Record=reward_record(decision["event_id"], 1.0))
response = firehose.put_record_batch(  # at most 500 records and 4 MiB per call
    DeliveryStreamName=REWARDS_STREAM,
    Records=[reward_record(d["event_id"], 0.0) for d in [decision_2, *batch]],
)
if response["FailedPutCount"]:  # Firehose can accept part of a batch: resend only the records it refused
    print("resend:", [r["ErrorCode"] for r in response["RequestResponses"] if "ErrorCode" in r])
