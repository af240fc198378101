"""Checks that Tessera's own OpenAPI document describes REST API v2 as Adobe's document does.

argv[1]: Tessera's document (JSON, as GET /openapi.json serves it); argv[2]: Adobe's
(Tests/vendor/adobe-pass-restApiV2.json, whose paths are relative to /api/v2).

For every operation of Adobe's document, Tessera's must have it at /api/v2 + the same path, with
the same method, the same path, query and header parameters (required where Adobe's are; the
HTTP-level headers Authorization, Content-Type, Accept, User-Agent and the unused
AP-Visitor-Identifier aside), the same request body media types and required fields, and a 200
answer whose schema requires what Adobe's requires and gives every property both name the same
JSON type (nested objects, arrays and maps compared the same way; a property Tessera never sends
may stay undocumented unless Tessera's object is closed); errors likewise. Adobe's two known errors (../shared/reference/vendor) are
patched first: an error's `message` is a string; an attribute's `value` is any JSON value.
Prints each difference; exits 1 if there is one.
"""
import json
import sys

ours, adobe = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
adobe["components"]["schemas"]["Message"] = {"type": "string"}
adobe["components"]["schemas"]["UserMetadataResponse"]["properties"]["value"] = {}
HTTP_LEVEL = {"authorization", "content-type", "accept", "user-agent", "ap-visitor-identifier"}
problems = []


def deref(document, node):
    seen = 0
    while isinstance(node, dict) and "$ref" in node:
        target = document
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part]
        node, seen = target, seen + 1
        if seen > 20:
            raise ValueError("a $ref loop")
    return node


def json_type(schema):
    kind = schema.get("type")
    if kind is None and "additionalProperties" in schema:
        return "object"
    if kind is None and "properties" in schema:
        return "object"
    return kind


def compare(where, theirs, mine, depth=0):
    theirs, mine = deref(adobe, theirs), deref(ours, mine)
    if depth > 8 or not theirs:
        return
    their_type, my_type = json_type(theirs), json_type(mine)
    if their_type and my_type and their_type != my_type and not (their_type == "integer" and my_type == "number"):
        problems.append(f"{where}: Adobe says {their_type}, Tessera {my_type}")
        return
    if their_type and not my_type and mine:
        problems.append(f"{where}: Adobe says {their_type}, Tessera leaves it open")
    for name, their_property in (theirs.get("properties") or {}).items():
        my_properties = mine.get("properties") or {}
        if name not in my_properties:
            if mine.get("additionalProperties") is False:
                problems.append(f"{where}.{name}: Tessera's document closes the object without it")
            continue
        compare(f"{where}.{name}", their_property, my_properties[name], depth + 1)
    for name in theirs.get("required") or []:
        if name not in (mine.get("required") or []):
            problems.append(f"{where}: Adobe requires {name}, Tessera does not")
    if isinstance(theirs.get("additionalProperties"), dict):
        mine_additional = mine.get("additionalProperties")
        if not isinstance(mine_additional, dict):
            problems.append(f"{where}: Adobe's is a map, Tessera's is not")
        else:
            compare(f"{where}{{}}", theirs["additionalProperties"], mine_additional, depth + 1)
    if their_type == "array":
        compare(f"{where}[]", theirs.get("items") or {}, mine.get("items") or {}, depth + 1)


def parameters(document, path_item, operation):
    found = {}
    for parameter in (path_item.get("parameters") or []) + (operation.get("parameters") or []):
        parameter = deref(document, parameter)
        if parameter["in"] == "header" and parameter["name"].lower() in HTTP_LEVEL:
            continue
        found[(parameter["in"], parameter["name"].lower())] = bool(parameter.get("required"))
    return found


for path, item in adobe["paths"].items():
    mine_item = ours["paths"].get("/api/v2" + path)
    if mine_item is None:
        problems.append(f"/api/v2{path}: missing in Tessera's document")
        continue
    for method, operation in item.items():
        if method == "parameters":
            continue
        where = f"{method.upper()} /api/v2{path}"
        mine = mine_item.get(method)
        if mine is None:
            problems.append(f"{where}: missing in Tessera's document")
            continue
        theirs_parameters, my_parameters = parameters(adobe, item, operation), parameters(ours, mine_item, mine)
        for key, required in theirs_parameters.items():
            if key not in my_parameters:
                problems.append(f"{where}: {key[0]} parameter {key[1]} missing")
            elif my_parameters[key] != required:
                problems.append(f"{where}: {key[0]} parameter {key[1]} required={my_parameters[key]}, Adobe says {required}")
        for key in my_parameters.keys() - theirs_parameters.keys():
            if key[0] != "header" or my_parameters[key]:
                problems.append(f"{where}: Tessera adds {key[0]} parameter {key[1]}, which Adobe's document lacks")
        if "requestBody" in operation:
            their_body = deref(adobe, operation["requestBody"])
            my_body = deref(ours, mine.get("requestBody") or {})
            if set(their_body.get("content", {})) != set(my_body.get("content", {})):
                problems.append(f"{where}: request media types {sorted(my_body.get('content', {}))}, "
                                f"Adobe says {sorted(their_body.get('content', {}))}")
            for media, content in their_body.get("content", {}).items():
                if media in my_body.get("content", {}):
                    compare(f"{where} body", content.get("schema") or {}, my_body["content"][media].get("schema") or {})
        their_ok = deref(adobe, operation["responses"].get("200") or {})
        their_content = their_ok.get("content") or {}
        if not their_content:
            continue  # the 302 of /authenticate: Adobe documents no 200 body
        my_ok = deref(ours, mine["responses"].get("200") or {})
        if not my_ok:
            problems.append(f"{where}: no 200 answer in Tessera's document")
            continue
        for media, content in their_content.items():
            my_content = (my_ok.get("content") or {}).get(media)
            if my_content is None:
                problems.append(f"{where}: 200 answer lacks {media}")
                continue
            compare(f"{where} 200", content.get("schema") or {}, my_content.get("schema") or {})
        my_error = deref(ours, mine["responses"].get("default") or mine["responses"].get("400") or {})
        their_error = deref(adobe, operation["responses"].get("400") or {})
        for media, content in (their_error.get("content") or {}).items():
            my_content = (my_error.get("content") or {}).get(media)
            if my_content is None:
                problems.append(f"{where}: error answer lacks {media}")
            else:
                compare(f"{where} error", content.get("schema") or {}, my_content.get("schema") or {})

for problem in problems:
    print(problem)
print(f"compared {sum(len([m for m in i if m != 'parameters']) for i in adobe['paths'].values())} operations, {len(problems)} differences")
sys.exit(1 if problems else 0)
