#!/usr/bin/env bash
# docker-compose.yml must be a valid Compose file with the services the README promises.
set -euo pipefail
file=$1
docker-compose -f "$file" config -q
services=$(docker-compose -f "$file" config --services | sort | tr '\n' ' ')
for s in kafka topics streamrec loadgen prometheus grafana; do
  case " $services " in
    *" $s "*) ;;
    *) echo "docker-compose.yml lacks service '$s' (has: $services)"; exit 1 ;;
  esac
done
echo "1 passed, 0 failed"
