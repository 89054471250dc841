"""Client applications that play the environment against the bandit endpoint and report rewards.

Programmatic use (benchmarks, end-to-end tests): `run_simulation(scenario, interactions, client, sink, ...)`
returns a `SimulationResult` whose `.rewards` are the per-interaction rewards and `.summary()` the JSON summary.
"""

from simulator.channel import RewardChannel, RewardCounts, RewardFaults
from simulator.client import DecisionClient, HttpDecisionClient, SageMakerDecisionClient, SdkDecisionClient
from simulator.errors import DatasetError, DecisionError, RewardDeliveryError, ScenarioError, SimulatorError
from simulator.results import Round, SimulationResult, summarise, write_result
from simulator.rewards import FirehoseRewardSink, JsonLinesRewardSink, MemoryRewardSink, RewardRecord, RewardSink
from simulator.runner import SimulationInterrupted, run_simulation
from simulator.scenarios import Baselines, Interaction, Scenario, baselines, build_scenario

__all__ = [
    "Baselines",
    "DatasetError",
    "DecisionClient",
    "DecisionError",
    "FirehoseRewardSink",
    "HttpDecisionClient",
    "Interaction",
    "JsonLinesRewardSink",
    "MemoryRewardSink",
    "RewardChannel",
    "RewardCounts",
    "RewardDeliveryError",
    "RewardFaults",
    "RewardRecord",
    "RewardSink",
    "Round",
    "SageMakerDecisionClient",
    "Scenario",
    "ScenarioError",
    "SdkDecisionClient",
    "SimulationInterrupted",
    "SimulationResult",
    "SimulatorError",
    "baselines",
    "build_scenario",
    "run_simulation",
    "summarise",
    "write_result",
]
