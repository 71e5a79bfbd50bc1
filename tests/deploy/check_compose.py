#!/usr/bin/python3
"""Checks deploy/compose.yaml without a Docker engine (none runs on CI's machine).

1. `docker-compose config` (Debian's docker-compose 1.29) validates the file
   against the Compose schema and interpolates it with the example env file.
2. On the resolved file: every host file it mounts exists; every zhaoshang
   container runs a real role; every ZHAOSHANG_* variable it sets is a setting
   of README's configuration table; the NATS nodes run 2.12 or later with the
   cluster configuration, whose JetStream syncs every write (see
   deploy/nats/DURABILITY.md).

Run from the repository root: /usr/bin/python3 tests/deploy/check_compose.py
"""

import os
import re
import subprocess
import sys
import tempfile

import yaml  # Debian's python3-yaml, installed with docker-compose

ROOT = os.getcwd()
problems = []

with tempfile.NamedTemporaryFile("w", suffix=".env", delete=False) as env:
    for line in open("deploy/compose.env.example", encoding="utf-8"):
        env.write(re.sub(r"^(ZHAOSHANG_\w+)=$", r"\1=zscheck", line))
resolved = subprocess.run(
    ["docker-compose", "--env-file", env.name, "-f", "deploy/compose.yaml", "config"],
    capture_output=True,
    text=True,
)
os.unlink(env.name)
if resolved.returncode != 0:
    sys.exit(f"deploy/compose.yaml is not a valid compose file:\n{resolved.stderr}")
compose = yaml.safe_load(resolved.stdout)

readme = open("README.md", encoding="utf-8").read()
settings = set(re.findall(r"`(ZHAOSHANG_[A-Z0-9_]+)`", readme))
roles = {"command", "projector", "query", "all"}

for name, service in compose["services"].items():
    for volume in service.get("volumes", []):
        source = volume.split(":")[0]
        if source.startswith("/") and not os.path.exists(source):
            problems.append(f"{name}: mounts {source}, which does not exist")
    build = service.get("build")
    if build:
        dockerfile = os.path.join(build["context"], build.get("dockerfile", "Dockerfile"))
        if not os.path.exists(dockerfile):
            problems.append(f"{name}: builds from {dockerfile}, which does not exist")
        command = service.get("command") or []
        if "--role" in command and command[command.index("--role") + 1] not in roles:
            problems.append(f"{name}: runs role {command[command.index('--role') + 1]}")
        for variable in service.get("environment", {}):
            if variable.startswith("ZHAOSHANG_") and variable not in settings:
                problems.append(f"{name}: sets {variable}, which is no setting in README's table")
    image = service.get("image", "")
    if image.startswith("nats:"):
        version = re.match(r"nats:(\d+)\.(\d+)", image)
        if not version or (int(version[1]), int(version[2])) < (2, 12):
            problems.append(f"{name}: {image} is older than 2.12 (see deploy/nats/DURABILITY.md)")
        mounted = [v.split(":")[0] for v in service.get("volumes", []) if v.endswith("nats.conf:ro")]
        for conf in mounted:
            text = open(conf, encoding="utf-8").read()
            if not re.search(r"sync_interval\s*:\s*always", text):
                problems.append(f"{name}: {conf} does not set sync_interval: always")

if problems:
    sys.exit("deploy/compose.yaml:\n  " + "\n  ".join(problems))
print(f"deploy/compose.yaml: valid; {len(compose['services'])} services checked")
