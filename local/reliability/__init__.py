"""Faults, bad input and load lose nothing: fault injection through the real local runtime, and what must hold.

One runtime (`local.driver.DetachedRuntime`: `python -m local up --detach` on a free port) is driven through the
AWS APIs and the gateway's fault switches (`POST /_local/faults`, `local.faults`), in this order:

1. bootstrap (`{"bootstrap": true}`);
2. `events`: reward objects written to S3 in concurrent bursts while EventBridge delivers every event three times,
   each delivery delayed at random (out of order), and the trigger's first invocations fail (Lambda retries them);
   more rewards arrive while the run is in flight. Holds: one execution per threshold crossing, never two in
   flight, every object counted once (the runs' `reward_count`s plus the counter equal the records written);
3. `failures`: one threshold crossing per fault (training job fails; evaluation Lambda times out; in the full
   benchmark also evaluation job times out and deploy Lambda fails). Holds: execution FAILED, no deployment (the
   endpoint config and the serving model unchanged, no endpoint config created), the failure and its reason in the
   execution and the registry, the lock released;
4. `recovery`: the next crossing, with bad rewards mixed in (not JSON, no event id, non-numeric, NaN, infinite,
   unknown event id, duplicates, far too late), runs normally and promotes; while it deploys blue/green, a load
   runs against the endpoint with Firehose throttling, partial failures and lost responses on the decisions
   stream, and the blue fleet is drained and SIGTERMed by the deployment mid-load;
5. `rollback`: a trained candidate of a real run is made unhealthy (`unhealthy_models`: its `vw.model` is corrupted
   when the green fleet starts), under load: rolled back, the serving model and traffic unchanged, the rollback
   recorded; this run's join holds exactly the decisions served by the earlier load plus the logged ones (served
   == joined); in the full benchmark also a candidate raising errors during the canary and a green process
   SIGTERMed mid-canary;
6. every decision served (answered 200) is found in S3 under `decisions/` (dedup by `event_id`);
7. the data-integrity faults (`integrity`): bad requests, one crossing with duplicated and reused decisions and
   forged, time-travelling, out-of-range and newline-less rewards, a stop mid-deployment, a gzip bomb, a `serve`
   worker SIGKILLed, half-sent requests, the endpoint's process SIGKILLed.

Modules: `checks` (pure: what each scenario must give, the per-kind rows), `load`, `scenarios` (1-6), `integrity`
(7), `run` (all of them on one runtime, then one row per fault kind).

`python -m bench reliability` runs everything and writes `bench/results/reliability.json`;
`tests/local/test_reliability.py` runs the same scenarios (a shorter list of failures) and asserts what must hold.
"""
