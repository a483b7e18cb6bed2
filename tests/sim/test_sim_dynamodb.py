# SPDX-License-Identifier: MIT
"""awssim DynamoDB (issue 18, high availability), through boto3: tables (CreateTable and
POST /_sim/dynamodb/tables), GetItem/PutItem/UpdateItem/DeleteItem/Query/TransactWriteItems with
every condition and update form the lease and the fenced state use, the real error shapes
(ConditionalCheckFailedException, TransactionCanceledException with CancellationReasons,
ValidationException, ResourceNotFoundException, ProvisionedThroughputExceededException),
ConsistentRead against stale reads, Query pagination (Limit and the 1 MB page), per-client faults
(one key blackholed or throttled while another passes), the call log and the items dump, and IAM
on the table ARN."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import SIM_KEY, Failure, Sim, aws_error, check, check_eq, wait_for  # noqa: E402

ACCOUNT = "123456789012"
TABLE = "ecr-deployd-ha"
ARN = "arn:aws:dynamodb:us-east-1:%s:table/%s" % (ACCOUNT, TABLE)
KEY_A = ("AKIDINSTANCEA0000001", "secret/of/instance/a/0123456789abcdef")
KEY_B = ("AKIDINSTANCEB0000002", "secret/of/instance/b/0123456789abcdef")
FENCE = "#o = :me AND #t = :term"


def setup(ctx, keys=(SIM_KEY,), **kw):
    sim = Sim(ctx, keys=keys, **kw)
    sim.control("POST", "/dynamodb/tables", {"name": TABLE})
    return sim


def S(v):
    return {"S": v}


def N(v):
    return {"N": str(v)}


def key(sk, pk="grp"):
    return {"pk": S(pk), "sk": S(sk)}


def lease_item(owner, term, version, pk="grp"):
    return {"pk": S(pk), "sk": S("lease"), "owner": S(owner), "term": N(term), "version": N(version),
            "lease_ms": N(3000), "since": N(1700000000000), "host": S("h-" + owner)}


def items(sim, table=TABLE):
    return sim.control("GET", "/dynamodb/items?table=%s" % table)["items"]


def log(sim, since=0):
    return sim.control("GET", "/dynamodb/log?since=%d" % since)["calls"]


def fence_check(owner, term, pk="grp"):
    return {"ConditionCheck": {"TableName": TABLE, "Key": key("lease", pk), "ConditionExpression": FENCE,
                               "ExpressionAttributeNames": {"#o": "owner", "#t": "term"},
                               "ExpressionAttributeValues": {":me": S(owner), ":term": N(term)}}}


def put_doc(sk, doc, term=1):
    return {"Put": {"TableName": TABLE, "Item": {"pk": S("grp"), "sk": S(sk), "doc": S(doc), "term": N(term)}}}


def test_tables_and_basic_items(ctx):
    sim = Sim(ctx)
    ddb = sim.client("dynamodb")
    out = ddb.create_table(TableName="table-1", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                                      {"AttributeName": "sk", "KeyType": "RANGE"}],
                           AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                 {"AttributeName": "sk", "AttributeType": "S"}],
                           BillingMode="PAY_PER_REQUEST")
    check_eq(out["TableDescription"]["TableStatus"], "ACTIVE", "a created table is ACTIVE at once")
    check_eq(out["TableDescription"]["TableArn"], "arn:aws:dynamodb:us-east-1:%s:table/table-1" % ACCOUNT, "its ARN")
    code, msg, status, _ = aws_error(ddb.create_table, TableName="table-1", KeySchema=[
        {"AttributeName": "pk", "KeyType": "HASH"}], AttributeDefinitions=[
        {"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    check_eq((code, status), ("ResourceInUseException", 400), "a second CreateTable of the same name")
    code, msg, _, _ = aws_error(ddb.create_table, TableName="t2", KeySchema=[
        {"AttributeName": "pk", "KeyType": "HASH"}], AttributeDefinitions=[
        {"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "x", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST")
    check_eq(code, "ValidationException", "attribute definitions beyond the key schema: %s" % msg)
    sim.control("POST", "/dynamodb/tables", {"name": TABLE, "ttl_attribute": "expires"})
    check_eq(ddb.describe_time_to_live(TableName=TABLE)["TimeToLiveDescription"],
             {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires"}, "the TTL attribute of a control-made table")
    tables = sim.control("GET", "/dynamodb/tables")["tables"]
    check_eq(sorted(t["name"] for t in tables), ["ecr-deployd-ha", "table-1"], "GET /_sim/dynamodb/tables")

    ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("g"), "doc": S('{"paused":false}'), "term": N(1)})
    got = ddb.get_item(TableName=TABLE, Key=key("g"), ConsistentRead=True)
    check_eq(got["Item"]["doc"], S('{"paused":false}'), "GetItem reads what PutItem wrote")
    check_eq(got["Item"]["term"], N(1), "numbers come back as DynamoDB's N strings")
    check("Item" not in ddb.get_item(TableName=TABLE, Key=key("nothing")), "a missing item: no Item member")
    ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("n"), "x": N("1.50"), "y": N("1E2")})
    got = ddb.get_item(TableName=TABLE, Key=key("n"))["Item"]
    check_eq((got["x"], got["y"]), (N("1.5"), N("100")), "numbers normalized as DynamoDB stores them")
    old = ddb.delete_item(TableName=TABLE, Key=key("n"), ReturnValues="ALL_OLD")
    check_eq(old["Attributes"]["x"], N("1.5"), "DeleteItem ALL_OLD")
    check("Item" not in ddb.get_item(TableName=TABLE, Key=key("n")), "deleted")
    # by ARN too
    check_eq(ddb.get_item(TableName=ARN, Key=key("g"))["Item"]["sk"], S("g"), "a table named by its ARN")
    code, msg, status, _ = aws_error(ddb.get_item, TableName="missing-table", Key=key("g"))
    check_eq((code, msg, status), ("ResourceNotFoundException", "Requested resource not found", 400),
             "a missing table")
    check_eq(items(sim), [{"doc": '{"paused":false}', "pk": "grp", "sk": "g", "term": 1}],
             "GET /_sim/dynamodb/items: every item as plain JSON")


def test_lease_protocol_conditions(ctx):
    """The lease's writes: acquire on a missing item, renew on owner+term+version, take over on a
    version, release; each refused write is a ConditionalCheckFailedException and changes nothing."""
    sim = setup(ctx)
    ddb = sim.client("dynamodb")
    names = {"#o": "owner", "#t": "term", "#v": "version"}
    ddb.put_item(TableName=TABLE, Item=lease_item("a", 1, 1), ConditionExpression="attribute_not_exists(pk)")
    code, msg, status, _ = aws_error(ddb.put_item, TableName=TABLE, Item=lease_item("b", 1, 1),
                                     ConditionExpression="attribute_not_exists(pk)")
    check_eq((code, msg, status), ("ConditionalCheckFailedException", "The conditional request failed", 400),
             "a second acquisition of a missing item")
    # renew: owner = me AND term = mine AND version = last; version + 1
    out = ddb.update_item(TableName=TABLE, Key=key("lease"), UpdateExpression="SET #v = #v + :one",
                          ConditionExpression="#o = :me AND #t = :term AND #v = :ver",
                          ExpressionAttributeNames=names,
                          ExpressionAttributeValues={":me": S("a"), ":term": N(1), ":ver": N(1), ":one": N(1)},
                          ReturnValues="ALL_NEW")
    check_eq(out["Attributes"]["version"], N(2), "a renewal bumps the version (SET a = a + :n)")
    code, _, _, _ = aws_error(ddb.update_item, TableName=TABLE, Key=key("lease"),
                              UpdateExpression="SET #v = #v + :one",
                              ConditionExpression="#o = :me AND #t = :term AND #v = :ver",
                              ExpressionAttributeNames=names,
                              ExpressionAttributeValues={":me": S("a"), ":term": N(1), ":ver": N(1), ":one": N(1)})
    check_eq(code, "ConditionalCheckFailedException", "a renewal on a stale version")
    # takeover: conditioned on the version seen
    out = ddb.update_item(TableName=TABLE, Key=key("lease"),
                          UpdateExpression="SET #o = :me, #t = #t + :one, #v = #v + :one, lease_ms = :ms",
                          ConditionExpression="#v = :seen", ExpressionAttributeNames=names,
                          ExpressionAttributeValues={":me": S("b"), ":one": N(1), ":seen": N(2), ":ms": N(5000)},
                          ReturnValues="ALL_OLD")
    check_eq(out["Attributes"]["owner"], S("a"), "ALL_OLD: the item before the takeover")
    lease = [i for i in items(sim) if i["sk"] == "lease"][0]
    check_eq((lease["owner"], lease["term"], lease["version"], lease["lease_ms"]), ("b", 2, 3, 5000),
             "the takeover's item")
    # the old owner's release is refused, with the item when asked
    code, msg, _, _ = aws_error(ddb.update_item, TableName=TABLE, Key=key("lease"),
                                UpdateExpression="SET #o = :empty, #v = #v + :one",
                                ConditionExpression=FENCE, ExpressionAttributeNames=names,
                                ExpressionAttributeValues={":me": S("a"), ":term": N(1), ":empty": S(""),
                                                           ":one": N(1)},
                                ReturnValuesOnConditionCheckFailure="ALL_OLD")
    check_eq(code, "ConditionalCheckFailedException", "the old owner's release")
    try:
        ddb.update_item(TableName=TABLE, Key=key("lease"), UpdateExpression="SET #o = :empty, #v = #v + :one",
                        ConditionExpression=FENCE, ExpressionAttributeNames=names,
                        ExpressionAttributeValues={":me": S("a"), ":term": N(1), ":empty": S(""), ":one": N(1)},
                        ReturnValuesOnConditionCheckFailure="ALL_OLD")
        raise Failure("the old owner's release passed")
    except ddb.exceptions.ConditionalCheckFailedException as e:
        check_eq(e.response["Item"]["owner"], S("b"), "ReturnValuesOnConditionCheckFailure ALL_OLD: the item")
    # the owner's release: owner "" (an empty string is a valid non-key value)
    ddb.update_item(TableName=TABLE, Key=key("lease"), UpdateExpression="SET #o = :empty, #v = #v + :one",
                    ConditionExpression=FENCE, ExpressionAttributeNames=names,
                    ExpressionAttributeValues={":me": S("b"), ":term": N(2), ":empty": S(""), ":one": N(1)})
    lease = [i for i in items(sim) if i["sk"] == "lease"][0]
    check_eq((lease["owner"], lease["version"]), ("", 4), "released")
    # every other condition form
    for cond, values, want in (
            ("#o <> :x", {":x": S("b")}, True),
            ("#v > :n", {":n": N(3)}, True),
            ("#v >= :n AND #v <= :m", {":n": N(4), ":m": N(4)}, True),
            ("#v < :n", {":n": N(4)}, False),
            ("#v BETWEEN :n AND :m", {":n": N(1), ":m": N(10)}, True),
            ("#v IN (:n, :m)", {":n": N(1), ":m": N(4)}, True),
            ("NOT (#v = :n)", {":n": N(4)}, False),
            ("#o = :x OR #v = :n", {":x": S("zz"), ":n": N(4)}, True),
            ("(#o = :x OR #v = :n) AND attribute_exists(host)", {":x": S("zz"), ":n": N(5)}, False),
            ("begins_with(sk, :p)", {":p": S("lea")}, True),
            ("begins_with(sk, :p)", {":p": S("w/")}, False),
            ("attribute_not_exists(nothing) AND attribute_exists(#o)", None, True),
            ("attribute_type(#v, :t)", {":t": S("N")}, True),
            ("contains(host, :s)", {":s": S("h-")}, True),
            ("size(host) = :n", {":n": N(3)}, True),
            ("nothing <> :x", {":x": S("b")}, True),
            ("nothing = :x", {":x": S("b")}, False)):
        p = {"TableName": TABLE, "Key": key("lease"), "ConditionExpression": cond,
             "UpdateExpression": "SET probe = :probe"}
        used = {"#o": "owner", "#v": "version"}
        p["ExpressionAttributeNames"] = {k: v for k, v in used.items() if k in cond}
        if not p["ExpressionAttributeNames"]:
            del p["ExpressionAttributeNames"]
        p["ExpressionAttributeValues"] = dict(values or {}, **{":probe": S(cond)})
        try:
            ddb.update_item(**p)
            got = True
        except ddb.exceptions.ConditionalCheckFailedException:
            got = False
        check_eq(got, want, "condition %r" % cond)


def test_update_expressions(ctx):
    sim = setup(ctx)
    ddb = sim.client("dynamodb")
    ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("u"), "a": N(1), "gone": S("x"),
                                        "l": {"L": [N(1)]}, "m": {"M": {"k": S("v")}}, "ss": {"SS": ["a"]},
                                        "ss2": {"SS": ["a", "b"]}})
    out = ddb.update_item(TableName=TABLE, Key=key("u"),
                          UpdateExpression="SET a = a + :n, b = if_not_exists(b, :z) - :n, l = list_append(l, :l), "
                                           "m.k2 = :s REMOVE gone ADD c :n, ss :ss DELETE ss2 :del",
                          ExpressionAttributeValues={":n": N(2), ":z": N(10), ":l": {"L": [N(2)]}, ":s": S("w"),
                                                     ":ss": {"SS": ["b", "c"]}, ":del": {"SS": ["a"]}},
                          ReturnValues="ALL_NEW")["Attributes"]
    check_eq(out["a"], N(3), "SET a = a + :n")
    check_eq(out["b"], N(8), "if_not_exists(...) - :n")
    check_eq(out["l"], {"L": [N(1), N(2)]}, "list_append")
    check_eq(out["m"], {"M": {"k": S("v"), "k2": S("w")}}, "SET of a nested map member")
    check("gone" not in out, "REMOVE")
    check_eq(out["c"], N(2), "ADD to a missing number")
    check_eq((sorted(out["ss"]["SS"]), out["ss2"]), (["a", "b", "c"], {"SS": ["b"]}), "ADD and DELETE on string sets")
    # UpdateItem on a missing item creates it
    out = ddb.update_item(TableName=TABLE, Key=key("fresh"), UpdateExpression="SET doc = :d",
                          ExpressionAttributeValues={":d": S("{}")}, ReturnValues="ALL_NEW")["Attributes"]
    check_eq(out, {"pk": S("grp"), "sk": S("fresh"), "doc": S("{}")}, "UpdateItem creates a missing item")
    out = ddb.update_item(TableName=TABLE, Key=key("u"), UpdateExpression="SET a = :n",
                          ExpressionAttributeValues={":n": N(7)}, ReturnValues="UPDATED_OLD")
    check_eq(out["Attributes"], {"a": N(3)}, "UPDATED_OLD")
    for expr, values, names, want in (
            ("SET absent = absent + :n", {":n": N(1)}, None,
             "The provided expression refers to an attribute that does not exist in the item"),
            ("SET m = m + :n", {":n": N(1)}, None, "An operand in the update expression has an incorrect data type"),
            ("SET pk = :s", {":s": S("x")}, None, "Cannot update attribute pk. This attribute is part of the key"),
            ("SET a = :n, a = :n", {":n": N(1)}, None, "Two document paths overlap"),
            ("SET a = :n SET c = :n", {":n": N(1)}, None, 'The "SET" section can only be used once'),
            ("SET owner = :s", {":s": S("x")}, None, "Attribute name is a reserved keyword; reserved keyword: owner"),
            ("SET #o = :s", {":s": S("x")}, None,
             "An expression attribute name used in the document path is not defined; attribute name: #o"),
            ("SET a = :undefined", {":n": N(1)}, None,
             "An expression attribute value used in expression is not defined; attribute value: :undefined"),
            ("SET a = :n", {":n": N(1), ":extra": N(2)}, None,
             "Value provided in ExpressionAttributeValues unused in expressions: keys: {:extra}"),
            ("SET a = :n", {":n": N(1)}, {"#x": "x"},
             "Value provided in ExpressionAttributeNames unused in expressions: keys: {#x}"),
            ("SET a = = :n", {":n": N(1)}, None, "Syntax error; token:"),
            ("SET a = :n,", {":n": N(1)}, None, "Syntax error; token: \"<EOF>\""),
            ("SET a = nonsense(:n)", {":n": N(1)}, None, "Invalid function name; function: nonsense")):
        p = {"TableName": TABLE, "Key": key("u"), "UpdateExpression": expr, "ExpressionAttributeValues": values}
        if names:
            p["ExpressionAttributeNames"] = names
        code, msg, status, _ = aws_error(ddb.update_item, **p)
        check_eq((code, status), ("ValidationException", 400), "update %r refused" % expr)
        check(want in msg, "update %r: the message %r names %r" % (expr, msg, want))
    # nothing of those changed the item
    check_eq([i for i in items(sim) if i["sk"] == "u"][0]["a"], 7, "refused updates change nothing")


def test_validation_of_requests(ctx):
    """The model's validation (unknown members, types, enums) and DynamoDB's own rules."""
    sim = setup(ctx)
    ddb = sim.client("dynamodb")
    big = "x" * (400 * 1024)
    for what, fn, kw, want in (
            ("a bad enum", ddb.put_item, {"TableName": TABLE, "Item": lease_item("a", 1, 1),
                                          "ReturnValues": "EVERYTHING"}, "ReturnValues"),
            ("ALL_NEW on PutItem", ddb.put_item, {"TableName": TABLE, "Item": lease_item("a", 1, 1),
                                                  "ReturnValues": "ALL_NEW"},
             "ReturnValues can only be ALL_OLD or NONE"),
            ("a key with an extra attribute", ddb.get_item, {"TableName": TABLE, "Key": dict(key("g"), x=S("1"))},
             "The provided key element does not match the schema"),
            ("a key of the wrong type", ddb.get_item, {"TableName": TABLE, "Key": {"pk": S("grp"), "sk": N(1)}},
             "Type mismatch for key sk expected: S actual: N"),
            ("an empty key string", ddb.get_item, {"TableName": TABLE, "Key": key("")},
             "cannot contain an empty string value"),
            ("an item without its sort key", ddb.put_item, {"TableName": TABLE, "Item": {"pk": S("grp")}},
             "Missing the key sk in the item"),
            ("an empty AttributeValue", ddb.put_item, {"TableName": TABLE, "Item": dict(key("x"), a={})},
             "Supplied AttributeValue is empty"),
            ("two types in one AttributeValue", ddb.put_item,
             {"TableName": TABLE, "Item": dict(key("x"), a={"S": "1", "N": "1"})}, "more than one datatypes"),
            ("a number that is not", ddb.put_item, {"TableName": TABLE, "Item": dict(key("x"), a=N("12abc"))},
             "The parameter cannot be converted to a numeric value: 12abc"),
            ("an item over 400 KB", ddb.put_item, {"TableName": TABLE, "Item": dict(key("x"), doc=S(big))},
             "Item size has exceeded the maximum allowed size"),
            ("a bad table name", ddb.get_item, {"TableName": "bad name!", "Key": key("g")},
             "Member must satisfy regular expression pattern"),
            ("a condition syntax error", ddb.put_item, {"TableName": TABLE, "Item": lease_item("a", 1, 1),
                                                        "ConditionExpression": "attribute_not_exists(pk) AND"},
             "Invalid ConditionExpression: Syntax error"),
            ("a reserved word in a condition", ddb.put_item,
             {"TableName": TABLE, "Item": lease_item("a", 1, 1), "ConditionExpression": "owner = :o",
              "ExpressionAttributeValues": {":o": S("a")}}, "reserved keyword: owner"),
            ("values without expressions", ddb.put_item,
             {"TableName": TABLE, "Item": lease_item("a", 1, 1), "ExpressionAttributeValues": {":o": S("a")}},
             "ExpressionAttributeValues can only be specified when using expressions"),
            ("legacy Expected", ddb.put_item, {"TableName": TABLE, "Item": lease_item("a", 1, 1),
                                               "Expected": {"pk": {"Exists": False}}}, "Expected")):
        code, msg, status, _ = aws_error(fn, **kw)
        check_eq((code, status), ("ValidationException", 400), what)
        check(want in msg, "%s: the message %r names %r" % (what, msg, want))
    check_eq(items(sim), [], "no refused request wrote anything")
    status, body, _ = raw_call(sim, "GetItem", {"TableName": TABLE, "Key": key("g"), "Bogus": 1})
    check_eq((status, body["__type"].split("#")[-1]), (400, "ValidationException"), "an unknown member")
    check("Bogus" in body["message"], "the message names the member: %r" % body["message"])
    # the wire: the namespaced __type DynamoDB sends, and x-amz-crc32
    status, body, headers = raw_call(sim, "GetItem", {"TableName": TABLE, "Key": key("g"), "Bogus": 1})
    check_eq((status, body["__type"]), (400, "com.amazon.coral.validate#ValidationException"),
             "a validation error's __type on the wire")
    status, body, headers = raw_call(sim, "PutItem", {"TableName": TABLE, "Item": lease_item("a", 1, 1),
                                                      "ConditionExpression": "attribute_exists(pk)"})
    check_eq(body["__type"], "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
             "a conditional failure's __type on the wire")
    status, body, headers = raw_call(sim, "GetItem", {"TableName": TABLE, "Key": key("g")})
    check_eq(status, 200, "a good raw call")
    check("x-amz-crc32" in headers, "DynamoDB's x-amz-crc32 header")


def raw_call(sim, op, payload, key=SIM_KEY):
    """A DynamoDB call signed by botocore, sent as given. Returns (status, decoded body, headers)."""
    import http.client

    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    body = json.dumps(payload)
    req = botocore.awsrequest.AWSRequest(method="POST", url=sim.url + "/", data=body, headers={
        "X-Amz-Target": "DynamoDB_20120810." + op, "Content-Type": "application/x-amz-json-1.0"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*key[:2]), "dynamodb", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
    r = conn.getresponse()
    out = (r.status, json.loads(r.read()), {k.lower(): v for k, v in r.getheaders()})
    conn.close()
    return out


def test_transactions_fenced_writes(ctx):
    """The fenced write: ConditionCheck on the lease + Puts/Deletes; a stale term cancels the whole
    transaction with CancellationReasons in order and the message AWS sends, and writes nothing."""
    sim = setup(ctx)
    ddb = sim.client("dynamodb")
    ddb.put_item(TableName=TABLE, Item=lease_item("a", 2, 7))
    ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("w/old"), "doc": S("{}"), "term": N(1)})
    ddb.transact_write_items(TransactItems=[fence_check("a", 2), put_doc("w/web", '{"n":1}', 2),
                                            {"Delete": {"TableName": TABLE, "Key": key("w/old")}},
                                            {"Update": {"TableName": TABLE, "Key": key("g"),
                                                        "UpdateExpression": "SET doc = :d, #t = :t",
                                                        "ExpressionAttributeNames": {"#t": "term"},
                                                        "ExpressionAttributeValues": {":d": S("{}"), ":t": N(2)}}}])
    check_eq(sorted(i["sk"] for i in items(sim)), ["g", "lease", "w/web"], "the transaction's writes")
    before = items(sim)
    try:
        ddb.transact_write_items(TransactItems=[fence_check("a", 1), put_doc("w/web", '{"n":2}', 1),
                                                {"Delete": {"TableName": TABLE, "Key": key("g")}}])
        raise Failure("a write under a stale term passed")
    except ddb.exceptions.TransactionCanceledException as e:
        reasons = e.response["CancellationReasons"]
        check_eq([r["Code"] for r in reasons], ["ConditionalCheckFailed", "None", "None"], "the reasons, in order")
        check_eq(reasons[0].get("Message"), "The conditional request failed", "the failed action's message")
        check_eq(e.response["Error"]["Message"], "Transaction cancelled, please refer cancellation reasons for "
                 "specific reasons [ConditionalCheckFailed, None, None]", "the message lists the reasons in brackets")
        check_eq(e.response["ResponseMetadata"]["HTTPStatusCode"], 400, "HTTP 400")
    check_eq(items(sim), before, "a cancelled transaction writes nothing")
    status, body, _ = raw_call(sim, "TransactWriteItems", {"TransactItems": [
        fence_check("b", 2), put_doc("w/web", "{}")]})
    check_eq(body["__type"], "com.amazonaws.dynamodb.v20120810#TransactionCanceledException", "its __type")
    check_eq(body["Message"], "Transaction cancelled, please refer cancellation reasons for specific reasons "
             "[ConditionalCheckFailed, None]", "its Message member, capital M, as DynamoDB sends it")
    check_eq(body["CancellationReasons"], [{"Code": "ConditionalCheckFailed",
                                            "Message": "The conditional request failed"}, {"Code": "None"}],
             "the wire's CancellationReasons")
    # ALL_OLD on the check gives the lease as it is
    try:
        ddb.transact_write_items(TransactItems=[
            {"ConditionCheck": dict(fence_check("b", 2)["ConditionCheck"],
                                    ReturnValuesOnConditionCheckFailure="ALL_OLD")}, put_doc("w/x", "{}")])
        raise Failure("passed")
    except ddb.exceptions.TransactionCanceledException as e:
        check_eq(e.response["CancellationReasons"][0]["Item"]["owner"], S("a"), "ALL_OLD in the reason")
    # an update that cannot apply: ValidationError in its place
    try:
        ddb.transact_write_items(TransactItems=[fence_check("a", 2), {"Update": {
            "TableName": TABLE, "Key": key("g"), "UpdateExpression": "SET n = absent + :one",
            "ExpressionAttributeValues": {":one": N(1)}}}])
        raise Failure("passed")
    except ddb.exceptions.TransactionCanceledException as e:
        check_eq([r["Code"] for r in e.response["CancellationReasons"]], ["None", "ValidationError"],
                 "an update that cannot apply")
    # limits: two actions on one item, more than 100 actions, a missing table, 4 MB
    for what, actions, want_code, want in (
            ("two actions on one item", [fence_check("a", 2), put_doc("lease", "{}")], "ValidationException",
             "Transaction request cannot include multiple operations on one item"),
            ("101 actions", [fence_check("a", 2)] + [put_doc("w/%d" % i, "{}") for i in range(100)],
             "ValidationException", "101"),
            ("a missing table", [fence_check("a", 2), {"Put": {"TableName": "nope-table", "Item": key("x")}}],
             "ResourceNotFoundException", "Requested resource not found"),
            ("over 4 MB", [fence_check("a", 2)] + [put_doc("w/%d" % i, "y" * 390000) for i in range(11)],
             "ValidationException", "size"),
            ("an action of two kinds", [dict(fence_check("a", 2), **put_doc("w/x", "{}"))], "ValidationException",
             "TransactItems can only contain one of Check, Put, Update or Delete")):
        code, msg, status, _ = aws_error(ddb.transact_write_items, TransactItems=actions)
        check_eq((code, status), (want_code, 400), what)
        check(want in msg, "%s: the message %r names %r" % (what, msg, want))
    check_eq(items(sim), before, "refused transactions wrote nothing")
    # 100 actions is the limit, not beyond
    ddb.transact_write_items(TransactItems=[fence_check("a", 2)] + [put_doc("w/%02d" % i, "{}", 2)
                                                                    for i in range(99)])
    check_eq(len(items(sim)), len(before) + 99, "a transaction of 100 actions")
    # ClientRequestToken: a repeat is not carried out again; other parameters are refused
    ddb.transact_write_items(TransactItems=[fence_check("a", 2), put_doc("w/tok", "1", 2)], ClientRequestToken="t-1")
    ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("w/tok"), "doc": S("changed")})
    ddb.transact_write_items(TransactItems=[fence_check("a", 2), put_doc("w/tok", "1", 2)], ClientRequestToken="t-1")
    check_eq([i["doc"] for i in items(sim) if i["sk"] == "w/tok"], ["changed"], "a repeated token is not redone")
    code, _, _, _ = aws_error(ddb.transact_write_items, TransactItems=[fence_check("a", 2), put_doc("w/tok", "2", 2)],
                              ClientRequestToken="t-1")
    check_eq(code, "IdempotentParameterMismatchException", "the same token with other parameters")


def test_query_pages_and_consistency(ctx):
    sim = setup(ctx)
    ddb = sim.client("dynamodb")
    for i in range(25):
        ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("w/%02d" % i), "doc": S("d%d" % i)})
    ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("lease"), "owner": S("a")})
    ddb.put_item(TableName=TABLE, Item={"pk": S("other"), "sk": S("w/00"), "doc": S("x")})
    got, start, pages = [], None, 0
    while True:
        p = {"TableName": TABLE, "KeyConditionExpression": "pk = :g AND begins_with(sk, :w)",
             "ExpressionAttributeValues": {":g": S("grp"), ":w": S("w/")}, "Limit": 10, "ConsistentRead": True}
        if start:
            p["ExclusiveStartKey"] = start
        out = ddb.query(**p)
        pages += 1
        got += [i["sk"]["S"] for i in out["Items"]]
        start = out.get("LastEvaluatedKey")
        if not start:
            break
    check_eq(got, ["w/%02d" % i for i in range(25)], "Query pages through every item of the prefix, in order")
    check_eq(pages, 3, "Limit 10 over 25 items: three pages")
    out = ddb.query(TableName=TABLE, KeyConditionExpression="#p = :g", ExpressionAttributeNames={"#p": "pk"},
                    ExpressionAttributeValues={":g": S("grp")}, Limit=26)
    check_eq((out["Count"], "LastEvaluatedKey" in out), (26, True),
             "a page that ends at Limit has a LastEvaluatedKey even when nothing follows, as DynamoDB does")
    out = ddb.query(TableName=TABLE, KeyConditionExpression="#p = :g", ExpressionAttributeNames={"#p": "pk"},
                    ExpressionAttributeValues={":g": S("grp")}, ExclusiveStartKey=out["LastEvaluatedKey"])
    check_eq((out["Count"], "LastEvaluatedKey" in out), (0, False), "then an empty last page")
    out = ddb.query(TableName=TABLE, KeyConditionExpression="pk = :g AND sk > :s",
                    ExpressionAttributeValues={":g": S("grp"), ":s": S("w/20")}, ScanIndexForward=False,
                    ProjectionExpression="sk")
    check_eq([i for i in out["Items"]], [{"sk": S("w/%02d" % i)} for i in (24, 23, 22, 21)],
             "a range condition, backwards, projected")
    # the 1 MB page
    for i in range(6):
        ddb.put_item(TableName=TABLE, Item={"pk": S("big"), "sk": S("r/%d" % i), "doc": S("z" * 300000)})
    out = ddb.query(TableName=TABLE, KeyConditionExpression="pk = :g", ExpressionAttributeValues={":g": S("big")})
    check("LastEvaluatedKey" in out and out["Count"] < 6, "a Query page stops at 1 MB (%d items)" % out["Count"])
    for what, kce, values, want in (
            ("no hash key", "sk = :s", {":s": S("x")}, "Query condition missed key schema element: pk"),
            ("OR", "pk = :g OR sk = :s", {":g": S("grp"), ":s": S("x")}, "not supported"),
            ("a non-key attribute", "pk = :g AND doc = :s", {":g": S("grp"), ":s": S("x")}, "not supported")):
        code, msg, _, _ = aws_error(ddb.query, TableName=TABLE, KeyConditionExpression=kce,
                                    ExpressionAttributeValues=values)
        check_eq(code, "ValidationException", what)
        check(want in msg, "%s: %r names %r" % (what, msg, want))
    # stale reads: an eventually consistent read may miss a write; a consistent one never does
    sim.settings(dynamodb_stale_read_seconds=30)
    ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("lease"), "owner": S("b")})
    check_eq(ddb.get_item(TableName=TABLE, Key=key("lease"))["Item"]["owner"], S("a"),
             "an eventually consistent GetItem sees the old item")
    check_eq(ddb.get_item(TableName=TABLE, Key=key("lease"), ConsistentRead=True)["Item"]["owner"], S("b"),
             "ConsistentRead sees the write")
    q = {"TableName": TABLE, "KeyConditionExpression": "pk = :g AND sk = :s",
         "ExpressionAttributeValues": {":g": S("grp"), ":s": S("lease")}}
    check_eq(ddb.query(**q)["Items"][0]["owner"], S("a"), "an eventually consistent Query too")
    check_eq(ddb.query(ConsistentRead=True, **q)["Items"][0]["owner"], S("b"), "a consistent Query")


def test_blackhole_per_client(ctx):
    """A partition: instance A's DynamoDB calls get no answer (held until A gives up) while B's pass;
    a blackholed write is not carried out; "blackhole-after" carries it out and loses the answer;
    a rule on "*" cuts A off from every service; "hold" bounds how long a call is held."""
    import botocore.exceptions
    sim = setup(ctx, keys=(SIM_KEY, KEY_A, KEY_B))
    a = sim.client("dynamodb", key=KEY_A, read_timeout=1)
    b = sim.client("dynamodb", key=KEY_B, read_timeout=5)
    sim.fault("dynamodb.*", "blackhole", access_key=KEY_A[0], rate=1.0)
    t0 = time.monotonic()
    try:
        a.put_item(TableName=TABLE, Item=lease_item("a", 1, 1))
        raise Failure("a blackholed call was answered")
    except botocore.exceptions.ReadTimeoutError:
        pass
    check(time.monotonic() - t0 < 4, "the client's own timeout ended the call")
    b.put_item(TableName=TABLE, Item=lease_item("b", 1, 1), ConditionExpression="attribute_not_exists(pk)")
    check_eq([i["owner"] for i in items(sim)], ["b"], "A's write was not carried out; B's was")
    line = wait_for(lambda: [c for c in log(sim) if c["access_key"] == KEY_A[0] and c["outcome"] == "Blackholed"],
                    10, "the blackholed call in the log once A closed")[0]
    check_eq((line["op"], line["fault"], line["status"]), ("PutItem", "blackhole", 0), "its log line")
    check_eq((line["table"], line["keys"]), (TABLE, [{"pk": "grp", "sk": "lease"}]), "with its table and key")
    try:
        a.get_item(TableName="bad name!", Key=key("lease"))
        raise Failure("a blackholed invalid call was answered")
    except botocore.exceptions.ReadTimeoutError:
        pass  # a partition loses the call before anything judges it
    reqs = sim.requests(access_key=KEY_A[0], operation="PutItem")
    check_eq(reqs[-1].get("held"), "closed", "the request log: held until the client closed")
    check(not reqs[-1].get("carried_out"), "not carried out")
    sim.control("DELETE", "/faults")
    # blackhole-after: carried out, the answer lost
    sim.fault("dynamodb.UpdateItem", "blackhole-after", access_key=KEY_A[0])
    try:
        a.update_item(TableName=TABLE, Key=key("lease"), UpdateExpression="SET host = :h",
                      ExpressionAttributeValues={":h": S("written-by-a")})
        raise Failure("answered")
    except botocore.exceptions.ReadTimeoutError:
        pass
    check_eq([i["host"] for i in items(sim)], ["written-by-a"], "blackhole-after: the write happened")
    # "*": every service of that caller
    sim.fault("*", "blackhole", access_key=[KEY_A[0]], rate=1.0, hold=0.5)
    ecr = sim.client("ecr", key=KEY_A, read_timeout=5)
    t0 = time.monotonic()
    try:
        ecr.describe_repositories()
        raise Failure("answered")
    except (botocore.exceptions.ConnectionClosedError, botocore.exceptions.EndpointConnectionError) as e:
        del e
    check(0.4 < time.monotonic() - t0 < 4, "held for 'hold' seconds, then the connection closed without an answer")
    check_eq(sim.requests(access_key=KEY_A[0], service="ecr")[-1].get("held"), "timeout", "held until the hold time")
    sim.client("ecr", key=KEY_B).describe_repositories()
    # a held call ends when the server sees its client gone, which may come a moment after the
    # client gave up (it failed once in CI, read at once under the sanitizer build's load)
    wait_for(lambda: sim.control("GET", "/health")["inflight"] == 0, 10, "no call left held")
    for bad in ({"access_key": ""}, {"access_key": [1]}, {"hold": 0}, {"rate": 2}):
        sim.control("POST", "/faults", dict({"match": "dynamodb.*", "kind": "blackhole"}, **bad), expect=400)


def test_throttling_storm(ctx):
    """A fraction of one caller's DynamoDB calls answered ProvisionedThroughputExceededException (HTTP
    400, DynamoDB's namespace), replayable with the fault seed; the other caller passes; nothing
    throttled is carried out."""
    sim = setup(ctx, keys=(SIM_KEY, KEY_A, KEY_B))
    a = sim.client("dynamodb", key=KEY_A)
    b = sim.client("dynamodb", key=KEY_B)
    sim.control("POST", "/fault-seed", {"seed": 18})
    sim.fault("dynamodb.*", "throttle", access_key=KEY_A[0], rate=0.5)
    outcomes = []
    for i in range(40):
        try:
            a.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("a/%02d" % i)})
            outcomes.append("ok")
        except a.exceptions.ProvisionedThroughputExceededException as e:
            check_eq(e.response["ResponseMetadata"]["HTTPStatusCode"], 400, "throttled with HTTP 400")
            outcomes.append("throttled")
        b.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("b/%02d" % i)})
    n = outcomes.count("throttled")
    check(8 <= n <= 32, "about half of A's calls throttled: %d of 40" % n)
    written = {i["sk"] for i in items(sim)}
    check_eq(sorted(s for s in written if s.startswith("a/")),
             ["a/%02d" % i for i, o in enumerate(outcomes) if o == "ok"], "only A's unthrottled writes happened")
    check_eq(len([s for s in written if s.startswith("b/")]), 40, "every B write passed")
    status, body, _ = raw_call(sim, "GetItem", {"TableName": TABLE, "Key": key("g")}, key=KEY_A)
    while status == 200:
        status, body, _ = raw_call(sim, "GetItem", {"TableName": TABLE, "Key": key("g")}, key=KEY_A)
    check_eq((status, body["__type"]),
             (400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException"), "on the wire")
    throttled = [c for c in log(sim) if c["outcome"] == "ProvisionedThroughputExceededException"]
    check(all(c["access_key"] == KEY_A[0] and c["fault"] == "throttle" for c in throttled), "logged per caller")


def test_call_log(ctx):
    """GET /_sim/dynamodb/log: every call with its times, caller, operation, table, keys and outcome;
    successful writes with the items they left; transactions with their actions and reasons."""
    sim = setup(ctx, keys=(SIM_KEY, KEY_A, KEY_B))
    a = sim.client("dynamodb", key=KEY_A)
    b = sim.client("dynamodb", key=KEY_B)
    t0, w0 = time.monotonic(), time.time()
    a.put_item(TableName=TABLE, Item=lease_item("a", 1, 1), ConditionExpression="attribute_not_exists(pk)")
    aws_error(b.put_item, TableName=TABLE, Item=lease_item("b", 1, 1), ConditionExpression="attribute_not_exists(pk)")
    a.get_item(TableName=TABLE, Key=key("lease"), ConsistentRead=True)
    a.transact_write_items(TransactItems=[fence_check("a", 1), put_doc("w/web", "{}")])
    aws_error(b.transact_write_items, TransactItems=[fence_check("b", 1), put_doc("w/web", "{}"),
                                                     {"Delete": {"TableName": TABLE, "Key": key("g")}}])
    b.query(TableName=TABLE, KeyConditionExpression="pk = :g", ExpressionAttributeValues={":g": S("grp")})
    aws_error(b.get_item, TableName="nope-table", Key=key("x"))
    calls = log(sim)
    check_eq([(c["access_key"], c["op"], c["outcome"]) for c in calls], [
        (KEY_A[0], "PutItem", "ok"), (KEY_B[0], "PutItem", "ConditionalCheckFailedException"),
        (KEY_A[0], "GetItem", "ok"), (KEY_A[0], "TransactWriteItems", "ok"),
        (KEY_B[0], "TransactWriteItems", "TransactionCanceledException"), (KEY_B[0], "Query", "ok"),
        (KEY_B[0], "GetItem", "ResourceNotFoundException")], "every call, in order, with its caller and outcome")
    first = calls[0]
    check(t0 <= first["mono"] <= time.monotonic(), "mono: CLOCK_MONOTONIC, comparable with the test's")
    check(w0 - 1 <= first["time"] <= time.time() + 1, "time: the wall clock")
    check_eq((first["table"], first["keys"]), (TABLE, [{"pk": "grp", "sk": "lease"}]), "the table and the key")
    check_eq(first["writes"][0]["item"]["owner"], "a", "a write's item as it was left")
    check_eq(calls[1].get("reasons"), ["ConditionalCheckFailed"], "a refused write's reason")
    check("writes" not in calls[1], "a refused write wrote nothing")
    check_eq(calls[2]["consistent"], True, "a read's ConsistentRead")
    check_eq([x["action"] for x in calls[3]["actions"]], ["ConditionCheck", "Put"], "a transaction's actions")
    check_eq(calls[3]["keys"], [{"pk": "grp", "sk": "lease"}, {"pk": "grp", "sk": "w/web"}], "their keys")
    check_eq([w["key"]["sk"] for w in calls[3]["writes"]], ["w/web"], "its writes")
    check_eq(calls[4]["reasons"], ["ConditionalCheckFailed", "None", "None"], "a cancelled transaction's reasons")
    check_eq(calls[5]["query"]["values"], {":g": "grp"}, "a Query's key condition")
    check_eq(calls[5]["count"], 2, "and how many items it returned")
    last = sim.control("GET", "/dynamodb/log")["last"]
    check_eq(sim.control("GET", "/dynamodb/log?since=%d" % (last - 1))["calls"][0]["op"], "GetItem", "?since=N")
    check_eq(len(sim.control("GET", "/dynamodb/log?table=nope-table")["calls"]), 1, "?table=T")


POLICY_ACTIONS = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
                  "dynamodb:Query", "dynamodb:ConditionCheckItem"]


def test_policy_on_the_table(ctx):
    """IAM: each call on the table's ARN; TransactWriteItems asks each action's single-item form
    (ConditionCheck: dynamodb:ConditionCheckItem), not a "TransactWriteItems" action; another table
    is denied; dynamodb:LeadingKeys restricts the partition (the group)."""
    sim = setup(ctx, keys=(SIM_KEY, KEY_A))
    sim.control("POST", "/dynamodb/tables", {"name": "other-table"})
    ddb = sim.client("dynamodb", key=KEY_A)
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": POLICY_ACTIONS, "Resource": ARN}]}
    sim.control("POST", "/policy", {"policy": policy, "access_key": KEY_A[0]})
    ddb.put_item(TableName=TABLE, Item=lease_item("a", 1, 1), ConditionExpression="attribute_not_exists(pk)")
    ddb.update_item(TableName=TABLE, Key=key("lease"), UpdateExpression="SET #v = :v",
                    ExpressionAttributeNames={"#v": "version"}, ExpressionAttributeValues={":v": N(2)})
    ddb.get_item(TableName=TABLE, Key=key("lease"), ConsistentRead=True)
    ddb.query(TableName=TABLE, KeyConditionExpression="pk = :g", ExpressionAttributeValues={":g": S("grp")})
    ddb.transact_write_items(TransactItems=[fence_check("a", 1), put_doc("w/web", "{}"),
                                            {"Delete": {"TableName": TABLE, "Key": key("w/web-old")}}])
    ddb.delete_item(TableName=TABLE, Key=key("w/web"))
    code, msg, status, _ = aws_error(ddb.get_item, TableName="other-table", Key=key("x"))
    check_eq((code, status), ("AccessDeniedException", 400), "another table")
    check_eq(msg, "User: arn:aws:iam::%s:user/awssim is not authorized to perform: dynamodb:GetItem on resource: "
             "arn:aws:dynamodb:us-east-1:%s:table/other-table because no identity-based policy allows the "
             "dynamodb:GetItem action" % (ACCOUNT, ACCOUNT), "AWS's message")
    status, body, _ = raw_call(sim, "GetItem", {"TableName": "other-table", "Key": key("x")}, key=KEY_A)
    check_eq(body["__type"], "com.amazon.coral.service#AccessDeniedException", "its __type on the wire")
    # without ConditionCheckItem the fenced write is denied, even with a "TransactWriteItems" action listed
    no_check = [a for a in POLICY_ACTIONS if a != "dynamodb:ConditionCheckItem"] + ["dynamodb:TransactWriteItems"]
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": no_check, "Resource": ARN}]}, "access_key": KEY_A[0]})
    code, msg, _, _ = aws_error(ddb.transact_write_items, TransactItems=[fence_check("a", 1), put_doc("w/x", "{}")])
    check_eq(code, "AccessDeniedException", "a ConditionCheck without dynamodb:ConditionCheckItem")
    check("dynamodb:ConditionCheckItem" in msg, "the message names the action: %r" % msg)
    denied = sim.requests(access_key=KEY_A[0], operation="TransactWriteItems")[-1]["denied"]
    check_eq(denied, {"action": "dynamodb:ConditionCheckItem", "resource": ARN, "explicit": False}, "the request log")
    # the partition: only the group's items
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": POLICY_ACTIONS, "Resource": ARN,
         "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["grp"]}}}]}, "access_key": KEY_A[0]})
    ddb.transact_write_items(TransactItems=[fence_check("a", 1), put_doc("w/y", "{}")])
    ddb.query(TableName=TABLE, KeyConditionExpression="#p = :g", ExpressionAttributeNames={"#p": "pk"},
              ExpressionAttributeValues={":g": S("grp")})
    for what, fn, kw in (("GetItem", ddb.get_item, {"TableName": TABLE, "Key": key("lease", pk="other")}),
                         ("Query", ddb.query, {"TableName": TABLE, "KeyConditionExpression": "pk = :g",
                                               "ExpressionAttributeValues": {":g": S("other")}}),
                         ("TransactWriteItems", ddb.transact_write_items,
                          {"TransactItems": [fence_check("a", 1, pk="other")]})):
        code, _, _, _ = aws_error(fn, **kw)
        check_eq(code, "AccessDeniedException", "%s of another partition" % what)
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": ARN,
         "Condition": {"ForAnyValue:StringEquals": {"dynamodb:EnclosingOperation": ["TransactWriteItems"]}}}]},
        "access_key": KEY_A[0]})
    ddb.transact_write_items(TransactItems=[fence_check("a", 1), put_doc("w/z", "{}")])
    code, _, _, _ = aws_error(ddb.put_item, TableName=TABLE, Item={"pk": S("grp"), "sk": S("w/z")})
    check_eq(code, "AccessDeniedException", "dynamodb:EnclosingOperation: only inside transactions")
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*",
         "Condition": {"ForAnyValue:Null": {"x": "true"}}}]}, "access_key": KEY_A[0]}, expect=400)


def test_seed_ttl_and_healing(ctx):
    """Tables from the seed; DescribeTable; ReturnConsumedCapacity; the TTL sweep (setting
    dynamodb_ttl_delete); DELETE /_sim/faults?access_key= heals one caller and keeps the others' rules."""
    sim = Sim(ctx, keys=(SIM_KEY, KEY_A, KEY_B), seed={"dynamodb_tables": [
        {"name": TABLE, "ttl_attribute": "expires"}, {"name": "hash-only", "hash_key": "id", "range_key": None,
                                                      "hash_type": "N"}]})
    ddb = sim.client("dynamodb")
    d = ddb.describe_table(TableName="hash-only")["Table"]
    check_eq(d["KeySchema"], [{"AttributeName": "id", "KeyType": "HASH"}], "a seeded hash-only table")
    check_eq(d["BillingModeSummary"]["BillingMode"], "PAY_PER_REQUEST", "on-demand")
    ddb.put_item(TableName="hash-only", Item={"id": N("1.0"), "x": S("y")})
    check_eq(ddb.get_item(TableName="hash-only", Key={"id": N(1)})["Item"]["x"], S("y"), "numeric keys compare "
             "as decimals")
    out = ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("s/1"), "expires": N(int(time.time()) - 5)},
                       ReturnConsumedCapacity="TOTAL")
    check_eq(out["ConsumedCapacity"], {"TableName": TABLE, "CapacityUnits": 1.0, "WriteCapacityUnits": 1.0},
             "ReturnConsumedCapacity")
    ddb.put_item(TableName=TABLE, Item={"pk": S("grp"), "sk": S("s/2"), "expires": N(int(time.time()) + 3600)})
    time.sleep(0.2)  # a few ticks: nothing is swept unless asked
    check_eq(len(items(sim)), 2, "expired items stay (DynamoDB deletes them within days)")
    sim.settings(dynamodb_ttl_delete=True)
    wait_for(lambda: [i["sk"] for i in items(sim)] == ["s/2"], 5, "the sweep of the expired item")
    check_eq([c["op"] for c in log(sim)][-1], "TTLDelete", "the sweep in the log")
    # heal one caller
    sim.fault("dynamodb.*", "throttle", access_key=KEY_A[0], rate=1.0)
    sim.fault("dynamodb.*", "throttle", access_key=KEY_B[0], rate=1.0)
    left = sim.control("DELETE", "/faults?access_key=%s" % KEY_A[0])["rules"]
    check_eq([r["access_key"] for r in left], [[KEY_B[0]]], "only B's rule is left")
    sim.client("dynamodb", key=KEY_A).get_item(TableName=TABLE, Key=key("s/2"))
    code, _, _, _ = aws_error(sim.client("dynamodb", key=KEY_B).get_item, TableName=TABLE, Key=key("s/2"))
    check_eq(code, "ProvisionedThroughputExceededException", "B still throttled")


def test_faults_follow_a_callers_role_sessions(ctx):
    """An instance with ha.role_arn signs its DynamoDB calls with keys STS issued to it: a rule that
    names the instance's own key matches them too, and the log names that key as source_key."""
    import botocore.exceptions
    sim = setup(ctx, keys=(SIM_KEY, KEY_A, KEY_B))
    role = "arn:aws:iam::%s:role/ecr-deployd-ha" % ACCOUNT
    creds = {}
    for name, k in (("a", KEY_A), ("b", KEY_B)):
        c = sim.client("sts", key=k).assume_role(RoleArn=role, RoleSessionName="ecr-deployd-" + name)["Credentials"]
        creds[name] = (c["AccessKeyId"], c["SecretAccessKey"])
        ctx.secrets.add(c["SecretAccessKey"])
        ctx.secrets.add(c["SessionToken"])
        creds[name + "-token"] = c["SessionToken"]
    a = sim.client("dynamodb", key=creds["a"], token=creds["a-token"], read_timeout=1)
    b = sim.client("dynamodb", key=creds["b"], token=creds["b-token"])
    sim.fault("dynamodb.*", "blackhole", access_key=KEY_A[0], rate=1.0, hold=5)
    try:
        a.get_item(TableName=TABLE, Key=key("lease"))
        raise Failure("answered")
    except botocore.exceptions.ReadTimeoutError:
        pass
    b.get_item(TableName=TABLE, Key=key("lease"))
    calls = wait_for(lambda: len(log(sim)) == 2 and log(sim), 10, "both calls in the log")
    check_eq(sorted((c["source_key"], c["outcome"]) for c in calls),
             sorted([(KEY_A[0], "Blackholed"), (KEY_B[0], "ok")]), "the role sessions' calls by their source key")
    check(all(c["access_key"].startswith("ASIA") for c in calls), "signed with the issued keys")


def test_transaction_conflicts(ctx):
    """dynamodb_conflict_ms: a fenced write racing the lease's renewal is cancelled with
    TransactionConflict in the lease's place (not ConditionalCheckFailed: nobody else leads), and a
    renewal racing a fenced write is refused with TransactionConflictException; once the window
    passes both go through; reads are never refused."""
    sim = setup(ctx)
    ddb = sim.client("dynamodb")
    ddb.put_item(TableName=TABLE, Item=lease_item("a", 1, 1))
    sim.settings(dynamodb_conflict_ms=300)
    renew = {"TableName": TABLE, "Key": key("lease"), "UpdateExpression": "SET #v = #v + :one",
             "ConditionExpression": FENCE, "ExpressionAttributeNames": {"#o": "owner", "#t": "term", "#v": "version"},
             "ExpressionAttributeValues": {":me": S("a"), ":term": N(1), ":one": N(1)}}
    ddb.update_item(**renew)
    try:
        ddb.transact_write_items(TransactItems=[fence_check("a", 1), put_doc("w/web", "{}")])
        raise Failure("a transaction racing the renewal passed")
    except ddb.exceptions.TransactionCanceledException as e:
        check_eq([r["Code"] for r in e.response["CancellationReasons"]], ["TransactionConflict", "None"],
                 "the conflict on the lease item")
        check_eq(e.response["Error"]["Message"], "Transaction cancelled, please refer cancellation reasons for "
                 "specific reasons [TransactionConflict, None]", "the message")
    check_eq(ddb.get_item(TableName=TABLE, Key=key("lease"), ConsistentRead=True)["Item"]["version"], N(2),
             "reads pass")

    def fenced():
        try:
            ddb.transact_write_items(TransactItems=[fence_check("a", 1), put_doc("w/web", "{}")])
            return True
        except ddb.exceptions.TransactionCanceledException:
            return False
    wait_for(fenced, 5, "the fenced write once the window passed")
    code, msg, status, _ = aws_error(ddb.update_item, **renew)
    check_eq((code, msg, status), ("TransactionConflictException", "Transaction is ongoing for the item", 400),
             "a renewal racing the fenced write")

    def renewed():
        try:
            ddb.update_item(**renew)
            return True
        except ddb.exceptions.TransactionConflictException:
            return False
    wait_for(renewed, 5, "the renewal once the window passed")
    check_eq([i["version"] for i in items(sim) if i["sk"] == "lease"], [3], "one renewal went through")
    calls = log(sim)
    check_eq({tuple(c["reasons"]) for c in calls if c["outcome"] == "TransactionCanceledException"},
             {("TransactionConflict", "None")}, "the cancelled transactions in the log")
    check_eq({tuple(c["reasons"]) for c in calls if c["outcome"] == "TransactionConflictException"},
             {("TransactionConflict",)}, "the refused renewals in the log")
