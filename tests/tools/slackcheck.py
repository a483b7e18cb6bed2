#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks a Slack incoming-webhook payload against tests/data/slack/blockkit.json, the fixture of
what Slack accepts (block kit inside attachments, text objects, their limits and escaping).

    from slackcheck import check
    problems = check(json.loads(body))   # [] when Slack would take it

Each problem names the place ("attachments[0].blocks[1].fields[2].text") and what is wrong.
Run as a program: `slackcheck.py FILE...` checks payload files (exit 1 on a problem);
`slackcheck.py --self-test` checks the checker itself (exit 0 when it works).
"""

import json
import os
import re
import sys

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "slack",
                       "blockkit.json")

with open(FIXTURE, encoding="utf-8") as f:
    SPEC = json.load(f)

ENTITY = re.compile(r"&(amp|lt|gt);")


def _items(value, rule, where, problems):
    if not isinstance(value, list):
        problems.append(f"{where}: not an array")
        return []
    if len(value) < rule.get("min_items", 0):
        problems.append(f"{where}: {len(value)} items, fewer than {rule['min_items']}")
    if "max_items" in rule and len(value) > rule["max_items"]:
        problems.append(f"{where}: {len(value)} items, more than {rule['max_items']}")
    return value


def _keys(obj, rule, where, problems):
    for key in rule.get("required", []):
        if key not in obj:
            problems.append(f"{where}: '{key}' missing")
    for key in obj:
        if key not in rule.get("allowed", obj.keys()):
            problems.append(f"{where}: unknown key '{key}'")


def _escaped(text, where, problems):
    """&, < and > only as Slack's entities (ecr-deployd sends no links or mentions)."""
    if "<" in text or ">" in text:
        problems.append(f"{where}: raw '<' or '>' (must be &lt; &gt;)")
    for m in re.finditer("&", text):
        if not ENTITY.match(text, m.start()):
            problems.append(f"{where}: raw '&' at {m.start()} (must be &amp;)")
            break


def _text_object(obj, rule, where, problems):
    spec = SPEC["text_object"]
    if not isinstance(obj, dict):
        problems.append(f"{where}: not a text object")
        return
    _keys(obj, spec, where, problems)
    kind = obj.get("type")
    if kind not in rule.get("types", spec["types"]):
        problems.append(f"{where}.type: '{kind}', not one of {rule.get('types', spec['types'])}")
    text = obj.get("text")
    if not isinstance(text, str):
        problems.append(f"{where}.text: not a string")
        return
    limit = min(rule.get("max", spec["max"]), spec["max"])
    if len(text) < spec["min"]:
        problems.append(f"{where}.text: empty")
    if len(text) > limit:
        problems.append(f"{where}.text: {len(text)} characters, more than {limit}")
    _escaped(text, f"{where}.text", problems)
    for flag in ("emoji", "verbatim"):
        if flag in obj:
            if not isinstance(obj[flag], bool):
                problems.append(f"{where}.{flag}: not a boolean")
            if kind != spec[flag]["only_for"]:
                problems.append(f"{where}.{flag}: only for {spec[flag]['only_for']}")


def _block(block, where, problems):
    if not isinstance(block, dict):
        problems.append(f"{where}: not an object")
        return
    kind = block.get("type")
    rule = SPEC["blocks"].get(kind)
    if rule is None:
        problems.append(f"{where}.type: '{kind}', not one of {sorted(SPEC['blocks'])}")
        return
    _keys(block, rule, where, problems)
    if "block_id" in block and (not isinstance(block["block_id"], str)
                                or len(block["block_id"]) > SPEC["block_id"]["max"]):
        problems.append(f"{where}.block_id: not a string of at most {SPEC['block_id']['max']}")
    one_of = rule.get("required_one_of")
    if one_of and not any(k in block for k in one_of):
        problems.append(f"{where}: needs one of {one_of}")
    if "text" in block and "text" in rule:
        _text_object(block["text"], rule["text"], f"{where}.text", problems)
    for key in ("fields", "elements"):
        if key in block and key in rule:
            for i, item in enumerate(_items(block[key], rule[key], f"{where}.{key}", problems)):
                _text_object(item, rule[key]["item"], f"{where}.{key}[{i}]", problems)


def check(payload):
    """The problems Slack would have with payload (a dict), [] when none."""
    problems = []
    msg = SPEC["message"]
    if not isinstance(payload, dict):
        return ["payload: not an object"]
    _keys(payload, msg, "payload", problems)
    text = payload.get("text")
    if "text" in payload:
        if not isinstance(text, str):
            problems.append("text: not a string")
        elif not msg["text"]["min"] <= len(text) <= msg["text"]["max"]:
            problems.append(f"text: {len(text)} characters, not within "
                            f"{msg['text']['min']}..{msg['text']['max']}")
        else:
            _escaped(text, "text", problems)
            if "\n" in text:
                problems.append("text: the fallback is not one line")
    for i, block in enumerate(_items(payload.get("blocks", []), msg["blocks"], "blocks",
                                     problems)):
        _block(block, f"blocks[{i}]", problems)
    att_rule = SPEC["attachment"]
    if "attachments" in payload:
        atts = _items(payload["attachments"], msg["attachments"], "attachments", problems)
        for i, att in enumerate(atts):
            where = f"attachments[{i}]"
            if not isinstance(att, dict):
                problems.append(f"{where}: not an object")
                continue
            _keys(att, att_rule, where, problems)
            color = att.get("color")
            if color is not None and not (
                    isinstance(color, str) and (re.match(att_rule["color"]["pattern"], color)
                                                or color in att_rule["color"]["named"])):
                problems.append(f"{where}.color: {color!r}, not \"#rrggbb\"")
            for j, block in enumerate(_items(att.get("blocks", []), att_rule["blocks"],
                                             f"{where}.blocks", problems)):
                _block(block, f"{where}.blocks[{j}]", problems)
    return problems


def _good():
    return {
        "text": "Deployed: prod/web v1.2.3 (sha256:aaaaaaaaaaaa)",
        "attachments": [{
            "color": "#2eb67d",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": "Deployed: prod/web",
                                            "emoji": True}},
                {"type": "section", "fields": [
                    {"type": "mrkdwn", "text": "*Service*\nprod/web"},
                    {"type": "mrkdwn", "text": "*Image*\nteam/web:v1 `sha256:aaaaaaaaaaaa`"}]},
                {"type": "section", "text": {"type": "mrkdwn", "text": "*Reason*\na &lt; b &amp; c"}},
                {"type": "context", "elements": [{"type": "mrkdwn", "text": "host: h"}]},
            ],
        }],
    }


def self_test():
    """Each broken payload must give a problem naming its place; the good one none."""
    assert check(_good()) == [], check(_good())

    def broken(change, place):
        p = _good()
        change(p)
        problems = check(p)
        assert any(place in x for x in problems), (place, problems)

    blocks = lambda p: p["attachments"][0]["blocks"]  # noqa: E731
    broken(lambda p: p.pop("text"), "'text' missing")
    broken(lambda p: p.update(text=""), "text:")
    broken(lambda p: p.update(text="a\nb"), "not one line")
    broken(lambda p: p.update(webhook="x"), "unknown key 'webhook'")
    broken(lambda p: p["attachments"][0].update(color="green"), "attachments[0].color")
    broken(lambda p: p["attachments"][0].update(color="#2eb67"), "attachments[0].color")
    broken(lambda p: blocks(p)[0]["text"].update(text="x" * 151), "blocks[0].text.text: 151")
    broken(lambda p: blocks(p)[0]["text"].update(type="mrkdwn"), "blocks[0].text.type")
    broken(lambda p: blocks(p)[1].update(fields=[{"type": "mrkdwn", "text": "f"}] * 11),
           "blocks[1].fields: 11 items")
    broken(lambda p: blocks(p)[1]["fields"][0].update(text="y" * 2001),
           "blocks[1].fields[0].text: 2001")
    broken(lambda p: blocks(p)[2]["text"].update(text="z" * 3001), "blocks[2].text.text: 3001")
    broken(lambda p: blocks(p)[2]["text"].update(text="a <b> c"), "raw '<'")
    broken(lambda p: blocks(p)[2]["text"].update(text="a & b"), "raw '&'")
    broken(lambda p: blocks(p)[2]["text"].update(emoji=True), "emoji: only for plain_text")
    broken(lambda p: blocks(p)[2].pop("text"), "needs one of")
    broken(lambda p: blocks(p)[3].update(elements=[{"type": "mrkdwn", "text": "e"}] * 11),
           "blocks[3].elements: 11 items")
    broken(lambda p: blocks(p)[3].update(elements=[]), "blocks[3].elements: 0 items")
    broken(lambda p: blocks(p).append({"type": "carousel"}), "blocks[4].type")
    broken(lambda p: blocks(p).extend([{"type": "divider"}] * 47), "blocks: 51 items")
    broken(lambda p: blocks(p)[0].update(block_id="b" * 256), "block_id")
    print("slackcheck: self-test ok")


def main(argv):
    if argv[1:] == ["--self-test"]:
        self_test()
        return 0
    if len(argv) < 2:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    bad = 0
    for path in argv[1:]:
        with open(path, encoding="utf-8") as f:
            for problem in check(json.load(f)):
                print(f"{path}: {problem}")
                bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(sys.argv))
