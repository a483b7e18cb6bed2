# SPDX-License-Identifier: MIT
"""DynamoDB over JSON 1.0 (DynamoDB_20120810): tables with a HASH (and RANGE) key of S, N or B,
GetItem, PutItem, UpdateItem, DeleteItem, Query, TransactWriteItems, CreateTable, DescribeTable,
DeleteTable, ListTables, UpdateTimeToLive and DescribeTimeToLive.

Items are stored as AttributeValue maps, numbers normalized and compared as decimals (38
significant digits, DynamoDB's range). Expressions are parsed as DynamoDB parses them (the subset
below) and refused as it refuses them: ConditionExpression (=, <>, <, <=, >, >=, BETWEEN, IN,
AND, OR, NOT, parentheses, attribute_exists, attribute_not_exists, attribute_type, begins_with,
contains, size), UpdateExpression (SET a = v, a + v, a - v, if_not_exists, list_append; REMOVE;
ADD; DELETE), KeyConditionExpression (hash = v [AND range = < <= > >= BETWEEN begins_with]),
FilterExpression, ProjectionExpression; ExpressionAttributeNames/Values (undefined and unused ones
refused), reserved words as bare names refused. Limits: item 400 KB, key sizes, transactions of
at most 100 actions and 4 MB, no two actions on one item, Query pages of at most 1 MB.

Every call is also written to a log (GET /_sim/dynamodb/log) with the caller's access key, and
non-consistent reads may be served stale (setting dynamodb_stale_read_seconds)."""

import base64
import binascii
import collections
import copy
import decimal
import hashlib
import json
import math
import re
import time
import uuid

from .core import DEFAULT_ACCOUNT, DEFAULT_REGION, AwsError

NAMESPACE = "com.amazonaws.dynamodb.v20120810"
ITEM_MAX = 400 * 1024
TX_ACTIONS_MAX = 100
TX_BYTES_MAX = 4 * 1024 * 1024
PAGE_BYTES_MAX = 1024 * 1024
HASH_KEY_MAX = 2048
RANGE_KEY_MAX = 1024
TOKEN_SECONDS = 600  # ClientRequestToken: a repeat within 10 minutes is not carried out again
LOG_MAX = 200000

TABLE_NAME_RE = re.compile(r"^[a-zA-Z0-9_.-]+$")
TABLE_ARN_RE = re.compile(r"^arn:aws[a-z-]*:dynamodb:([a-z0-9-]+):(\d{12}):table/([a-zA-Z0-9_.-]{3,255})$")
NUMBER_RE = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$")
TYPES = ("S", "N", "B", "SS", "NS", "BS", "M", "L", "NULL", "BOOL")
CANCEL_MESSAGE = "Transaction cancelled, please refer cancellation reasons for specific reasons [%s]"

# The words DynamoDB reserves: none may be an attribute name in an expression (use #name).
RESERVED = frozenset("""
ABORT ABSOLUTE ACTION ADD AFTER AGENT AGGREGATE ALL ALLOCATE ALTER ANALYZE AND ANY ARCHIVE ARE ARRAY AS ASC
ASCII ASENSITIVE ASSERTION ASYMMETRIC AT ATOMIC ATTACH ATTRIBUTE AUTH AUTHORIZATION AUTHORIZE AUTO AVG BACK
BACKUP BASE BATCH BEFORE BEGIN BETWEEN BIGINT BINARY BIT BLOB BLOCK BOOLEAN BOTH BREADTH BUCKET BULK BY BYTE
CALL CALLED CALLING CAPACITY CASCADE CASCADED CASE CAST CATALOG CHAR CHARACTER CHECK CLASS CLOB CLOSE CLUSTER
CLUSTERED CLUSTERING CLUSTERS COALESCE COLLATE COLLATION COLLECTION COLUMN COLUMNS COMBINE COMMENT COMMIT
COMPACT COMPILE COMPRESS CONDITION CONFLICT CONNECT CONNECTION CONSISTENCY CONSISTENT CONSTRAINT CONSTRAINTS
CONSTRUCTOR CONSUMED CONTINUE CONVERT COPY CORRESPONDING COUNT COUNTER CREATE CROSS CUBE CURRENT CURSOR CYCLE
DATA DATABASE DATE DATETIME DAY DEALLOCATE DEC DECIMAL DECLARE DEFAULT DEFERRABLE DEFERRED DEFINE DEFINED
DEFINITION DELETE DELIMITED DEPTH DEREF DESC DESCRIBE DESCRIPTOR DETACH DETERMINISTIC DIAGNOSTICS DIRECTORIES
DISABLE DISCONNECT DISTINCT DISTRIBUTE DO DOMAIN DOUBLE DROP DUMP DURATION DYNAMIC EACH ELEMENT ELSE ELSEIF
EMPTY ENABLE END EQUAL EQUALS ERROR ESCAPE ESCAPED EVAL EVALUATE EXCEEDED EXCEPT EXCEPTION EXCEPTIONS
EXCLUSIVE EXEC EXECUTE EXISTS EXIT EXPLAIN EXPLODE EXPORT EXPRESSION EXTENDED EXTERNAL EXTRACT FAIL FALSE
FAMILY FETCH FIELDS FILE FILTER FILTERING FINAL FINISH FIRST FIXED FLATTERN FLOAT FOR FORCE FOREIGN FORMAT
FORWARD FOUND FREE FROM FULL FUNCTION FUNCTIONS GENERAL GENERATE GET GLOB GLOBAL GO GOTO GRANT GREATER GROUP
GROUPING HANDLER HASH HAVE HAVING HEAP HIDDEN HOLD HOUR IDENTIFIED IDENTITY IF IGNORE IMMEDIATE IMPORT IN
INCLUDING INCLUSIVE INCREMENT INCREMENTAL INDEX INDEXED INDEXES INDICATOR INFINITE INITIALLY INLINE INNER
INNTER INOUT INPUT INSENSITIVE INSERT INSTEAD INT INTEGER INTERSECT INTERVAL INTO INVALIDATE IS ISOLATION ITEM
ITEMS ITERATE JOIN KEY KEYS LAG LANGUAGE LARGE LAST LATERAL LEAD LEADING LEAVE LEFT LENGTH LESS LEVEL LIKE
LIMIT LIMITED LINES LIST LOAD LOCAL LOCALTIME LOCALTIMESTAMP LOCATION LOCATOR LOCK LOCKS LOG LOGED LONG LOOP
LOWER MAP MATCH MATERIALIZED MAX MAXLEN MEMBER MERGE METHOD METRICS MIN MINUS MINUTE MISSING MOD MODE
MODIFIES MODIFY MODULE MONTH MULTI MULTISET NAME NAMES NATIONAL NATURAL NCHAR NCLOB NEW NEXT NO NONE NOT
NULL NULLIF NUMBER NUMERIC OBJECT OF OFFLINE OFFSET OLD ON ONLINE ONLY OPAQUE OPEN OPERATOR OPTION OR ORDER
ORDINALITY OTHER OTHERS OUT OUTER OUTPUT OVER OVERLAPS OVERRIDE OWNER PAD PARALLEL PARAMETER PARAMETERS
PARTIAL PARTITION PARTITIONED PARTITIONS PATH PERCENT PERCENTILE PERMISSION PERMISSIONS PIPE PIPELINED PLAN
POOL POSITION PRECISION PREPARE PRESERVE PRIMARY PRIOR PRIVATE PRIVILEGES PROCEDURE PROCESSED PROJECT
PROJECTION PROPERTY PROVISIONING PUBLIC PUT QUERY QUIT QUORUM RAISE RANDOM RANGE RANK RAW READ READS REAL
REBUILD RECORD RECURSIVE REDUCE REF REFERENCE REFERENCES REFERENCING REGEXP REGION REINDEX RELATIVE RELEASE
REMAINDER RENAME REPEAT REPLACE REQUEST RESET RESIGNAL RESOURCE RESPONSE RESTORE RESTRICT RESULT RETURN
RETURNING RETURNS REVERSE REVOKE RIGHT ROLE ROLES ROLLBACK ROLLUP ROUTINE ROW ROWS RULE RULES SAMPLE
SATISFIES SAVE SAVEPOINT SCAN SCHEMA SCOPE SCROLL SEARCH SECOND SECTION SEGMENT SEGMENTS SELECT SELF SEMI
SENSITIVE SEPARATE SEQUENCE SERIALIZABLE SESSION SET SETS SHARD SHARE SHARED SHORT SHOW SIGNAL SIMILAR SIZE
SKEWED SMALLINT SNAPSHOT SOME SOURCE SPACE SPACES SPARSE SPECIFIC SPECIFICTYPE SPLIT SQL SQLCODE SQLERROR
SQLEXCEPTION SQLSTATE SQLWARNING START STATE STATIC STATUS STORAGE STORE STORED STREAM STRING STRUCT STYLE
SUB SUBMULTISET SUBPARTITION SUBSTRING SUBTYPE SUM SUPER SYMMETRIC SYNONYM SYSTEM TABLE TABLESAMPLE TEMP
TEMPORARY TERMINATED TEXT THAN THEN THROUGHPUT TIME TIMESTAMP TIMEZONE TINYINT TO TOKEN TOTAL TOUCH TRAILING
TRANSACTION TRANSFORM TRANSLATE TRANSLATION TREAT TRIGGER TRIM TRUE TRUNCATE TTL TUPLE TYPE UNDER UNDO UNION
UNIQUE UNIT UNKNOWN UNLOGGED UNNEST UNPROCESSED UNSIGNED UNTIL UPDATE UPPER URL USAGE USE USER USERS USING
UUID VACUUM VALUE VALUED VALUES VARCHAR VARIABLE VARIANCE VARINT VARYING VIEW VIEWS VIRTUAL VOID WAIT WHEN
WHENEVER WHERE WHILE WINDOW WITH WITHIN WITHOUT WORK WRAPPED WRITE YEAR ZONE
""".split())


def validation(message):
    return AwsError("ValidationException", message, 400, namespace="com.amazon.coral.validate")


def ddb_error(code, message, status=400, sender=True, **extra):
    err = AwsError(code, message, status, namespace=NAMESPACE, sender=sender)
    if code in ("TransactionCanceledException", "IdempotentParameterMismatchException"):
        err.message_key = "Message"  # the model's member, as DynamoDB sends it
    if extra:
        err.extra = extra
    return err


def not_found():
    return ddb_error("ResourceNotFoundException", "Requested resource not found")


def condition_failed(old=None):
    if old is not None:
        return ddb_error("ConditionalCheckFailedException", "The conditional request failed", Item=old)
    return ddb_error("ConditionalCheckFailedException", "The conditional request failed")


# -- numbers and attribute values ----------------------------------------------------

_WIDE = decimal.Context(prec=200)
_NUM = decimal.Context(prec=38, rounding=decimal.ROUND_HALF_EVEN)


def number(text):
    """A DynamoDB number: a Decimal of at most 38 significant digits, magnitude 1e-130..1e126."""
    if not isinstance(text, str) or not NUMBER_RE.match(text):
        raise validation("The parameter cannot be converted to a numeric value: %s" % (text,))
    d = decimal.Decimal(text.strip())
    return _checked(d)


def _checked(d):
    if d == 0:
        return decimal.Decimal(0)
    d = d.normalize(_WIDE)
    if len(d.as_tuple().digits) > 38:
        raise validation("Attempting to store more than 38 significant digits in a Number")
    if d.adjusted() > 125:
        raise validation("Number overflow. Attempting to store a number with magnitude larger than supported range")
    if d.adjusted() < -130:
        raise validation("Number underflow. Attempting to store a number with magnitude smaller than supported range")
    return d


def num_text(d):
    return "0" if d == 0 else format(d, "f")


def _b64(text):
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise validation("Invalid Binary value: not base64")


def av_type(av):
    for t in TYPES:
        if t in av:
            return t
    return None


def normalized(av, where="value"):
    """Checks an AttributeValue as DynamoDB does and returns it normalized (numbers canonical)."""
    if not isinstance(av, dict):
        raise validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    present = [t for t in TYPES if t in av and av[t] is not None]
    if not present:
        raise validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")
    if len(present) > 1:
        raise validation("Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "
                         "supported datatypes")
    t = present[0]
    v = av[t]
    if t == "S":
        return {"S": v}
    if t == "N":
        return {"N": num_text(number(v))}
    if t == "B":
        _b64(v)
        return {"B": v}
    if t == "BOOL":
        return {"BOOL": bool(v)}
    if t == "NULL":
        if v is not True:
            raise validation("One or more parameter values were invalid: Null attribute value types must have the "
                             "true value")
        return {"NULL": True}
    if t in ("SS", "NS", "BS"):
        if not v:
            raise validation("One or more parameter values were invalid: An %s set  may not be empty"
                             % {"SS": "string", "NS": "number", "BS": "binary"}[t])
        if t == "NS":
            canon = [num_text(number(x)) for x in v]
        elif t == "BS":
            canon = [x for x in v]
            for x in v:
                _b64(x)
        else:
            canon = list(v)
        keys = [_b64(x) if t == "BS" else x for x in canon]
        if len(set(keys)) != len(keys):
            raise validation("Input collection %s contains duplicates." % ("[" + ", ".join(map(str, v)) + "]"))
        return {t: canon}
    if t == "M":
        return {"M": {k: normalized(x, k) for k, x in v.items()}}
    if t == "L":
        return {"L": [normalized(x, where) for x in v]}
    raise validation("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")


def normalized_item(item):
    return {k: normalized(v, k) for k, v in item.items()}


def scalar(av):
    """(type, comparable value) of an S, N or B value; None for other types."""
    t = av_type(av)
    if t == "S":
        return t, av["S"].encode("utf-8", "surrogatepass")  # DynamoDB orders strings by their UTF-8 bytes
    if t == "N":
        return t, decimal.Decimal(av["N"])
    if t == "B":
        return t, _b64(av["B"])
    return None


def _set_values(av, t):
    if t == "NS":
        return {decimal.Decimal(x) for x in av[t]}
    if t == "BS":
        return {_b64(x) for x in av[t]}
    return set(av[t])


def av_equal(a, b):
    ta, tb = av_type(a), av_type(b)
    if ta != tb:
        return False
    if ta in ("S", "N", "B"):
        return scalar(a) == scalar(b)
    if ta in ("SS", "NS", "BS"):
        return _set_values(a, ta) == _set_values(b, tb)
    if ta == "M":
        return a["M"].keys() == b["M"].keys() and all(av_equal(a["M"][k], b["M"][k]) for k in a["M"])
    if ta == "L":
        return len(a["L"]) == len(b["L"]) and all(av_equal(x, y) for x, y in zip(a["L"], b["L"]))
    return a[ta] == b[tb]


def _number_size(text):
    d = decimal.Decimal(text)
    digits = len(d.as_tuple().digits) if d != 0 else 1
    return (digits + 1) // 2 + 1


def av_size(av):
    """The size DynamoDB bills and limits, as its documentation counts it."""
    t = av_type(av)
    v = av[t]
    if t == "S":
        return len(v.encode("utf-8", "surrogatepass"))
    if t == "N":
        return _number_size(v)
    if t == "B":
        return len(_b64(v))
    if t == "SS":
        return sum(len(x.encode("utf-8", "surrogatepass")) for x in v)
    if t == "NS":
        return sum(_number_size(x) for x in v)
    if t == "BS":
        return sum(len(_b64(x)) for x in v)
    if t == "M":
        return 3 + sum(len(k.encode("utf-8", "surrogatepass")) + av_size(x) + 1 for k, x in v.items())
    if t == "L":
        return 3 + sum(av_size(x) + 1 for x in v)
    return 1


def item_size(item):
    return sum(len(k.encode("utf-8", "surrogatepass")) + av_size(v) for k, v in item.items())


def plain(av):
    """An AttributeValue as plain JSON (numbers as int when whole, else float)."""
    t = av_type(av)
    v = av[t]
    if t == "N":
        d = decimal.Decimal(v)
        return int(d) if d == d.to_integral_value() else float(d)
    if t == "NS":
        return [plain({"N": x}) for x in v]
    if t == "M":
        return {k: plain(x) for k, x in v.items()}
    if t == "L":
        return [plain(x) for x in v]
    if t == "NULL":
        return None
    return copy.deepcopy(v)


def plain_item(item):
    return None if item is None else {k: plain(v) for k, v in sorted(item.items())}


# -- expressions -----------------------------------------------------------------------

_TOKEN_RE = re.compile(r"""\s*(?:
    (?P<name>\#[A-Za-z0-9_]+) |
    (?P<value>:[A-Za-z0-9_]+) |
    (?P<op><>|<=|>=|=|<|>) |
    (?P<punct>[(),.\[\]+\-]) |
    (?P<num>[0-9]+) |
    (?P<word>[A-Za-z_][A-Za-z0-9_]*)
    )""", re.X)
COMPARATORS = ("=", "<>", "<", "<=", ">", ">=")
CONDITION_FUNCTIONS = ("attribute_exists", "attribute_not_exists", "attribute_type", "begins_with", "contains")
UPDATE_CLAUSES = ("SET", "REMOVE", "ADD", "DELETE")


class Expressions:
    """The expressions of one request (or one transaction action) with their
    ExpressionAttributeNames and ExpressionAttributeValues: parses each, then check_unused()."""

    def __init__(self, p):
        self.names = p.get("ExpressionAttributeNames")
        self.values = p.get("ExpressionAttributeValues")
        self.used_names, self.used_values = set(), set()
        self.any = False
        if self.values is not None and not self.values:
            raise validation("ExpressionAttributeValues must not be empty")
        if self.names is not None and not self.names:
            raise validation("ExpressionAttributeNames must not be empty")
        self.norm_values = {}
        for k, v in (self.values or {}).items():
            if not re.match(r"^:[A-Za-z0-9_]+$", k):
                raise validation("ExpressionAttributeValues contains invalid key: Syntax error; key: \"%s\"" % k)
            self.norm_values[k] = normalized(v, k)
        for k in self.names or {}:
            if not re.match(r"^#[A-Za-z0-9_]+$", k):
                raise validation("ExpressionAttributeNames contains invalid key: Syntax error; key: \"%s\"" % k)

    def parse(self, kind, text):
        if text is None:
            return None
        self.any = True
        return _Parser(self, kind, text).parse()

    def check_unused(self):
        if not self.any:
            if self.names is not None:
                raise validation("ExpressionAttributeNames can only be specified when using expressions")
            if self.values is not None:
                raise validation("ExpressionAttributeValues can only be specified when using expressions")
            return
        unused = sorted(set(self.names or {}) - self.used_names)
        if unused:
            raise validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}"
                             % ", ".join(unused))
        unused = sorted(set(self.values or {}) - self.used_values)
        if unused:
            raise validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}"
                             % ", ".join(unused))


class _Parser:
    def __init__(self, exprs, kind, text):
        self.exprs = exprs
        self.kind = kind
        self.text = text
        self.toks = []
        pos = 0
        text_len = len(text)
        while pos < text_len:
            if text[pos:].strip() == "":
                break
            m = _TOKEN_RE.match(text, pos)
            if not m or m.end() == pos:
                bad = text[pos:].strip()[:1]
                self.toks.append(("bad", bad))
                break
            self.toks.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.i = 0
        if not self.toks:
            raise validation("Invalid %s: The expression can not be empty;" % kind)

    # tokens
    def peek(self, k=0):
        j = self.i + k
        return self.toks[j] if j < len(self.toks) else ("eof", "<EOF>")

    def take(self):
        t = self.peek()
        self.i += 1
        return t

    def is_word(self, word, k=0):
        t = self.peek(k)
        return t[0] == "word" and t[1].upper() == word

    def expect(self, value):
        t = self.take()
        if t[1] != value:
            self.i -= 1
            self.syntax()
        return t

    def fail(self, message):
        raise validation("Invalid %s: %s" % (self.kind, message))

    def syntax(self):
        tok = self.peek()
        near = " ".join(t[1] for t in self.toks[max(0, self.i - 1):self.i + 1])
        self.fail('Syntax error; token: "%s", near: "%s"' % (tok[1], near or tok[1]))

    # pieces
    def value(self):
        t = self.take()
        if t[0] != "value":
            self.i -= 1
            self.syntax()
        if t[1] not in self.exprs.norm_values:
            self.fail("An expression attribute value used in expression is not defined; attribute value: %s" % t[1])
        self.exprs.used_values.add(t[1])
        return ("const", self.exprs.norm_values[t[1]], t[1])

    def element(self):
        t = self.take()
        if t[0] == "name":
            names = self.exprs.names or {}
            if t[1] not in names:
                self.fail("An expression attribute name used in the document path is not defined; attribute name: %s"
                          % t[1])
            self.exprs.used_names.add(t[1])
            return names[t[1]]
        if t[0] == "word":
            if t[1].upper() in RESERVED:
                self.fail("Attribute name is a reserved keyword; reserved keyword: %s" % t[1])
            return t[1]
        self.i -= 1
        self.syntax()

    def path(self):
        parts = [self.element()]
        while True:
            if self.peek()[1] == ".":
                self.take()
                parts.append(self.element())
            elif self.peek()[1] == "[":
                self.take()
                t = self.take()
                if t[0] != "num":
                    self.i -= 1
                    self.syntax()
                self.expect("]")
                parts.append(int(t[1]))
            else:
                return ("path", tuple(parts))

    def operand(self):
        t = self.peek()
        if t[0] == "value":
            return self.value()
        if t[0] == "word" and t[1] == "size" and self.peek(1)[1] == "(":
            self.take()
            self.take()
            p = self.path()
            self.expect(")")
            return ("size", p)
        if t[0] == "word" and self.peek(1)[1] == "(":
            self.fail("Invalid function name; function: %s" % t[1])
        return self.path()

    # conditions
    def parse(self):
        if self.kind == "UpdateExpression":
            node = self.update()
        elif self.kind == "ProjectionExpression":
            node = [self.path()]
            while self.peek()[1] == ",":
                self.take()
                node.append(self.path())
        else:
            node = self.condition()
        if self.peek()[0] != "eof":
            self.syntax()
        return node

    def condition(self):
        node = self.conjunction()
        while self.is_word("OR"):
            self.take()
            node = ("or", node, self.conjunction())
        return node

    def conjunction(self):
        node = self.negation()
        while self.is_word("AND"):
            self.take()
            node = ("and", node, self.negation())
        return node

    def negation(self):
        if self.is_word("NOT"):
            self.take()
            return ("not", self.negation())
        return self.primary()

    def primary(self):
        t = self.peek()
        if t[1] == "(":
            self.take()
            node = self.condition()
            self.expect(")")
            return node
        if t[0] == "word" and t[1] in CONDITION_FUNCTIONS and self.peek(1)[1] == "(":
            return self.function()
        left = self.operand()
        t = self.peek()
        if t[0] == "op":
            self.take()
            right = self.operand()
            for side in (left, right):
                if side[0] == "const" and t[1] != "=" and t[1] != "<>" and av_type(side[1]) not in ("S", "N", "B"):
                    self.fail("Incorrect operand type for operator or function; operator or function: %s, operand "
                              "type: %s" % (t[1], _type_name(side[1])))
            return ("cmp", t[1], left, right)
        if self.is_word("BETWEEN"):
            self.take()
            lo = self.operand()
            if not self.is_word("AND"):
                self.syntax()
            self.take()
            hi = self.operand()
            if lo[0] == "const" and hi[0] == "const":
                a, b = scalar(lo[1]), scalar(hi[1])
                if a is None or b is None or a[0] != b[0]:
                    self.fail("Invalid BETWEEN expression: both operands must be of the same scalar type")
                if a[1] > b[1]:
                    self.fail("The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
                              "lower bound operand: AttributeValue: {%s:%s}, upper bound operand: AttributeValue: "
                              "{%s:%s}" % (a[0], lo[1][a[0]], b[0], hi[1][b[0]]))
            return ("between", left, lo, hi)
        if self.is_word("IN"):
            self.take()
            self.expect("(")
            options = [self.operand()]
            while self.peek()[1] == ",":
                self.take()
                options.append(self.operand())
            self.expect(")")
            if len(options) > 100:
                self.fail("The IN operator is provided with too many operands; number of operands: %d"
                          % len(options))
            return ("in", left, options)
        self.syntax()

    def function(self):
        name = self.take()[1]
        self.expect("(")
        args = [self.operand()]
        while self.peek()[1] == ",":
            self.take()
            args.append(self.operand())
        self.expect(")")
        want = {"attribute_exists": 1, "attribute_not_exists": 1, "attribute_type": 2, "begins_with": 2,
                "contains": 2}[name]
        if len(args) != want:
            self.fail("Incorrect number of operands for operator or function; operator or function: %s, number of "
                      "operands: %d" % (name, len(args)))
        if name in ("attribute_exists", "attribute_not_exists", "attribute_type") and args[0][0] != "path":
            self.fail("Operator or function requires a document path; operator or function: %s" % name)
        if name == "attribute_type":
            t = args[1]
            if t[0] != "const" or av_type(t[1]) != "S" or t[1]["S"] not in TYPES:
                self.fail("Invalid attribute type name found; type: %s, valid types: { B,NULL,SS,BOOL,L,BS,N,NS,S,M }"
                          % (t[1].get("S") if t[0] == "const" else "?"))
        if name == "begins_with":
            for a in args:
                if a[0] == "const" and av_type(a[1]) not in ("S", "B"):
                    self.fail("Incorrect operand type for operator or function; operator or function: begins_with, "
                              "operand type: %s" % _type_name(a[1]))
        return ("fn", name, args)

    # update expressions
    def update(self):
        clauses = {}
        while self.peek()[0] != "eof":
            t = self.take()
            word = t[1].upper() if t[0] == "word" else None
            if word not in UPDATE_CLAUSES:
                self.i -= 1
                self.syntax()
            if word in clauses:
                self.fail('The "%s" section can only be used once in an update expression;' % word)
            actions = [self.update_action(word)]
            while self.peek()[1] == ",":
                self.take()
                actions.append(self.update_action(word))
            clauses[word] = actions
        return clauses

    def update_action(self, clause):
        target = self.path()
        if clause == "REMOVE":
            return (target,)
        if clause == "SET":
            self.expect("=")
            value = self.set_operand()
            if self.peek()[1] in ("+", "-"):
                op = self.take()[1]
                value = (op, value, self.set_operand())
            return (target, value)
        value = self.value()
        t = av_type(value[1])
        if clause == "ADD" and t not in ("N", "SS", "NS", "BS"):
            self.fail("Incorrect operand type for operator or function; operator: ADD, operand type: %s"
                      % _type_name(value[1]))
        if clause == "DELETE" and t not in ("SS", "NS", "BS"):
            self.fail("Incorrect operand type for operator or function; operator: DELETE, operand type: %s"
                      % _type_name(value[1]))
        return (target, value)

    def set_operand(self):
        t = self.peek()
        if t[0] == "word" and t[1] in ("if_not_exists", "list_append") and self.peek(1)[1] == "(":
            self.take()
            self.take()
            if t[1] == "if_not_exists":
                first = self.path()
            else:
                first = self.set_operand()
            self.expect(",")
            second = self.set_operand()
            self.expect(")")
            return (t[1], first, second)
        if t[0] == "word" and self.peek(1)[1] == "(":
            self.fail("Invalid function name; function: %s" % t[1])
        if t[0] == "value":
            return self.value()
        return self.path()


def _type_name(av):
    return {"S": "STRING", "N": "NUMBER", "B": "BINARY", "SS": "SS", "NS": "NS", "BS": "BS", "M": "MAP",
            "L": "LIST", "NULL": "NULL", "BOOL": "BOOLEAN"}.get(av_type(av), "?")


def resolve(item, path):
    """The value at a document path of an item, or None."""
    if not item:
        return None
    cur = item.get(path[0])
    for el in path[1:]:
        if cur is None:
            return None
        if isinstance(el, int):
            if "L" not in cur or el >= len(cur["L"]):
                return None
            cur = cur["L"][el]
        else:
            if "M" not in cur:
                return None
            cur = cur["M"].get(el)
    return cur


def _operand(node, item):
    if node[0] == "const":
        return node[1]
    if node[0] == "path":
        return resolve(item, node[1])
    if node[0] == "size":
        v = resolve(item, node[1][1])
        if v is None:
            return None
        t = av_type(v)
        if t == "S":
            n = len(v["S"])
        elif t == "B":
            n = len(_b64(v["B"]))
        elif t in ("SS", "NS", "BS", "L"):
            n = len(v[t])
        elif t == "M":
            n = len(v["M"])
        else:
            return None
        return {"N": str(n)}
    raise AssertionError(node)


def _compare(op, a, b):
    if a is None or b is None:
        return op == "<>" and not (a is None and b is None)
    if op == "=":
        return av_equal(a, b)
    if op == "<>":
        return not av_equal(a, b)
    sa, sb = scalar(a), scalar(b)
    if sa is None or sb is None or sa[0] != sb[0]:
        return False
    return {"<": sa[1] < sb[1], "<=": sa[1] <= sb[1], ">": sa[1] > sb[1], ">=": sa[1] >= sb[1]}[op]


def evaluate(node, item):
    """A condition's truth for an item (None: no item)."""
    kind = node[0]
    if kind == "and":
        return evaluate(node[1], item) and evaluate(node[2], item)
    if kind == "or":
        return evaluate(node[1], item) or evaluate(node[2], item)
    if kind == "not":
        return not evaluate(node[1], item)
    if kind == "cmp":
        return _compare(node[1], _operand(node[2], item), _operand(node[3], item))
    if kind == "between":
        a, lo, hi = (_operand(x, item) for x in node[1:])
        return _compare(">=", a, lo) and _compare("<=", a, hi)
    if kind == "in":
        a = _operand(node[1], item)
        return a is not None and any(_compare("=", a, _operand(o, item)) for o in node[2])
    if kind == "fn":
        name, args = node[1], node[2]
        if name == "attribute_exists":
            return resolve(item, args[0][1]) is not None
        if name == "attribute_not_exists":
            return resolve(item, args[0][1]) is None
        a = _operand(args[0], item)
        b = _operand(args[1], item)
        if a is None or b is None:
            return False
        if name == "attribute_type":
            return av_type(a) == b["S"]
        if name == "begins_with":
            sa, sb = scalar(a), scalar(b)
            return sa is not None and sb is not None and sa[0] == sb[0] and sa[0] in ("S", "B") \
                and sa[1].startswith(sb[1])
        if name == "contains":
            ta = av_type(a)
            if ta in ("S", "B"):
                sb = scalar(b)
                return sb is not None and sb[0] == ta and sb[1] in scalar(a)[1]
            if ta in ("SS", "NS", "BS"):
                sb = scalar(b)
                return sb is not None and {"SS": "S", "NS": "N", "BS": "B"}[ta] == sb[0] and \
                    sb[1] in {scalar({ta[0]: x})[1] for x in a[ta]}
            if ta == "L":
                return any(av_equal(x, b) for x in a["L"])
            return False
    raise AssertionError(node)


def _overlap(p, q):
    n = min(len(p), len(q))
    return p[:n] == q[:n]


def _path_text(p):
    out = ""
    for el in p:
        out += "[%d]" % el if isinstance(el, int) else (", " if out else "") + el
    return "[" + out + "]"


def apply_update(clauses, old, key_names):
    """The item after an UpdateExpression (old: the item, or None); refusals as DynamoDB's
    ValidationException. Also returns the top-level names it touched."""
    new = copy.deepcopy(old) if old else {}
    targets = []
    for clause in UPDATE_CLAUSES:
        for action in clauses.get(clause, []):
            targets.append(action[0][1])
    for i, p in enumerate(targets):
        if p[0] in key_names:
            raise validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute "
                             "is part of the key" % p[0])
        for q in targets[:i]:
            if _overlap(p, q):
                raise validation("Invalid UpdateExpression: Two document paths overlap with each other; must remove or "
                                 "rewrite one of these paths; path one: %s, path two: %s"
                                 % (_path_text(q), _path_text(p)))
    sets = []
    for target, value in clauses.get("SET", []):
        sets.append((target[1], _set_value(value, old)))
    for path, v in sets:
        _assign(new, path, v)
    for (target,) in clauses.get("REMOVE", []):
        _remove(new, target[1])
    for target, value in clauses.get("ADD", []):
        path, add = target[1], value[1]
        if len(path) != 1:
            cur = resolve(new, path)
        else:
            cur = new.get(path[0])
        t = av_type(add)
        if cur is None:
            _assign(new, path, copy.deepcopy(add))
        elif t == "N" and av_type(cur) == "N":
            _assign(new, path, {"N": num_text(_arith("+", cur, add))})
        elif t in ("SS", "NS", "BS") and av_type(cur) == t:
            merged = list(cur[t])
            have = _set_values(cur, t)
            for x in add[t]:
                if _set_values({t: [x]}, t).isdisjoint(have):
                    merged.append(x)
            _assign(new, path, {t: merged})
        else:
            raise validation("An operand in the update expression has an incorrect data type")
    for target, value in clauses.get("DELETE", []):
        path, sub = target[1], value[1]
        cur = resolve(new, path)
        if cur is None:
            continue
        t = av_type(sub)
        if av_type(cur) != t:
            raise validation("An operand in the update expression has an incorrect data type")
        drop = _set_values(sub, t)
        left = [x for x in cur[t] if _set_values({t: [x]}, t).isdisjoint(drop)]
        if left:
            _assign(new, path, {t: left})
        else:
            _remove(new, path)
    return new, {p[0] for p in targets}


def _arith(op, a, b):
    if av_type(a) != "N" or av_type(b) != "N":
        raise validation("An operand in the update expression has an incorrect data type")
    x, y = decimal.Decimal(a["N"]), decimal.Decimal(b["N"])
    return _checked(_NUM.add(x, y) if op == "+" else _NUM.subtract(x, y))


def _set_value(node, old):
    kind = node[0]
    if kind == "const":
        return copy.deepcopy(node[1])
    if kind == "path":
        v = resolve(old, node[1])
        if v is None:
            raise validation("The provided expression refers to an attribute that does not exist in the item")
        return copy.deepcopy(v)
    if kind in ("+", "-"):
        return {"N": num_text(_arith(kind, _set_value(node[1], old), _set_value(node[2], old)))}
    if kind == "if_not_exists":
        v = resolve(old, node[1][1])
        return copy.deepcopy(v) if v is not None else _set_value(node[2], old)
    if kind == "list_append":
        a, b = _set_value(node[1], old), _set_value(node[2], old)
        if av_type(a) != "L" or av_type(b) != "L":
            raise validation("An operand in the update expression has an incorrect data type")
        return {"L": a["L"] + b["L"]}
    raise AssertionError(node)


def _assign(item, path, value):
    if len(path) == 1:
        item[path[0]] = value
        return
    parent = resolve(item, path[:-1])
    last = path[-1]
    if parent is None or (isinstance(last, int) and "L" not in parent) or (isinstance(last, str) and "M" not in parent):
        raise validation("The document path provided in the update expression is invalid for update")
    if isinstance(last, int):
        if last >= len(parent["L"]):
            parent["L"].append(value)
        else:
            parent["L"][last] = value
    else:
        parent["M"][last] = value


def _remove(item, path):
    if len(path) == 1:
        item.pop(path[0], None)
        return
    parent = resolve(item, path[:-1])
    last = path[-1]
    if parent is None:
        return
    if isinstance(last, int) and "L" in parent and last < len(parent["L"]):
        del parent["L"][last]
    elif isinstance(last, str) and "M" in parent:
        parent["M"].pop(last, None)


def project(item, paths):
    """ProjectionExpression: only the given document paths of an item."""
    if item is None or paths is None:
        return item
    out = {}
    for node in paths:
        path = node[1]
        v = resolve(item, path)
        if v is None:
            continue
        if len(path) == 1:
            out[path[0]] = copy.deepcopy(v)
            continue
        # nested: rebuild the containers down to the value (lists compacted, as DynamoDB does)
        cur_src = item.get(path[0])
        dst = out.setdefault(path[0], {av_type(cur_src): {} if "M" in cur_src else []})
        for i, el in enumerate(path[1:], 1):
            last = i == len(path) - 1
            src_child = resolve(item, path[:i + 1])
            if "M" in dst:
                if last:
                    dst["M"][el] = copy.deepcopy(src_child)
                else:
                    dst = dst["M"].setdefault(el, {"M": {}} if "M" in src_child else {"L": []})
            else:
                if last:
                    dst["L"].append(copy.deepcopy(src_child))
                else:
                    nxt = {"M": {}} if "M" in src_child else {"L": []}
                    dst["L"].append(nxt)
                    dst = nxt
    return out


# -- tables --------------------------------------------------------------------------------

class Table:
    def __init__(self, account, region, name, keys, billing, created):
        self.account, self.region, self.name = account, region, name
        self.keys = keys  # [(name, type, "HASH"), (name, type, "RANGE")?]
        self.billing = billing
        self.created = created
        self.id = str(uuid.uuid4())
        self.items = {}  # key tuple -> item
        self.history = collections.deque()  # (monotonic time, key tuple, item before the write or None)
        self.ttl = None  # the TTL attribute, when enabled
        self.busy = {}  # key tuple -> (monotonic time until which a write is "in flight", "tx" | "single")

    @property
    def arn(self):
        return "arn:aws:dynamodb:%s:%s:table/%s" % (self.region, self.account, self.name)

    @property
    def key_names(self):
        return [k[0] for k in self.keys]

    def key_tuple(self, key, what="key"):
        """The canonical key of a Key map (exactly the schema's attributes), refusals as DynamoDB's."""
        if set(key) != set(self.key_names):
            raise validation("The provided key element does not match the schema")
        return self._key_of(key)

    def key_from_item(self, item):
        for name, t, _ in self.keys:
            if name not in item:
                raise validation("One or more parameter values were invalid: Missing the key %s in the item" % name)
        return self._key_of({k: item[k] for k in self.key_names})

    def _key_of(self, key):
        out = []
        for name, t, role in self.keys:
            av = key[name]
            got = av_type(av)
            if got != t:
                raise validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s "
                                 "actual: %s" % (name, t, got))
            if t in ("S", "B") and len(av[t]) == 0:
                raise validation("One or more parameter values are not valid. The AttributeValue for a key attribute "
                                 "cannot contain an empty %s value. Key: %s" % ("string" if t == "S" else "binary",
                                                                                 name))
            size = av_size(av)
            if role == "HASH" and size > HASH_KEY_MAX:
                raise validation("One or more parameter values were invalid: Size of hashkey has exceeded the maximum "
                                 "size limit of2048 bytes")
            if role == "RANGE" and size > RANGE_KEY_MAX:
                raise validation("One or more parameter values were invalid: Aggregated size of all range keys has "
                                 "exceeded the size limit of 1024 bytes")
            out.append(scalar(av))
        return tuple(out)

    def key_map(self, item):
        return {k: copy.deepcopy(item[k]) for k in self.key_names}

    def describe(self):
        d = {"TableName": self.name, "TableArn": self.arn, "TableId": self.id, "TableStatus": "ACTIVE",
             "CreationDateTime": self.created,
             "KeySchema": [{"AttributeName": n, "KeyType": r} for n, _, r in self.keys],
             "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t, _ in self.keys],
             "ItemCount": len(self.items), "TableSizeBytes": sum(item_size(i) for i in self.items.values()),
             "DeletionProtectionEnabled": False}
        if self.billing == "PAY_PER_REQUEST":
            d["BillingModeSummary"] = {"BillingMode": "PAY_PER_REQUEST"}
            d["ProvisionedThroughput"] = {"ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
        else:
            d["BillingModeSummary"] = {"BillingMode": "PROVISIONED"}
            d["ProvisionedThroughput"] = {"ReadCapacityUnits": self.billing[0],
                                          "WriteCapacityUnits": self.billing[1]}
        return d


def _capacity(p, table, units, read):
    mode = p.get("ReturnConsumedCapacity")
    if mode not in ("TOTAL", "INDEXES"):
        return None
    c = {"TableName": table.name, "CapacityUnits": units}
    c["ReadCapacityUnits" if read else "WriteCapacityUnits"] = units
    if mode == "INDEXES":
        c["Table"] = {"CapacityUnits": units}
    return c


def _read_units(size, consistent):
    units = max(1, math.ceil(size / 4096))
    return float(units if consistent else units / 2)


def _write_units(*sizes):
    return float(max(1, math.ceil(max(sizes + (0,)) / 1024)))


class DynamoDB:
    def __init__(self, world):
        self.world = world
        self.tables = {}  # (account, region, name) -> Table
        self.tokens = {}  # ClientRequestToken -> (params digest, monotonic time)
        self.log = collections.deque(maxlen=LOG_MAX)
        self.seq = 0

    # -- plumbing ----------------------------------------------------------------------
    def _ref(self, ctx, name):
        m = TABLE_ARN_RE.match(name)
        if m:
            return (m.group(2), m.group(1), m.group(3))
        if len(name) < 3 or len(name) > 255:
            raise validation("1 validation error detected: Value '%s' at 'tableName' failed to satisfy constraint: "
                             "Member must have length %s" % (name, "greater than or equal to 3" if len(name) < 3
                                                              else "less than or equal to 255"))
        if not TABLE_NAME_RE.match(name):
            raise validation("1 validation error detected: Value '%s' at 'tableName' failed to satisfy constraint: "
                             "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+" % name)
        return (ctx.account, ctx.region, name)

    def table(self, ctx, name):
        t = self.tables.get(self._ref(ctx, name))
        if t is None:
            raise not_found()
        return t

    def _stale_seconds(self):
        return float(self.world.settings.get("dynamodb_stale_read_seconds") or 0)

    def _write(self, table, key, item):
        """Stores (or deletes, item None) and remembers the item before for stale reads."""
        keep = self._stale_seconds()
        now = time.monotonic()
        if keep > 0:
            table.history.append((now, key, copy.deepcopy(table.items.get(key))))
        while table.history and table.history[0][0] < now - max(keep, 0) - 1:
            table.history.popleft()
        if item is None:
            table.items.pop(key, None)
        else:
            table.items[key] = item

    def _conflict_seconds(self):
        return float(self.world.settings.get("dynamodb_conflict_ms") or 0) / 1000.0

    def _conflicts(self, table, key, transaction):
        """With dynamodb_conflict_ms W > 0, a write lasts W ms for DynamoDB's transaction rules: a
        transaction that touches an item written in the last W ms (by a transaction or a single
        write) is cancelled (TransactionConflict); a single write to an item a transaction touched
        in the last W ms is refused (TransactionConflictException)."""
        b = table.busy.get(key)
        if b is None:
            return False
        if b[0] <= time.monotonic():
            del table.busy[key]
            return False
        return transaction or b[1] == "tx"

    def _mark(self, table, key, kind):
        w = self._conflict_seconds()
        if w > 0:
            table.busy[key] = (time.monotonic() + w, kind)

    def _single_conflict(self, ctx, table, key):
        if self._conflicts(table, key, False):
            self._note(ctx, reasons=["TransactionConflict"])
            raise ddb_error("TransactionConflictException", "Transaction is ongoing for the item")

    def _view(self, table, consistent):
        """The items a read sees: now, or (eventually consistent, with dynamodb_stale_read_seconds) as
        they were that long ago."""
        lag = self._stale_seconds()
        if consistent or lag <= 0 or not table.history:
            return table.items
        since = time.monotonic() - lag
        view = dict(table.items)
        for t, key, before in reversed(table.history):
            if t <= since:
                break
            if before is None:
                view.pop(key, None)
            else:
                view[key] = before
        return view

    def _note(self, ctx, **kw):
        note = getattr(ctx, "note", None)
        if note is not None:
            note.update(kw)

    def create_table_direct(self, account, region, name, hash_key="pk", range_key="sk", hash_type="S",
                            range_type="S", ttl=None):
        """POST /_sim/dynamodb/tables and the seed: CreateTable through the same validation."""
        from .world import internal_ctx
        keys = [{"AttributeName": hash_key, "KeyType": "HASH"}]
        defs = [{"AttributeName": hash_key, "AttributeType": hash_type}]
        if range_key:
            keys.append({"AttributeName": range_key, "KeyType": "RANGE"})
            defs.append({"AttributeName": range_key, "AttributeType": range_type})
        out = self.world.call("dynamodb", "CreateTable", {"TableName": name, "KeySchema": keys,
                                                          "AttributeDefinitions": defs,
                                                          "BillingMode": "PAY_PER_REQUEST"}, account, region)
        if ttl:
            self.update_ttl(internal_ctx(account, region), {"TableName": name, "TimeToLiveSpecification": {
                "Enabled": True, "AttributeName": ttl}})
        return out

    def expire(self, now):
        """TTL (setting dynamodb_ttl_delete): items whose TTL attribute is a number of epoch seconds
        in the past are deleted, as DynamoDB's background sweep does (there, within days)."""
        for t in self.tables.values():
            if t.ttl is None:
                continue
            for k, item in list(t.items.items()):
                v = item.get(t.ttl)
                if v is not None and "N" in v and decimal.Decimal(v["N"]) < decimal.Decimal(repr(now)):
                    self._write(t, k, None)
                    self.seq += 1
                    self.log.append({"seq": self.seq, "mono": time.monotonic(), "time": time.time(),
                                     "access_key": None, "source_key": None, "op": "TTLDelete", "table": t.name,
                                     "keys": [plain_item(t.key_map(item))], "outcome": "ok", "status": None,
                                     "fault": None, "request_id": None,
                                     "writes": [{"table": t.name, "key": plain_item(t.key_map(item)),
                                                 "item": None}]})

    # -- the log ----------------------------------------------------------------------------------
    def record(self, entry, params, note, ctx=None):
        """One line of GET /_sim/dynamodb/log for a call, whatever its fate."""
        p = params if isinstance(params, dict) else {}
        op = entry.get("operation")
        line = {"mono": entry.get("mono"), "time": entry.get("time"), "access_key": entry.get("access_key"),
                "source_key": entry.get("source_key") or entry.get("access_key"),
                "op": op, "table": None, "keys": [], "outcome": entry.get("error") or (
                    "ok" if entry.get("status") == 200 else "unanswered"),
                "status": entry.get("status"), "fault": entry.get("fault"), "request_id": entry.get("request_id")}
        try:
            if op == "TransactWriteItems":
                actions = []
                for a in p.get("TransactItems") or []:
                    kind = next(iter(a), None) if isinstance(a, dict) else None
                    body = a.get(kind) if kind else {}
                    body = body if isinstance(body, dict) else {}
                    key = body.get("Key") if kind != "Put" else self._item_key(body, ctx)
                    actions.append({"action": kind, "table": body.get("TableName"), "key": _plain_map(key)})
                line["actions"] = actions
                line["keys"] = [a["key"] for a in actions]
                line["table"] = actions[0]["table"] if actions else None
            else:
                line["table"] = p.get("TableName")
                if op == "PutItem":
                    line["keys"] = [_plain_map(self._item_key(p, ctx))]
                elif "Key" in p:
                    line["keys"] = [_plain_map(p["Key"])]
                if op == "Query":
                    line["query"] = {"expression": p.get("KeyConditionExpression"),
                                     "values": _plain_map(p.get("ExpressionAttributeValues")),
                                     "names": p.get("ExpressionAttributeNames")}
                if op in ("GetItem", "Query"):
                    line["consistent"] = bool(p.get("ConsistentRead"))
        except Exception:  # a log line never fails a call; malformed requests keep what was readable
            pass
        for k in ("reasons", "writes", "count"):
            if note and k in note:
                line[k] = note[k]
        self.seq += 1
        line["seq"] = self.seq
        self.log.append(line)

    def _item_key(self, p, ctx):
        item = p.get("Item")
        if not isinstance(item, dict):
            return None
        try:
            t = self.tables.get(self._ref(ctx or _CTX_GUESS, p.get("TableName") or ""))
        except AwsError:
            t = None
        names = t.key_names if t else sorted(item)[:2]
        return {k: item[k] for k in names if k in item}

    def calls(self, since=0, table=None):
        return [e for e in self.log if e["seq"] > since and (table is None or e["table"] == table or any(
            a.get("table") == table for a in e.get("actions", [])))]

    def items_of(self, account, region, name, raw=False):
        t = self.tables.get((account, region, name))
        if t is None:
            raise KeyError("table %s (account %s, region %s)" % (name, account, region))
        items = [t.items[k] for k in sorted(t.items, key=_sort_key)]
        return [copy.deepcopy(i) for i in items] if raw else [plain_item(i) for i in items]

    # -- tables ---------------------------------------------------------------------------------------
    def create_table(self, ctx, p):
        ref = self._ref(ctx, p["TableName"])
        if TABLE_ARN_RE.match(p["TableName"]):
            raise validation("1 validation error detected: Value '%s' at 'tableName' failed to satisfy constraint: "
                             "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+" % p["TableName"])
        if "KeySchema" not in p or "AttributeDefinitions" not in p:
            raise validation("1 validation error detected: Value null at '%s' failed to satisfy constraint: Member "
                             "must not be null" % ("keySchema" if "KeySchema" not in p else "attributeDefinitions"))
        if p.get("GlobalSecondaryIndexes") or p.get("LocalSecondaryIndexes"):
            raise validation("awssim does not simulate secondary indexes")
        schema = p["KeySchema"]
        roles = [k["KeyType"] for k in schema]
        if roles not in (["HASH"], ["HASH", "RANGE"]):
            raise validation("1 validation error detected: Invalid KeySchema: The first KeySchemaElement is not a HASH "
                             "key type" if roles[0] != "HASH" else "Too many hash keys or range keys in KeySchema")
        defs = {d["AttributeName"]: d["AttributeType"] for d in p["AttributeDefinitions"]}
        names = [k["AttributeName"] for k in schema]
        missing = [n for n in names if n not in defs]
        if missing:
            raise validation("One or more parameter values were invalid: Some index key attributes are not defined in "
                             "AttributeDefinitions. Keys: [%s], AttributeDefinitions: [%s]"
                             % (", ".join(missing), ", ".join(defs)))
        if len(defs) != len(names):
            raise validation("One or more parameter values were invalid: Number of attributes in KeySchema does not "
                             "exactly match number of attributes defined in AttributeDefinitions")
        mode = p.get("BillingMode", "PROVISIONED")
        pt = p.get("ProvisionedThroughput")
        if mode == "PAY_PER_REQUEST":
            if pt:
                raise validation("One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                                 "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
            billing = "PAY_PER_REQUEST"
        else:
            if not pt:
                raise validation("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits "
                                 "must both be specified when BillingMode is PROVISIONED")
            billing = (pt["ReadCapacityUnits"], pt["WriteCapacityUnits"])
        if ref in self.tables:
            raise ddb_error("ResourceInUseException", "Table already exists: %s" % ref[2])
        t = Table(ref[0], ref[1], ref[2], [(n, defs[n], r) for n, r in zip(names, roles)], billing,
                  self.world.clock.sim_now())
        self.tables[ref] = t
        return {"TableDescription": t.describe()}

    def describe_table(self, ctx, p):
        t = self.tables.get(self._ref(ctx, p["TableName"]))
        if t is None:
            raise ddb_error("ResourceNotFoundException", "Requested resource not found: Table: %s not found"
                            % p["TableName"])
        return {"Table": t.describe()}

    def delete_table(self, ctx, p):
        t = self.table(ctx, p["TableName"])
        d = t.describe()
        d["TableStatus"] = "DELETING"
        del self.tables[(t.account, t.region, t.name)]
        return {"TableDescription": d}

    def list_tables(self, ctx, p):
        names = sorted(n for (a, r, n) in self.tables if (a, r) == (ctx.account, ctx.region))
        start = p.get("ExclusiveStartTableName")
        if start is not None:
            names = [n for n in names if n > start]
        limit = p.get("Limit", 100)
        out = {"TableNames": names[:limit]}
        if len(names) > limit:
            out["LastEvaluatedTableName"] = names[limit - 1]
        return out

    def update_ttl(self, ctx, p):
        t = self.table(ctx, p["TableName"])
        spec = p["TimeToLiveSpecification"]
        if spec["Enabled"]:
            if t.ttl is not None:
                raise validation("TimeToLive is already enabled")
            t.ttl = spec["AttributeName"]
        else:
            if t.ttl is None:
                raise validation("TimeToLive is already disabled")
            t.ttl = None
        return {"TimeToLiveSpecification": dict(spec)}

    def describe_ttl(self, ctx, p):
        t = self.table(ctx, p["TableName"])
        if t.ttl is None:
            return {"TimeToLiveDescription": {"TimeToLiveStatus": "DISABLED"}}
        return {"TimeToLiveDescription": {"TimeToLiveStatus": "ENABLED", "AttributeName": t.ttl}}

    # -- items --------------------------------------------------------------------------------------
    def get_item(self, ctx, p):
        _no_legacy(p, ("AttributesToGet",))
        t = self.table(ctx, p["TableName"])
        key = t.key_tuple(normalized_item(p["Key"]))
        ex = Expressions(p)
        proj = ex.parse("ProjectionExpression", p.get("ProjectionExpression"))
        ex.check_unused()
        consistent = bool(p.get("ConsistentRead"))
        item = self._view(t, consistent).get(key)
        out = {}
        if item is not None:
            out["Item"] = project(copy.deepcopy(item), proj)
        cap = _capacity(p, t, _read_units(item_size(item) if item else 0, consistent), True)
        if cap:
            out["ConsumedCapacity"] = cap
        return out

    def put_item(self, ctx, p):
        _no_legacy(p, ("Expected", "ConditionalOperator"))
        t = self.table(ctx, p["TableName"])
        item = normalized_item(p["Item"])
        key = t.key_from_item(item)
        if item_size(item) > ITEM_MAX:
            raise validation("Item size has exceeded the maximum allowed size")
        rv = p.get("ReturnValues", "NONE")
        if rv not in ("NONE", "ALL_OLD"):
            raise validation("ReturnValues can only be ALL_OLD or NONE")
        ex = Expressions(p)
        cond = ex.parse("ConditionExpression", p.get("ConditionExpression"))
        ex.check_unused()
        self._single_conflict(ctx, t, key)
        old = t.items.get(key)
        if cond is not None and not evaluate(cond, old):
            self._note(ctx, reasons=["ConditionalCheckFailed"])
            raise condition_failed(old if p.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None)
        self._write(t, key, item)
        self._mark(t, key, "single")
        self._note(ctx, writes=[{"table": t.name, "key": plain_item(t.key_map(item)), "item": plain_item(item)}])
        out = {}
        if rv == "ALL_OLD" and old is not None:
            out["Attributes"] = old
        cap = _capacity(p, t, _write_units(item_size(item), item_size(old) if old else 0), False)
        if cap:
            out["ConsumedCapacity"] = cap
        return out

    def update_item(self, ctx, p):
        _no_legacy(p, ("Expected", "ConditionalOperator", "AttributeUpdates"))
        t = self.table(ctx, p["TableName"])
        keymap = normalized_item(p["Key"])
        key = t.key_tuple(keymap)
        rv = p.get("ReturnValues", "NONE")
        ex = Expressions(p)
        upd = ex.parse("UpdateExpression", p.get("UpdateExpression"))
        cond = ex.parse("ConditionExpression", p.get("ConditionExpression"))
        ex.check_unused()
        self._single_conflict(ctx, t, key)
        old = t.items.get(key)
        if cond is not None and not evaluate(cond, old):
            self._note(ctx, reasons=["ConditionalCheckFailed"])
            raise condition_failed(old if p.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None)
        new, touched = apply_update(upd or {}, old, t.key_names)
        new.update(copy.deepcopy(keymap))
        if item_size(new) > ITEM_MAX:
            raise validation("Item size to update has exceeded the maximum allowed size")
        self._write(t, key, new)
        self._mark(t, key, "single")
        self._note(ctx, writes=[{"table": t.name, "key": plain_item(keymap), "item": plain_item(new)}])
        out = {}
        if rv == "ALL_OLD" and old is not None:
            out["Attributes"] = old
        elif rv == "ALL_NEW":
            out["Attributes"] = new
        elif rv == "UPDATED_OLD" and old is not None:
            got = {k: old[k] for k in sorted(touched) if k in old}
            if got:
                out["Attributes"] = got
        elif rv == "UPDATED_NEW":
            got = {k: new[k] for k in sorted(touched) if k in new}
            if got:
                out["Attributes"] = got
        cap = _capacity(p, t, _write_units(item_size(new), item_size(old) if old else 0), False)
        if cap:
            out["ConsumedCapacity"] = cap
        return out

    def delete_item(self, ctx, p):
        _no_legacy(p, ("Expected", "ConditionalOperator"))
        t = self.table(ctx, p["TableName"])
        keymap = normalized_item(p["Key"])
        key = t.key_tuple(keymap)
        rv = p.get("ReturnValues", "NONE")
        if rv not in ("NONE", "ALL_OLD"):
            raise validation("ReturnValues can only be ALL_OLD or NONE")
        ex = Expressions(p)
        cond = ex.parse("ConditionExpression", p.get("ConditionExpression"))
        ex.check_unused()
        self._single_conflict(ctx, t, key)
        old = t.items.get(key)
        if cond is not None and not evaluate(cond, old):
            self._note(ctx, reasons=["ConditionalCheckFailed"])
            raise condition_failed(old if p.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" else None)
        self._mark(t, key, "single")
        if old is not None:
            self._write(t, key, None)
        self._note(ctx, writes=[{"table": t.name, "key": plain_item(keymap), "item": None}])
        out = {}
        if rv == "ALL_OLD" and old is not None:
            out["Attributes"] = old
        cap = _capacity(p, t, _write_units(item_size(old) if old else 0), False)
        if cap:
            out["ConsumedCapacity"] = cap
        return out

    def query(self, ctx, p):
        _no_legacy(p, ("KeyConditions", "QueryFilter", "ConditionalOperator", "AttributesToGet"))
        t = self.table(ctx, p["TableName"])
        if p.get("IndexName") is not None:
            raise validation("The table does not have the specified index: %s" % p["IndexName"])
        if p.get("KeyConditionExpression") is None:
            raise validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the "
                             "request.")
        ex = Expressions(p)
        kce = ex.parse("KeyConditionExpression", p["KeyConditionExpression"])
        flt = ex.parse("FilterExpression", p.get("FilterExpression"))
        proj = ex.parse("ProjectionExpression", p.get("ProjectionExpression"))
        ex.check_unused()
        hash_value, range_cond = self._key_condition(t, kce)
        select = p.get("Select", "SPECIFIC_ATTRIBUTES" if proj is not None else "ALL_ATTRIBUTES")
        if select == "COUNT" and proj is not None:
            raise validation("Cannot specify the ProjectionExpression when choosing to get only the Count")
        if select in ("ALL_PROJECTED_ATTRIBUTES",):
            raise validation("ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName")
        consistent = bool(p.get("ConsistentRead"))
        view = self._view(t, consistent)
        hv = scalar(hash_value)
        keys = sorted((k for k in view if k[0] == hv), key=_sort_key, reverse=p.get("ScanIndexForward") is False)
        if range_cond is not None:
            keys = [k for k in keys if evaluate(range_cond, view[k])]
        start = p.get("ExclusiveStartKey")
        if start is not None:
            try:
                sk = t.key_tuple(normalized_item(start))
            except AwsError:
                raise validation("The provided starting key is invalid: The provided key element does not match the "
                                 "schema")
            if sk[0] != hv:
                raise validation("The provided starting key is invalid: The query does not match the partition key "
                                 "of the starting key")
            forward = p.get("ScanIndexForward") is not False
            keys = [k for k in keys if (_sort_key(k) > _sort_key(sk)) == forward and k != sk]
        limit = p.get("Limit")
        items, scanned, size, last = [], 0, 0, None
        for k in keys:
            item = view[k]
            scanned += 1
            size += item_size(item)
            if flt is None or evaluate(flt, item):
                items.append(item)
            last = k
            if (limit is not None and scanned >= limit) or size >= PAGE_BYTES_MAX:
                break
        else:
            last = None
        out = {"Count": len(items), "ScannedCount": scanned}
        if select != "COUNT":
            out["Items"] = [project(copy.deepcopy(i), proj) for i in items]
        if last is not None:
            out["LastEvaluatedKey"] = t.key_map(view[last])
        cap = _capacity(p, t, _read_units(size, consistent), True)
        if cap:
            out["ConsumedCapacity"] = cap
        self._note(ctx, count=len(items))
        return out

    def _key_condition(self, t, node):
        """(hash AttributeValue, range condition node or None) of a KeyConditionExpression."""
        hash_name = t.keys[0][0]
        range_name = t.keys[1][0] if len(t.keys) > 1 else None
        parts = [node[1], node[2]] if node[0] == "and" else [node]
        hash_value, range_cond = None, None

        def attr_of(n):
            if n[0] == "cmp" and n[2][0] == "path" and len(n[2][1]) == 1:
                return n[2][1][0]
            if n[0] == "between" and n[1][0] == "path" and len(n[1][1]) == 1:
                return n[1][1][0]
            if n[0] == "fn" and n[1] == "begins_with" and n[2][0][0] == "path" and len(n[2][0][1]) == 1:
                return n[2][0][1][0]
            return None

        for n in parts:
            name = attr_of(n)
            if n[0] in ("and", "or", "not", "in") or name is None:
                raise validation("Invalid KeyConditionExpression: Query key condition not supported")
            if name == hash_name:
                if n[0] != "cmp" or n[1] != "=" or n[3][0] != "const":
                    raise validation("Query key condition not supported")
                if hash_value is not None:
                    raise validation("KeyConditionExpressions must only contain one condition per key")
                hash_value = n[3][1]
                if av_type(hash_value) != t.keys[0][1]:
                    raise validation("One or more parameter values were invalid: Condition parameter type does not "
                                     "match schema type")
            elif name == range_name:
                if n[0] == "cmp" and n[1] == "<>":
                    raise validation("Unsupported operator on KeyConditionExpression: operator: <>")
                if range_cond is not None:
                    raise validation("KeyConditionExpressions must only contain one condition per key")
                range_cond = n
            else:
                raise validation("Query condition missed key schema element: %s" % hash_name
                                 if hash_value is None else "Query key condition not supported")
        if hash_value is None:
            raise validation("Query condition missed key schema element: %s" % hash_name)
        return hash_value, range_cond

    # -- transactions ---------------------------------------------------------------------------------
    def transact_write_items(self, ctx, p):
        actions = p["TransactItems"]
        if len(actions) > TX_ACTIONS_MAX:  # the model says so too
            raise validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: "
                             "Member must have length less than or equal to %d" % TX_ACTIONS_MAX)
        token = p.get("ClientRequestToken")
        digest = None
        if token is not None:
            body = {k: v for k, v in p.items() if k != "ClientRequestToken"}
            digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
            now = time.monotonic()
            for tok in [k for k, v in self.tokens.items() if v[1] < now - TOKEN_SECONDS]:
                del self.tokens[tok]
            seen = self.tokens.get((ctx.account, token))
            if seen is not None:
                if seen[0] != digest:
                    raise ddb_error("IdempotentParameterMismatchException", "One or more parameter values were "
                                    "invalid: The request with the same client token has different parameters")
                self._note(ctx, repeat=True)
                return {}
        plan, seen_keys, total = [], set(), 0
        for a in actions:
            kinds = [k for k in ("ConditionCheck", "Put", "Update", "Delete") if a.get(k) is not None]
            if len(kinds) != 1:
                raise validation("TransactItems can only contain one of Check, Put, Update or Delete")
            kind = kinds[0]
            body = a[kind]
            t = self.table(ctx, body["TableName"])
            ex = Expressions(body)
            cond = ex.parse("ConditionExpression", body.get("ConditionExpression"))
            upd = ex.parse("UpdateExpression", body.get("UpdateExpression")) if kind == "Update" else None
            ex.check_unused()
            if kind == "Put":
                item = normalized_item(body["Item"])
                key = t.key_from_item(item)
                size = item_size(item)
                if size > ITEM_MAX:
                    raise validation("Item size has exceeded the maximum allowed size")
                keymap = t.key_map(item)
            else:
                item = None
                keymap = normalized_item(body["Key"])
                key = t.key_tuple(keymap)
                size = item_size(keymap)
            total += size
            full = (t.account, t.region, t.name, key)
            if full in seen_keys:
                raise validation("Transaction request cannot include multiple operations on one item")
            seen_keys.add(full)
            plan.append((kind, body, t, key, keymap, cond, upd, item))
        if total > TX_BYTES_MAX:
            raise validation("Transaction request size has exceeded the maximum allowed size of 4 MB")
        reasons, results, failed = [], [], False
        for kind, body, t, key, keymap, cond, upd, item in plan:
            old = t.items.get(key)
            if self._conflicts(t, key, True):
                reasons.append({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
                results.append(None)
                failed = True
                continue
            if cond is not None and not evaluate(cond, old):
                r = {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
                if body.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and old is not None:
                    r["Item"] = copy.deepcopy(old)
                reasons.append(r)
                results.append(None)
                failed = True
                continue
            new = None
            try:
                if kind == "Put":
                    new = item
                elif kind == "Update":
                    new, _ = apply_update(upd, old, t.key_names)
                    new.update(copy.deepcopy(keymap))
                    if item_size(new) > ITEM_MAX:
                        raise validation("Item size to update has exceeded the maximum allowed size")
            except AwsError as e:
                reasons.append({"Code": "ValidationError", "Message": e.message})
                results.append(None)
                failed = True
                continue
            reasons.append({"Code": "None"})
            results.append(new)
        if failed:
            self._note(ctx, reasons=[r["Code"] for r in reasons])
            raise ddb_error("TransactionCanceledException", CANCEL_MESSAGE % ", ".join(r["Code"] for r in reasons),
                            CancellationReasons=reasons)
        writes = []
        for (kind, body, t, key, keymap, cond, upd, item), new in zip(plan, results):
            self._mark(t, key, "tx")
            if kind == "ConditionCheck":
                continue
            if kind == "Delete":
                if key in t.items:
                    self._write(t, key, None)
                writes.append({"table": t.name, "key": plain_item(keymap), "item": None})
            else:
                self._write(t, key, new)
                writes.append({"table": t.name, "key": plain_item(keymap), "item": plain_item(new)})
        if token is not None:
            self.tokens[(ctx.account, token)] = (digest, time.monotonic())
        self._note(ctx, reasons=["None"] * len(plan), writes=writes)
        out = {}
        if p.get("ReturnConsumedCapacity") in ("TOTAL", "INDEXES"):
            per = collections.OrderedDict()
            for kind, body, t, key, keymap, cond, upd, item in plan:
                per[t.name] = per.get(t.name, 0.0) + 2.0 * _write_units(item_size(item) if item else 0)
            out["ConsumedCapacity"] = [{"TableName": n, "CapacityUnits": u, "WriteCapacityUnits": u}
                                       for n, u in per.items()]
        return out

    OPERATIONS = {
        "CreateTable": create_table,
        "DescribeTable": describe_table,
        "DeleteTable": delete_table,
        "ListTables": list_tables,
        "UpdateTimeToLive": update_ttl,
        "DescribeTimeToLive": describe_ttl,
        "GetItem": get_item,
        "PutItem": put_item,
        "UpdateItem": update_item,
        "DeleteItem": delete_item,
        "Query": query,
        "TransactWriteItems": transact_write_items,
    }


class _Guess:
    account = DEFAULT_ACCOUNT
    region = DEFAULT_REGION


_CTX_GUESS = _Guess()


def _sort_key(k):
    return tuple((x[0], x[1]) for x in k)


def _plain_map(m):
    if not isinstance(m, dict):
        return None
    try:
        return {k: plain(v) for k, v in sorted(m.items())}
    except Exception:
        return m


def _no_legacy(p, names):
    for n in names:
        if p.get(n) is not None:
            raise validation("awssim does not simulate the legacy parameter %s: use expressions" % n)
