# SPDX-License-Identifier: MIT
"""The AWS service models (the project's copy of the current botocore
models, in ../models) and request validation against them.

Validation is botocore's own ParamValidator (required members, types,
unknown members, minimums) plus what it leaves out: maximum lengths and
list sizes, maximum values, and enum membership."""

import datetime
import os

import botocore.loaders
import botocore.model
import botocore.validate

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models")

_loader = botocore.loaders.Loader(extra_search_paths=[MODELS_DIR], include_default_search_paths=False)
_models = {}


def service(name):
    """The botocore ServiceModel of service `name` (ecr, ecs, sqs, codedeploy, sts)."""
    m = _models.get(name)
    if m is None:
        data = _loader.load_service_model(name, "service-2")
        m = botocore.model.ServiceModel(data, service_name=name)
        _models[name] = m
    return m


def _coerce_timestamps(value, shape):
    """JSON carries timestamps as epoch numbers; botocore's validator wants
    datetimes. Converts in place where the model says timestamp."""
    if shape is None or value is None:
        return value
    t = shape.type_name
    if t == "timestamp" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.datetime.fromtimestamp(value, tz=datetime.timezone.utc)
    if t == "structure" and isinstance(value, dict):
        for k, v in list(value.items()):
            if k in shape.members:
                value[k] = _coerce_timestamps(v, shape.members[k])
    elif t == "list" and isinstance(value, list):
        for i, v in enumerate(value):
            value[i] = _coerce_timestamps(v, shape.member)
    elif t == "map" and isinstance(value, dict):
        for k, v in list(value.items()):
            value[k] = _coerce_timestamps(v, shape.value)
    return value


def _extra_checks(value, shape, path, errors):
    meta = shape.metadata
    t = shape.type_name
    if t == "string" and isinstance(value, str):
        if "max" in meta and len(value) > meta["max"]:
            errors.append("Invalid length for parameter %s, value: %d, valid max length: %d"
                          % (path, len(value), meta["max"]))
        if shape.enum and value not in shape.enum:
            errors.append("Invalid value for parameter %s, value: %s, valid values: %s"
                          % (path, value, ", ".join(shape.enum)))
    elif t == "list" and isinstance(value, list):
        if "max" in meta and len(value) > meta["max"]:
            errors.append("Invalid length for parameter %s, value: %d, valid max length: %d"
                          % (path, len(value), meta["max"]))
        for i, v in enumerate(value):
            _extra_checks(v, shape.member, "%s[%d]" % (path, i), errors)
    elif t == "map" and isinstance(value, dict):
        if "max" in meta and len(value) > meta["max"]:
            errors.append("Invalid length for parameter %s, value: %d, valid max length: %d"
                          % (path, len(value), meta["max"]))
        for k, v in value.items():
            _extra_checks(k, shape.key, "%s.key" % path, errors)
            _extra_checks(v, shape.value, "%s.%s" % (path, k), errors)
    elif t == "structure" and isinstance(value, dict):
        for k, v in value.items():
            if k in shape.members:
                _extra_checks(v, shape.members[k], "%s.%s" % (path, k) if path else k, errors)
    elif t in ("integer", "long", "double", "float") and isinstance(value, (int, float)) \
            and not isinstance(value, bool):
        if "max" in meta and value > meta["max"]:
            errors.append("Invalid value for parameter %s, value: %s, valid max value: %s"
                          % (path, value, meta["max"]))


def validate(service_name, operation, params):
    """Validates params (a dict decoded from the request body) against the
    operation's input shape. Returns a list of error sentences, empty when
    the request is valid. params is modified (timestamps coerced)."""
    op = service(service_name).operation_model(operation)
    shape = op.input_shape
    if shape is None:
        return [] if not params else ["Operation %s takes no parameters" % operation]
    if not isinstance(params, dict):
        return ["The request body must be a JSON object"]
    return validate_shape(shape, params)


def validate_output(service_name, operation, result):
    """Checks a response the simulator is about to send against the
    operation's output shape (types, unknown members, required members,
    enums, sizes): the simulator's own bugs show up as errors, not as
    quietly wrong replies. Returns a list of error sentences."""
    op = service(service_name).operation_model(operation)
    shape = op.output_shape
    if shape is None:
        return [] if not result else ["%s has no output, yet the reply has members" % operation]
    return validate_shape(shape, _without_nulls(result))


def _without_nulls(value):
    """A reply with its JSON nulls left out: AWS sends some members as null (CodeDeploy's
    appSpecContent.content), which clients read as absent."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def validate_shape(shape, value):
    _coerce_timestamps(value, shape)
    report = botocore.validate.ParamValidator().validate(value, shape)
    errors = []
    if report.has_errors():
        errors.extend(line for line in report.generate_report().splitlines()
                      if line and not line.startswith("Parameter validation failed"))
    _extra_checks(value, shape, "", errors)
    return errors


def operations(service_name):
    return set(service(service_name).operation_names)
