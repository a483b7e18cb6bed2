"""--migrate-state-to-table (issue 18, daemon/migrate.h): a state directory written by a single
instance is copied into the HA table once; the group that starts on the table carries on from it.

Asserted from the table's items and the simulator's logs: what the single instance deployed is in
the table (meta "ready", the watch's and the target's items, no rollout record left), the copy
prints its counts, a second copy is refused without writing anything, an interrupted one
("migrating") keeps every instance from leading and may run again, and the leader that starts on
the migrated table deploys nothing again (no RegisterTaskDefinition of the digest already run)."""

import json
import os
import signal

from harness import check, check_eq, daemon_path, wait_for
from test_daemon import lines_with
from test_deploy import DEPLOY_COMPLETED
from test_ha import GROUP, Group, carried, ddb_log, ecs_mutations, ha_sim, ha_world, item, items, web_watch


def single_config(inst):
    """inst's configuration without "ha": the single-instance daemon of the same state directory."""
    with open(inst.config) as f:
        cfg = json.load(f)
    del cfg["ha"]
    path = os.path.join(inst.dir, "single.json")
    with open(path, "w") as f:
        json.dump(cfg, f, indent=1)
    return path


def state_items(sim):
    return sorted(it["sk"] for it in items(sim) if it.get("pk") == GROUP and it["sk"] != "lease")


def test_migrate_a_state_directory_into_the_table_once(ctx):
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=1)
    inst = g.insts[0]
    # a single instance (no ha) deploys v2 with its state in its directory
    p = ctx.spawn([daemon_path(), "-c", single_config(inst), "--config-dir", os.path.join(inst.dir, "conf.d")],
                  env=inst.env(), name="single")
    wait_for(lambda: lines_with(p, "already runs"), 30, "the single instance's first-start inspection")
    new = sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "the single instance deployed v2")
    p.signal(signal.SIGTERM)
    check_eq(p.wait(10), 0, "the single instance stopped")
    check_eq(state_items(sim), [], "the table holds no state before the copy")
    # the copy
    argv = [daemon_path(), "-c", inst.config, "--migrate-state-to-table"]
    rc, out, err = ctx.run(argv, timeout=30, env=inst.env())
    check_eq(rc, 0, "the migration succeeded: %s" % err)
    check("1 watch, 1 target, 0 rollouts" in out, "it printed its counts: %r" % out)
    meta = json.loads(item(sim, "meta")["doc"])
    check_eq((meta["version"], meta["status"]), (1, "ready"), "meta says ready")
    t = json.loads(item(sim, "t/web/us-east-1/prod/web")["doc"])
    check_eq(t.get("deployed"), new, "the target's item: what the single instance deployed")
    w = json.loads(item(sim, "w/web")["doc"])
    check_eq(w["tags"]["prod"]["digest"], new, "the watch's item: the last sighting")
    check(not [sk for sk in state_items(sim) if sk.startswith("r/")], "no rollout record")
    # a second copy is refused and writes nothing
    before = len([c for c in ddb_log(sim) if c["op"] in ("PutItem", "TransactWriteItems", "DeleteItem")])
    rc, out, err = ctx.run(argv, timeout=30, env=inst.env())
    check(rc != 0, "a second migration is refused")
    check("already holds state" in err, "and says why: %r" % err)
    after = len([c for c in ddb_log(sim) if c["op"] in ("PutItem", "TransactWriteItems", "DeleteItem")])
    check_eq(after, before, "nothing written by the refused copy")
    # the leader that starts on the table carries on: no deploy of what already runs
    n_regs = len(carried(ecs_mutations(sim), "RegisterTaskDefinition"))
    g.start()
    leader = g.wait_one_leader()
    wait_for(lambda: lines_with(leader.p, "poll cycle"), 30, "the leader's first poll")
    check_eq(len(carried(ecs_mutations(sim), "RegisterTaskDefinition")), n_regs,
             "the leader on the migrated table registers nothing again")
    check(not lines_with(leader.p, "table-aside") and not lines_with(leader.p, "unusable"),
          "every migrated item was read")


def test_an_interrupted_migration_keeps_instances_out_and_runs_again(ctx):
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=1)
    inst = g.insts[0]
    with open(os.path.join(inst.dir, "state", "state.json"), "w") as f:
        json.dump({"version": 1, "watches": {"web": {"targets": {"us-east-1/prod/web": {
            "deployed": "sha256:" + "1" * 64}}}}}, f)
    # a copy cut short: meta says migrating (and part of the items may be there)
    ddb = sim.client("dynamodb")
    ddb.put_item(TableName="ecr-deployd", Item={"pk": {"S": GROUP}, "sk": {"S": "meta"},
                                                 "doc": {"S": '{"version":1,"status":"migrating"}'}})
    g.start()
    wait_for(lambda: lines_with(inst.p, "being migrated"), 20, "the instance refuses the table being migrated")
    check(not [r for r in ecs_mutations(sim)], "nothing deployed meanwhile")
    rc, out, err = ctx.run([daemon_path(), "-c", inst.config, "--migrate-state-to-table"], timeout=30,
                           env=inst.env())
    check_eq(rc, 0, "the migration runs again: %s" % err)
    check_eq(json.loads(item(sim, "meta")["doc"])["status"], "ready", "meta says ready")
    if not inst.alive():  # the daemon stops when it cannot lead (systemd's Restart= starts it again)
        inst.start()
    leader = g.wait_one_leader(timeout=30)
    check_eq(leader.name, inst.name, "the instance leads once the copy is finished")
