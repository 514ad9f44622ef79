"""Validates docker-compose.yml against the vendored compose-spec JSON schema.

usage: python check_compose.py docker-compose.yml deploy/schemas/compose-spec.json
Also checks what the schema cannot: every depends_on names a service, and every service a
`service_healthy` condition waits for has a healthcheck.
"""

import json
import sys

import jsonschema
import yaml


def main(compose_path: str, schema_path: str) -> int:
    with open(compose_path, encoding="utf-8") as f:
        compose = yaml.safe_load(f)
    with open(schema_path, encoding="utf-8") as f:
        schema = json.load(f)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.absolute_path))
    for error in errors:
        path = "/".join(str(p) for p in error.absolute_path) or "(root)"
        print(f"{compose_path}: {path}: {error.message}")
    services = compose.get("services", {})
    problems = len(errors)
    for name, service in services.items():
        depends = service.get("depends_on", {})
        items = depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends)
        for target, spec in items:
            if target not in services:
                print(f"{compose_path}: services/{name}: depends on unknown service {target!r}")
                problems += 1
            elif spec.get("condition") == "service_healthy" and "healthcheck" not in services[target]:
                print(f"{compose_path}: services/{name}: waits for {target!r} to be healthy, which has no healthcheck")
                problems += 1
    if problems:
        return 1
    print(f"{compose_path}: valid against the compose-spec schema ({len(services)} services)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
